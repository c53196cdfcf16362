"""Split a byte stream into text lines with memory bounded by the longest line (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from airflow_platform_plugins.task_logs.stitching import Gap


def gap_line(gap: Gap, where: str) -> str:
    """A log line (Airflow's JSON shape) saying that bytes of the stored log are missing."""
    return json.dumps(
        {
            "level": "warning",
            "event": f"{gap.end - gap.start} bytes (offsets {gap.start}-{gap.end}) of this log are not in"
            f" {where} yet: the writer has not shipped them, or they were lost.",
            "logger": "airflow_platform_plugins.task_logs",
        }
    )


def split_lines(blocks: Iterable[bytes | Gap], where: str = "the remote store") -> Iterator[str]:
    r"""Yield the ``\n``-separated lines of ``blocks``, decoded as UTF-8 (bad bytes become U+FFFD).

    A trailing line without ``\n`` is yielded at the end. A :class:`Gap` ends the current partial line and
    yields a line that reports the missing bytes, so a reader sees the hole instead of silently losing it.
    """
    pending: list[bytes] = []
    for block in blocks:
        if isinstance(block, Gap):
            if pending:
                yield b"".join(pending).decode("utf-8", "replace")
                pending = []
            yield gap_line(block, where)
            continue
        first = block.find(b"\n")
        if first == -1:
            if block:
                pending.append(block)
            continue
        start = 0
        if pending:
            pending.append(block[:first])
            yield b"".join(pending).decode("utf-8", "replace")
            pending = []
            start = first + 1
        last = block.rfind(b"\n")
        if last >= start:
            yield from block[start:last].decode("utf-8", "replace").split("\n")
        if last + 1 < len(block):
            pending.append(block[last + 1 :])
    if pending:
        yield b"".join(pending).decode("utf-8", "replace")
