"""Write log lines to a file so that a full disk drops lines instead of failing the task (pure I/O).

Airflow's supervisor writes a try's log with a buffered file and re-raises any error but a closed
file: ``ENOSPC`` on the log folder ends the supervisor and fails the task (Airflow 3.3.2; see
docs/operations.md). A :class:`DiskWriter` writes each line straight to the file descriptor, so the
file's buffer stays empty (closing it cannot fail on a full disk either). When the disk is full the
line is dropped, counted, and reported once per file; once there is room again, writing resumes, and
a line cut short by the full disk is ended first, so the next line starts on a line of its own.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from typing import Any

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

Report = Callable[[str, OSError], None]
"""Called with the file's path and the error, the first time a line is dropped."""


class DiskWriter:
    """A ``write(bytes)`` for a line-by-line logger: straight to the descriptor, surviving a full disk."""

    __slots__ = ("_fd", "_path", "_report", "_torn", "dropped")

    def __init__(self, file: Any, report: Report) -> None:
        file.flush()  # whatever the buffer holds goes first, in order
        self._fd: int = file.fileno()
        self._path = str(getattr(file, "name", self._fd))
        self._report = report
        self._torn = False
        self.dropped = 0
        """Lines not written because the disk was full."""

    def __call__(self, data: bytes) -> None:
        """Write ``data`` (one line); on a full disk drop it, count it and report the first time."""
        line = b"\n" + data if self._torn else data
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            if exc.errno not in _FULL:
                raise
            if len(view) < len(line):
                self._torn = True  # part of it is in the file: end that line before the next one
            self.dropped += 1
            if self.dropped == 1:
                with contextlib.suppress(Exception):  # reporting must not fail the write either
                    self._report(self._path, exc)
            return
        self._torn = False
