"""Sign-on metrics through Airflow's own metrics setup (StatsD, Datadog or OpenTelemetry).

Names are ``platform_auth.<name>`` under Airflow's prefix (docs/operations.md lists them). Without a
metrics backend they cost nothing, and they never raise.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from datetime import timedelta
from typing import Any

from airflow_platform_plugins.auth.errors import Forbidden, InvalidClaims, Rejected, Unavailable

PREFIX = "platform_auth"

_stats: Any = None

# Reason text (the start of it) -> the metric name of a refusal; see errors.py for the reasons.
_REASONS = (
    ("token expired", "expired"),
    ("token not yet valid", "not_yet_valid"),
    ("wrong issuer", "issuer"),
    ("wrong audience", "audience"),
    ("wrong signer", "signer"),
    ("signature verification failed", "signature"),
    ("unknown signing key", "unknown_key"),
    ("algorithm not allowed", "algorithm"),
    ("missing claim", "missing_claim"),
    ("unsigned", "unsigned"),
)


def _module() -> Any:
    """Airflow's stats API (``airflow.observability.stats`` in 3.3, ``airflow.stats.Stats`` before)."""
    global _stats
    if _stats is None:
        if "airflow" not in sys.modules:
            return False
        _stats = False
        with contextlib.suppress(ImportError):
            _stats = importlib.import_module("airflow.observability.stats")
        if _stats is False:
            with contextlib.suppress(ImportError, AttributeError):
                _stats = importlib.import_module("airflow.stats").Stats
    return _stats


def incr(name: str, count: int = 1) -> None:
    """Add ``count`` to the counter ``platform_auth.<name>``."""
    stats = _module()
    if stats:
        with contextlib.suppress(Exception):  # metrics must never break sign-on
            stats.incr(f"{PREFIX}.{name}", count)


def timing(name: str, seconds: float) -> None:
    """Record ``seconds`` as the timer ``platform_auth.<name>``."""
    stats = _module()
    if stats:
        with contextlib.suppress(Exception):
            stats.timing(f"{PREFIX}.{name}", timedelta(seconds=seconds))


def refusal_reason(exc: Rejected) -> str:
    """The short, fixed name of a refusal's reason, for ``platform_auth.refused.<reason>``."""
    if isinstance(exc, Unavailable):
        return "unavailable"
    if isinstance(exc, Forbidden):
        return "forbidden"
    if isinstance(exc, InvalidClaims):
        return "claims"
    for prefix, name in _REASONS:
        if exc.reason.startswith(prefix):
            return name
    return "malformed" if exc.reason.startswith("malformed") else "invalid"
