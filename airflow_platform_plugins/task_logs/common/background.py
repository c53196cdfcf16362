"""The one background thread per process that ships (or writes) task log lines."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Calls ``step`` every ``tick`` seconds, or sooner when woken, in a daemon thread.

    Started lazily by :meth:`start` (a process that never logs a task line has no thread); an error
    in ``step`` is logged and the loop goes on. After a fork, make a new one: threads do not survive
    into the child.
    """

    def __init__(self, step: Callable[[], None], *, tick: float, name: str) -> None:
        self._step = step
        self.tick = tick
        self._name = name
        self._wake = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread unless it runs already."""
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self.thread.start()

    def wake(self) -> None:
        """Run the next step now."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            try:
                self._wake.wait(self.tick)
                self._wake.clear()
                self._step()
            except Exception:  # the thread must outlive any surprise
                log.exception("%s: a pass failed; continuing", self._name)
                time.sleep(1.0)
