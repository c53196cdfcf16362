"""Remember, on local disk, logs whose final upload did not complete.

Any later process on the same host that ships logs (the next task, a restarted worker) finishes them.
An entry is a small file named after a hash of the log's relative path; its content is that path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator

JOURNAL_DIR = ".remote-log-pending"


class PendingJournal:
    """A directory of pending relative paths under ``[logging] base_log_folder``."""

    def __init__(self, base_log_folder: str) -> None:
        self.directory = os.path.join(base_log_folder, JOURNAL_DIR)

    def _entry(self, relative_path: str) -> str:
        digest = hashlib.sha256(relative_path.encode("utf-8", "surrogateescape")).hexdigest()
        return os.path.join(self.directory, digest[:32])

    def add(self, relative_path: str) -> None:
        """Record ``relative_path`` as pending (atomically; repeated adds are harmless)."""
        os.makedirs(self.directory, exist_ok=True)
        entry = self._entry(relative_path)
        tmp = f"{entry}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(relative_path)
        os.replace(tmp, entry)

    def remove(self, relative_path: str) -> None:
        """Forget ``relative_path``."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._entry(relative_path))

    def __iter__(self) -> Iterator[str]:
        """Yield the pending relative paths."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".tmp"):
                continue
            try:
                with open(
                    os.path.join(self.directory, name), encoding="utf-8", errors="surrogateescape"
                ) as f:
                    yield f.read()
            except FileNotFoundError:
                continue
