from __future__ import annotations

import itertools
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text
from airflow_platform_plugins.task_logs.objectstore.shipper import Shipper
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectInfo
from tests.harness.tasklog import REL, ManualClock, TaskLog, wait_for
from tests.unit.task_logs.objectstore.memory_store import MemoryStore

FAST = ShippingPolicy(flush_interval=0.3, flush_bytes=1 << 20, upload_timeout=2, retry_max_delay=0.2)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def make(
    store: MemoryStore, base: Path, policy: ShippingPolicy = FAST, **kwargs: Any
) -> tuple[Shipper, ShippingProcessor]:
    shipper = Shipper(
        lambda: store, prefix=store.prefix, base_log_folder=str(base), policy=policy, host="h", **kwargs
    )
    return shipper, ShippingProcessor(shipper)


def stored(store: MemoryStore, rel: str = REL) -> bytes:
    return "\n".join(iter_log_text(store, rel)).encode() + b"\n"


def test_lines_reach_the_store_within_the_flush_interval_while_the_file_is_written(
    store: MemoryStore, base: Path
) -> None:
    _, processor = make(store, base)
    log = TaskLog(base)
    written = log.line(processor)
    started = time.monotonic()
    wait_for(lambda: bool(store.objects))
    assert time.monotonic() - started <= FAST.flush_interval + 0.2
    assert stored(store) == written


def test_size_triggers_a_flush_before_the_interval(store: MemoryStore, base: Path) -> None:
    _, processor = make(store, base, ShippingPolicy(flush_interval=30, flush_bytes=200))
    log = TaskLog(base)
    data = b"".join(log.line(processor, "x" * 50) for _ in range(5))
    wait_for(lambda: bool(store.objects), timeout=2)
    assert stored(store) == data


def test_finish_ships_the_rest_and_appends_only_new_bytes(store: MemoryStore, base: Path) -> None:
    shipper, processor = make(store, base, ShippingPolicy(flush_interval=60))
    log = TaskLog(base)
    first = b"".join(log.line(processor) for _ in range(3))
    assert shipper.finish(str(log.path))
    second = b"".join(log.line(processor) for _ in range(2))
    assert shipper.finish(str(log.path))

    assert stored(store) == first + second
    assert store.bytes_put == len(first) + len(second)


def test_a_new_process_resumes_where_the_store_ends(store: MemoryStore, base: Path) -> None:
    """Reschedule pokes: each poke is a new supervisor appending to the same local file."""
    log = TaskLog(base)
    data = b""
    for _poke in range(4):
        shipper, processor = make(store, base, ShippingPolicy(flush_interval=60))
        data += b"".join(log.line(processor) for _ in range(3))
        assert shipper.finish(str(log.path))
    assert stored(store) == data
    assert store.bytes_put == len(data)
    streams = {keys.parse_key(keys.log_key("logs", REL), k).stream for k in store.objects}  # type: ignore[union-attr]
    assert len(streams) == 1


def test_a_truncated_or_replaced_file_becomes_a_new_stream(store: MemoryStore, base: Path) -> None:
    shipper, processor = make(store, base, ShippingPolicy(flush_interval=60))
    log = TaskLog(base)
    old = b"".join(log.line(processor, f"old {i}") for i in range(3))
    assert shipper.finish(str(log.path))
    log.close()
    log.path.unlink()
    log = TaskLog(base)
    new = log.line(processor, "new 0")
    assert shipper.finish(str(log.path))

    _, streams = __import__(
        "airflow_platform_plugins.task_logs.objectstore.reader", fromlist=["open_log"]
    ).open_log(store, REL)
    contents = sorted("\n".join(s) for s in streams)
    assert contents == sorted([old.decode().rstrip("\n"), new.decode().rstrip("\n")])


def test_outage_keeps_everything_and_ships_it_once_when_the_store_is_back(
    store: MemoryStore, base: Path
) -> None:
    shipper, processor = make(store, base)
    log = TaskLog(base)
    store.failure = RemoteLogError("cannot reach the store")
    data = b"".join(log.line(processor) for _ in range(5))
    assert not shipper.finish(str(log.path))
    assert shipper.pending() == [REL]
    assert os.path.exists(log.path)

    store.failure = None
    wait_for(lambda: not shipper.pending())
    local = log.path.read_bytes()
    assert stored(store) == local
    assert local.startswith(data)
    assert store.bytes_put == len(local)


def our_lines(log: TaskLog) -> list[dict[str, Any]]:
    return [json.loads(x) for x in log.path.read_text().splitlines() if "airflow_platform_plugins" in x]


