"""Turn a stream's stored chunks into an ordered read plan (pure).

Chunks are byte ranges of one append-only file, so two chunks that overlap hold the same bytes where
they overlap. A plan reads every byte once, in order, and names any range that no chunk covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """A stored chunk: object ``key`` holds bytes ``[start, end)`` of its stream."""

    key: str
    start: int
    end: int


@dataclass(frozen=True)
class Piece:
    """Read ``length`` bytes of object ``key`` from byte ``skip`` of that object."""

    key: str
    skip: int
    length: int


@dataclass(frozen=True)
class Gap:
    """Bytes ``[start, end)`` of the stream are in no stored chunk."""

    start: int
    end: int


def plan(chunks: Iterable[Chunk]) -> list[Piece | Gap]:
    """Return pieces that read the stream from byte 0 to its last stored byte, each byte once.

    At each position the chunk reaching furthest is read, so a covering object that a merge wrote
    wins over the chunks it replaces (they may remain for a while, or after a crash mid-merge), and a
    stream reads in as few pieces as its objects allow.
    """
    ordered = sorted(chunks, key=lambda c: (c.start, -c.end, c.key))
    steps: list[Piece | Gap] = []
    pos = 0
    i = 0
    while i < len(ordered):
        best: Chunk | None = None
        while i < len(ordered) and ordered[i].start <= pos:
            if ordered[i].end > pos and (best is None or ordered[i].end > best.end):
                best = ordered[i]
            i += 1
        if best is None:
            if i < len(ordered):
                steps.append(Gap(pos, ordered[i].start))
                pos = ordered[i].start
            continue
        steps.append(Piece(best.key, pos - best.start, best.end - pos))
        pos = best.end
    return steps


def contiguous_end(chunks: Iterable[Chunk]) -> int:
    """End of the range ``[0, end)`` that stored chunks cover without a gap (where a writer resumes)."""
    pos = 0
    for chunk in sorted(chunks, key=lambda c: (c.start, -c.end)):
        if chunk.start > pos:
            break
        pos = max(pos, chunk.end)
    return pos
