from __future__ import annotations

import itertools
import threading
import types

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.reader import open_log
from tests.harness.tasklog import wait_for
from tests.unit.task_logs.objectstore.memory_store import MemoryStore

REL = "dag_id=d/run_id=r/task_id=t/attempt=1.log"


def store_with_whole_object(lines: int) -> MemoryStore:
    store = MemoryStore()
    store.objects[keys.legacy_log_key(store.prefix, REL)] = b"".join(b"line %d\n" % i for i in range(lines))
    return store


def test_streams_are_of_the_types_airflow_takes_as_streams() -> None:
    # Airflow's FileTaskHandler takes a remote log part as a stream only if it is a generator or an
    # itertools.chain (or islice); anything else is refused with a TypeError.
    sources, streams = open_log(store_with_whole_object(3), REL)
    assert len(sources) == len(streams) == 1
    assert all(isinstance(s, itertools.chain | types.GeneratorType) for s in streams)
    assert list(streams[0]) == ["line 0", "line 1", "line 2"]


def test_dropping_a_stream_half_read_stops_its_read_ahead() -> None:
    before = threading.active_count()
    _, streams = open_log(store_with_whole_object(200_000), REL, prefetch_bytes=1 << 10)
    assert next(streams[0]) == "line 0"
    assert threading.active_count() > before
    del streams
    wait_for(lambda: threading.active_count() <= before, what="the read-ahead threads stopped")


def test_a_failed_read_ends_the_stream_with_a_line_that_says_so() -> None:
    store = store_with_whole_object(3)
    _, streams = open_log(store, REL)
    store.failure = RemoteLogError("the store went away")
    where = store.url(keys.legacy_log_key(store.prefix, REL))
    assert list(streams[0]) == [f"Reading {where} failed: the store went away"]
