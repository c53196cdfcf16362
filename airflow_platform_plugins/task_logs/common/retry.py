"""Retry delays (pure), and the retry state of one destination: back off, report once, recover."""

from __future__ import annotations

import logging
import random
from typing import Any

from airflow_platform_plugins.task_logs.common import reporting
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError

log = logging.getLogger(__name__)


def backoff_delay(failures: int, *, base: float = 0.5, max_delay: float = 60.0, jitter: float = 0.2) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential, capped, with jitter."""
    if failures <= 0:
        return 0.0
    delay = min(max_delay, base * float(2 ** min(failures - 1, 30)))
    spread = delay * jitter
    return max(0.0, delay + float(random.uniform(-spread, spread)))  # noqa: S311 - not cryptographic


class RetryState:
    """Consecutive failures writing one log to one destination, and when to try again.

    The first failure of a run is reported (in the task's log and the worker's); the retries after it
    are silent until a success, which is reported as a recovery.
    """

    __slots__ = ("failures", "retry_at")

    def __init__(self) -> None:
        self.failures = 0
        self.retry_at = 0.0

    def waiting(self, now: float) -> bool:
        """Whether a backoff still runs at ``now``."""
        return self.failures > 0 and self.retry_at > now

    def failed(
        self, error: Exception, *, now: float, max_delay: float, logger: Any, where: str, subject: str
    ) -> bool:
        """Count a failure and back off; report it if it is the first of a run (then ``True``).

        Any error other than :class:`RemoteLogError` is a bug: its traceback goes to the worker's log
        once, and the task's log gets the one-line report.
        """
        self.failures += 1
        self.retry_at = now + backoff_delay(self.failures, max_delay=max_delay)
        if self.failures > 1:
            return False
        if not isinstance(error, RemoteLogError):
            log.error("Unexpected error writing %s to %s", subject, where, exc_info=error)
            error = RemoteLogError(f"unexpected error: {error!r}")
        reporting.report_failure(logger, where, error)
        return True

    def succeeded(self, *, logger: Any, where: str) -> bool:
        """Reset after a success; report the recovery if it ends a run of failures (then ``True``)."""
        if not self.failures:
            return False
        self.failures = 0
        self.retry_at = 0.0
        reporting.report_recovery(logger, where)
        return True

    def retry_now(self) -> bool:
        """End a running backoff now (the destination answers again); ``True`` if there was one."""
        if not self.failures:
            return False
        self.retry_at = 0.0
        return True
