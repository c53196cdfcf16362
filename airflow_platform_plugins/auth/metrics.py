"""Sign-on metrics through Airflow's own metrics setup (StatsD, Datadog or OpenTelemetry).

Names are ``platform_auth.<name>`` under Airflow's prefix (docs/operations.md lists them). Without a
metrics backend they cost nothing, and they never raise.
"""

from __future__ import annotations

from airflow_platform_plugins.auth.errors import Forbidden, InvalidClaims, Rejected, Unavailable
from airflow_platform_plugins.stats import Metrics

PREFIX = "platform_auth"

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


METRICS = Metrics(PREFIX)
incr = METRICS.incr
timing = METRICS.timing


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
