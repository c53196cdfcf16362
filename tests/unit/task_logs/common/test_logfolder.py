"""Which files are task logs under base_log_folder, and their relative paths as Airflow derives them."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_platform_plugins.task_logs.common.logfolder import LogFolder


def test_a_task_log_gets_airflows_relative_path(tmp_path: Path) -> None:
    folder = LogFolder(str(tmp_path))
    path = tmp_path / "dag_id=d" / "run_id=r" / "task_id=t" / "attempt=1.log"
    assert folder.relative_path(str(path)) == "dag_id=d/run_id=r/task_id=t/attempt=1.log"
    assert folder.relative_path(str(tmp_path / "d" / "x" / ".." / "a.log")) == "d/x/../a.log"


def test_files_outside_excluded_or_behind_a_symlink_are_not_task_logs(tmp_path: Path) -> None:
    base, outside = tmp_path / "logs", tmp_path / "elsewhere"
    base.mkdir()
    outside.mkdir()
    os.symlink(outside, base / "link")
    folder = LogFolder(str(base), excluded_dirs=(str(base / "dag_processor"),))
    assert folder.relative_path(str(outside / "a.log")) is None
    assert folder.relative_path(str(base / ".." / "elsewhere" / "a.log")) is None
    assert folder.relative_path(str(base / "link" / "a.log")) is None
    assert folder.relative_path(str(base / "dag_processor" / "2024" / "f.py.log")) is None
    assert folder.relative_path(str(base)) is None
