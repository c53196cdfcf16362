"""Write a try's lines as Elasticsearch documents while it runs: to stdout for a shipper, or indexed.

The supervisor's structlog processor calls :meth:`LineWriter.track` for every line (a dict lookup;
the first line of a file in this process also costs one ``stat``). A background thread per process
reads the new complete lines of each tracked file, turns each into a document with its ``log_id`` and
offset (see :mod:`.offsets`), and hands them to each sink: :class:`StdoutSink` (JSON lines on the
process's stdout, for Fluentd or Fluent Bit) and :class:`BulkSink` (``_bulk`` with a stable ``_id``).
:meth:`LineWriter.finish`, called by Airflow's ``upload`` when a try (or a poke, or the part before a
deferral) ends, writes the rest and waits for it, up to ``upload_timeout``.

The bytes come from the file Airflow already wrote, so every line is written exactly as Airflow
logged it, including the lines this package adds to report a failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from airflow_platform_plugins.task_logs import metrics, reporting
from airflow_platform_plugins.task_logs.background import BackgroundLoop
from airflow_platform_plugins.task_logs.es.documents import DocumentBuilder, document_id, to_json_line
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, parse_relative_path
from airflow_platform_plugins.task_logs.es.offsets import segment_base
from airflow_platform_plugins.task_logs.logfolder import LogFolder
from airflow_platform_plugins.task_logs.retry import backoff_delay
from airflow_platform_plugins.task_logs.store import StoreError

log = logging.getLogger(__name__)

_IGNORED_MAX = 4096
_IDLE_SECONDS = 3600.0
_READ_BLOCK = 1 << 20

Batch = list[tuple[str, int, dict[str, Any]]]
"""``(document _id, offset, document)`` in offset order."""


class Sink(Protocol):
    """Where documents go. ``send`` raises :class:`StoreError` and may be called again with the same batch."""

    name: str
    latency: float
    """Seconds a complete line may wait before it is sent."""
    max_bytes: int
    """Largest batch, in bytes of log lines."""

    def where(self) -> str:
        """Where documents go, for messages."""
        ...

    def send(self, batch: Batch) -> None:
        """Write ``batch`` completely, or raise."""
        ...


class _Cursor:
    """How far one segment has been sent to one sink."""

    __slots__ = ("count", "failures", "pos", "retry_at", "waiting_since")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.count = 0
        self.failures = 0
        self.retry_at = 0.0
        self.waiting_since: float | None = None


class _Segment:
    """The lines this process appends to one try's local file, from ``start`` on."""

    __slots__ = (
        "base",
        "builder",
        "cursors",
        "end",
        "entitled",
        "last_activity",
        "lock",
        "logger",
        "path",
        "relative",
        "start",
    )

    def __init__(self, path: str, relative: str, start: int, base: int, builder: DocumentBuilder) -> None:
        self.path = path
        self.relative = relative
        self.start = start
        self.base = base
        self.builder = builder
        self.end: int | None = None  # set when the segment is finished
        # Lines this process has logged to the file in this segment (``None``: all of it up to ``end``).
        # Another process may append to the same file while this segment is still open (a try resumed
        # by another worker process): those lines are that process's segment, not this one's.
        self.entitled: int | None = 0
        self.logger: Any = None
        self.cursors: dict[str, _Cursor] = {}
        self.last_activity = time.monotonic()
        self.lock = threading.Lock()

    @property
    def log_id(self) -> str:
        return self.builder.log_id


