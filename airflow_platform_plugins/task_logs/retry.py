"""Retry delays (pure)."""

from __future__ import annotations

import random


def backoff_delay(failures: int, *, base: float = 0.5, max_delay: float = 60.0, jitter: float = 0.2) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential, capped, with jitter."""
    if failures <= 0:
        return 0.0
    delay = min(max_delay, base * float(2 ** min(failures - 1, 30)))
    spread = delay * jitter
    return max(0.0, delay + float(random.uniform(-spread, spread)))  # noqa: S311 - not cryptographic
