from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from airflow_platform_plugins.task_logs.objectstore.prefetch import prefetched
from airflow_platform_plugins.task_logs.objectstore.stitching import Gap, Piece
from tests.harness.tasklog import wait_for


def source(
    data: dict[str, bytes], in_flight: list[int], peak: list[int]
) -> Callable[[Piece], Iterator[bytes]]:
    lock = threading.Lock()

    def open_piece(piece: Piece) -> Iterator[bytes]:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            blob = data[piece.key][piece.skip : piece.skip + piece.length]
            for i in range(0, len(blob), 3):
                time.sleep(0.001)  # a slow network: lets several fetches overlap, as they do for real
                yield blob[i : i + 3]
        finally:
            with lock:
                in_flight[0] -= 1

    return open_piece


def test_bytes_come_back_in_order_with_gaps_in_place() -> None:
    data = {f"k{i}": bytes([65 + i]) * 10 for i in range(20)}
    steps: list[Piece | Gap] = [Piece(f"k{i}", 2, 6) for i in range(20)]
    steps.insert(5, Gap(0, 4))
    out = list(prefetched(steps, source(data, [0], [0]), budget=1 << 20))
    flat = b"".join(b for b in out if isinstance(b, bytes))
    assert flat == b"".join(bytes([65 + i]) * 6 for i in range(20))
    gaps = [b for b in out if isinstance(b, Gap)]
    assert gaps == [Gap(0, 4)]
    before_gap = b"".join(b for b in out[: out.index(Gap(0, 4))] if isinstance(b, bytes))
    assert before_gap == b"".join(bytes([65 + i]) * 6 for i in range(5))


def test_small_objects_are_fetched_in_parallel_within_the_budget() -> None:
    data = {f"k{i}": b"x" * 30 for i in range(40)}
    peak = [0]
    list(prefetched([Piece(f"k{i}", 0, 30) for i in range(40)], source(data, [0], peak), budget=1 << 20))
    assert 1 < peak[0] <= 16


def test_a_small_budget_limits_how_much_is_read_ahead() -> None:
    data = {f"k{i}": b"x" * 30 for i in range(10)}
    peak = [0]
    list(prefetched([Piece(f"k{i}", 0, 30) for i in range(10)], source(data, [0], peak), budget=30))
    assert peak[0] == 1


def test_what_the_client_buffers_of_a_range_counts_in_the_budget() -> None:
    data = {f"k{i}": b"x" * 30 for i in range(10)}
    streaming, buffering = [0], [0]
    pieces = [Piece(f"k{i}", 0, 30) for i in range(10)]
    list(prefetched(pieces, source(data, [0], streaming), budget=60))
    list(prefetched(pieces, source(data, [0], buffering), budget=60, buffered=30))
    assert streaming[0] == 2  # 30 bytes of queue each: two fit
    assert buffering[0] == 1  # 30 of queue and 30 buffered each: one fits


def test_errors_reach_the_reader_in_order() -> None:
    def open_piece(piece: Piece) -> Iterator[bytes]:
        if piece.key == "bad":
            raise RuntimeError("store failed")
        yield b"ok"

    blocks = prefetched([Piece("a", 0, 2), Piece("bad", 0, 2), Piece("c", 0, 2)], open_piece, budget=100)
    assert next(blocks) == b"ok"
    with pytest.raises(RuntimeError, match="store failed"):
        next(blocks)


def test_closing_the_reader_stops_its_threads() -> None:
    def endless(piece: Piece) -> Iterator[bytes]:
        while True:
            yield b"y" * 1024

    before = threading.active_count()
    blocks = prefetched([Piece(f"k{i}", 0, 10**9) for i in range(3)], endless, budget=1 << 30)
    next(blocks)
    blocks.close()
    wait_for(lambda: threading.active_count() <= before, what="the reader's threads stopped")
    assert threading.active_count() == before


def threads_reading(blocks: int) -> tuple[Callable[[Piece], Iterator[bytes]], list[str]]:
    """A piece of ``blocks`` blocks whose source records which thread asked for each block."""
    who: list[str] = []

    def open_piece(piece: Piece) -> Iterator[bytes]:
        for _ in range(blocks):
            who.append(threading.current_thread().name)
            yield b"z"

    return open_piece, who


def test_the_reader_takes_over_the_stream_of_the_piece_it_reached() -> None:
    open_piece, who = threads_reading(40)
    out = list(prefetched([Piece("k", 0, 40)], open_piece, budget=1 << 20))
    assert out == [b"z"] * 40
    main = threading.current_thread().name
    # The fetch thread can queue at most its 8 blocks and a 9th it waits to put: that put succeeds
    # only once the reader has taken a block, so it has arrived; every block after is the reader's.
    assert who[-1] == main
    assert who.count("remote-log-get") <= 9
    assert "remote-log-get" not in who[who.index(main) :]  # the stream changed hands once, for good


def test_a_buffering_client_is_read_by_its_thread_to_the_end() -> None:
    open_piece, who = threads_reading(40)
    out = list(prefetched([Piece("k", 0, 40)], open_piece, budget=1 << 20, buffered=10))
    assert out == [b"z"] * 40
    assert set(who) == {"remote-log-get"}


def test_every_stream_is_closed_when_the_reader_goes_away() -> None:
    opened: list[str] = []
    closed: list[str] = []

    def endless(piece: Piece) -> Iterator[bytes]:
        opened.append(piece.key)
        try:
            while True:
                yield b"y"
        finally:
            closed.append(piece.key)

    blocks = prefetched([Piece(f"k{i}", 0, 10**9) for i in range(3)], endless, budget=1 << 30)
    for _ in range(50):
        next(blocks)  # well into the first piece: the reader has taken its stream over
    blocks.close()
    assert "k0" in closed  # closed by the reader, before close() returned
    wait_for(lambda: sorted(closed) == sorted(opened), what="the pieces ahead closed by their threads")
