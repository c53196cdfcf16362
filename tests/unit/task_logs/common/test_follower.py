"""The shared file-follower engine, driven step by step on a manual clock (no thread, no sleep)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_platform_plugins.task_logs.common.follower import (
    FINISH_POLL,
    FileFollower,
    Followed,
    IgnoredPaths,
)
from tests.harness.tasklog import REL, ManualClock


class Recorder:
    def __init__(self) -> None:
        self.visited: list[tuple[str, float]] = []
        self.sweeps: list[str] = []

    def visit(self, entry: Followed, now: float) -> None:
        self.visited.append((entry.relative, now))


def make(base: Path, recorder: Recorder, clock: ManualClock) -> FileFollower[Followed]:
    return FileFollower(
        base_log_folder=str(base),
        visit=recorder.visit,
        tick=0.1,
        name="test-follower",
        clock=clock,
        background=False,
        before_sweep=lambda now: recorder.sweeps.append(f"before {now}"),
        after_sweep=lambda now: recorder.sweeps.append(f"after {now}"),
    )


def create(clock: ManualClock) -> Callable[[str, str], Followed]:
    return lambda path, relative: Followed(path, relative, None, clock.monotonic())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_a_task_log_is_followed_once_and_visited_by_each_step(tmp_path: Path, clock: ManualClock) -> None:
    recorder = Recorder()
    follower = make(tmp_path, recorder, clock)
    path = str(tmp_path / REL)
    first = follower.follow(path, create(clock))
    assert first is not None
    assert follower.follow(path, create(clock)) is first
    follower.step()
    clock.advance(2)
    follower.step()
    assert recorder.visited == [(REL, 1000.0), (REL, 1002.0)]
    assert recorder.sweeps == ["before 1000.0", "after 1000.0", "before 1002.0", "after 1002.0"]


def test_paths_outside_the_folder_and_refused_ones_are_ignored(tmp_path: Path, clock: ManualClock) -> None:
    follower = make(tmp_path / "logs", Recorder(), clock)
    outside = str(tmp_path / "elsewhere.log")
    refused = str(tmp_path / "logs" / "custom.log")
    assert follower.follow(outside, create(clock)) is None
    assert follower.follow(refused, lambda path, relative: None) is None
    assert outside in follower.ignored
    assert refused in follower.ignored
    assert follower.followed() == []


def test_the_ignored_set_is_capped() -> None:
    ignored = IgnoredPaths(cap=3)
    for i in range(3):
        ignored.add(f"p{i}")
    assert len(ignored) == 3
    ignored.add("p3")
    assert len(ignored) == 1
    assert "p3" in ignored
    assert "p0" not in ignored


def test_a_closed_entry_is_still_swept_and_a_forgotten_one_is_not(tmp_path: Path, clock: ManualClock) -> None:
    recorder = Recorder()
    follower = make(tmp_path, recorder, clock)
    path = str(tmp_path / REL)
    entry = follower.follow(path, create(clock))
    assert entry is not None
    follower.close(entry)
    assert path not in follower.open
    follower.step()
    assert len(recorder.visited) == 1
    follower.forget(entry)
    follower.step()
    assert len(recorder.visited) == 1


def test_the_sweep_skips_an_entry_that_is_being_shipped(tmp_path: Path, clock: ManualClock) -> None:
    recorder = Recorder()
    follower = make(tmp_path, recorder, clock)
    entry = follower.follow(str(tmp_path / REL), create(clock))
    assert entry is not None
    with entry.lock:
        follower.step()
    assert recorder.visited == []


def test_finish_waits_out_backoffs_on_the_clock_until_the_deadline(
    tmp_path: Path, clock: ManualClock
) -> None:
    follower = make(tmp_path, Recorder(), clock)
    entry = follower.follow(str(tmp_path / REL), create(clock))
    assert entry is not None
    attempts: list[float] = []

    def attempt() -> bool:
        assert entry.lock.locked()
        attempts.append(clock.monotonic())
        return False

    assert not follower.finish(entry, attempt, lambda: clock.monotonic() + 1.0, timeout=3.5)
    assert attempts == [1000.0, 1001.0, 1002.0, 1003.0]
    assert clock.slept == [1.0, 1.0, 1.0]


def test_finish_polls_when_no_backoff_runs_and_returns_on_success(tmp_path: Path, clock: ManualClock) -> None:
    follower = make(tmp_path, Recorder(), clock)
    entry = follower.follow(str(tmp_path / REL), create(clock))
    assert entry is not None
    results = iter([False, False, True])
    assert follower.finish(entry, lambda: next(results), lambda: 0.0, timeout=10)
    assert clock.slept == [FINISH_POLL, FINISH_POLL]


def test_a_forked_child_starts_empty_and_runs_its_reset_hook(tmp_path: Path, clock: ManualClock) -> None:
    resets: list[int] = []
    follower: FileFollower[Followed] = FileFollower(
        base_log_folder=str(tmp_path),
        visit=lambda entry, now: None,
        tick=0.1,
        name="test-follower",
        clock=clock,
        on_reset=lambda: resets.append(os.getpid()),
    )
    assert resets == [os.getpid()]
    follower.follow(str(tmp_path / REL), create(clock))
    assert follower.loop is not None
    assert follower.loop.thread is not None, "following starts the thread"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        child_ok = (
            follower.followed() == []
            and follower.open == {}
            and follower.loop is not None
            and follower.loop.thread is None
            and resets[-1] == os.getpid()
        )
        os._exit(0 if child_ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(follower.followed()) == 1
    assert threading.current_thread() is threading.main_thread()
