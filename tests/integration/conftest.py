"""Fixtures for tests against real servers on 127.0.0.1 (no Airflow deployment)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.azurite import Azurite
from tests.harness.gcs import FakeGCSServer
from tests.harness.moto import MotoServer


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def strict_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto with authentication on: unknown access keys are refused, as by AWS."""
    server = MotoServer(tmp_path_factory.mktemp("moto-strict"), env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGCSServer]:
    server = FakeGCSServer(tmp_path_factory.mktemp("fake-gcs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()
