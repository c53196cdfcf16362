"""The full-disk writer: lines go straight to the descriptor; ENOSPC drops a line, never fails."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
import structlog

from airflow_platform_plugins.task_logs.common.diskwriter import DiskWriter
from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor


class FullDisk:
    """``os.write`` that accepts ``room`` more bytes, then fails with ENOSPC (the boundary faked)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, room: int) -> None:
        self.room = room
        real = os.write

        def write(fd: int, data: Any) -> int:
            if self.room <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            n = real(fd, bytes(data[: self.room]))
            self.room -= n
            return n

        monkeypatch.setattr(os, "write", write)


def test_lines_reach_the_file_at_once_and_in_order_after_what_the_buffer_held(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    with open(path, "ab") as f:
        f.write(b"buffered\n")
        writer = DiskWriter(f, lambda *_: None)
        writer(b"one\n")
        assert path.read_bytes() == b"buffered\none\n"
        assert f.tell() == len(b"buffered\none\n"), "the position the shipper reads stays right"


def test_a_full_disk_drops_lines_reports_once_and_ends_a_cut_line_when_room_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "attempt=1.log"
    reports: list[tuple[str, OSError]] = []
    with open(path, "ab") as f:
        writer = DiskWriter(f, lambda where, error: reports.append((where, error)))
        disk = FullDisk(monkeypatch, room=6)
        writer(b"first\n")  # 6 bytes: fits
        writer(b"second\n")  # nothing fits
        writer(b"third\n")
        assert writer.dropped == 2
        assert [(where, e.errno) for where, e in reports] == [(str(path), errno.ENOSPC)]
        disk.room = 3
        writer(b"fourth\n")  # cut short after "fou"
        disk.room = 100
        writer(b"fifth\n")
    assert path.read_bytes() == b"first\nfou\nfifth\n"
    assert writer.dropped == 3


def test_errors_other_than_a_full_disk_are_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "attempt=1.log", "ab") as f:
        writer = DiskWriter(f, lambda *_: None)

        def broken(fd: int, data: Any) -> int:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "write", broken)
        with pytest.raises(OSError, match="Input/output"):
            writer(b"line\n")


def test_a_report_that_fails_does_not_fail_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def report(where: str, error: OSError) -> None:
        raise OSError(errno.ENOSPC, "stderr is on the full disk too")

    with open(tmp_path / "attempt=1.log", "ab") as f:
        writer = DiskWriter(f, report)
        FullDisk(monkeypatch, room=0)
        writer(b"line\n")
    assert writer.dropped == 1


def test_the_processor_gives_a_file_logger_the_full_disk_writer_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tracker:
        def track(self, path: str, logger: Any = None) -> None:
            pass

    processor = ShippingProcessor(Tracker())
    path = tmp_path / "dag_id=d" / "attempt=1.log"
    path.parent.mkdir()
    with open(path, "ab") as f:
        logger = structlog.BytesLogger(f)
        processor(logger, "info", {})
        writer = logger._write
        assert isinstance(writer, DiskWriter)
        processor(logger, "info", {})
        assert logger._write is writer
        FullDisk(monkeypatch, room=0)
        logger.msg(b"dropped")
        logger.msg(b"dropped too")
    said = capsys.readouterr().err
    assert said.count("cannot write the task log") == 1
    assert f"No space left on device in the log folder {path.parent}" in said


def test_other_loggers_are_left_alone(tmp_path: Path) -> None:
    class Tracker:
        def track(self, path: str, logger: Any = None) -> None:
            pass

    path = tmp_path / "attempt=1.log"
    with open(path, "w") as f:
        logger = structlog.PrintLogger(f)
        ShippingProcessor(Tracker())(logger, "info", {})
        assert not isinstance(getattr(logger, "_write", None), DiskWriter)
        logger.msg("printed")
    assert path.read_text() == "printed\n"
