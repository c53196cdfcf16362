from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_platform_plugins.task_logs.objectstore.compaction import (
    Merge,
    Run,
    apply,
    composable,
    plan,
    plan_final,
)


def simulate(sizes: list[int], fan_in: int, max_bytes: int = 1 << 40) -> tuple[list[Run], int, int]:
    """Store chunks of ``sizes`` one after another, merging as planned; (runs, bytes written, most runs)."""
    runs: list[Run] = []
    written = most = pos = 0
    for size in sizes:
        runs.append(Run(pos, pos + size))
        pos += size
        written += size
        most = max(most, len(runs))
        while (merge := plan(runs, fan_in=fan_in, max_bytes=max_bytes)) is not None:
            check_merge(runs, merge)
            written += merge.end - merge.start
            runs = apply(runs, merge)
            most = max(most, len(runs) + len(runs) - merge.first)  # sources stay until deleted
    return runs, written, most


def check_merge(runs: list[Run], merge: Merge) -> None:
    assert len(runs) - merge.first >= 2
    assert merge.start == runs[merge.first].start
    assert merge.end == runs[-1].end


def test_nothing_merges_below_fan_in() -> None:
    runs = [Run(i, i + 1) for i in range(15)]
    assert plan(runs, fan_in=16) is None
    runs.append(Run(15, 16))
    assert plan(runs, fan_in=16) == Merge(0, 0, 16, 1)


def test_a_full_level_carries_into_the_next_in_one_merge() -> None:
    runs = [Run(i * 4, i * 4 + 4, 1) for i in range(3)] + [Run(12 + i, 13 + i) for i in range(4)]
    assert plan(runs, fan_in=4) == Merge(0, 0, 16, 2)


def test_a_merge_never_grows_beyond_max_bytes() -> None:
    runs = [Run(i * 10, i * 10 + 10) for i in range(4)]
    assert plan(runs, fan_in=4, max_bytes=39) is None
    carried = [Run(i * 40, i * 40 + 40, 1) for i in range(3)] + [
        Run(120 + i * 10, 130 + i * 10) for i in range(4)
    ]
    assert plan(carried, fan_in=4, max_bytes=100) == Merge(3, 120, 160, 1)


def test_a_day_of_three_second_chunks_meets_the_targets() -> None:
    """24 h of 3 s flushes at 10 lines/s of ~125 bytes: the numbers issue 15 asks for."""
    sizes = [3750] * (24 * 3600 // 3)
    runs, written, most = simulate(sizes, fan_in=16)
    log = sum(sizes)
    assert most <= 64
    final = plan_final(runs)
    if final is not None:
        written += final.end - final.start
        runs = apply(runs, final)
    assert len(runs) <= 8
    assert written <= 4 * log


def test_final_leaves_at_most_keep_objects_by_merging_the_newest() -> None:
    runs = [Run(0, 100, 2), Run(100, 200, 2), Run(200, 210, 1), Run(210, 211), Run(211, 212)]
    assert plan_final(runs, keep=8) is None
    merge = plan_final(runs, keep=3)
    assert merge == Merge(2, 200, 212, 2)
    assert len(apply(runs, merge)) == 3


def test_compose_is_used_within_the_stores_limits() -> None:
    runs = [Run(i, i + 1, 0, 64) for i in range(16)]
    merge = plan(runs, fan_in=16)
    assert merge is not None
    assert composable(runs, merge) == 1024
    assert composable([*runs, Run(16, 17)], Merge(0, 0, 17, 1)) is None  # 1,025 components
    assert composable([Run(i, i + 1) for i in range(33)], Merge(0, 0, 33, 1)) is None  # 33 sources


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 5000), min_size=1, max_size=400),
    st.integers(2, 20),
    st.integers(1, 12),
)
def test_runs_stay_consecutive_bounded_and_cheap(sizes: list[int], fan_in: int, keep: int) -> None:
    runs, written, _ = simulate(sizes, fan_in)
    log = sum(sizes)
    assert runs[0].start == 0
    assert runs[-1].end == log
    assert all(a.end == b.start for a, b in itertools.pairwise(runs))
    assert all(a.level >= b.level for a, b in itertools.pairwise(runs))
    levels = max(r.level for r in runs)
    assert len(runs) <= (fan_in - 1) * levels + fan_in - 1
    assert written <= (1 + levels) * log
    final = plan_final(runs, keep=keep)
    if final is not None:
        check_merge(runs, final)
        assert len(apply(runs, final)) == keep
