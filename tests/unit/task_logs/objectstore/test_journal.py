"""The on-disk journal of logs whose final upload did not complete."""

from __future__ import annotations

from pathlib import Path

from airflow_platform_plugins.task_logs.objectstore.journal import JOURNAL_DIR, PendingJournal

REL = "dag_id=d/run_id=r/task_id=t/attempt=1.log"


def test_added_paths_are_listed_until_removed_and_survive_a_new_instance(tmp_path: Path) -> None:
    journal = PendingJournal(str(tmp_path))
    assert list(journal) == []
    journal.add(REL)
    journal.add(REL)  # repeated adds are one entry
    journal.add("other.log")
    assert sorted(PendingJournal(str(tmp_path))) == sorted([REL, "other.log"])
    journal.remove(REL)
    journal.remove(REL)  # removing twice is harmless
    assert list(journal) == ["other.log"]


def test_half_written_entries_are_not_listed(tmp_path: Path) -> None:
    journal = PendingJournal(str(tmp_path))
    journal.add(REL)
    (tmp_path / JOURNAL_DIR / "abc.123.tmp").write_text("half")
    assert list(journal) == [REL]


def test_paths_that_are_not_utf8_round_trip(tmp_path: Path) -> None:
    journal = PendingJournal(str(tmp_path))
    odd = "dag_id=d/run_id=\udcff/attempt=1.log"  # a surrogate-escaped byte from os.listdir
    journal.add(odd)
    assert list(journal) == [odd]
