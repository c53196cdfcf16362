"""Retry state: back off, report the first failure of a run once, report the recovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import structlog

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.retry import RetryState, backoff_delay


def reports(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def task_log(tmp_path: Path) -> Any:
    f = open(tmp_path / "attempt=1.log", "ab")  # noqa: SIM115
    yield structlog.BytesLogger(f), tmp_path / "attempt=1.log"
    f.close()


def test_the_first_failure_of_a_run_is_reported_once_then_the_recovery(task_log: Any) -> None:
    logger, path = task_log
    state = RetryState()
    kw: dict[str, Any] = {"max_delay": 10, "logger": logger, "where": "mem://x", "subject": "x"}
    assert state.failed(RemoteLogError("down"), now=100.0, **kw)
    assert not state.failed(RemoteLogError("down"), now=101.0, **kw)
    assert state.failures == 2
    assert state.waiting(101.0)
    assert state.succeeded(logger=logger, where="mem://x")
    assert not state.succeeded(logger=logger, where="mem://x")
    assert not state.waiting(101.0)
    events = reports(path)
    assert [e["level"] for e in events] == ["warning", "info"]
    assert "mem://x" in events[0]["event"]
    assert "recovered" in events[1]["event"]


def test_an_unexpected_error_is_reported_as_one_line(task_log: Any, caplog: pytest.LogCaptureFixture) -> None:
    logger, path = task_log
    state = RetryState()
    state.failed(ValueError("bug"), now=0.0, max_delay=1, logger=logger, where="w", subject="s")
    assert "unexpected error: ValueError('bug')" in reports(path)[0]["event"]
    assert any(r.exc_info for r in caplog.records), "the traceback goes to the worker log"


def test_retry_now_ends_a_backoff() -> None:
    state = RetryState()
    assert not state.retry_now()
    state.failed(RemoteLogError("x"), now=0.0, max_delay=60, logger=None, where="w", subject="s")
    assert state.waiting(0.1)
    assert state.retry_now()
    assert not state.waiting(0.1)


def test_backoff_grows_and_is_capped() -> None:
    assert backoff_delay(0) == 0.0
    assert 0.4 <= backoff_delay(1) <= 0.6
    assert 0.8 <= backoff_delay(2) <= 1.2
    assert backoff_delay(40, max_delay=5) <= 6.0
