"""Read a task log back from an object store as ordered line streams with bounded memory.

One log may consist of whole objects (the providers' layout) and chunk streams (ours). Each becomes
one line iterator; Airflow's log reader merges them by timestamp. Objects are streamed and read
ahead in parallel within a byte budget, so memory does not grow with the log.

Each iterator is an ``itertools.chain`` over batches of lines (one batch per MiB), which Airflow
accepts as a stream like a generator: handing out a line then costs no Python frame, which matters
at a million lines per 200 MiB.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.lines import split_line_batches
from airflow_platform_plugins.task_logs.objectstore.prefetch import prefetched
from airflow_platform_plugins.task_logs.objectstore.stitching import Chunk, Gap, Piece, plan
from airflow_platform_plugins.task_logs.objectstore.store import ObjectInfo, ObjectStore


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
    store: ObjectStore, relative_path: str, *, prefetch_bytes: int = 16 << 20
) -> tuple[list[str], list[Iterator[str]]]:
    """Return ``(sources, line iterators)`` for the log at ``relative_path``; never raises."""
    try:
        logs = _group(store, relative_path)
    except RemoteLogError as error:
        where = store.url(keys.log_key(store.prefix, relative_path))
        return [f"Could not list {where}: {error}"], []
    sources: list[str] = []
    streams: list[Iterator[str]] = []
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


def _lines(store: ObjectStore, steps: list[Piece | Gap], prefetch_bytes: int, where: str) -> Iterator[str]:
    return itertools.chain.from_iterable(_line_batches(store, steps, prefetch_bytes, where))


def _line_batches(
    store: ObjectStore, steps: list[Piece | Gap], prefetch_bytes: int, where: str
) -> Generator[list[str], None, None]:
    # Dropping the chain drops this generator, whose ``finally`` stops the read-ahead threads.
    blocks = prefetched(
        steps, lambda p: store.iter_bytes(p.key, p.skip, p.length), prefetch_bytes, store.read_buffer
    )
    try:
        yield from split_line_batches(blocks, where)
    except RemoteLogError as error:
        yield [f"Reading {where} failed: {error}"]
    finally:
        blocks.close()


def iter_log_text(store: ObjectStore, relative_path: str) -> Iterator[str]:
    """All lines of all parts of a log, part after part (for tools and tests, not for the UI)."""
    _, streams = open_log(store, relative_path)
    for stream in streams:
        yield from stream
