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


def test_a_covering_object_wins_over_the_chunks_it_replaces() -> None:
    chunks = [Chunk("a", 0, 10), Chunk("b", 10, 20), Chunk("c", 20, 30), Chunk("m", 10, 30)]
    assert plan(chunks) == [Piece("a", 0, 10), Piece("m", 0, 20)]
    whole = [*chunks, Chunk("w", 0, 30)]
    assert plan(whole) == [Piece("w", 0, 30)]


def test_the_furthest_reaching_object_is_read_even_if_it_starts_earlier() -> None:
    chunks = [Chunk("a", 0, 10), Chunk("m", 5, 40), Chunk("b", 10, 20), Chunk("c", 20, 40)]
    assert plan(chunks) == [Piece("a", 0, 10), Piece("m", 5, 30)]


@given(st.integers(2, 40), st.data())
def test_merges_stopped_at_any_moment_read_back_exactly(count: int, draw: st.DataObject) -> None:
    """Chunks of one stream plus covering objects over consecutive runs of them, with any sources gone."""
    data = bytes(range(256)) * 2
    edges = sorted(
        set(draw.draw(st.lists(st.integers(1, len(data) - 1), min_size=count - 1, max_size=count)))
    )
    edges = [0, *edges, len(data)]
    chunks = {f"k{i}": Chunk(f"k{i}", s, e) for i, (s, e) in enumerate(itertools.pairwise(edges))}
    spans = draw.draw(st.lists(st.tuples(st.integers(0, len(edges) - 2), st.integers(1, 8)), max_size=4))
    for j, (first, n) in enumerate(spans):
        last = min(len(edges) - 1, first + n)
        cover = Chunk(f"m{j}", edges[first], edges[last])
        chunks[cover.key] = cover
        for i in range(first, last):  # a merge deletes its sources only after storing the cover
            if draw.draw(st.booleans()):
                chunks.pop(f"k{i}", None)
    assert read(data, plan(chunks.values()), chunks) == data
    assert contiguous_end(chunks.values()) == len(data)
