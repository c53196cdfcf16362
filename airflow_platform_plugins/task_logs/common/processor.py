"""The structlog processor that Airflow's task supervisor calls for every log line."""

from __future__ import annotations

from typing import Any, Protocol

from airflow_platform_plugins.task_logs.common._structlog import logger_file


class _Tracker(Protocol):
    def track(self, path: str, logger: Any = None) -> None: ...


class ShippingProcessor:
    """Tell the shipper which local file a line goes to; pass the event through unchanged.

    Airflow runs the processor chain in the supervisor (lines already masked; the logger writes the
    try's file) and also in the task process, the triggerer and the dag-processor. Only a logger that
    writes a file under ``base_log_folder`` gets tracked; the task process logs to a socket (its file
    has an integer name) and is ignored, so secrets are only ever shipped masked.
    """

    __slots__ = ("_track",)

    def __init__(self, tracker: _Tracker) -> None:
        self._track = tracker.track

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        """Track the file ``logger`` writes to; return ``event_dict`` unchanged."""
        try:
            name = logger_file(logger).name
            if name.__class__ is str:
                self._track(name, logger)
        except Exception:  # noqa: S110 - logging must never fail a task
            pass
        return event_dict
