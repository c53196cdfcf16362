"""Which local files are task logs, and the path Airflow uses for them under ``base_log_folder``."""

from __future__ import annotations

import os
from pathlib import PurePosixPath


class LogFolder:
    """``[logging] base_log_folder``, minus the folders of other components' logs (the dag-processor's)."""

    def __init__(self, base_log_folder: str, excluded_dirs: tuple[str, ...] = ()) -> None:
        self.path = os.path.abspath(os.path.expanduser(base_log_folder))
        self._real = os.path.realpath(self.path)
        self._excluded = tuple(os.path.abspath(d) + os.sep for d in excluded_dirs)

    def relative_path(self, path: str) -> str | None:
        """``path`` relative to the folder as Airflow derives it; ``None`` if it is not a task log there.

        A path that leaves the folder through a symlink is not one.
        """
        absolute = os.path.abspath(path)
        if not absolute.startswith(self.path + os.sep) or absolute.startswith(self._excluded):
            return None
        if not os.path.realpath(absolute).startswith(self._real + os.sep):
            return None
        # Airflow derives relative paths lexically (pathlib keeps ".."), so derive ours the same way.
        try:
            return PurePosixPath(path).relative_to(self.path).as_posix()
        except ValueError:
            return None
