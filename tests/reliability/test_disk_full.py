"""Scenario 4, disk full: the local log folder is a small tmpfs (mounted by the test, as root) that
fills up while the task writes.

The task goes on (the package's writer drops the lines that meet ``ENOSPC`` and says so once, naming
the folder), the final upload completes, and every byte that reached the local file, the lines
before the disk filled up, is stored exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.tmpfs import small_tmpfs
from tests.reliability.backends import EngineBackend, direct_endpoint
from tests.reliability.plugin import tally
from tests.reliability.runner import Policy, Writer, check_whole, try_path

SIZE = "256k"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of :data:`SIZE`."""
    with small_tmpfs(tmp_path / "disk", SIZE) as disk:
        yield disk


def test_full_disk_keeps_the_task_and_ships_what_was_written(
    backend: EngineBackend, small_disk: Path, tmp_path: Path
) -> None:
    figures = tally("4 disk full", backend.name)
    figures.note(f"tmpfs size={SIZE}; lines meet ENOSPC after about 500 and are dropped, reported once")
    writer = Writer(
        backend.child_spec(direct_endpoint(backend)),
        small_disk,
        try_path(run="full"),
        host="worker-full",
        prefix="full",
        lines=1500,
        interval=0.001,
        pad="x" * 400,
        policy=Policy(flush_interval=0.5, upload_timeout=30.0, retry_max_delay=1.0),
        out=tmp_path / "writer-full.out",  # off the full disk: the package's report must reach it
    )
    problems = check_whole(backend, [writer], figures, timeout=180)
    assert writer.final["dropped_lines"] > 0, "the disk never filled up"
    assert writer.final["failed_writes"] == 0, "a write failed: the package's writer let ENOSPC through"
    report = [line for line in writer.output() if "cannot write the task log" in line]
    assert len(report) == 1, writer.output()[-5:]
    assert f"No space left on device in the log folder {writer.path.parent}" in report[0]
    assert not problems, "\n".join(problems)
    stored = backend.stored(writer.rel)
    if stored.raw:
        assert stored.raw[writer.host] == writer.path.read_bytes(), "stored bytes differ from the disk's"
