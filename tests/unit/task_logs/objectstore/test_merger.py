"""The shipper merging its own chunks while it ships, driven by the engine's manual clock."""

from __future__ import annotations

from pathlib import Path

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from airflow_platform_plugins.task_logs.objectstore.merger import Merger
from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text
from airflow_platform_plugins.task_logs.objectstore.shipper import Shipper
from tests.harness.tasklog import REL, ManualClock, TaskLog
from tests.unit.task_logs.objectstore.memory_store import ComposingMemoryStore, MemoryStore

POLICY = ShippingPolicy(flush_interval=3.0, upload_timeout=5, retry_max_delay=1)


def make(
    store: MemoryStore, base: Path, clock: ManualClock, **merger: int
) -> tuple[Shipper, ShippingProcessor]:
    shipper = Shipper(
        lambda: store,
        prefix=store.prefix,
        base_log_folder=str(base),
        policy=POLICY,
        host="h",
        clock=clock,
        background=False,
        merger=Merger(**merger) if merger else None,
    )
    return shipper, ShippingProcessor(shipper)


def run(
    log: TaskLog,
    shipper: Shipper,
    processor: ShippingProcessor,
    clock: ManualClock,
    seconds: int,
    store: MemoryStore,
) -> int:
    """Log 2 lines a second for ``seconds`` simulated seconds; return the most objects seen."""
    most = 0
    for _ in range(seconds):
        log.line(processor)
        log.line(processor)
        clock.advance(1.0)
        shipper.step()
        most = max(most, len(store.objects))
    return most


def stored(store: MemoryStore) -> bytes:
    return "\n".join(iter_log_text(store, REL)).encode() + b"\n"


def stored_prefix(store: MemoryStore, log: TaskLog) -> bytes:
    """What the store holds, checked to be the local file up to the last flush."""
    data, got = log.path.read_bytes(), stored(store)
    assert data.startswith(got)
    assert len(data) - len(got) < 400
    return got


class FailingDeletes(MemoryStore):
    failing = True

    def delete(self, key: str) -> None:
        if self.failing:
            raise RemoteLogError("delete refused")
        super().delete(key)


def test_a_long_try_ends_in_few_objects_written_from_the_local_file(tmp_path: Path) -> None:
    store, clock = MemoryStore(), ManualClock()
    shipper, processor = make(store, tmp_path, clock, fan_in=4, final_objects=3)
    log = TaskLog(tmp_path)
    most = run(log, shipper, processor, clock, 1200, store)  # 400 flushes
    assert shipper.finish(str(log.path))
    data = log.path.read_bytes()
    assert len(store.objects) <= 3
    assert most <= 3 * 4 + 4 + 4  # levels * (fan_in - 1) + fan_in, plus sources within their grace
    assert store.bytes_put <= 6 * len(data)  # log_4(400) < 5 levels
    assert store.gets == 0  # nothing read back on the write path
    assert stored(store) == data


def test_a_store_that_composes_merges_without_sending_bytes(tmp_path: Path) -> None:
    store, clock = ComposingMemoryStore(), ManualClock()
    shipper, processor = make(store, tmp_path, clock, fan_in=4, final_objects=3)
    log = TaskLog(tmp_path)
    run(log, shipper, processor, clock, 600, store)
    assert shipper.finish(str(log.path))
    data = log.path.read_bytes()
    assert store.composes
    assert store.bytes_put == len(data)
    assert len(store.objects) <= 3
    assert stored(store) == data


def test_sources_stay_readable_for_the_grace_then_go(tmp_path: Path) -> None:
    store, clock = MemoryStore(), ManualClock()
    shipper, processor = make(store, tmp_path, clock, fan_in=2, grace=10)
    log = TaskLog(tmp_path)
    run(log, shipper, processor, clock, 7, store)  # two chunks, merged at once
    assert len(store.objects) == 3
    assert not store.deletes
    stored_prefix(store, log)
    run(log, shipper, processor, clock, 12, store)
    assert store.deletes


def test_a_failed_delete_leaves_an_exact_log_and_is_retried(tmp_path: Path) -> None:
    store, clock = FailingDeletes(), ManualClock()
    shipper, processor = make(store, tmp_path, clock, fan_in=2, final_objects=1)
    log = TaskLog(tmp_path)
    run(log, shipper, processor, clock, 7, store)
    assert not shipper.finish(str(log.path))
    assert len(store.objects) > 1
    assert not store.deletes
    stored_prefix(store, log)  # covers and sources overlap: each byte is read once
    store.failing = False
    assert shipper.finish(str(log.path))
    assert len(store.objects) == 1
    assert stored(store) == log.path.read_bytes()


def test_without_the_local_file_nothing_is_merged(tmp_path: Path) -> None:
    store, clock = MemoryStore(), ManualClock()
    shipper, processor = make(store, tmp_path, clock, fan_in=100, final_objects=1)
    log = TaskLog(tmp_path)
    run(log, shipper, processor, clock, 10, store)
    clock.advance(POLICY.flush_interval)
    shipper.step()
    data = log.path.read_bytes()
    count = len(store.objects)
    log.path.unlink()
    shipper.finish(str(log.path))
    assert count > 1
    assert len(store.objects) == count
    assert stored(store) == data


def test_each_process_merges_only_the_range_it_shipped(tmp_path: Path) -> None:
    """Reschedule pokes append to one local file; each poke's merges stay inside its own bytes."""
    store, clock = MemoryStore(), ManualClock()
    log = TaskLog(tmp_path)
    ranges = []
    for _poke in range(3):
        shipper, processor = make(store, tmp_path, clock, fan_in=2, final_objects=1)
        start = log.path.stat().st_size if log.path.exists() else 0
        run(log, shipper, processor, clock, 10, store)
        assert shipper.finish(str(log.path))
        ranges.append((start, log.path.stat().st_size))
    spans = sorted(tuple(int(n) for n in key.rsplit("/", 1)[1].split("-")) for key in store.objects)
    assert spans == ranges
    assert stored(store) == log.path.read_bytes()
