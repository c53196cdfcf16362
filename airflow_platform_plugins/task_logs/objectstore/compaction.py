"""Which of a stream's stored objects to replace by one covering object (pure).

A shipping process stores a stream as small chunks, one per flush. To keep the number of objects per
log small, it merges a run of its own consecutive objects into one larger object over the same bytes
(named like any chunk, by its byte range). This module decides which run, as a log-structured merge
with geometric tiers:

- every stored chunk starts at level 0;
- when ``fan_in`` objects of level 0 have accumulated at the end, they become one object of level 1;
  when that would make ``fan_in`` objects of level 1, the level-1 objects and the new ones become one
  object of level 2 at once, and so on (a carry, as in counting in base ``fan_in``).

Each byte is rewritten once per level it passes through, so bytes written stay within
``1 + levels`` times the log, and the number of objects stays below ``(fan_in - 1) * levels + fan_in``
while the levels grow like ``log(n) / log(fan_in)``. At the end of a try, :func:`plan_final` merges the
smallest objects so that at most ``keep`` remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FAN_IN = 16
"""Objects of one level that become one object of the next level."""
FINAL_OBJECTS = 8
"""Most objects a process leaves per stream when its try ends."""
MERGE_MAX_BYTES = 256 << 20
"""Largest covering object: bigger ones would hold up shipping for too long."""
COMPOSE_MAX_SOURCES = 32
"""Most sources of one server-side compose (Google Cloud Storage's limit)."""
COMPOSE_MAX_COMPONENTS = 1024
"""Most components of a composite object (Google Cloud Storage's limit)."""


@dataclass(frozen=True)
class Run:
    """One stored object of this process: bytes ``[start, end)`` of the stream, at ``level``.

    ``components`` counts the uploaded objects a server-side compose built it from (1 if uploaded).
    """

    start: int
    end: int
    level: int = 0
    components: int = 1


@dataclass(frozen=True)
class Merge:
    """Replace ``runs[first:]`` by one object over ``[start, end)`` at ``level``."""

    first: int
    start: int
    end: int
    level: int


def plan(runs: Sequence[Run], *, fan_in: int = FAN_IN, max_bytes: int = MERGE_MAX_BYTES) -> Merge | None:
    """The merge due now for ``runs`` (consecutive, oldest first), or ``None``."""
    first = len(runs)
    while first > 0 and runs[first - 1].level == 0:
        first -= 1
    if len(runs) - first < fan_in:
        return None
    level = 1
    while True:
        before = first
        while before > 0 and runs[before - 1].level == level:
            before -= 1
        carries = first - before + 1 >= fan_in
        if not carries or runs[-1].end - runs[before].start > max_bytes:
            break
        first, level = before, level + 1
    if runs[-1].end - runs[first].start > max_bytes:
        return None
    return Merge(first, runs[first].start, runs[-1].end, level)


def plan_final(
    runs: Sequence[Run], *, keep: int = FINAL_OBJECTS, max_bytes: int = MERGE_MAX_BYTES
) -> Merge | None:
    """The merge that leaves at most ``keep`` objects (merging the newest, smallest ones), or ``None``."""
    if len(runs) <= keep:
        return None
    first = keep - 1
    while runs[-1].end - runs[first].start > max_bytes:
        first += 1
        if first >= len(runs) - 1:
            return None
    return Merge(first, runs[first].start, runs[-1].end, max(r.level for r in runs[first:]) + 1)


def apply(runs: Sequence[Run], merge: Merge, components: int = 1) -> list[Run]:
    """``runs`` after ``merge`` is stored."""
    return [*runs[: merge.first], Run(merge.start, merge.end, merge.level, components)]


def composable(runs: Sequence[Run], merge: Merge) -> int | None:
    """Components of the result if the store may compose ``merge`` on the server, else ``None``."""
    sources = runs[merge.first :]
    total = sum(r.components for r in sources)
    if len(sources) > COMPOSE_MAX_SOURCES or total > COMPOSE_MAX_COMPONENTS:
        return None
    return total
