from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_platform_plugins.task_logs.objectstore import keys


@pytest.mark.parametrize(
    ("relative", "encoded"),
    [
        ("dag_id=a/run_id=r:1+2/task_id=t/attempt=1.log", "dag_id=a/run_id=r:1+2/task_id=t/attempt=1.log"),
        ("dag_id=ü/run_id=漢字/attempt=1.log", "dag_id=ü/run_id=漢字/attempt=1.log"),
        ("dag_id=a/run_id=x/../y/attempt=1.log", "dag_id=a/run_id=x/%2E%2E/y/attempt=1.log"),
        ("a/./b", "a/%2E/b"),
        ("a/100%/b\n", "a/100%25/b%0A"),
    ],
)
def test_relative_paths_become_keys_that_no_layer_rewrites(relative: str, encoded: str) -> None:
    assert keys.encode_relative_path(relative) == encoded


@pytest.mark.parametrize("bad", ["", "/etc/passwd"])
def test_absolute_or_empty_paths_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="base_log_folder"):
        keys.encode_relative_path(bad)


def test_log_key_joins_prefix_without_double_slashes() -> None:
    assert keys.log_key("/logs/", "a/b.log") == "logs/a/b.log"
    assert keys.log_key("", "a/b.log") == "a/b.log"


def test_chunk_names_sort_by_offset_and_parse_back() -> None:
    names = [keys.chunk_key("p/a.log", "h-1", s, s + 10) for s in (0, 10, 100, 1000)]
    assert names == sorted(names)
    assert keys.parse_key("p/a.log", names[2]) == keys.ChunkName("p/a.log", "h-1", 100, 110)


def test_listing_classifies_whole_objects_trigger_logs_and_chunks() -> None:
    key = "p/attempt=1.log"
    assert keys.parse_key(key, key) == keys.WholeObjectName(key)
    assert keys.parse_key(key, key + ".trigger.7.log") == keys.WholeObjectName(key + ".trigger.7.log")
    trigger_chunk = keys.chunk_key(key + ".trigger.7.log", "h-2", 0, 5)
    assert keys.parse_key(key, trigger_chunk) == keys.ChunkName(key + ".trigger.7.log", "h-2", 0, 5)
    assert keys.parse_key(key, key + "/not/a/chunk") is None
    assert keys.parse_key(key, "other") is None


@pytest.mark.parametrize(("start", "end"), [(5, 5), (6, 5), (-1, 3), (0, 10**16)])
def test_invalid_chunk_ranges_are_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="chunk range"):
        keys.chunk_key("k", "s", start, end)


def test_stream_id_is_stable_per_file_and_safe_as_a_key_segment() -> None:
    first = keys.stream_id("worker-0.airflow.svc", b'{"event":"start"}\n')
    assert first == keys.stream_id("worker-0.airflow.svc", b'{"event":"start"}\n')
    assert first != keys.stream_id("worker-0.airflow.svc", b'{"event":"other"}\n')
    odd = keys.stream_id("we/ird host_ñame", b"x")
    assert "/" not in odd
    assert " " not in odd
    assert keys.parse_key("k", keys.chunk_key("k", odd, 0, 1)) == keys.ChunkName("k", odd, 0, 1)


@given(
    st.lists(st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s), min_size=1, max_size=5),
    st.integers(0, 10**12),
    st.integers(1, 10**6),
)
def test_every_relative_path_gives_parseable_chunk_keys(segments: list[str], start: int, size: int) -> None:
    key = keys.log_key("prefix", "/".join(segments))
    name = keys.chunk_key(key, "host-0123456789abcdef", start, start + size)
    assert keys.parse_key(key, name) == keys.ChunkName(key, "host-0123456789abcdef", start, start + size)
    assert all(part not in (".", "..") for part in key.split("/"))
    assert not any(ord(c) < 0x20 for c in key)
