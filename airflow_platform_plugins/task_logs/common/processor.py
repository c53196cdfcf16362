"""The structlog processor that Airflow's task supervisor calls for every log line."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Protocol

from airflow_platform_plugins.task_logs.common._structlog import logger_file, survive_full_disk


class _Tracker(Protocol):
    def track(self, path: str, logger: Any = None) -> None: ...


class ShippingProcessor:
    """Tell the shipper which local file a line goes to; pass the event through unchanged.

    Airflow runs the processor chain in the supervisor (lines already masked; the logger writes the
    try's file) and also in the task process, the triggerer and the dag-processor. Only a logger that
    writes a file under ``base_log_folder`` gets tracked; the task process logs to a socket (its file
    has an integer name) and is ignored, so secrets are only ever shipped masked.

    A logger that writes a file also gets a writer that survives a full disk (:mod:`.diskwriter`):
    Airflow's own fails the task.
    """

    __slots__ = ("_known", "_track")

    def __init__(self, tracker: _Tracker) -> None:
        self._track = tracker.track
        self._known: Any = None  # the last logger given the full-disk writer: one check per logger

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        """Track the file ``logger`` writes to; return ``event_dict`` unchanged."""
        try:
            name = logger_file(logger).name
            if name.__class__ is str:
                self._track(name, logger)
                if logger is not self._known:
                    survive_full_disk(logger, report_full_disk)
                    self._known = logger
        except Exception:  # noqa: S110 - logging must never fail a task
            pass
        return event_dict


def report_full_disk(path: str, error: OSError) -> None:
    """Say once, on the process's stderr (the pod's log), that a log file's disk is full; never raises."""
    with contextlib.suppress(Exception):  # stderr may be on the full disk too
        print(
            f"airflow-platform-plugins: cannot write the task log {path}: {error.strerror} in the log"
            f" folder {os.path.dirname(path)}. Its lines are dropped until there is room; the task goes on"
            " and what was written is still shipped.",
            file=sys.stderr,
            flush=True,
        )
