"""Stream several byte ranges at once, in order, with memory bounded by a byte budget.

Each piece is read by its own thread into a bounded queue of blocks, so a long object is streamed
while the next ones are already arriving, and many small objects are fetched in parallel.
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


class _Fetch:
    """One piece, read by a thread into a queue of at most ``_PER_FETCH_BLOCKS`` blocks."""

    def __init__(self, source: Callable[[], Iterator[bytes]], stop: threading.Event) -> None:
        self._queue: queue.Queue[object] = queue.Queue(_PER_FETCH_BLOCKS)
        self._stop = stop
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
        try:
            for block in source():
                if not self._put(block):
                    return  # the reader went away
            self._put(_END)
        except BaseException as exc:  # handed to the reader, which decides
            self._put(exc)

    def blocks(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes | bytearray)
            yield bytes(item)


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
                fetch = _Fetch(functools.partial(open_piece, nxt), stop) if isinstance(nxt, Piece) else None
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
