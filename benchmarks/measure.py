"""Run one operation in a fresh interpreter and measure it: wall time inside, peak RSS from the kernel."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Any


@dataclass
class Result:
    contender: str
    operation: str
    size: int
    seconds: float
    peak_rss_mb: float
    baseline_rss_mb: float
    detail: dict[str, Any]


def rss_mb() -> float:
    """Current resident set size of this process in MB (for the baseline after imports)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (``VmHWM``).

    Not ``ru_maxrss``: Linux carries the parent's peak over into a forked child, so a child would
    report at least the RSS its parent had when it started.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(module: str, contender: str, operation: str, size: int, env: dict[str, str], *args: str) -> Result:
    """Run ``python -m module contender operation args...``; it prints one JSON line with its timing."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, contender, operation, *args],
        stdout=subprocess.PIPE,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{contender} {operation} failed ({status})")
    report = json.loads(out.decode().strip().splitlines()[-1])
    return Result(
        contender,
        operation,
        size,
        float(report.pop("seconds")),
        float(report.pop("peak_rss_mb", usage.ru_maxrss / 1024)),
        float(report.pop("baseline_rss_mb")),
        report,
    )


def combine(results: list[Result]) -> Result:
    """Repeated runs of one operation as one result: median time, largest peak RSS."""
    first = results[0]
    return Result(
        first.contender,
        first.operation,
        first.size,
        statistics.median(r.seconds for r in results),
        max(r.peak_rss_mb for r in results),
        max(r.baseline_rss_mb for r in results),
        {**first.detail, "runs": len(results)},
    )