def test_failures_are_reported_once_in_the_task_log(store: MemoryStore, base: Path) -> None:
    clock = ManualClock()
    shipper, processor = make(store, base, clock=clock, background=False)
    log = TaskLog(base)
    store.failure = RemoteLogError(
        "bucket missing", permanent=True, setting="[logging] remote_base_log_folder"
    )
    log.line(processor)
    for _ in range(10):  # several retries, each after its backoff
        clock.advance(FAST.flush_interval)
        shipper.step()
    assert store.calls >= 5
    assert not shipper.finish(str(log.path))
    assert sum(clock.slept) <= FAST.upload_timeout, "finish waits out backoffs on the given clock"
    assert [o["level"] for o in our_lines(log)] == ["error"]
    assert "[logging] remote_base_log_folder" in our_lines(log)[0]["event"]

    store.failure = None
    clock.advance(FAST.retry_max_delay * 2)
    shipper.step()
    assert shipper.pending() == []
    assert [o["level"] for o in our_lines(log)] == ["error", "info"]
    assert stored(store) == log.path.read_bytes(), "the reports are shipped with the log"


def test_nothing_is_retried_before_its_backoff_ends(store: MemoryStore, base: Path) -> None:
    clock = ManualClock()
    policy = ShippingPolicy(flush_interval=0.3, retry_max_delay=60)
    shipper, processor = make(store, base, policy, clock=clock, background=False)
    log = TaskLog(base)
    store.failure = RemoteLogError("down")
    log.line(processor)
    clock.advance(policy.flush_interval)
    shipper.step()
    calls = store.calls
    assert calls > 0
    clock.advance(0.3)  # the first backoff is 0.5 s +- 20 %
    shipper.step()
    assert store.calls == calls
    store.failure = None
    for _ in range(3):  # the backoff's end; the line's flush interval; the recovery report's
        clock.advance(policy.flush_interval * 2)
        shipper.step()
    assert stored(store) == log.path.read_bytes()
    assert [o["level"] for o in our_lines(log)] == ["warning", "info"]


def test_a_pending_log_is_finished_by_a_later_process(store: MemoryStore, base: Path) -> None:
    shipper, processor = make(store, base)
    log = TaskLog(base)
    store.failure = RemoteLogError("down")
    log.line(processor)
    assert not shipper.finish(str(log.path))
    store.failure = None

    later, _ = make(store, base)  # e.g. a restarted worker: it only has the journal on disk
    later.start()
    wait_for(lambda: stored(store) == log.path.read_bytes())


def test_local_copy_is_deleted_only_once_the_store_holds_all_of_it(store: MemoryStore, base: Path) -> None:
    shipper, processor = make(store, base, delete_local_copy=True)
    log = TaskLog(base)
    store.failure = RemoteLogError("down")
    log.line(processor)
    assert not shipper.finish(str(log.path))
    assert log.path.exists()
    store.failure = None
    assert shipper.finish(str(log.path))
    assert not log.path.exists()
    assert stored(store).startswith(b'{"timestamp"')


