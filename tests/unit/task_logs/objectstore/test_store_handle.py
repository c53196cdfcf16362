"""The store client of a process: built lazily from the connection, rebuilt only when it changes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_platform_plugins.task_logs.common.connections import ConnectionFields, ConnectionNotFound
from airflow_platform_plugins.task_logs.objectstore import remote_io
from airflow_platform_plugins.task_logs.objectstore.remote_io import StoreHandle


class Connections:
    def __init__(self) -> None:
        self.current: ConnectionFields | None = ConnectionFields("aws", login="a", password="1")
        self.lookups = 0

    def __call__(self, conn_id: str) -> ConnectionFields:
        self.lookups += 1
        if self.current is None:
            raise ConnectionNotFound(f"connection {conn_id!r} not found")
        return self.current


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Connections:
    found = Connections()
    monkeypatch.setattr(remote_io, "lookup_connection", found)
    return found


def handle(built: list[ConnectionFields | None], conn_id: str = "aws") -> StoreHandle:
    def build(fields: ConnectionFields | None) -> Any:
        built.append(fields)
        return object()

    return StoreHandle(build, conn_id=conn_id, prefix="logs")


def test_the_client_is_built_on_first_use_and_then_reused(connections: Connections) -> None:
    built: list[ConnectionFields | None] = []
    store = handle(built)
    assert built == []
    first = store()
    assert store() is first
    assert built == [connections.current]
    assert connections.lookups == 1


def test_prepare_rebuilds_only_when_the_connection_changed(connections: Connections) -> None:
    built: list[ConnectionFields | None] = []
    store = handle(built)
    first = store()
    store.prepare()
    assert store() is first
    connections.current = ConnectionFields("aws", login="a", password="2")  # rotated credentials
    store.prepare()
    assert store() is not first
    assert [f.password for f in built if f] == ["1", "2"]


def test_a_connection_that_disappears_keeps_the_client_built_from_it(
    connections: Connections, caplog: pytest.LogCaptureFixture
) -> None:
    built: list[ConnectionFields | None] = []
    store = handle(built)
    first = store()
    connections.current = None  # outside the supervisor's upload, the variable is gone
    store.prepare()
    store.prepare()
    assert store() is first
    assert len(built) == 1
    assert len([r for r in caplog.records if "not found" in r.getMessage()]) == 1, "warned once"


def test_no_connection_configured_uses_the_default_credential_chain(connections: Connections) -> None:
    built: list[ConnectionFields | None] = []
    store = handle(built, conn_id="")
    store()
    assert built == [None]
    assert connections.lookups == 0


def test_prepare_never_raises(connections: Connections) -> None:
    def broken(fields: ConnectionFields | None) -> Any:
        raise RuntimeError("cannot build")

    store = StoreHandle(broken, conn_id="aws", prefix="logs")
    store.prepare()
    with pytest.raises(RuntimeError):
        store()
