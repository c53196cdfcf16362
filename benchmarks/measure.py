"""Run one operation in a fresh interpreter and measure it: wall time inside, peak RSS from the kernel."""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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


def run(
    module: str,
    contender: str,
    operation: str,
    size: int,
    env: dict[str, str],
    *args: str,
    memory_limit: int | None = None,
) -> Result:
    """Run ``python -m module contender operation args...``; it prints one JSON line with its timing.

    With ``memory_limit`` (bytes of address space), a contender that runs out of memory gives a
    result with no time (``nan``) and ``detail["failed"]`` saying so, instead of an error: a machine
    cannot hold every contender at every size, and that is a finding, not a broken run.
    """

    def limit() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, contender, operation, *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, **env},
            preexec_fn=limit,
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    # A contender may catch the MemoryError and carry on (the providers log upload errors and
    # return): out of memory is a failure whatever the exit status.
    if memory_limit is not None and "MemoryError" in stderr:
        reason = f"out of memory (MemoryError under a {memory_limit / 1e9:.0f} GB address-space limit)"
        return Result(
            contender, operation, size, math.nan, usage.ru_maxrss / 1024, math.nan, {"failed": reason}
        )
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(stderr[-4000:])
        raise RuntimeError(f"{contender} {operation} failed ({status})")
    sys.stderr.write(stderr)
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


def failed(result: Result) -> bool:
    """Whether ``result`` is a contender that could not finish (see :func:`run`)."""
    return "failed" in result.detail


def combine(results: list[Result]) -> Result:
    """Repeated runs of one operation as one result: median time, largest peak RSS.

    If any run failed (see :func:`run`), the result is that failure.
    """
    first = next((r for r in results if failed(r)), results[0])
    if failed(first):
        return Result(**{**first.__dict__, "detail": {**first.detail, "runs": len(results)}})
    return Result(
        first.contender,
        first.operation,
        first.size,
        statistics.median(r.seconds for r in results),
        max(r.peak_rss_mb for r in results),
        max(r.baseline_rss_mb for r in results),
        {**first.detail, "runs": len(results)},
    )
