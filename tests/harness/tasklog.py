"""Task log files written the way Airflow's supervisor writes them, a manual clock, ``wait_for``, and
the numbered lines the end-to-end tests check."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

REL = "dag_id=d/run_id=r/task_id=t/attempt=1.log"
"""A try's log path relative to ``base_log_folder`` (Airflow's default layout)."""


class TaskLog:
    """A try's log file written like the supervisor does: the processor sees the line, then it is written.

    The file is written through a structlog ``BytesLogger``, as Airflow's is, so the processor finds
    the file's name and position through the logger it is given.
    """

    def __init__(self, base: Path, rel: str = REL) -> None:
        self.path = base / rel
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "ab")  # noqa: SIM115
        self.logger = structlog.BytesLogger(self.file)
        self.count = 0

    def line(self, processor: Callable[..., object], text: str | None = None, **extra: Any) -> bytes:
        """Log one line (``line <n>`` unless ``text``); return the bytes written."""
        event = {
            "timestamp": f"2024-01-01T00:00:{self.count % 60:02d}.000001Z",
            "level": "info",
            "event": text or f"line {self.count}",
            **extra,
        }
        self.count += 1
        processor(self.logger, "info", dict(event))
        data = json.dumps(event).encode()
        self.logger.msg(data)
        return data + b"\n"

    def lines(
        self, processor: Callable[..., object], count: int, prefix: str = "line", **extra: Any
    ) -> bytes:
        """Log ``count`` lines ``<prefix> <i>``; return the bytes written."""
        return b"".join(self.line(processor, f"{prefix} {i}", **extra) for i in range(count))

    def close(self) -> None:
        """Close the file, as the supervisor does when the try ends."""
        self.file.close()


class ManualClock:
    """A clock that moves only when told: ``sleep`` advances it at once (for the shipping engine)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds (real time: a background thread or a server is at work)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.02)


def numbered(prefix: str, count: int) -> list[str]:
    """The lines the test DAGs' ``chatty`` task writes: even ones printed, odd ones logged."""
    return [f"{prefix}-{i:05d} via {'logger' if i % 2 else 'print'}" for i in range(count)]


def assert_every_line_once_in_order(events: list[str], prefix: str, count: int) -> None:
    """Each of the ``count`` numbered lines exactly once, each channel (print, logger) in its own order.

    Airflow's log reader orders lines by timestamp. The supervisor stamps a ``print`` line when it reads
    it from the task's stdout pipe, and a logger record when the task made it; under load a print line
    can therefore sort after the record logged just after it (seen without this package too). The
    order between the two channels is Airflow's; the store's bytes are checked against the local file
    where a test needs the exact order.
    """
    got = [e for e in events if e.startswith(f"{prefix}-")]
    expected = numbered(prefix, count)
    assert sorted(got) == expected, "lines lost or duplicated"
    for channel in ("via print", "via logger"):
        assert [e for e in got if e.endswith(channel)] == [e for e in expected if e.endswith(channel)]
