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
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, BinaryIO

from airflow_platform_plugins.task_logs import keys, metrics, reporting
from airflow_platform_plugins.task_logs.background import BackgroundLoop
from airflow_platform_plugins.task_logs.journal import PendingJournal
from airflow_platform_plugins.task_logs.logfolder import LogFolder
from airflow_platform_plugins.task_logs.retry import backoff_delay
from airflow_platform_plugins.task_logs.stitching import Chunk, contiguous_end
from airflow_platform_plugins.task_logs.store import FileRange, ObjectStore, StoreError

log = logging.getLogger(__name__)

_HEAD_MAX = 64 * 1024
_IGNORED_MAX = 4096
_IDLE_EVICT_SECONDS = 3600.0


@dataclass(frozen=True)
class ShippingPolicy:
    """When and how the shipper writes; see the configuration reference for each field."""

    flush_interval: float = 3.0
    flush_bytes: int = 1 << 20
    chunk_max_bytes: int = 16 << 20
    upload_concurrency: int = 8
    upload_timeout: float = 30.0
    retry_max_delay: float = 60.0


class _Tracked:
    """Shipping state of one local log file in this process."""

    __slots__ = (
        "dirty_since",
        "failures",
        "final",
        "head_digest",
        "head_len",
        "key",
        "last_activity",
        "limit",
        "limit_exact",
        "lock",
        "logger",
        "path",
        "relative",
        "retry_at",
        "shipped",
        "stream",
    )

    def __init__(self, path: str, relative: str, key: str, logger: Any) -> None:
        self.path = path
        self.relative = relative
        self.key = key
        self.logger = logger
        self.stream: str | None = None
        self.head_len = 0
        self.head_digest = b""
        self.shipped = 0
        self.limit: int | None = None
        self.limit_exact = False
        self.dirty_since: float | None = time.monotonic()
        self.last_activity = time.monotonic()
        self.failures = 0
        self.retry_at = 0.0
        self.final = False
        self.lock = threading.Lock()


