"""Start writer processes (:mod:`tests.reliability.child`), kill them, and read what they wrote."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.processes import ManagedProcess
from tests.harness.tasklog import wait_for
from tests.reliability.backends import EngineBackend, parse_lines
from tests.reliability.figures import Tally

ROOT = Path(__file__).resolve().parents[2]


def try_path(dag: str = "reliability", run: str = "r", task: str = "t", attempt: int = 1) -> str:
    """A try's log path in Airflow's default layout."""
    return f"dag_id={dag}/run_id={run}/task_id={task}/attempt={attempt}.log"


@dataclass
class Policy:
    flush_interval: float = 1.0
    upload_timeout: float = 10.0
    retry_max_delay: float = 1.0


class Writer:
    """One writer process: ``lines`` lines every ``interval`` seconds into ``base/rel``, then finish."""

    def __init__(
        self,
        spec: dict[str, Any],
        base: Path,
        rel: str,
        *,
        host: str,
        prefix: str,
        lines: int,
        interval: float,
        policy: Policy,
        pad: str = "",
        env: dict[str, str] | None = None,
        out: Path | None = None,
        more_rels: tuple[str, ...] = (),
        go_file: Path | None = None,
    ) -> None:
        self.base, self.rel, self.host, self.prefix, self.lines = base, rel, host, prefix, lines
        self.rels = [rel, *more_rels]
        """Every log this process writes (a triggerer's: one per deferred try)."""
        self.policy = policy
        self.path = base / rel
        self.out = out or base / f"writer-{prefix}.out"
        cfg = {
            "spec": spec,
            "base": str(base),
            "rel": rel,
            "host": host,
            "prefix": prefix,
            "lines": lines,
            "interval": interval,
            "pad": pad,
            **policy.__dict__,
        }
        if more_rels:
            cfg["rels"] = self.rels
        if go_file is not None:
            cfg["go_file"] = str(go_file)
        self.started = time.monotonic()
        self.process = ManagedProcess(
            [sys.executable, "-m", "tests.reliability.child", json.dumps(cfg)],
            self.out,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        self.killed_at: float | None = None
        self.final: dict[str, Any] = {}

    def output(self) -> list[str]:
        try:
            return self.out.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def wait_said(self, word: str, timeout: float = 60.0) -> None:
        def said() -> bool:
            if word in self.output():
                return True
            if not self.process.alive():
                raise AssertionError(f"writer exited before {word!r}: {self.output()[-20:]}")
            return False

        wait_for(said, timeout=timeout, what=f"writer says {word!r}")

    def kill(self) -> float:
        """SIGKILL the writer now; the wall-clock time of the kill."""
        self.killed_at = time.time()
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.proc.wait(timeout=30)
        return self.killed_at

    def result(self, timeout: float = 120.0) -> dict[str, Any]:
        """The writer's final report (it must exit by itself within ``timeout``)."""
        self.process.proc.wait(timeout=timeout)
        for line in reversed(self.output()):
            if line.startswith("{"):
                self.final = dict(json.loads(line))
                return self.final
        raise AssertionError(f"writer exited with {self.process.proc.returncode}: {self.output()[-20:]}")

    def written(self, rel: str | None = None) -> list[dict[str, Any]]:
        """The lines in the local file of ``rel`` (default: the first log), what the task logged."""
        path = self.base / rel if rel else self.path
        if not path.exists():
            return []
        return parse_lines(path.read_bytes())

    def events(self, rel: str | None = None) -> list[str]:
        return [str(line["event"]) for line in self.written(rel)]

    def stop(self) -> None:
        self.process.stop(signal.SIGKILL, timeout=5)


def check_whole(
    backend: EngineBackend, writers: list[Writer], figures: Tally, *, timeout: float
) -> list[str]:
    """Wait for each writer to end by itself; count its log; what went wrong, per writer.

    Every line must be stored exactly once and in order, and the final upload must have completed
    within the writer's ``upload_timeout``.
    """
    problems = []
    for writer in writers:
        try:
            result = writer.result(timeout=timeout)
        finally:
            writer.stop()
        figures.max_finish_seconds = max(figures.max_finish_seconds, float(result["seconds"]))
        for rel in writer.rels:
            figures.runs += 1
            stored = backend.stored(rel)
            unexpected = figures.unexpected
            lost, duplicated, disordered = figures.add_log(writer.events(rel), stored.events(writer.host))
            bad = []
            if figures.unexpected > unexpected:
                bad.append(f"{figures.unexpected - unexpected} stored lines that were never written")
            if not result["finished"]:
                bad.append(f"the final upload gave up after {result['seconds']:.1f} s")
            if lost or duplicated or disordered or stored.gaps or stored.overlap_bytes:
                bad.append(
                    f"{lost} lost, {duplicated} twice, {disordered} out of order, {stored.gaps} gaps, "
                    f"{stored.overlap_bytes} overlapping bytes"
                )
            if bad:
                figures.failed_runs += 1
                problems.append(f"{rel}: " + "; ".join(bad))
    return problems
