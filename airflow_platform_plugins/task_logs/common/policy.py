"""When and how task log lines are shipped (the settings every backend shares)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShippingPolicy:
    """When and how the shipper writes; see the configuration reference for each field."""

    flush_interval: float = 3.0
    flush_bytes: int = 1 << 20
    chunk_max_bytes: int = 16 << 20
    upload_concurrency: int = 8
    upload_timeout: float = 30.0
    retry_max_delay: float = 60.0
