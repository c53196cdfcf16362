"""A shipper's tail input across a restart, as helm-values/ configure it.

Fluent Bit's tail input with ``DB`` keeps, for each file it reads, the offset it has read up to in a
SQLite table on the node (``in_tail_files``: name, offset, inode); with ``storage.type filesystem`` the
records it has read wait in chunk files under ``storage.path`` until the output has delivered them.
Fluentd's ``pos_file`` and ``<buffer> @type file`` do the same. On start, the shipper first delivers
the chunks it finds (the backlog), then goes on reading each file from the offset in the database.

:class:`TailInput` does this with the shipping harness's :class:`~tests.harness.shipping.FluentShipper`
as the output, and can stop dead at each point of its cycle (:data:`CRASH_POINTS`), as a killed
shipper would. Without a database it starts at the end of the file (``Read_from_Head Off``); without
filesystem storage its chunks live in memory only.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tests.harness.shipping import FluentShipper

# where in one read-buffer-deliver cycle a shipper can be killed
CHUNK_WRITTEN = "chunk written"  # the lines are in a chunk; the offset is not yet in the database
OFFSET_SAVED = "offset saved"  # the offset is in the database; the chunk is not delivered yet
DELIVERED = "delivered"  # the output indexed the chunk; it is not yet removed from storage
CRASH_POINTS = (CHUNK_WRITTEN, OFFSET_SAVED, DELIVERED)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS in_tail_files (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " offset INTEGER, inode INTEGER, created INTEGER, rotated INTEGER DEFAULT 0)"
)


class Crashed(Exception):
    """The shipper was killed at a crash point."""


class TailDB:
    """Fluent Bit's tail database: the offset read so far, per file name and inode."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with sqlite3.connect(path) as db:
            db.execute(SCHEMA)

    def offset(self, file: Path) -> int | None:
        inode = file.stat().st_ino
        with sqlite3.connect(self.path) as db:
            row = db.execute(
                "SELECT offset FROM in_tail_files WHERE name = ? AND inode = ?", (str(file), inode)
            ).fetchone()
        return None if row is None else int(row[0])

    def save(self, file: Path, offset: int) -> None:
        inode = file.stat().st_ino
        with sqlite3.connect(self.path) as db:
            updated = db.execute(
                "UPDATE in_tail_files SET offset = ? WHERE name = ? AND inode = ?", (offset, str(file), inode)
            ).rowcount
            if not updated:
                db.execute(
                    "INSERT INTO in_tail_files (name, offset, inode, created) VALUES (?, ?, ?, 0)",
                    (str(file), offset, inode),
                )


class ChunkStore:
    """``storage.path``: chunks of read records, on disk until delivered (``None``: memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: dict[str, bytes] = {}
        self._next = 0
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            existing = [int(p.stem) for p in path.glob("*.flb")]
            self._next = max(existing, default=-1) + 1

    def write(self, data: bytes) -> str:
        name = f"{self._next:08d}"
        self._next += 1
        if self.path is None:
            self._memory[name] = data
            return name
        tmp = self.path / f"{name}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(self.path / f"{name}.flb")
        return name

    def pending(self) -> list[tuple[str, bytes]]:
        if self.path is None:
            return sorted(self._memory.items())
        return [(p.stem, p.read_bytes()) for p in sorted(self.path.glob("*.flb"))]

    def remove(self, name: str) -> None:
        if self.path is None:
            del self._memory[name]
        else:
            (self.path / f"{name}.flb").unlink()


class TailInput:
    """Tail one container log file into ``shipper``, remembering progress as configured.

    The file holds the container runtime's records (one JSON object per line, see
    :meth:`FluentShipper.container_line`). ``crash_at`` kills the input at that point of the next cycle
    that has data to read; it is dead afterwards, as a killed process is.
    """

    def __init__(
        self,
        shipper: FluentShipper,
        file: Path,
        *,
        db: Path | None,
        storage: Path | None,
        crash_at: str | None = None,
    ) -> None:
        if crash_at not in (None, *CRASH_POINTS):
            raise ValueError(crash_at)
        self.shipper = shipper
        self.file = file
        self.db = TailDB(db) if db is not None else None
        self.chunks = ChunkStore(storage)
        self.crash_at = crash_at
        self.dead = False
        for name, data in self.chunks.pending():  # the backlog of the previous run
            self._deliver(name, data)
        saved = self.db.offset(file) if self.db is not None else None
        self.offset = saved if saved is not None else file.stat().st_size

    def _check(self, point: str) -> None:
        if self.crash_at == point:
            self.dead = True
            raise Crashed(point)

    def _deliver(self, name: str, data: bytes) -> None:
        self.shipper.ship_container_lines(data.split(b"\n"))
        self._check(DELIVERED)
        self.chunks.remove(name)

    def poll(self) -> int:
        """Read the complete lines appended since the last poll and deliver them; bytes consumed."""
        if self.dead:
            raise Crashed("the input was killed")
        with open(self.file, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return 0
        chunk = data[: end + 1]
        name = self.chunks.write(chunk)
        self._check(CHUNK_WRITTEN)
        self.offset += len(chunk)
        if self.db is not None:
            self.db.save(self.file, self.offset)
        self._check(OFFSET_SAVED)
        self._deliver(name, chunk)
        return len(chunk)
