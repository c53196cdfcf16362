"""Counters and timers under one prefix, through Airflow's own metrics setup.

StatsD, Datadog or OpenTelemetry: the one place both task logs and sign-on send metrics through.
Metrics go wherever ``[metrics]`` sends the metrics of the process (worker, triggerer, api-server).
Without a metrics backend they cost nothing, and they never raise.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import timedelta
from typing import Any

from airflow_platform_plugins.compat import airflow_stats


class Metrics:
    """Metrics named ``<prefix>.<name>``; Airflow's stats API is looked up on first use."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.backend: Any = None
        """Airflow's stats API; ``None`` until looked up, ``False`` where there is none."""

    def _backend(self) -> Any:
        # Only in a process that has imported Airflow already (every Airflow component has): importing
        # it just for metrics would cost a tool that uses this package on its own ~100 MB.
        if self.backend is None:
            if "airflow" not in sys.modules:
                return False
            self.backend = False
            with contextlib.suppress(ImportError, AttributeError):
                self.backend = airflow_stats()
        return self.backend

    def incr(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the counter ``<prefix>.<name>``."""
        backend = self._backend()
        if backend:
            with contextlib.suppress(Exception):  # metrics must never break shipping or sign-on
                backend.incr(f"{self.prefix}.{name}", count)

    def timing(self, name: str, seconds: float) -> None:
        """Record ``seconds`` as the timer ``<prefix>.<name>``."""
        backend = self._backend()
        if backend:
            with contextlib.suppress(Exception):
                backend.timing(f"{self.prefix}.{name}", timedelta(seconds=seconds))
