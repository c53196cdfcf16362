"""A real Elasticsearch or OpenSearch node (each test runs on both), and fresh indices with this package's
template for each test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.es import template
from airflow_platform_plugins.task_logs.es.reader import LogReader
from tests.harness.elasticsearch import SearchNode
from tests.harness.shipping import FluentShipper


@pytest.fixture(params=["elasticsearch", "opensearch"])
def es(request: pytest.FixtureRequest) -> SearchNode:
    """The node of the engine under test: the shared core runs on both, only the client differs."""
    node: SearchNode = request.getfixturevalue(f"{request.param}_node")
    return node


@pytest.fixture
def prefix(request: pytest.FixtureRequest, es: SearchNode) -> Iterator[str]:
    """An index prefix of this test's own, covered by the index template; deleted afterwards."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    prefix = f"it-{name}"
    client = es.client()
    body = template.index_template([f"{prefix}*"], settings={"number_of_replicas": 0})
    template.install(client, body, name=prefix)
    try:
        yield prefix
    finally:
        es.delete_indices(f"{prefix}*")
        client.indices.delete_index_template(name=prefix)
        client.close()


@pytest.fixture
def client(es: SearchNode) -> Iterator[Any]:
    c = es.client()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def reader(client: Any, prefix: str, es: SearchNode) -> Callable[..., LogReader]:
    def make(pattern: str | None = None, **kwargs: Any) -> LogReader:
        return LogReader(
            lambda: client,
            display=es.url,
            index_patterns=pattern or f"{prefix}*",
            engine=es.engine.name,
            **kwargs,
        )

    return make


@pytest.fixture
def shipper(client: Any, prefix: str) -> Callable[..., FluentShipper]:
    def make(flavour: str = "fluent-bit", **kwargs: Any) -> FluentShipper:
        return FluentShipper(client, flavour, index_prefix=f"{prefix}-{flavour}", **kwargs)

    return make
