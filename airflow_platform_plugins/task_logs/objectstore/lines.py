"""Split a byte stream into text lines with memory bounded by the longest line (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from airflow_platform_plugins.task_logs.common.jsonlines import log_line
from airflow_platform_plugins.task_logs.objectstore.stitching import Gap

_SLICE = 1 << 20


def gap_line(gap: Gap, where: str) -> str:
    """A log line (Airflow's JSON shape) saying that bytes of the stored log are missing."""
    return log_line(
        f"{gap.end - gap.start} bytes (offsets {gap.start}-{gap.end}) of this log are not in"
        f" {where} yet: the writer has not shipped them, or they were lost."
    )


def split_line_batches(blocks: Iterable[bytes | Gap], where: str = "the remote store") -> Iterator[list[str]]:
    r"""Yield lists of the ``\n``-separated lines of ``blocks``, decoded as UTF-8 (bad bytes: U+FFFD).

    Blocks of any size are cut into slices of at most 1 MiB, so memory stays bounded by the slice
    size plus the longest line. A trailing line without ``\n`` comes last. A :class:`Gap` ends the
    current partial line and yields a line that reports the missing bytes.
    """
    pending: list[bytes] = []
    for block in blocks:
        if isinstance(block, Gap):
            out = [b"".join(pending).decode("utf-8", "replace")] if pending else []
            pending = []
            out.append(gap_line(block, where))
            yield out
            continue
        for offset in range(0, len(block), _SLICE):
            chunk = block if len(block) <= _SLICE else block[offset : offset + _SLICE]
            last = chunk.rfind(b"\n")
            if last < 0:
                pending.append(chunk)
                continue
            start = 0
            head: list[str] = []
            if pending:  # finish the line the previous block began: join only its bytes
                first = chunk.find(b"\n")
                pending.append(chunk[:first])
                head = [b"".join(pending).decode("utf-8", "replace")]
                pending = []
                start = first + 1
            lines = str(memoryview(chunk)[start : last + 1], "utf-8", "replace").split("\n")
            lines.pop()  # the empty string after the final newline
            yield head + lines if head else lines
            if last + 1 < len(chunk):
                pending.append(chunk[last + 1 :])
    if pending:
        yield [b"".join(pending).decode("utf-8", "replace")]


def split_lines(blocks: Iterable[bytes | Gap], where: str = "the remote store") -> Iterator[str]:
    """The lines of :func:`split_line_batches`, one by one."""
    for batch in split_line_batches(blocks, where):
        yield from batch
