"""Shared test settings, and the one Elasticsearch (and OpenSearch) node that tests needing one share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from tests.harness.elasticsearch import ElasticsearchNode, OpenSearchNode

# A skipped test fails the run: a missing part is installed or is a failure that names the fix.
pytest_plugins = ["tests.harness.no_skips", "tests.reliability.plugin"]

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def elasticsearch_node() -> Iterator[ElasticsearchNode]:
    """A real single-node Elasticsearch on 127.0.0.1 (fetched from Maven Central, cached in ~/.m2)."""
    from tests.harness.elasticsearch import ElasticsearchNode

    node = ElasticsearchNode()
    try:
        # One node, so no replicas: every index the tests create is green.
        node.request(
            "PUT",
            "/_index_template/tests-no-replicas",
            {"index_patterns": ["*"], "priority": 1, "template": {"settings": {"number_of_replicas": 0}}},
        )
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[OpenSearchNode]:
    """A real single-node OpenSearch on 127.0.0.1 (fetched from Maven Central, cached in ~/.m2)."""
    from tests.harness.elasticsearch import OpenSearchNode

    node = OpenSearchNode(heap="512m")
    try:
        node.request(
            "PUT",
            "/_index_template/tests-no-replicas",
            {"index_patterns": ["*"], "priority": 1, "template": {"settings": {"number_of_replicas": 0}}},
        )
        yield node
    finally:
        node.stop()
