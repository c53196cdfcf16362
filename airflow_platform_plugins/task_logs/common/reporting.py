"""Say what went wrong with shipping once, in one line, where the user looks.

A failing store gets one line in the task's own log (so the UI shows it next to the task output) and
one in the worker's log, then silence until it recovers; never a traceback per retry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import structlog

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.jsonlines import LOGGER_NAME, log_line

log = logging.getLogger(LOGGER_NAME)


def write_to_task_log(task_logger: Any, level: str, event: str) -> None:
    """Append one JSON line to the task's log file through Airflow's own file logger (thread-safe)."""
    if task_logger is None:
        return
    line = log_line(event, level=level, timestamp=datetime.now(timezone.utc).isoformat())
    try:
        if isinstance(task_logger, structlog.BytesLogger):
            task_logger.msg(line.encode("utf-8"))
        else:
            task_logger.msg(line)
    except Exception:  # noqa: S110 - the file may be closed already; the worker log still has the line
        pass


def failure_message(where: str, error: RemoteLogError, *, keeping_local: bool) -> str:
    """The one line that describes a shipping failure."""
    action = "will retry; the local log is kept until the remote copy is complete" if keeping_local else ""
    kind = "Remote task log configuration error" if error.permanent else "Remote task log store unavailable"
    text = f"{kind}: cannot write {where}: {error}"
    return f"{text}; {action}" if action else text


def report_failure(task_logger: Any, where: str, error: RemoteLogError) -> None:
    """Report a failure once (the caller decides when it is the first)."""
    message = failure_message(where, error, keeping_local=True)
    level = "error" if error.permanent else "warning"
    log.log(logging.ERROR if error.permanent else logging.WARNING, message)
    write_to_task_log(task_logger, level, message)


def report_recovery(task_logger: Any, where: str) -> None:
    """Report that shipping works again after a failure."""
    message = f"Remote task log shipping to {where} recovered; the log is being shipped again."
    log.info(message)
    write_to_task_log(task_logger, "info", message)
