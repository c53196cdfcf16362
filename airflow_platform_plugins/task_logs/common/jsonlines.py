"""The one builder of the log lines this package adds to a task's log (Airflow's JSON line shape)."""

from __future__ import annotations

import json
from typing import Any

LOGGER_NAME = "airflow_platform_plugins.task_logs"
"""The ``logger`` of every line this package adds, so readers and tests can tell them apart."""


def log_line(event: str, *, level: str = "warning", timestamp: Any = None) -> str:
    """One JSON log line: ``timestamp`` (if given), ``level``, ``event`` and our ``logger``."""
    line: dict[str, Any] = {} if timestamp is None else {"timestamp": timestamp}
    line["level"] = level
    line["event"] = event
    line["logger"] = LOGGER_NAME
    return json.dumps(line, ensure_ascii=False)
