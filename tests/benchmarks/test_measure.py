"""The benchmark runner: a contender that runs out of its memory limit is a result, not a crash."""

from __future__ import annotations

import math

import pytest

from benchmarks.measure import combine, failed, run

GB = 10**9


def test_a_contender_within_the_limit_reports_its_figures() -> None:
    result = run("tests.benchmarks.hog", "small", "read", 1, {}, "1000000", memory_limit=4 * GB)

    assert not failed(result)
    assert result.seconds == 0.01
    assert result.detail == {"bytes": 1_000_000}


def test_a_contender_over_the_limit_is_reported_out_of_memory() -> None:
    result = run("tests.benchmarks.hog", "big", "read", 1, {}, str(8 * GB), memory_limit=1 * GB)

    assert failed(result)
    assert math.isnan(result.seconds)
    assert result.detail["failed"] == "out of memory (MemoryError under a 1 GB address-space limit)"


def test_a_contender_that_catches_its_memory_error_is_still_out_of_memory() -> None:
    result = run("tests.benchmarks.hog", "swallow", "upload", 1, {}, str(8 * GB), memory_limit=1 * GB)

    assert failed(result)


def test_any_other_failure_still_stops_the_run() -> None:
    with pytest.raises(RuntimeError, match="bad read failed"):
        run("tests.benchmarks.hog", "bad", "read", 1, {}, "not-a-number", memory_limit=1 * GB)


def test_one_failed_run_makes_the_combined_result_a_failure() -> None:
    fine = run("tests.benchmarks.hog", "c", "read", 1, {}, "10", memory_limit=4 * GB)
    out = run("tests.benchmarks.hog", "c", "read", 1, {}, str(8 * GB), memory_limit=1 * GB)

    combined = combine([fine, out, fine])

    assert failed(combined)
    assert combined.detail["runs"] == 3
