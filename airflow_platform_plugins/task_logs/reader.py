"""Read a task log back from an object store as ordered line streams with bounded memory.

One log may consist of whole objects (the providers' layout) and chunk streams (ours). Each becomes
one line generator; Airflow's log reader merges the generators by timestamp. Small chunks are fetched
ahead in parallel up to a byte budget, large ones are streamed, so memory does not grow with the log.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from airflow_platform_plugins.task_logs import keys
from airflow_platform_plugins.task_logs.lines import split_lines
from airflow_platform_plugins.task_logs.stitching import Chunk, Gap, Piece, plan
from airflow_platform_plugins.task_logs.store import ObjectInfo, ObjectStore, StoreError

_PREFETCH_WHOLE_MAX = 8 << 20
_MAX_AHEAD = 64
_POOL_WORKERS = 8

_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """One fetch pool per process (a forked child starts its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(_POOL_WORKERS, thread_name_prefix="remote-log-get"))
        return _pool[1]


@dataclass
class _LogParts:
    whole: ObjectInfo | None = None
    streams: dict[str, list[Chunk]] = field(default_factory=dict)


def _group(store: ObjectStore, relative_path: str) -> dict[str, _LogParts]:
    """List the log's objects (under our key and, if different, the providers' raw key)."""
    key = keys.log_key(store.prefix, relative_path)
    legacy = keys.legacy_log_key(store.prefix, relative_path)
    logs: dict[str, _LogParts] = {}
    for prefix in dict.fromkeys((key, legacy)):
        for info in store.list(prefix):
            name = keys.parse_key(prefix, info.key)
            if isinstance(name, keys.ChunkName) and prefix == key:
                if name.end - name.start == info.size:
                    parts = logs.setdefault(name.log, _LogParts())
                    parts.streams.setdefault(name.stream, []).append(Chunk(info.key, name.start, name.end))
            elif isinstance(name, keys.WholeObjectName):
                logs.setdefault(name.log, _LogParts()).whole = info
    return logs


def open_log(
    store: ObjectStore, relative_path: str, *, prefetch_bytes: int = 32 << 20
) -> tuple[list[str], list[Generator[str, None, None]]]:
    """Return ``(sources, line generators)`` for the log at ``relative_path``; never raises."""
    try:
        logs = _group(store, relative_path)
    except StoreError as error:
        where = store.url(keys.log_key(store.prefix, relative_path))
        return [f"Could not list {where}: {error}"], []
    sources: list[str] = []
    streams: list[Generator[str, None, None]] = []
    for log_name in sorted(logs):
        parts = logs[log_name]
        if parts.whole is not None and parts.whole.size:
            where = store.url(parts.whole.key)
            sources.append(where)
            streams.append(
                _lines(store, [Piece(parts.whole.key, 0, parts.whole.size)], prefetch_bytes, where)
            )
        for stream in sorted(parts.streams):
            chunks = parts.streams[stream]
            steps = plan(chunks)
            where = store.url(keys.chunk_prefix(log_name, stream))
            size = max(c.end for c in chunks)
            sources.append(f"{where} ({len(chunks)} chunks, {size} bytes)")
            streams.append(_lines(store, steps, prefetch_bytes, where))
    return sources, streams


def _lines(
    store: ObjectStore, steps: list[Piece | Gap], prefetch_bytes: int, where: str
) -> Generator[str, None, None]:
    blocks = _blocks(store, steps, prefetch_bytes)
    try:
        yield from split_lines(blocks, where)
    except StoreError as error:
        yield f"Reading {where} failed: {error}"
    finally:
        blocks.close()


def _blocks(store: ObjectStore, steps: list[Piece | Gap], budget: int) -> Generator[bytes | Gap, None, None]:
    """Yield the bytes of ``steps`` in order, fetching small pieces ahead within ``budget`` bytes."""
    ahead: deque[tuple[Piece | Gap, Future[bytes] | None]] = deque()
    in_flight = 0
    index = 0
    try:
        while index < len(steps) or ahead:
            while index < len(steps) and len(ahead) < _MAX_AHEAD:
                step = steps[index]
                if isinstance(step, Piece) and step.length <= _PREFETCH_WHOLE_MAX:
                    if ahead and in_flight + step.length > budget:
                        break
                    ahead.append((step, _executor().submit(store.get, step.key, step.skip, step.length)))
                    in_flight += step.length
                else:
                    ahead.append((step, None))
                index += 1
            step, future = ahead.popleft()
            if isinstance(step, Gap):
                yield step
            elif future is not None:
                data = future.result()
                in_flight -= step.length
                yield data
            else:
                yield from store.iter_bytes(step.key, step.skip, step.length)
    finally:
        for _, pending in ahead:
            if pending is not None:
                pending.cancel()


def iter_log_text(store: ObjectStore, relative_path: str) -> Iterator[str]:
    """All lines of all parts of a log, part after part (for tools and tests, not for the UI)."""
    _, streams = open_log(store, relative_path)
    for stream in streams:
        yield from stream
