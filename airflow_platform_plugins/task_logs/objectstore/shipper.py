"""Ship local task log files to an object store while they are written (backend-neutral).

The supervisor's structlog processor calls :meth:`Shipper.track` for every line; that costs a dict
lookup. A background thread per process ships the new bytes of each tracked file as immutable
chunks, by time (``flush_interval``) and by size (``flush_bytes``). :meth:`Shipper.finish`, called by
Airflow's ``upload`` when a try ends, ships the rest and waits for it, up to ``upload_timeout``.

Only bytes that are on local disk are shipped, and a chunk is named by its byte range, so a retried or
repeated upload writes no duplicate and a new process resumes where the store ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, BinaryIO

from airflow_platform_plugins.task_logs.common import metrics
from airflow_platform_plugins.task_logs.common.follower import Clock, FileFollower, Followed
from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.common.retry import RetryState
from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.journal import PendingJournal
from airflow_platform_plugins.task_logs.objectstore.merger import Merger, MergeState
from airflow_platform_plugins.task_logs.objectstore.resume import HEAD_MAX, line_end, stored_end, writer_end
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectStore

log = logging.getLogger(__name__)

_IDLE_EVICT_SECONDS = 3600.0


class _Tracked(Followed):
    """Shipping state of one local log file in this process."""

    __slots__ = (
        "dirty_since",
        "final",
        "head_digest",
        "head_len",
        "key",
        "limit",
        "limit_exact",
        "merges",
        "relist",
        "retry",
        "shipped",
        "stream",
    )

    def __init__(self, path: str, relative: str, key: str, logger: Any, now: float) -> None:
        super().__init__(path, relative, logger, now)
        self.key = key
        self.stream: str | None = None
        self.head_len = 0
        self.head_digest = b""
        self.shipped = 0
        self.limit: int | None = None
        self.limit_exact = False
        self.dirty_since: float | None = now
        self.retry = RetryState()
        self.final = False
        self.merges = MergeState()
        self.relist = False


class Shipper:
    """Ships the new bytes of each followed log file as chunks (on the shared :class:`FileFollower`)."""

    def __init__(
        self,
        store: Callable[[], ObjectStore],
        *,
        prefix: str,
        base_log_folder: str,
        policy: ShippingPolicy,
        delete_local_copy: bool = False,
        excluded_dirs: tuple[str, ...] = (),
        host: str | None = None,
        clock: Clock | None = None,
        background: bool = True,
        merger: Merger | None = None,
    ) -> None:
        self._store = store
        self._prefix = prefix
        self.policy = policy
        self._delete_local_copy = delete_local_copy
        self._host = host or socket.gethostname()
        self._latency = 0.05
        self._merger = merger or Merger()
        self.follower: FileFollower[_Tracked] = FileFollower(
            base_log_folder=base_log_folder,
            excluded_dirs=excluded_dirs,
            visit=self._visit,
            tick=min(0.25, policy.flush_interval / 4),
            name="remote-log-shipper",
            clock=clock,
            background=background,
            before_sweep=self._adopt_journal,
            on_reset=self._reset,
        )
        self._base = self.follower.folder.path
        self._journal = PendingJournal(self._base)

    def _reset(self) -> None:
        """Start empty: the follower calls this at start and in a forked child."""
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._journal_checked: float | None = None

    # -- hot path ---------------------------------------------------------------------------------

    def track(self, path: str, logger: Any = None) -> None:
        """Note that a line is being written to ``path`` (absolute). Never raises, never blocks on I/O."""
        follower = self.follower
        tracked = follower.open.get(path)
        if tracked is not None:
            if tracked.dirty_since is None:
                tracked.dirty_since = follower.now()
            return
        if path in follower.ignored:
            return
        self._register(path, logger)

    # -- registration -----------------------------------------------------------------------------

    def relative_path(self, path: str) -> str | None:
        """Path under ``base_log_folder`` that Airflow uses for ``path``; ``None`` if not a task log."""
        return self.follower.folder.relative_path(path)

    def _register(self, path: str, logger: Any) -> _Tracked | None:
        def create(path: str, relative: str) -> _Tracked:
            key = keys.log_key(self._prefix, relative)
            return _Tracked(path, relative, key, logger, self.follower.now())

        tracked = self.follower.follow(path, create)
        if tracked is not None and logger is not None and tracked.logger is None:
            tracked.logger = logger
        return tracked

    def start(self) -> None:
        """Start the background thread now (it also finishes logs an earlier process left pending)."""
        self.follower.start()

    def step(self) -> None:
        """One pass of the background thread, run by the caller (tests drive a clock with it)."""
        self.follower.step()

    # -- the end of a try ------------------------------------------------------------------------

    def finish(self, path: str) -> bool:
        """Ship everything in ``path`` and wait for it; ``True`` once the store holds the whole file.

        Gives up after ``upload_timeout`` seconds; the file then stays on disk, is recorded as pending,
        and is shipped in the background (by this process or a later one on this host).
        """
        tracked = self.follower.open.get(path) or self._register(path, None)
        if tracked is None:
            return False
        tracked.final = True
        done = self.follower.finish(
            tracked,
            lambda: self._ship_once(tracked),
            lambda: tracked.retry.retry_at,
            self.policy.upload_timeout,
        )
        if done:
            metrics.incr("uploads_completed")
            return True
        metrics.incr("uploads_left_pending")
        try:
            self._journal.add(tracked.relative)
        except OSError as exc:
            log.warning("Cannot record pending remote log %s: %s", tracked.relative, exc)
        return False

    def pending(self) -> list[str]:
        """Relative paths of the logs this process still has to finish (for tests and diagnostics)."""
        return [t.relative for t in self.follower.followed() if t.final]

    def followed(self) -> list[str]:
        """Relative paths of every log this process follows."""
        return [t.relative for t in self.follower.followed()]

    # -- background thread ------------------------------------------------------------------------

    def _visit(self, tracked: _Tracked, now: float) -> None:
        if tracked.retry.waiting(now):
            return
        if self._due(tracked, now):
            self._ship_once(tracked)
        elif not tracked.final and now - tracked.last_activity > _IDLE_EVICT_SECONDS:
            self.follower.forget(tracked)

    def _adopt_journal(self, now: float) -> None:
        """Pick up logs that an earlier upload left pending (every minute)."""
        if self._journal_checked is not None and now - self._journal_checked < 60.0:
            return
        self._journal_checked = now
        for relative in self._journal:
            path = os.path.join(self._base, relative)
            if path in self.follower.open:
                continue
            if not os.path.exists(path):
                self._journal.remove(relative)
                continue
            tracked = self._register(path, None)
            if tracked is not None:
                tracked.final = True

    def _due(self, tracked: _Tracked, now: float) -> bool:
        if tracked.final:
            return True
        try:
            size = os.stat(tracked.path).st_size
        except FileNotFoundError:
            self.follower.forget(tracked)
            return False
        unshipped = size - tracked.shipped
        if unshipped == 0:
            return False
        tracked.last_activity = now
        if unshipped >= self.policy.flush_bytes or unshipped < 0:
            return True
        if tracked.dirty_since is None:
            tracked.dirty_since = now
        slack = min(self.policy.flush_interval / 2, 2 * self._latency + self.follower.tick)
        return now >= tracked.dirty_since + self.policy.flush_interval - slack

    # -- shipping ----------------------------------------------------------------------------------

    def _ship_once(self, tracked: _Tracked) -> bool:
        """Ship what is due for ``tracked`` (caller holds its lock); ``True`` if a final ship completed."""
        where = self._where(tracked)
        try:
            complete = self._ship(tracked)
            if tracked.retry.succeeded(logger=tracked.logger, where=where):
                complete = self._ship(tracked)  # the report line is part of the log too
                self._retry_others_now()
            if complete and tracked.final:
                self._settle(tracked, final=True)
        except Exception as error:  # a bug must not stop shipping of other logs, nor the task
            metrics.incr("ship_failures")
            # A failed upload may have been stored all the same (the answer was lost): list the
            # stream again before the next one, so it starts where the store ends, not overlapping.
            tracked.relist = True
            tracked.retry.failed(
                error,
                now=self.follower.now(),
                max_delay=self.policy.retry_max_delay,
                logger=tracked.logger,
                where=where,
                subject=tracked.path,
            )
            return False
        if complete and tracked.final:
            self._completed(tracked)
            self._retry_others_now()
            return True
        return False

    def _retry_others_now(self) -> None:
        """The store answers again: let every log that was waiting out a backoff try at once."""
        waiting = [other for other in self.follower.followed() if other.retry.retry_now()]
        if waiting:
            self.follower.wake()

    def _where(self, tracked: _Tracked) -> str:
        try:
            return self._store().url(tracked.key)
        except Exception:
            return tracked.key

    def _ship(self, tracked: _Tracked) -> bool:
        """Ship new bytes; return whether the store now holds all of them. Raises RemoteLogError.

        Only bytes this process wrote are shipped: when another process appends to the same local file
        (the next reschedule poke on another LocalExecutor worker), those bytes are that process's to ship.
        """
        tracked.dirty_since = None
        own_end, writer_closed = writer_end(tracked)
        try:
            f = open(tracked.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            if not tracked.final:
                self.follower.forget(tracked)
            return tracked.final  # nothing (left) to ship
        with f:
            size = os.fstat(f.fileno()).st_size
            cap = size if own_end is None else min(size, own_end)
            if cap == 0:
                return tracked.final
            store = self._store()
            if not self._identify(store, tracked, f, size):
                return False
            if cap <= tracked.shipped:
                if writer_closed:
                    self.follower.forget(tracked)  # this process will not write this file again
                return True
            final = tracked.final or writer_closed
            end = cap if final else line_end(f, tracked.shipped, cap)
            if end <= tracked.shipped:
                return False
        self._put_range(store, tracked, tracked.shipped, end)
        self._settle(tracked, final=False)
        if writer_closed and end == cap:
            self.follower.forget(tracked)
        return end == cap

    def _identify(self, store: ObjectStore, tracked: _Tracked, f: BinaryIO, size: int) -> bool:
        """Name the stream after the file's first line; resume after what the store already holds."""
        known = tracked.stream is not None and not tracked.relist
        if known and size >= tracked.shipped and size >= tracked.head_len:
            f.seek(0)
            if hashlib.sha256(f.read(tracked.head_len)).digest() == tracked.head_digest:
                return True
        f.seek(0)
        head = f.read(min(size, HEAD_MAX))
        newline = head.find(b"\n")
        if newline >= 0:
            head = head[: newline + 1]
        elif len(head) < HEAD_MAX and not tracked.final:
            return False  # the first line is still being written
        if not head:
            return False
        stream = keys.stream_id(self._host, head)
        if stream != tracked.stream or tracked.relist:
            # List first: if listing fails, nothing about the stream has changed yet. The same stream
            # listed again (after a failed upload) keeps its merge state: its chunks are still ours.
            tracked.shipped = stored_end(store, tracked.key, stream)
            if stream != tracked.stream:
                tracked.stream = stream
                tracked.merges.restart()
            tracked.relist = False
        tracked.head_len = len(head)
        tracked.head_digest = hashlib.sha256(head).digest()
        return True

    def _put_range(self, store: ObjectStore, tracked: _Tracked, start: int, end: int) -> None:
        assert tracked.stream is not None
        step = self.policy.chunk_max_bytes
        bounds = [(s, min(s + step, end)) for s in range(start, end, step)]

        def put(bound: tuple[int, int]) -> None:
            s, e = bound
            began = self.follower.now()
            store.put_new(
                keys.chunk_key(tracked.key, tracked.stream or "", s, e), FileRange(tracked.path, s, e - s)
            )
            took = self.follower.now() - began
            self._latency = 0.8 * self._latency + 0.2 * took
            metrics.timing("put_duration", took)
            metrics.incr("chunks_shipped")
            metrics.incr("bytes_shipped", e - s)

        if len(bounds) == 1:
            put(bounds[0])
            tracked.merges.stored(start, end, full=end - start >= step)
            tracked.shipped = end
            return
        futures: list[Future[None]] = [self._executor(store.upload_slots).submit(put, b) for b in bounds]
        wait(futures)
        for bound, future in zip(bounds, futures, strict=False):
            error = future.exception()
            if error is not None:
                raise error
            tracked.merges.stored(*bound, full=bound[1] - bound[0] >= step)
            tracked.shipped = bound[1]

    def _settle(self, tracked: _Tracked, *, final: bool) -> None:
        """Merge this process's small chunks of the stream into covering objects (see :mod:`.merger`)."""
        if tracked.stream is not None:
            where = (tracked.key, tracked.stream, tracked.path)
            self._merger.settle(self._store(), tracked.merges, where, now=self.follower.now(), final=final)

    def _executor(self, store_slots: int) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                workers = max(1, min(self.policy.upload_concurrency, store_slots))
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="remote-log-put")
            return self._pool

    def _completed(self, tracked: _Tracked) -> None:
        self.follower.forget(tracked)
        with contextlib.suppress(OSError):
            self._journal.remove(tracked.relative)
        if self._delete_local_copy:
            try:
                os.remove(tracked.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("Cannot delete local log %s after upload: %s", tracked.path, exc)
