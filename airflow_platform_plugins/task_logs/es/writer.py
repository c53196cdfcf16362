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
from collections.abc import Sequence
from typing import Any

from airflow_platform_plugins.task_logs.common import metrics
from airflow_platform_plugins.task_logs.common.follower import Clock, FileFollower, Followed
from airflow_platform_plugins.task_logs.common.retry import RetryState
from airflow_platform_plugins.task_logs.es.documents import DocumentBuilder, document_id
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, parse_relative_path
from airflow_platform_plugins.task_logs.es.offsets import segment_base
from airflow_platform_plugins.task_logs.es.sinks import Batch, Sink

log = logging.getLogger(__name__)

_IDLE_SECONDS = 3600.0
_READ_BLOCK = 1 << 20
_FIRST_SEND_GUESS = 0.05
"""Seconds one send is assumed to take until one has been timed."""


class _Cursor:
    """How far one segment has been sent to one sink."""

    __slots__ = ("count", "pos", "retry", "waiting_since")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.count = 0
        self.retry = RetryState()
        self.waiting_since: float | None = None


class _Segment(Followed):
    """The lines this process appends to one try's local file, from ``start`` on."""

    __slots__ = ("base", "builder", "cursors", "end", "entitled", "start")

    def __init__(
        self, path: str, relative: str, start: int, base: int, builder: DocumentBuilder, now: float
    ) -> None:
        super().__init__(path, relative, None, now)
        self.start = start
        self.base = base
        self.builder = builder
        self.end: int | None = None  # set when the segment is finished
        # Lines this process has logged to the file in this segment (``None``: all of it up to ``end``).
        # Another process may append to the same file while this segment is still open (a try resumed
        # by another worker process): those lines are that process's segment, not this one's.
        self.entitled: int | None = 0
        self.cursors: dict[str, _Cursor] = {}

    @property
    def log_id(self) -> str:
        return self.builder.log_id


