"""The shipper restarted in the middle of a try, as helm-values/ configure it (tail ``DB`` on the node,
``storage.type filesystem``): every line reaches the store exactly once, in order, wherever the shipper
was killed. Without either setting lines are lost (the controls show what each one is for)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.es.documents import DocumentBuilder, to_json_line
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, TryIdentity
from tests.harness.shipping import FLAVOURS, FluentShipper
from tests.harness.tail import CRASH_POINTS, OFFSET_SAVED, Crashed, TailInput

TEMPLATE = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}")
TRY = TryIdentity("etl", "load", "manual__2026-11-28T10:00:00+00:00", -1, 1)
LOG_ID = TEMPLATE.render(TRY)
TOTAL = 200


class Container:
    """A worker container printing a try's log lines; the runtime appends them to its log file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()
        self.printed = 0
        self.rest = b""
        self.builder = DocumentBuilder(
            identity=TRY, log_id=LOG_ID, host="worker-0", offset_field="offset", host_field="host"
        )

    def line(self, i: int) -> bytes:
        stamp = datetime.now(timezone.utc)
        event = {"timestamp": f"{stamp:%Y-%m-%dT%H:%M:%S.%fZ}", "level": "info", "event": f"line-{i:04d}"}
        stdout = to_json_line(self.builder.build(json.dumps(event).encode(), i + 1)).rstrip()
        return FluentShipper.container_line(stdout, stamp) + b"\n"

    def write_lines(self, count: int, *, torn: bool = False) -> None:
        """Print ``count`` lines; ``torn``: the runtime has written only half of the last one yet."""
        lines = [self.line(self.printed + k) for k in range(count)]
        self.printed += count
        self.rest = lines[-1][len(lines[-1]) // 2 :] if torn else b""
        with open(self.path, "ab") as f:
            f.write(b"".join(lines)[: -len(self.rest) or None])

    def finish_torn_line(self) -> None:
        with open(self.path, "ab") as f:
            f.write(self.rest)


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    """The container's log file and the node's directory for the shipper's database and chunks."""
    return {"log": tmp_path / "airflow-worker-0_airflow_worker-abc.log", "node": tmp_path / "node"}


def stored(client: Any, shipper: FluentShipper) -> list[str]:
    client.indices.refresh(index=f"{shipper.index_prefix}-*")
    response = client.search(
        index=f"{shipper.index_prefix}-*",
        query={"term": {"log_id": LOG_ID}},
        sort=[{"offset": "asc"}],
        size=10_000,
    )
    return [hit["_source"]["event"] for hit in response["hits"]["hits"]]


def run_with_restart(
    shipper: FluentShipper, paths: dict[str, Path], crash_at: str, *, db: bool = True, storage: bool = True
) -> None:
    """A try of :data:`TOTAL` lines; the shipper is killed at ``crash_at`` in the middle and started
    again after more lines were printed."""
    container = Container(paths["log"])
    node = paths["node"]
    options: dict[str, Any] = {
        "db": node / "flb_kube.db" if db else None,
        "storage": node / "flb-storage" if storage else None,
    }
    node.mkdir()
    first = TailInput(shipper, container.path, **options, crash_at=None)
    container.write_lines(60)
    first.poll()
    first.crash_at = crash_at
    container.write_lines(40, torn=True)  # the shipper reads half a line, then dies mid-cycle
    with pytest.raises(Crashed):
        first.poll()
    container.finish_torn_line()
    container.write_lines(50)  # printed while no shipper runs
    second = TailInput(shipper, container.path, **options)  # the restarted shipper
    container.write_lines(TOTAL - container.printed)
    second.poll()
    assert second.poll() == 0


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_restarted_shipper_ships_every_line_exactly_once_in_order(
    shipper: Callable[..., FluentShipper], client: Any, paths: dict[str, Path], flavour: str, crash_at: str
) -> None:
    fluent = shipper(flavour)
    run_with_restart(fluent, paths, crash_at)
    assert stored(client, fluent) == [f"line-{i:04d}" for i in range(TOTAL)]


def test_without_the_tail_db_a_restart_skips_the_lines_printed_meanwhile(
    shipper: Callable[..., FluentShipper], client: Any, paths: dict[str, Path]
) -> None:
    fluent = shipper()
    run_with_restart(fluent, paths, OFFSET_SAVED, db=False)
    got = stored(client, fluent)
    assert len(got) < TOTAL
    assert "line-0149" not in got, "the restarted shipper began at the file's end"
    assert "line-0150" in got


def test_without_filesystem_storage_a_restart_loses_the_chunk_in_flight(
    shipper: Callable[..., FluentShipper], client: Any, paths: dict[str, Path]
) -> None:
    fluent = shipper()
    run_with_restart(fluent, paths, OFFSET_SAVED, storage=False)
    got = stored(client, fluent)
    assert got == [f"line-{i:04d}" for i in range(TOTAL) if not 60 <= i < 99], "read, saved, never sent"
