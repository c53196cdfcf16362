"""What one benchmark process does: set up untimed, then time one operation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.measure import peak_rss_mb, rss_mb

Action = Callable[[], dict[str, Any]]


def measure(setup: Callable[[], Action]) -> dict[str, Any]:
    """Run ``setup`` (imports, clients: untimed), then time the action it returns."""
    action = setup()
    baseline = rss_mb()
    started = time.perf_counter()
    detail = action()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb(), **detail}


def count_lines(lines: Iterable[str]) -> dict[str, Any]:
    count = chars = 0
    for line in lines:
        count += 1
        chars += len(line)
    return {"lines": count, "chars": chars}


def count_bytes(blocks: Iterable[bytes]) -> dict[str, Any]:
    size = lines = 0
    for block in blocks:
        size += len(block)
        lines += block.count(b"\n")
    return {"bytes": size, "lines": lines}


def remote_io_action(io: Any, operation: str, rel: str, *, streams: bool) -> Action:
    """Upload, or read the log's lines the way Airflow's api-server gets them from ``io``."""
    if operation == "upload":

        def upload() -> dict[str, Any]:
            io.upload(rel, None)
            return {}

        return upload
    if streams:
        return lambda: count_lines(line for stream in io.stream(rel, None)[1] for line in stream)

    def read_and_split() -> dict[str, Any]:
        # A RemoteLogIO without stream(): Airflow's FileTaskHandler splits what read() returns into
        # lines with its own helper, so that is part of reading such a log.
        from airflow.utils.log.file_task_handler import _get_compatible_log_stream

        return count_lines(_get_compatible_log_stream(io.read(rel, None)[1] or []))

    return read_and_split
