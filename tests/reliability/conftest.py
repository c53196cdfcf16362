"""Fixtures of the reliability suite: its size and the backends every scenario runs against."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.backends import ENGINE_BACKENDS, EngineBackend


@pytest.fixture(scope="session")
def full(request: pytest.FixtureRequest) -> bool:
    """Whether this is the full-size run (``tox -e reliability``)."""
    return bool(request.config.getoption("--reliability-size") == "full")


@pytest.fixture(scope="session")
def kills(request: pytest.FixtureRequest, full: bool) -> int:
    """Kills per backend in the kill storm."""
    return int(request.config.getoption("--reliability-kills")) or (100 if full else 10)


@pytest.fixture(scope="session", params=sorted(ENGINE_BACKENDS))
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineBackend]:
    made = ENGINE_BACKENDS[request.param](tmp_path_factory.mktemp(f"{request.param}-server"), request)
    try:
        yield made
    finally:
        made.stop()
