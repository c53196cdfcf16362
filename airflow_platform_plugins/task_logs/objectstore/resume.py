"""Where shipping a file resumes: the end of its complete lines on disk, and of its chunks in the store."""

from __future__ import annotations

from typing import Any, BinaryIO, Protocol

from airflow_platform_plugins.task_logs.common._structlog import logger_file
from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.stitching import Chunk, contiguous_end
from airflow_platform_plugins.task_logs.objectstore.store import ObjectStore

HEAD_MAX = 64 * 1024
"""Most bytes read at once when looking for a newline (and the longest first line that names a stream)."""


def stored_end(store: ObjectStore, key: str, stream: str) -> int:
    """End of the contiguous chunks of ``stream`` that the store holds (where shipping resumes)."""
    chunks = []
    for info in store.list(keys.chunk_prefix(key, stream)):
        name = keys.parse_key(key, info.key)
        if isinstance(name, keys.ChunkName) and name.end - name.start == info.size:
            chunks.append(Chunk(info.key, name.start, name.end))
    return contiguous_end(chunks)


def line_end(f: BinaryIO, start: int, size: int) -> int:
    """Offset just after the last complete line in ``[start, size)``, or ``start`` if none."""
    pos = size
    while pos > start:
        block_start = max(start, pos - HEAD_MAX)
        f.seek(block_start)
        block = f.read(pos - block_start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return block_start + newline + 1
        pos = block_start
    return start


class _Written(Protocol):
    logger: Any
    limit: int | None
    limit_exact: bool
    final: bool


def writer_end(tracked: _Written) -> tuple[int | None, bool]:
    """(end of this process's writes to the file, whether its writer has closed it).

    The end is ``None`` (ship to the end of the file) when it is not known exactly: the file was
    not written through a logger of this process, or it was closed before the final upload saw
    the writer's position. Airflow uploads before it closes the file, so it is exact there.
    """
    file = logger_file(tracked.logger)
    if file is None:
        return None, False
    try:
        tracked.limit = int(file.tell())
    except (ValueError, OSError):  # closed by the supervisor
        return (tracked.limit if tracked.limit_exact else None), True
    if tracked.final:
        tracked.limit_exact = True  # seen during the final upload: nothing more comes from this writer
    return tracked.limit, False