class LineWriter:
    """Per-process registry of the try logs being written, and the thread that sends their lines."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        base_log_folder: str,
        log_id_template: LogIdTemplate,
        offset_field: str = "offset",
        host_field: str = "host",
        upload_timeout: float = 30.0,
        retry_max_delay: float = 60.0,
        flush_bytes: int = 1 << 20,
        excluded_dirs: tuple[str, ...] = (),
        host: str | None = None,
    ) -> None:
        self.sinks = list(sinks)
        self._folder = LogFolder(base_log_folder, excluded_dirs)
        self._template = log_id_template
        self._offset_field = offset_field
        self._host_field = host_field
        self.upload_timeout = upload_timeout
        self.retry_max_delay = retry_max_delay
        self.flush_bytes = flush_bytes
        self.host = host or socket.gethostname()
        self._tick = max(0.05, min([0.25, *(s.latency / 2 for s in self.sinks)]))
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """Start empty: after a fork the parent's thread and state do not exist in the child."""
        self._open: dict[str, _Segment] = {}
        self._segments: list[_Segment] = []
        self._floor: dict[str, tuple[int, float]] = {}
        self._ignored: set[str] = set()
        self._lock = threading.Lock()
        self._loop = BackgroundLoop(self._pass, tick=self._tick, name="es-task-log-writer")

    # -- hot path ---------------------------------------------------------------------------------

    def track(self, path: str, logger: Any = None) -> None:
        """Note that a line is about to be written to ``path``. Never raises, never waits on the network."""
        segment = self._open.get(path)
        if segment is not None:
            if logger is segment.logger or logger is None:
                segment.entitled = (segment.entitled or 0) + 1
                return
            # The same file opened again by this process: a new supervision (a poke, a resumed try).
            self._close(segment, None)
        elif path in self._ignored:
            return
        segment = self._open_segment(path, logger)
        if segment is not None:
            segment.entitled = (segment.entitled or 0) + 1

    # -- segments ---------------------------------------------------------------------------------

    def relative_path(self, path: str) -> str | None:
        """``path`` relative to ``base_log_folder`` as Airflow derives it; ``None`` if not a task log."""
        return self._folder.relative_path(path)

    def _open_segment(self, path: str, logger: Any, *, start: int | None = None) -> _Segment | None:
        relative = self.relative_path(path)
        identity = parse_relative_path(relative) if relative is not None else None
        with self._lock:
            if identity is None or relative is None:
                if relative is not None and path not in self._ignored:
                    log.warning(
                        "Cannot tell which try %s belongs to; Elasticsearch task logs need Airflow's default "
                        "[logging] log_filename_template (dag_id=…/run_id=…/task_id=…/attempt=N.log)",
                        relative,
                    )
                if len(self._ignored) >= _IGNORED_MAX:
                    self._ignored.clear()
                self._ignored.add(path)
                return None
            existing = self._open.get(path)
            if existing is not None:
                return existing
            if start is None:
                # The processor runs before the line is written: what the file holds now is earlier segments'.
                try:
                    start = os.stat(path).st_size
                except OSError:
                    start = 0
            floor = self._floor.get(path)
            builder = DocumentBuilder(
                identity=identity,
                log_id=self._template.render(identity),
                host=self.host,
                offset_field=self._offset_field,
                host_field=self._host_field,
            )
            segment = _Segment(path, relative, start, segment_base(floor[0] if floor else None), builder)
            segment.logger = logger
            segment.cursors = {sink.name: _Cursor(start) for sink in self.sinks}
            self._open[path] = segment
            self._segments.append(segment)
            self._loop.start()
            return segment

    def _close(self, segment: _Segment, end: int | None) -> None:
        """No more lines belong to ``segment`` than the first ``end`` bytes of its file (now, if ``None``)."""
        if end is None:
            try:
                end = os.stat(segment.path).st_size
            except OSError:
                end = segment.start
        with self._lock:
            segment.end = end
            if self._open.get(segment.path) is segment:
                del self._open[segment.path]
            # The next segment of this file starts above every offset this one can use.
            used = segment.entitled if segment.entitled is not None else max(0, end - segment.start)
            self._floor[segment.path] = (segment.base + used, time.monotonic())

    # -- the end of a try (or a poke, or the part before a deferral) -------------------------------

    def finish(self, path: str) -> bool:
        """Send the rest of ``path`` and wait for it; ``True`` once every sink has all of it.

        Gives up waiting after ``upload_timeout``; the lines are still sent in the background while
        this process lives.
        """
        segment = self._open.get(path)
        if segment is None:
            # No line of this file went through this process's processor: send the whole file.
            segment = self._open_segment(path, None, start=0)
            if segment is None:
                return False
            segment.entitled = None
        try:
            end = os.stat(path).st_size
        except OSError:
            end = segment.start
        self._close(segment, end)
        deadline = time.monotonic() + self.upload_timeout
        while True:
            with segment.lock:
                if self._send(segment, final=True):
                    metrics.incr("es_uploads_completed")
                    return True
            delay = min((c.retry_at for c in segment.cursors.values() if c.failures), default=0.0)
            delay = max(0.0, delay - time.monotonic())
            if time.monotonic() + delay >= deadline:
                break
            time.sleep(delay or 0.05)
        metrics.incr("es_uploads_left_pending")
        log.warning("Elasticsearch task log %s: not all lines written yet; still trying", segment.relative)
        return False

    def pending(self) -> list[str]:
        """Relative paths of the segments still held: being written, or finished but not all sent."""
        return [s.relative for s in list(self._segments)]

    # -- background thread ------------------------------------------------------------------------

    def _pass(self) -> None:
        now = time.monotonic()
        for segment in list(self._segments):
            if not segment.lock.acquire(blocking=False):
                continue
            try:
                finished = segment.end is not None
                if self._send(segment, final=finished, now=now):
                    if finished:
                        self._forget(segment)
                    elif now - segment.last_activity > _IDLE_SECONDS:
                        self._close(segment, min(c.pos for c in segment.cursors.values()))
            finally:
                segment.lock.release()
        self._expire_floors(now)

    def _expire_floors(self, now: float) -> None:
        if len(self._floor) > 1024:
            with self._lock:
                for path, (_, at) in list(self._floor.items()):
                    if now - at > _IDLE_SECONDS:
                        del self._floor[path]

    def _forget(self, segment: _Segment) -> None:
        with self._lock:
            if segment in self._segments:
                self._segments.remove(segment)
            if self._open.get(segment.path) is segment:
                del self._open[segment.path]

    # -- sending ----------------------------------------------------------------------------------

    def _send(self, segment: _Segment, *, final: bool, now: float | None = None) -> bool:
        """Send what is due to each sink (caller holds the segment's lock); ``True`` if nothing is left.

        Lines wait at most a sink's ``latency`` (``flush_bytes`` of them are sent at once); a finished
        segment is sent completely.
        """
        now = time.monotonic() if now is None else now
        try:
            size = os.stat(segment.path).st_size
        except OSError:
            size = 0
        if segment.end is not None:
            size = min(size, segment.end)
        caught_up = True
        for sink in self.sinks:
            cursor = segment.cursors[sink.name]
            entitled = segment.entitled
            if cursor.pos >= size or (entitled is not None and cursor.count >= entitled):
                cursor.waiting_since = None
                continue
            segment.last_activity = now
            if cursor.failures and cursor.retry_at > now:
                caught_up = False
                continue
            if cursor.waiting_since is None:
                cursor.waiting_since = now
            due = final or size - cursor.pos >= self.flush_bytes
            if not due and now - cursor.waiting_since < sink.latency - self._tick / 2:
                caught_up = False
                continue
            caught_up = self._send_to(sink, segment, cursor, final=final) and caught_up
        return caught_up

    def _send_to(self, sink: Sink, segment: _Segment, cursor: _Cursor, *, final: bool) -> bool:
        try:
            while True:
                allowed = None if segment.entitled is None else segment.entitled - cursor.count
                lines, next_pos = self._read_lines(segment, cursor.pos, sink.max_bytes, allowed, final=final)
                if not lines:
                    break
                batch: Batch = []
                for line in lines:
                    cursor_offset = segment.base + cursor.count + len(batch) + 1
                    doc = segment.builder.build(line, cursor_offset)
                    batch.append((document_id(segment.log_id, cursor_offset), cursor_offset, doc))
                began = time.monotonic()
                sink.send(batch)
                metrics.timing(f"es_{sink.name}_duration", time.monotonic() - began)
                metrics.incr(f"es_{sink.name}_documents", len(batch))
                cursor.pos = next_pos
                cursor.count += len(batch)
                if cursor.failures:  # the report is a line of the log too: the loop sends it
                    cursor.failures = 0
                    cursor.retry_at = 0.0
                    reporting.report_recovery(segment.logger, sink.where())
                    self._include_report(segment)
            cursor.waiting_since = None
        except StoreError as error:
            self._failed(sink, segment, cursor, error)
            return False
        except Exception as exc:  # a bug must not stop other logs, nor the task
            if not cursor.failures:
                log.exception("Unexpected error writing %s to %s", segment.relative, sink.where())
            self._failed(sink, segment, cursor, StoreError(f"unexpected error: {exc!r}"))
            return False
        return True

    def _failed(self, sink: Sink, segment: _Segment, cursor: _Cursor, error: StoreError) -> None:
        metrics.incr(f"es_{sink.name}_failures")
        cursor.failures += 1
        cursor.retry_at = time.monotonic() + backoff_delay(cursor.failures, max_delay=self.retry_max_delay)
        if cursor.failures == 1:
            reporting.report_failure(segment.logger, sink.where(), error)
            self._include_report(segment)

    @staticmethod
    def _include_report(segment: _Segment) -> None:
        """The report line just written into the segment's file belongs to the segment."""
        if segment.logger is None:
            return
        if segment.entitled is not None:
            segment.entitled += 1
        if segment.end is not None:
            with contextlib.suppress(OSError):
                segment.end = max(segment.end, os.stat(segment.path).st_size)

    @staticmethod
    def _read_lines(
        segment: _Segment, pos: int, max_bytes: int, allowed: int | None, *, final: bool
    ) -> tuple[list[bytes], int]:
        """Complete lines from ``pos``, and where they end.

        About ``max_bytes`` (at least one line), and at most ``allowed`` lines. A finished segment
        ends at its ``end``; its last line may lack a newline. Blank lines are skipped (Airflow writes
        none); every other line is one document.
        """
        if allowed is not None and allowed <= 0:
            return [], pos
        limit = segment.end if segment.end is not None else None
        try:
            f = open(segment.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return [], pos
        with f:
            size = os.fstat(f.fileno()).st_size
            stop = size if limit is None else min(size, limit)
            if stop <= pos:
                return [], pos
            f.seek(pos)
            data = f.read(min(stop - pos, max_bytes))
            cut = data.rfind(b"\n")
            while cut < 0 and pos + len(data) < stop:  # one line longer than max_bytes
                more = f.read(min(stop - pos - len(data), _READ_BLOCK))
                newline = more.find(b"\n")
                data += more if newline < 0 else more[: newline + 1]
                cut = len(data) - 1 if newline >= 0 else -1
            if cut >= 0:
                data = data[: cut + 1]
            elif not (final and pos + len(data) >= stop):
                return [], pos  # a line still being written
        lines: list[bytes] = []
        used = 0
        while used < len(data) and (allowed is None or len(lines) < allowed):
            newline = data.find(b"\n", used)
            end = len(data) if newline < 0 else newline + 1
            line = data[used:end].rstrip(b"\n")
            used = end
            if line.strip():
                lines.append(line)
        return lines, pos + used


class StdoutSink:
    """JSON lines on this process's stdout (file descriptor 1), which the container runtime keeps."""

    name = "stdout"
    latency = 0.1
    max_bytes = 1 << 20

    def __init__(self, fd: int = 1, write: Callable[[int, memoryview], int] = os.write) -> None:
        self._fd = fd
        self._write = write
        self._lock = threading.Lock()

    def where(self) -> str:
        """``stdout``."""
        return "stdout"

    def send(self, batch: Batch) -> None:
        """Write the documents as JSON lines, all of them."""
        data = memoryview(b"".join(to_json_line(doc) for _, _, doc in batch))
        with self._lock:
            while data:
                try:
                    written = self._write(self._fd, data)
                except InterruptedError:
                    continue
                except OSError as exc:
                    raise StoreError(f"cannot write to stdout: {exc}") from None
                data = data[written:]
