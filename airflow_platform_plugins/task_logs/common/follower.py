"""Follow local task log files and ship what is new: the one engine every backend shares.

The supervisor's processor tells a backend which file a line goes to; the backend asks
:class:`FileFollower` for that file's entry (made once per file by the backend), and the engine does the
rest that is not backend-specific:

- the registry of followed files, and a capped set of files that are not task logs;
- starting empty after a fork (the parent's thread and state do not exist in the child);
- the sweep: one :meth:`~FileFollower.step` visits every entry whose lock is free, in a background
  thread that ticks, or called directly by tests;
- the deadline-bounded finish of one file when its try ends.

Time comes from an injectable :class:`Clock`, so tests drive the engine step by step with no sleeps.
Retry state with report-once and recovery messages lives in :mod:`.retry`. Backends keep only their
own parts: byte ranges and chunks for object stores; lines, offsets and documents for Elasticsearch.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from airflow_platform_plugins.task_logs.common.background import BackgroundLoop
from airflow_platform_plugins.task_logs.common.logfolder import LogFolder

IGNORED_MAX = 4096
"""Most paths remembered as not being task logs (the set starts over when full)."""
FINISH_POLL = 0.05
"""Seconds :meth:`FileFollower.finish` waits before trying again when no backoff says how long."""


class Clock(Protocol):
    """Where the engine reads the time and waits."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """:func:`time.sleep`."""
        time.sleep(seconds)


class Followed:
    """What the engine keeps about one followed file; backends subclass it with their own state."""

    __slots__ = ("last_activity", "lock", "logger", "path", "relative")

    def __init__(self, path: str, relative: str, logger: Any, now: float) -> None:
        self.path = path
        self.relative = relative
        self.logger = logger
        """The structlog logger that writes the file (``None`` if unknown); reports go through it."""
        self.last_activity = now
        self.lock = threading.Lock()
        """Held while the entry is being shipped: by the sweep (try-lock) or by ``finish``."""


class IgnoredPaths:
    """Paths seen by the processor that are not task logs, so the hot path skips them (capped)."""

    def __init__(self, cap: int = IGNORED_MAX) -> None:
        self._cap = cap
        self._paths: set[str] = set()

    def add(self, path: str) -> None:
        """Remember ``path``; forget all others first when full."""
        if len(self._paths) >= self._cap:
            self._paths.clear()
        self._paths.add(path)

    def __contains__(self, path: object) -> bool:
        return path in self._paths

    def __len__(self) -> int:
        return len(self._paths)


Entry = TypeVar("Entry", bound=Followed)


class FileFollower(Generic[Entry]):
    """The per-process registry of followed files, its sweep, and the bounded finish of one file.

    ``visit(entry, now)`` ships what is due for one entry (the engine holds the entry's lock);
    ``before_sweep(now)``/``after_sweep(now)`` run around each sweep; ``on_reset()`` runs at start and
    in a forked child, so a backend's own per-process state starts empty with the engine's.
    ``background=False`` runs no thread: the owner calls :meth:`step`.
    """

    def __init__(
        self,
        *,
        base_log_folder: str,
        visit: Callable[[Entry, float], None],
        tick: float,
        name: str,
        excluded_dirs: tuple[str, ...] = (),
        clock: Clock | None = None,
        background: bool = True,
        before_sweep: Callable[[float], None] | None = None,
        after_sweep: Callable[[float], None] | None = None,
        on_reset: Callable[[], None] | None = None,
    ) -> None:
        self.folder = LogFolder(base_log_folder, excluded_dirs)
        self.clock: Clock = clock or SystemClock()
        self.tick = tick
        self._visit = visit
        self._name = name
        self._background = background
        self._before_sweep = before_sweep
        self._after_sweep = after_sweep
        self._on_reset = on_reset
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """Start empty: after a fork the parent's thread and state do not exist in the child."""
        self.open: dict[str, Entry] = {}
        """The entry each path's next line belongs to (the hot path reads this dict directly)."""
        self._followed: list[Entry] = []
        self.ignored = IgnoredPaths()
        self.lock = threading.RLock()
        self.loop = BackgroundLoop(self.step, tick=self.tick, name=self._name) if self._background else None
        if self._on_reset is not None:
            self._on_reset()

    # -- registry ---------------------------------------------------------------------------------

    def follow(self, path: str, create: Callable[[str, str], Entry | None]) -> Entry | None:
        """The open entry of ``path``, made by ``create(path, relative)`` if there is none.

        ``None`` (and ``path`` is ignored from now on) when ``path`` is not a task log under the
        folder, or ``create`` refuses it.
        """
        relative = self.folder.relative_path(path)
        with self.lock:
            entry = self.open.get(path)
            if entry is not None:
                return entry
            entry = create(path, relative) if relative is not None else None
            if entry is None:
                self.ignored.add(path)
                return None
            self.open[path] = entry
            self._followed.append(entry)
        self.start()
        return entry

    def close(self, entry: Entry) -> None:
        """The next line of ``entry``'s file no longer belongs to ``entry`` (which is still swept)."""
        with self.lock:
            if self.open.get(entry.path) is entry:
                del self.open[entry.path]

    def forget(self, entry: Entry) -> None:
        """Stop following ``entry``."""
        with self.lock:
            self.close(entry)
            if entry in self._followed:
                self._followed.remove(entry)

    def followed(self) -> list[Entry]:
        """The entries being followed, oldest first (a snapshot)."""
        return list(self._followed)

    def now(self) -> float:
        """The engine clock's time."""
        return self.clock.monotonic()

    # -- the sweep --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread unless it runs already (or the owner steps by hand)."""
        if self.loop is not None:
            self.loop.start()

    def wake(self) -> None:
        """Sweep again at once."""
        if self.loop is not None:
            self.loop.wake()

    def step(self) -> None:
        """One sweep: visit every entry that is not being shipped right now."""
        now = self.clock.monotonic()
        if self._before_sweep is not None:
            self._before_sweep(now)
        for entry in list(self._followed):
            if not entry.lock.acquire(blocking=False):
                continue
            try:
                self._visit(entry, now)
            finally:
                entry.lock.release()
        if self._after_sweep is not None:
            self._after_sweep(now)

    # -- the end of a try -------------------------------------------------------------------------

    def finish(
        self, entry: Entry, attempt: Callable[[], bool], next_try: Callable[[], float], timeout: float
    ) -> bool:
        """Call ``attempt()`` (holding the entry's lock) until it returns ``True`` or ``timeout`` passes.

        Between attempts, waits until ``next_try()`` (a clock time: the earliest backoff's end), at
        least :data:`FINISH_POLL`. ``False`` when the next attempt would start after the deadline.
        """
        deadline = self.clock.monotonic() + timeout
        while True:
            with entry.lock:
                if attempt():
                    return True
            now = self.clock.monotonic()
            delay = max(FINISH_POLL, next_try() - now)
            if now + delay >= deadline:
                return False
            self.clock.sleep(delay)
