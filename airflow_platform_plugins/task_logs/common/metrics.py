"""Shipping metrics through Airflow's own metrics setup (StatsD, Datadog or OpenTelemetry).

Metrics go wherever ``[metrics]`` sends the metrics of the process that ships (the worker or the
triggerer); without a metrics backend they cost nothing. Never raises.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import timedelta
from typing import Any

from airflow_platform_plugins.compat import airflow_stats

PREFIX = "remote_task_log"

_stats: Any = None


def _module() -> Any:
    """Airflow's stats API (:func:`airflow_platform_plugins.compat.airflow_stats`).

    Only in a process that has imported Airflow already (every Airflow component has); importing it
    just for metrics would cost a tool that uses this package on its own ~100 MB.
    """
    global _stats
    if _stats is None:
        if "airflow" not in sys.modules:
            return False
        _stats = False
        with contextlib.suppress(ImportError, AttributeError):
            _stats = airflow_stats()
    return _stats


def incr(name: str, count: int = 1) -> None:
    """Add ``count`` to the counter ``remote_task_log.<name>``."""
    stats = _module()
    if stats:
        with contextlib.suppress(Exception):  # metrics must never break shipping
            stats.incr(f"{PREFIX}.{name}", count)


def timing(name: str, seconds: float) -> None:
    """Record ``seconds`` as the timer ``remote_task_log.<name>``."""
    stats = _module()
    if stats:
        with contextlib.suppress(Exception):
            stats.timing(f"{PREFIX}.{name}", timedelta(seconds=seconds))