def test_big_backlogs_are_split_and_uploaded_in_parallel(store: MemoryStore, base: Path) -> None:
    shipper, _ = make(store, base, ShippingPolicy(chunk_max_bytes=1000, upload_concurrency=4))
    path = base / REL
    path.parent.mkdir(parents=True)
    data = b"".join(b'{"event":"%05d"}\n' % i for i in range(1000))
    path.write_bytes(data)
    assert shipper.finish(str(path))
    assert len(store.objects) == -(-len(data) // 1000)
    assert stored(store) == data


def test_a_partial_last_line_waits_until_the_end(store: MemoryStore, base: Path) -> None:
    clock = ManualClock()
    shipper, processor = make(store, base, clock=clock, background=False)
    log = TaskLog(base)
    whole = log.line(processor)
    log.file.write(b'{"event":"half')
    log.file.flush()
    for _ in range(3):
        clock.advance(FAST.flush_interval)
        shipper.step()
        assert stored(store) == whole
    assert shipper.finish(str(log.path))
    assert b"".join(store.objects[k] for k in sorted(store.objects)) == whole + b'{"event":"half'


def test_lines_wait_for_the_flush_interval_unless_they_fill_flush_bytes(
    store: MemoryStore, base: Path
) -> None:
    clock = ManualClock()
    policy = ShippingPolicy(flush_interval=10, flush_bytes=1000)
    shipper, processor = make(store, base, policy, clock=clock, background=False)
    log = TaskLog(base)
    first = log.line(processor)
    clock.advance(5)
    shipper.step()
    assert store.objects == {}
    clock.advance(5)
    shipper.step()
    assert stored(store) == first
    more = log.lines(processor, 30, "x" * 40)
    shipper.step()  # no time has passed: flush_bytes alone makes them due
    assert stored(store) == first + more


def test_files_that_are_not_task_logs_are_ignored(store: MemoryStore, base: Path, tmp_path: Path) -> None:
    dag_processor = base / "dag_processor"
    clock = ManualClock()
    shipper, processor = make(store, base, excluded_dirs=(str(dag_processor),), clock=clock, background=False)

    outside = TaskLog(tmp_path / "elsewhere", "x.log")
    inside_excluded = TaskLog(dag_processor, "2024/file.py.log")
    outside.line(processor)
    inside_excluded.line(processor)
    sock = socket.socketpair()
    processor(structlog.BytesLogger(sock[0].makefile("wb")), "info", {"event": "from the task process"})
    processor(object(), "info", {"event": "odd logger"})
    clock.advance(FAST.flush_interval)
    shipper.step()

    assert store.objects == {}
    assert shipper.followed() == []
    sock[0].close()
    sock[1].close()


def test_the_processor_never_raises_and_passes_events_through(store: MemoryStore, base: Path) -> None:
    class Broken:
        def track(self, path: str, logger: object = None) -> None:
            raise RuntimeError("boom")

    processor = ShippingProcessor(Broken())
    log = TaskLog(base)
    event = {"event": "x"}
    assert processor(log.logger, "info", event) is event


def test_paths_that_escape_the_log_folder_are_refused(store: MemoryStore, base: Path) -> None:
    shipper, _ = make(store, base)
    (base / "d").mkdir(parents=True)
    assert shipper.relative_path(str(base / "d" / ".." / ".." / "etc" / "passwd")) is None
    assert shipper.relative_path(str(base / "d" / "x" / ".." / "a.log")) == "d/x/../a.log"
    assert not shipper.finish(str(base / ".." / "outside.log"))


def test_a_late_upload_ships_only_what_its_own_process_wrote(base: Path) -> None:
    """LocalExecutor: poke N's worker may upload late, after poke N+1's worker appended to the file."""
    shared = MemoryStore()
    first_puts: list[str] = []

    class FirstView(MemoryStore):
        def put_new(self, key: str, body: FileRange) -> None:
            first_puts.append(key)
            shared.put_new(key, body)

        def list(self, prefix: str) -> Iterator[ObjectInfo]:
            return shared.list(prefix)

    first = Shipper(FirstView, prefix="logs", base_log_folder=str(base), policy=ShippingPolicy(60), host="h")
    second, second_processor = make(shared, base, ShippingPolicy(flush_interval=60))
    earlier = TaskLog(base)
    first_processor = ShippingProcessor(first)
    mine = b"".join(earlier.line(first_processor, f"poke 1 line {i}") for i in range(3))
    later = TaskLog(base)
    theirs = b"".join(later.line(second_processor, f"poke 2 line {i}") for i in range(3))

    assert first.finish(str(earlier.path))
    assert second.finish(str(later.path))
    earlier.close()
    later.close()

    assert stored(shared) == mine + theirs
    assert shared.bytes_put == len(mine + theirs)
    ends = [keys.parse_key(keys.log_key("logs", REL), k).end for k in first_puts]  # type: ignore[union-attr]
    assert max(ends) == len(mine), "the first process shipped bytes of the second"


class LostAnswerStore(MemoryStore):
    """Stores the next upload, then fails it: the answer was lost on the way back."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_next_answer = False

    def put_new(self, key: str, body: FileRange) -> None:
        super().put_new(key, body)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise RemoteLogError("connection reset while reading the response")


def test_an_upload_whose_answer_was_lost_is_not_stored_again_in_a_longer_chunk(base: Path) -> None:
    """Regression (reliability suite, flaky network on GCS): the retry shipped from the old offset
    in a larger chunk, so the store held overlapping chunks (the same bytes twice)."""
    store = LostAnswerStore()
    clock = ManualClock()
    shipper, processor = make(store, base, clock=clock, background=False)
    log = TaskLog(base)
    log.lines(processor, 3)
    store.lose_next_answer = True
    clock.advance(FAST.flush_interval)
    shipper.step()
    log.lines(processor, 3, prefix="more")
    assert shipper.finish(str(log.path))
    log_key = keys.log_key(store.prefix, REL)
    names = [keys.parse_key(log_key, key) for key in store.objects]
    ranges = sorted((n.start, n.end) for n in names if isinstance(n, keys.ChunkName))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges)), ranges
    assert stored(store) == log.path.read_bytes()
