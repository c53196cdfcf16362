"""The private structlog attributes the package uses; their contract test is tests/contract.

Airflow's supervisor writes each try's log through a ``structlog.BytesLogger``; the file it writes is
``BytesLogger._file`` (no public accessor). Its ``name`` says which try a line belongs to, and its
``tell()`` how far this process has written. ``BytesLogger.msg`` writes each line with
``self._write`` and then calls ``self._flush``, bound to the file when the logger is made;
:func:`survive_full_disk` replaces both.
"""

from __future__ import annotations

from typing import Any

import structlog

from airflow_platform_plugins.task_logs.common.diskwriter import DiskWriter, Report


def logger_file(logger: Any) -> Any:
    """The file a structlog ``BytesLogger``/``PrintLogger`` writes to; ``None`` for any other logger."""
    return getattr(logger, "_file", None)


def _no_flush() -> None:
    """Each line is already on disk when ``DiskWriter`` returns."""


def survive_full_disk(logger: Any, report: Report) -> None:
    """Make ``logger`` write through a :class:`DiskWriter` (once per logger; other loggers unchanged)."""
    if not isinstance(logger, structlog.BytesLogger) or isinstance(logger._write, DiskWriter):
        return
    logger._write = DiskWriter(logger._file, report)
    logger._flush = _no_flush