class Shipper:
    """Per-process registry of the log files being written, and the thread that ships them."""

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
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._folder = LogFolder(base_log_folder, excluded_dirs)
        self._base = self._folder.path
        self.policy = policy
        self._delete_local_copy = delete_local_copy
        self._host = host or socket.gethostname()
        self._journal = PendingJournal(self._base)
        self._tick = min(0.25, policy.flush_interval / 4)
        self._latency = 0.05
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """Start empty: after a fork the parent's thread and state do not exist in the child."""
        self._streams: dict[str, _Tracked] = {}
        self._ignored: set[str] = set()
        self._lock = threading.Lock()
        self._loop = BackgroundLoop(self._pass, tick=self._tick, name="remote-log-shipper")
        self._pool: ThreadPoolExecutor | None = None
        self._journal_checked = 0.0

    # -- hot path ---------------------------------------------------------------------------------

    def track(self, path: str, logger: Any = None) -> None:
        """Note that a line is being written to ``path`` (absolute). Never raises, never blocks on I/O."""
        tracked = self._streams.get(path)
        if tracked is not None:
            if tracked.dirty_since is None:
                tracked.dirty_since = time.monotonic()
            return
        if path in self._ignored:
            return
        self._register(path, logger)

    # -- registration -----------------------------------------------------------------------------

    def relative_path(self, path: str) -> str | None:
        """Path under ``base_log_folder`` that Airflow uses for ``path``; ``None`` if not a task log."""
        return self._folder.relative_path(path)

    def _register(self, path: str, logger: Any) -> _Tracked | None:
        relative = self.relative_path(path)
        with self._lock:
            if relative is None:
                if len(self._ignored) >= _IGNORED_MAX:
                    self._ignored.clear()
                self._ignored.add(path)
                return None
            tracked = self._streams.get(path)
            if tracked is None:
                tracked = _Tracked(path, relative, keys.log_key(self._prefix, relative), logger)
                self._streams[path] = tracked
            elif logger is not None and tracked.logger is None:
                tracked.logger = logger
            self._loop.start()
            return tracked

    def start(self) -> None:
        """Start the background thread now (it also finishes logs an earlier process left pending)."""
        self._loop.start()

    # -- the end of a try ------------------------------------------------------------------------

    def finish(self, path: str) -> bool:
        """Ship everything in ``path`` and wait for it; ``True`` once the store holds the whole file.

        Gives up after ``upload_timeout`` seconds; the file then stays on disk, is recorded as pending,
        and is shipped in the background (by this process or a later one on this host).
        """
        tracked = self._streams.get(path) or self._register(path, None)
        if tracked is None:
            return False
        tracked.final = True
        deadline = time.monotonic() + self.policy.upload_timeout
        while True:
            with tracked.lock:
                if self._ship_once(tracked):
                    metrics.incr("uploads_completed")
                    return True
            delay = max(0.0, tracked.retry_at - time.monotonic())
            if time.monotonic() + delay >= deadline:
                break
            time.sleep(delay)
        metrics.incr("uploads_left_pending")
        try:
            self._journal.add(tracked.relative)
        except OSError as exc:
            log.warning("Cannot record pending remote log %s: %s", tracked.relative, exc)
        return False

    def pending(self) -> list[str]:
        """Relative paths of the logs this process still has to finish (for tests and diagnostics)."""
        return [t.relative for t in list(self._streams.values()) if t.final]

    # -- background thread ------------------------------------------------------------------------

    def _pass(self) -> None:
        now = time.monotonic()
        self._adopt_journal(now)
        for tracked in list(self._streams.values()):
            if tracked.retry_at > now or not tracked.lock.acquire(blocking=False):
                continue
            try:
                if self._due(tracked, now):
                    self._ship_once(tracked)
                elif not tracked.final and now - tracked.last_activity > _IDLE_EVICT_SECONDS:
                    self._forget(tracked)
            finally:
                tracked.lock.release()

    def _adopt_journal(self, now: float) -> None:
        """Pick up logs that an earlier upload left pending (every minute)."""
        if now - self._journal_checked < 60.0 and self._journal_checked:
            return
        self._journal_checked = now
        for relative in self._journal:
            path = os.path.join(self._base, relative)
            if path in self._streams:
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
            self._forget(tracked)
            return False
        unshipped = size - tracked.shipped
        if unshipped == 0:
            return False
        tracked.last_activity = now
        if unshipped >= self.policy.flush_bytes or unshipped < 0:
            return True
        if tracked.dirty_since is None:
            tracked.dirty_since = now
        slack = min(self.policy.flush_interval / 2, 2 * self._latency + self._tick)
        return now >= tracked.dirty_since + self.policy.flush_interval - slack

    # -- shipping ----------------------------------------------------------------------------------

    def _ship_once(self, tracked: _Tracked) -> bool:
        """Ship what is due for ``tracked`` (caller holds its lock); ``True`` if a final ship completed."""
        where = self._where(tracked)
        try:
            complete = self._ship(tracked)
            if tracked.failures:
                tracked.failures = 0
                tracked.retry_at = 0.0
                reporting.report_recovery(tracked.logger, where)
                complete = self._ship(tracked)  # the report line is part of the log too
                self._retry_others_now()
        except StoreError as error:
            metrics.incr("ship_failures")
            tracked.failures += 1
            tracked.retry_at = time.monotonic() + backoff_delay(
                tracked.failures, max_delay=self.policy.retry_max_delay
            )
            if tracked.failures == 1:
                reporting.report_failure(tracked.logger, where, error)
            return False
        except Exception as exc:  # a bug must not stop shipping of other logs, nor the task
            tracked.failures += 1
            tracked.retry_at = time.monotonic() + backoff_delay(
                tracked.failures, max_delay=self.policy.retry_max_delay
            )
            if tracked.failures == 1:
                log.exception("Unexpected error shipping %s", tracked.path)
                reporting.report_failure(tracked.logger, where, StoreError(f"unexpected error: {exc!r}"))
            return False
        if complete and tracked.final:
            self._completed(tracked)
            self._retry_others_now()
            return True
        return False

    def _retry_others_now(self) -> None:
        """The store answers again: let every log that was waiting out a backoff try at once."""
        waiting = [other for other in list(self._streams.values()) if other.failures]
        for other in waiting:
            other.retry_at = 0.0
        if waiting:
            self._loop.wake()

    def _where(self, tracked: _Tracked) -> str:
        try:
            return self._store().url(tracked.key)
        except Exception:
            return tracked.key

    def _ship(self, tracked: _Tracked) -> bool:
        """Ship new bytes; return whether the store now holds all of them. Raises StoreError.

        Only bytes this process wrote are shipped: when another process appends to the same local file
        (the next reschedule poke on another LocalExecutor worker), those bytes are that process's to ship.
        """
        tracked.dirty_since = None
        own_end, writer_closed = self._own_end(tracked)
        try:
            f = open(tracked.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            if not tracked.final:
                self._forget(tracked)
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
                    self._forget(tracked)  # this process will not write this file again
                return True
            final = tracked.final or writer_closed
            end = cap if final else self._line_end(f, tracked.shipped, cap)
            if end <= tracked.shipped:
                return False
        self._put_range(store, tracked, tracked.shipped, end)
        if writer_closed and end == cap:
            self._forget(tracked)
        return end == cap

    @staticmethod
    def _own_end(tracked: _Tracked) -> tuple[int | None, bool]:
        """(end of this process's writes to the file, whether its writer has closed it).

        The end is ``None`` (ship to the end of the file) when it is not known exactly: the file was
        not written through a logger of this process, or it was closed before the final upload saw
        the writer's position. Airflow uploads before it closes the file, so it is exact there.
        """
        file = getattr(tracked.logger, "_file", None)
        if file is None:
            return None, False
        try:
            tracked.limit = int(file.tell())
        except (ValueError, OSError):  # closed by the supervisor
            return (tracked.limit if tracked.limit_exact else None), True
        if tracked.final:
            tracked.limit_exact = True  # seen during the final upload: nothing more comes from this writer
        return tracked.limit, False

    def _identify(self, store: ObjectStore, tracked: _Tracked, f: BinaryIO, size: int) -> bool:
        """Name the stream after the file's first line; resume after what the store already holds."""
        if tracked.stream is not None and size >= tracked.shipped and size >= tracked.head_len:
            f.seek(0)
            if hashlib.sha256(f.read(tracked.head_len)).digest() == tracked.head_digest:
                return True
        f.seek(0)
        head = f.read(min(size, _HEAD_MAX))
        newline = head.find(b"\n")
        if newline >= 0:
            head = head[: newline + 1]
        elif len(head) < _HEAD_MAX and not tracked.final:
            return False  # the first line is still being written
        if not head:
            return False
        stream = keys.stream_id(self._host, head)
        if stream != tracked.stream:
            # List first: if listing fails, nothing about the stream has changed yet.
            tracked.shipped = self._stored_end(store, tracked.key, stream)
            tracked.stream = stream
        tracked.head_len = len(head)
        tracked.head_digest = hashlib.sha256(head).digest()
        return True

    @staticmethod
    def _stored_end(store: ObjectStore, key: str, stream: str) -> int:
        chunks = []
        for info in store.list(keys.chunk_prefix(key, stream)):
            name = keys.parse_key(key, info.key)
            if isinstance(name, keys.ChunkName) and name.end - name.start == info.size:
                chunks.append(Chunk(info.key, name.start, name.end))
        return contiguous_end(chunks)

    @staticmethod
    def _line_end(f: BinaryIO, start: int, size: int) -> int:
        """Offset just after the last complete line in ``[start, size)``, or ``start`` if none."""
        pos = size
        while pos > start:
            block_start = max(start, pos - _HEAD_MAX)
            f.seek(block_start)
            block = f.read(pos - block_start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return block_start + newline + 1
            pos = block_start
        return start

    def _put_range(self, store: ObjectStore, tracked: _Tracked, start: int, end: int) -> None:
        assert tracked.stream is not None
        step = self.policy.chunk_max_bytes
        bounds = [(s, min(s + step, end)) for s in range(start, end, step)]

        def put(bound: tuple[int, int]) -> None:
            s, e = bound
            began = time.monotonic()
            store.put_new(
                keys.chunk_key(tracked.key, tracked.stream or "", s, e), FileRange(tracked.path, s, e - s)
            )
            took = time.monotonic() - began
            self._latency = 0.8 * self._latency + 0.2 * took
            metrics.timing("put_duration", took)
            metrics.incr("chunks_shipped")
            metrics.incr("bytes_shipped", e - s)

        if len(bounds) == 1:
            put(bounds[0])
            tracked.shipped = end
            return
        futures: list[Future[None]] = [self._executor(store.upload_slots).submit(put, b) for b in bounds]
        wait(futures)
        for bound, future in zip(bounds, futures, strict=False):
            error = future.exception()
            if error is not None:
                raise error
            tracked.shipped = bound[1]

    def _executor(self, store_slots: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                workers = max(1, min(self.policy.upload_concurrency, store_slots))
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="remote-log-put")
            return self._pool

    def _completed(self, tracked: _Tracked) -> None:
        self._forget(tracked)
        with contextlib.suppress(OSError):
            self._journal.remove(tracked.relative)
        if self._delete_local_copy:
            try:
                os.remove(tracked.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("Cannot delete local log %s after upload: %s", tracked.path, exc)

    def _forget(self, tracked: _Tracked) -> None:
        with self._lock:
            if self._streams.get(tracked.path) is tracked:
                del self._streams[tracked.path]
