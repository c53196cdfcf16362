"""Stream several byte ranges at once, in order, with memory bounded by a byte budget.

Each piece is read by its own thread into a bounded queue of blocks, so a long object is streamed
while the next ones are already arriving, and many small objects are fetched in parallel. When the
reader reaches a piece of a streaming client, it takes the open stream over from the thread and reads
the rest itself: handing every block from thread to thread costs CPU, the two threads contending for
the GIL while the reader splits lines.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator

from airflow_platform_plugins.task_logs.objectstore.stitching import Gap, Piece

BLOCK = 1 << 20
_PER_FETCH_BLOCKS = 8
_MAX_IN_FLIGHT = 16
_END = object()


class _Rest:
    """The open stream of a piece, handed by its thread to the reader that reached the piece."""

    def __init__(self, stream: Iterator[bytes]) -> None:
        self.stream = stream


class _Fetch:
    """One piece, read by a thread into a queue of at most ``_PER_FETCH_BLOCKS`` blocks.

    With ``hand_over`` (a streaming client), once the reader has reached the piece the thread queues
    the open stream after its next block and stops; the reader goes on with the stream. Pieces not
    reached yet are still read ahead by their threads, so several streams keep arriving at once.
    """

    def __init__(self, source: Callable[[], Iterator[bytes]], stop: threading.Event, hand_over: bool) -> None:
        self._queue: queue.Queue[object] = queue.Queue(_PER_FETCH_BLOCKS)
        self._stop = stop
        self._hand_over = hand_over
        self._reached = threading.Event()
        threading.Thread(target=self._run, args=(source,), name="remote-log-get", daemon=True).start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Callable[[], Iterator[bytes]]) -> None:
        stream: Iterator[bytes] = iter(())
        handed_over = False
        try:
            stream = iter(source())
            for block in stream:
                if not self._put(block):
                    return  # the reader went away
                if self._hand_over and self._reached.is_set():
                    handed_over = self._put(_Rest(stream))
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the reader, which decides
            self._put(exc)
        finally:
            if not handed_over:
                _close(stream)

    def blocks(self) -> Iterator[bytes]:
        self._reached.set()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _Rest):
                try:
                    for block in item.stream:
                        yield bytes(block)
                finally:
                    _close(item.stream)  # also when the reader is dropped half-way: frees the connection
                return
            assert isinstance(item, bytes | bytearray)
            yield bytes(item)


def _close(stream: Iterator[bytes]) -> None:
    """Close a piece's stream (a generator's ``finally`` releases its connection) if it can be closed."""
    close = getattr(stream, "close", None)
    if callable(close):
        close()


def _cost(step: Piece | Gap, buffered: int) -> int:
    """Most bytes one fetch holds: its queue, plus what the client buffers of one ranged read."""
    if isinstance(step, Gap):
        return 0
    return min(step.length, _PER_FETCH_BLOCKS * BLOCK) + min(step.length, buffered)


def prefetched(
    steps: Iterable[Piece | Gap],
    open_piece: Callable[[Piece], Iterator[bytes]],
    budget: int,
    buffered: int = 0,
) -> Generator[bytes | Gap, None, None]:
    """Yield the bytes of ``steps`` in order (gaps as they are), reading ahead within ``budget`` bytes.

    ``buffered`` is what the client holds whole for one ranged read (0 for a streaming client).
    """
    stop = threading.Event()
    ahead: deque[tuple[Piece | Gap, _Fetch | None]] = deque()
    cost = 0
    pending = iter(steps)
    nxt: Piece | Gap | None = next(pending, None)
    try:
        while True:
            while nxt is not None and len(ahead) < _MAX_IN_FLIGHT:
                need = _cost(nxt, buffered)
                if ahead and cost + need > budget:
                    break
                fetch = (
                    _Fetch(functools.partial(open_piece, nxt), stop, hand_over=not buffered)
                    if isinstance(nxt, Piece)
                    else None
                )
                ahead.append((nxt, fetch))
                cost += need
                nxt = next(pending, None)
            if not ahead:
                return
            step, fetch = ahead.popleft()
            if fetch is None:
                assert isinstance(step, Gap)
                yield step
                continue
            yield from fetch.blocks()
            cost -= _cost(step, buffered)
    finally:
        stop.set()
