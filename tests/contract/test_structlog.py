"""structlog: ``BytesLogger._file`` is the file the supervisor's logger writes (the processor's key)."""

from __future__ import annotations

from pathlib import Path

import structlog

from airflow_platform_plugins.task_logs.common._structlog import logger_file


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