class LineWriter:
    """Sends each followed try log's new lines as documents (on the shared :class:`FileFollower`)."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        base_log_folder: str,
        log_id_template: LogIdTemplate,
        offset_field: str = "offset",
        host_field: str = "host",
        json_fields: tuple[str, ...] = (),
        upload_timeout: float = 30.0,
        retry_max_delay: float = 60.0,
        flush_bytes: int = 1 << 20,
        excluded_dirs: tuple[str, ...] = (),
        host: str | None = None,
        clock: Clock | None = None,
        background: bool = True,
    ) -> None:
        self.sinks = list(sinks)
        self._template = log_id_template
        self._offset_field = offset_field
        self._host_field = host_field
        self._json_fields = json_fields
        self.upload_timeout = upload_timeout
        self.retry_max_delay = retry_max_delay
        self.flush_bytes = flush_bytes
        self.host = host or socket.gethostname()
        self.follower: FileFollower[_Segment] = FileFollower(
            base_log_folder=base_log_folder,
            excluded_dirs=excluded_dirs,
            visit=self._visit,
            tick=max(0.05, min([0.25, *(s.latency / 2 for s in self.sinks)])),
            name="es-task-log-writer",
            clock=clock,
            background=background,
            after_sweep=self._expire_floors,
            on_reset=self._reset,
        )

    def _reset(self) -> None:
        """Start empty: the follower calls this at start and in a forked child."""
        # path -> (the lowest offset the next segment of that file may use, when it was set)
        self._floor: dict[str, tuple[int, float]] = {}
        # sink name -> how long one send takes (moving average), so lines are stored within latency
        self._send_seconds: dict[str, float] = {}
        self._prepared: set[str] = set()

    # -- hot path ---------------------------------------------------------------------------------

    def track(self, path: str, logger: Any = None) -> None:
        """Note that a line is about to be written to ``path``. Never raises, never waits on the network."""
        segment = self.follower.open.get(path)
        if segment is not None:
            if logger is segment.logger or logger is None:
                segment.entitled = (segment.entitled or 0) + 1
                return
            # The same file opened again by this process: a new supervision (a poke, a resumed try).
            self._close(segment, None)
        elif path in self.follower.ignored:
            return
        segment = self._open_segment(path, logger)
        if segment is not None:
            segment.entitled = (segment.entitled or 0) + 1

    # -- segments ---------------------------------------------------------------------------------

    def relative_path(self, path: str) -> str | None:
        """``path`` relative to ``base_log_folder`` as Airflow derives it; ``None`` if not a task log."""
        return self.follower.folder.relative_path(path)

    def step(self) -> None:
        """One pass of the background thread, run by the caller (tests drive a clock with it)."""
        self.follower.step()

    def _open_segment(self, path: str, logger: Any, *, start: int | None = None) -> _Segment | None:
        def create(path: str, relative: str) -> _Segment | None:
            identity = parse_relative_path(relative)
            if identity is None:
                log.warning(
                    "Cannot tell which try %s belongs to; Elasticsearch task logs need Airflow's default "
                    "[logging] log_filename_template (dag_id=…/run_id=…/task_id=…/attempt=N.log)",
                    relative,
                )
                return None
            begin = start
            if begin is None:
                # The processor runs before the line is written: what the file holds now is earlier segments'.
                try:
                    begin = os.stat(path).st_size
                except OSError:
                    begin = 0
            floor = self._floor.get(path)
            builder = DocumentBuilder(
                identity=identity,
                log_id=self._template.render(identity),
                host=self.host,
                offset_field=self._offset_field,
                host_field=self._host_field,
                json_fields=self._json_fields,
            )
            base = segment_base(floor[0] if floor else None)
            segment = _Segment(path, relative, begin, base, builder, self.follower.now())
            segment.logger = logger
            segment.cursors = {sink.name: _Cursor(begin) for sink in self.sinks}
            return segment

        return self.follower.follow(path, create)

    def _close(self, segment: _Segment, end: int | None) -> None:
        """No more lines belong to ``segment`` than the first ``end`` bytes of its file (now, if ``None``)."""
        if end is None:
            try:
                end = os.stat(segment.path).st_size
            except OSError:
                end = segment.start
        with self.follower.lock:
            segment.end = end
            self.follower.close(segment)
            # The next segment of this file starts above every offset this one can use.
            used = segment.entitled if segment.entitled is not None else max(0, end - segment.start)
            self._floor[segment.path] = (segment.base + used, self.follower.now())

    # -- the end of a try (or a poke, or the part before a deferral) -------------------------------

    def finish(self, path: str) -> bool:
        """Send the rest of ``path`` and wait for it; ``True`` once every sink has all of it.

        Gives up waiting after ``upload_timeout``; the lines are still sent in the background while
        this process lives.
        """
        segment = self.follower.open.get(path)
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

        def next_try() -> float:
            return min((c.retry.retry_at for c in segment.cursors.values() if c.retry.failures), default=0.0)

        if self.follower.finish(
            segment, lambda: self._send(segment, final=True), next_try, self.upload_timeout
        ):
            metrics.incr("es_uploads_completed")
            return True
        metrics.incr("es_uploads_left_pending")
        log.warning("Elasticsearch task log %s: not all lines written yet; still trying", segment.relative)
        return False

    def pending(self) -> list[str]:
        """Relative paths of the segments still held: being written, or finished but not all sent."""
        return [s.relative for s in self.follower.followed()]

    # -- background thread ------------------------------------------------------------------------

    def _visit(self, segment: _Segment, now: float) -> None:
        finished = segment.end is not None
        if self._send(segment, final=finished, now=now):
            if finished:
                self.follower.forget(segment)
            elif now - segment.last_activity > _IDLE_SECONDS:
                self._close(segment, min(c.pos for c in segment.cursors.values()))

    def _expire_floors(self, now: float) -> None:
        if len(self._floor) > 1024:
            with self.follower.lock:
                for path, (_, at) in list(self._floor.items()):
                    if now - at > _IDLE_SECONDS:
                        del self._floor[path]

    # -- sending ----------------------------------------------------------------------------------

    def _send(self, segment: _Segment, *, final: bool, now: float | None = None) -> bool:
        """Send what is due to each sink (caller holds the segment's lock); ``True`` if nothing is left.

        Lines wait at most a sink's ``latency`` (``flush_bytes`` of them are sent at once); a finished
        segment is sent completely.
        """
        now = self.follower.now() if now is None else now
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
            if cursor.retry.waiting(now):
                caught_up = False
                continue
            if cursor.waiting_since is None:
                cursor.waiting_since = now
            due = final or size - cursor.pos >= self.flush_bytes
            # Start early by the time a send takes and a sweep's delay, so a line is *stored* within
            # the sink's latency (a killed pod loses at most that much), as the object-store shipper does.
            took = self._send_seconds.get(sink.name, _FIRST_SEND_GUESS)
            slack = min(sink.latency / 2, 2 * took + self.follower.tick)
            if not due and now - cursor.waiting_since < sink.latency - slack:
                self._prepare(sink)
                caught_up = False
                continue
            caught_up = self._send_to(sink, segment, cursor, final=final) and caught_up
        return caught_up

    def _prepare(self, sink: Sink) -> None:
        """Let ``sink`` get ready while the first lines wait, so the first send is not late."""
        if sink.name in self._prepared:
            return
        try:
            sink.prepare()
        except Exception:  # the send reports it, with retries
            return
        self._prepared.add(sink.name)

    def _send_to(self, sink: Sink, segment: _Segment, cursor: _Cursor, *, final: bool) -> bool:
        try:
            while True:
                allowed = None if segment.entitled is None else segment.entitled - cursor.count
                lines, next_pos = read_lines(segment, cursor.pos, sink.max_bytes, allowed, final=final)
                if not lines:
                    break
                batch: Batch = []
                for line in lines:
                    cursor_offset = segment.base + cursor.count + len(batch) + 1
                    doc = segment.builder.build(line, cursor_offset)
                    batch.append((document_id(segment.log_id, cursor_offset), cursor_offset, doc))
                began = self.follower.now()
                sink.send(batch)
                took = self.follower.now() - began
                previous = self._send_seconds.get(sink.name, _FIRST_SEND_GUESS)
                self._send_seconds[sink.name] = 0.8 * previous + 0.2 * took
                metrics.timing(f"es_{sink.name}_duration", took)
                metrics.incr(f"es_{sink.name}_documents", len(batch))
                cursor.pos = next_pos
                cursor.count += len(batch)
                # The recovery report is a line of the log too: the loop sends it.
                if cursor.retry.succeeded(logger=segment.logger, where=sink.where()):
                    self._include_report(segment)
            cursor.waiting_since = None
        except Exception as error:  # a bug must not stop other logs, nor the task
            metrics.incr(f"es_{sink.name}_failures")
            reported = cursor.retry.failed(
                error,
                now=self.follower.now(),
                max_delay=self.retry_max_delay,
                logger=segment.logger,
                where=sink.where(),
                subject=segment.relative,
            )
            if reported:
                self._include_report(segment)
            return False
        return True

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


def read_lines(
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
