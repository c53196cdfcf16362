"""structlog: ``BytesLogger._file`` is the file the supervisor's logger writes (the processor's key), and
``msg`` writes through ``_write`` then ``_flush`` (replaced to survive a full disk)."""

from __future__ import annotations

from pathlib import Path

import structlog

from airflow_platform_plugins.task_logs.common._structlog import logger_file, survive_full_disk


def test_the_file_of_a_bytes_logger_is_the_open_file_it_writes(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    with open(path, "ab") as f:
        logger = structlog.BytesLogger(f)
        assert logger_file(logger) is f
        logger.msg(b"one line")
        assert logger_file(logger).name == str(path)
        assert logger_file(logger).tell() == len(b"one line\n"), "the writer's position: how far it wrote"


def test_a_logger_without_a_file_has_none() -> None:
    assert logger_file(object()) is None


def test_a_bytes_logger_writes_each_line_through_its_write_and_flush_attributes(tmp_path: Path) -> None:
    """``survive_full_disk`` replaces ``_write`` and ``_flush``: ``msg`` must call them, in that order."""
    calls: list[object] = []
    with open(tmp_path / "attempt=1.log", "ab") as f:
        logger = structlog.BytesLogger(f)
        logger._write = calls.append
        logger._flush = lambda: calls.append("flush")
        logger.msg(b"one line")
    assert calls == [b"one line\n", "flush"]


def test_survive_full_disk_writes_the_same_bytes_as_the_logger_did(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    with open(path, "ab") as f:
        logger = structlog.BytesLogger(f)
        logger.msg(b"before")
        survive_full_disk(logger, lambda *_: None)
        logger.msg(b"after")
        assert logger_file(logger).tell() == len(b"before\nafter\n")
    assert path.read_bytes() == b"before\nafter\n"
