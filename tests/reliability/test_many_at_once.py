"""Scenario 5, many at once: many short tries writing and shipping at the same moment, and one
triggerer process writing the logs of many deferred tries.

Every task is a child process with the package's engine, as each task supervisor has; the triggerer
is one process whose single engine follows one log per deferred try. All of them wait at a barrier
and start writing together. Every log must be stored whole, once and in order, with its final upload
complete within ``upload_timeout``. The figures note what shipping cost each process: the CPU of the
engine's threads and the peak memory, with what the engine and its client library added to it.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from tests.harness.tasklog import wait_for
from tests.reliability.backends import EngineBackend, direct_endpoint
from tests.reliability.plugin import tally
from tests.reliability.runner import Policy, Writer, check_whole, try_path

SCENARIO = "5 many at once"
POLICY = Policy(flush_interval=1.0, upload_timeout=60.0, retry_max_delay=1.0)
LINES, INTERVAL = 60, 0.05
"""Each try logs for about 3 s (and each deferred try, in the triggerer, at the same pace)."""


def peak_overlap(results: list[dict[str, Any]]) -> int:
    """The most processes that were writing or finishing at the same moment."""
    edges = sorted([(r["began_writing"], 1) for r in results] + [(r["ended"], -1) for r in results])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def test_many_tries_at_once_ship_every_line(backend: EngineBackend, full: bool, tmp_path: Path) -> None:
    tasks, deferred = (200, 50) if full else (8, 4)
    figures = tally(SCENARIO, backend.name)
    spec = backend.child_spec(direct_endpoint(backend))
    base, go = tmp_path / "logs", tmp_path / "go"
    common: dict[str, Any] = {"lines": LINES, "interval": INTERVAL, "policy": POLICY, "go_file": go}
    writers = [
        Writer(spec, base, try_path(run=f"many-{k}"), host=f"worker-{k}", prefix="task", **common)
        for k in range(tasks)
    ]
    trigger_logs = [try_path(run=f"deferred-{k}") + ".trigger.1.log" for k in range(deferred)]
    triggerer = Writer(
        spec,
        base,
        trigger_logs[0],
        host="triggerer",
        prefix="trigger",
        more_rels=tuple(trigger_logs[1:]),
        **common,
    )
    everyone = [*writers, triggerer]
    waiting = set(everyone)

    def all_ready() -> bool:
        waiting.difference_update([w for w in list(waiting) if "ready" in w.output()])
        return not waiting

    try:
        wait_for(
            all_ready,
            timeout=60 + 1.5 * len(everyone),
            what=f"{len(everyone)} writer processes ready",
        )
        go.touch()
        problems = check_whole(backend, everyone, figures, timeout=300)
    finally:
        for w in everyone:
            w.stop()

    per_task = [w.final for w in writers]
    cpu = [r["shipper_cpu_seconds"] for r in per_task]
    rss = [r["peak_rss_mb"] for r in per_task]
    added = [r["peak_rss_mb"] - r["rss_before_engine_mb"] for r in per_task]
    t = triggerer.final
    figures.note(
        f"{tasks} tries and {deferred} deferred ones in one triggerer, {peak_overlap([*per_task, t])} "
        f"processes writing at once; per try: engine CPU median {statistics.median(cpu):.2f} s "
        f"(max {max(cpu):.2f}), peak RSS median {statistics.median(rss):.0f} MB (max {max(rss):.0f}), "
        f"of which the engine and its client {statistics.median(added):.0f} MB; triggerer: engine CPU "
        f"{t['shipper_cpu_seconds']:.2f} s, peak RSS {t['peak_rss_mb']:.0f} MB "
        f"(engine and client {t['peak_rss_mb'] - t['rss_before_engine_mb']:.0f} MB)"
    )
    assert not problems, "\n".join(problems[:20])
    assert figures.runs == tasks + deferred
