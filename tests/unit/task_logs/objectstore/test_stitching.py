from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from airflow_platform_plugins.task_logs.objectstore.stitching import Chunk, Gap, Piece, contiguous_end, plan


def read(data: bytes, steps: list[Piece | Gap], chunks: dict[str, Chunk]) -> bytes:
    out = bytearray()
    for step in steps:
        assert isinstance(step, Piece)
        chunk = chunks[step.key]
        out += data[chunk.start + step.skip : chunk.start + step.skip + step.length]
    return bytes(out)


def test_overlapping_and_repeated_chunks_are_read_once() -> None:
    chunks = [Chunk("a", 0, 10), Chunk("b", 5, 20), Chunk("c", 0, 10), Chunk("d", 12, 15)]
    assert plan(chunks) == [Piece("a", 0, 10), Piece("b", 5, 10)]


def test_a_missing_range_is_named() -> None:
    assert plan([Chunk("a", 0, 10), Chunk("b", 20, 30)]) == [
        Piece("a", 0, 10),
        Gap(10, 20),
        Piece("b", 0, 10),
    ]
    assert plan([Chunk("b", 5, 9)]) == [Gap(0, 5), Piece("b", 0, 4)]


def test_writers_resume_at_the_end_of_the_gapless_prefix() -> None:
    assert contiguous_end([]) == 0
    assert contiguous_end([Chunk("a", 0, 10), Chunk("b", 10, 12), Chunk("c", 20, 30)]) == 12
    assert contiguous_end([Chunk("a", 5, 10)]) == 0


@given(st.binary(min_size=1, max_size=300), st.data())
def test_any_set_of_chunks_covering_a_stream_reads_back_exactly(data: bytes, draw: st.DataObject) -> None:
    bounds = sorted(
        set(draw.draw(st.lists(st.integers(1, len(data) - 1), max_size=8)) if len(data) > 1 else [])
    )
    edges = [0, *bounds, len(data)]
    chunks = {f"k{i}": Chunk(f"k{i}", s, e) for i, (s, e) in enumerate(itertools.pairwise(edges))}
    extra = draw.draw(
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, len(data))), max_size=5)
    )
    for j, (s, length) in enumerate(extra):
        e = min(len(data), s + length)
        chunks[f"x{j}"] = Chunk(f"x{j}", s, e)
    assert read(data, plan(chunks.values()), chunks) == data
    assert contiguous_end(chunks.values()) == len(data)
