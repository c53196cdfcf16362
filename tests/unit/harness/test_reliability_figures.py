"""The reliability suite's counting: lost, duplicated, out of order, never written."""

from __future__ import annotations

from tests.reliability.figures import Tally, merge, table


def test_a_complete_log_counts_nothing_even_with_repeated_texts() -> None:
    tally = Tally("s", "b")
    assert tally.add_log(["a", "report", "b", "report"], ["a", "report", "b", "report"]) == (0, 0, 0)
    assert tally.unexpected == 0


def test_lost_duplicated_disordered_and_unexpected_lines_are_counted() -> None:
    tally = Tally("s", "b")
    assert tally.add_log(["a", "b", "c", "d"], ["b", "a", "a", "c", "x"]) == (1, 1, 1)
    assert tally.unexpected == 1


def test_tallies_of_one_scenario_and_backend_are_merged_into_one_row() -> None:
    one, two = Tally("s", "b", runs=2, max_seconds_lost=0.5), Tally("s", "b", runs=3, max_seconds_lost=0.2)
    one.note("n")
    (merged,) = merge([one, two])
    assert (merged.runs, merged.max_seconds_lost, merged.notes) == (5, 0.5, ["n"])
    assert "| s | b | 5 |" in table([one, two])
