"""What every backend's Airflow ``RemoteLogIO`` shares: ``upload``'s path handling and ``read``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)


class RemoteLogIOBase:
    """Airflow 3's ``RemoteLogIO``/``RemoteLogStreamIO`` around a backend's ``finish`` and ``stream``.

    ``upload`` (the end of a try, a poke, or the part before a deferral) resolves the path Airflow
    gives against ``base_log_folder`` and calls :meth:`finish`, and never raises: a failure is logged
    and the local copy is kept. ``read`` joins what :meth:`stream` yields (Airflow prefers ``stream``,
    which keeps memory bounded).
    """

    base_log_folder: str
    """Absolute ``[logging] base_log_folder``."""
    destination = "the remote store"
    """Where logs go, for the message when ``upload`` fails."""

    def local_path(self, path: os.PathLike[str] | str) -> str:
        """``path`` as an absolute path (Airflow passes it relative to ``base_log_folder``, or absolute)."""
        path = os.fspath(path)
        return path if os.path.isabs(path) else os.path.join(self.base_log_folder, path)

    def finish(self, path: str) -> None:
        """Ship the rest of the log at absolute ``path`` and wait for it (bounded)."""
        raise NotImplementedError

    def upload(self, path: os.PathLike[str] | str, ti: Any = None) -> None:
        """Ship the rest of a try's log and wait for it (bounded); never raises."""
        try:
            self.finish(self.local_path(path))
        except FileNotFoundError:
            pass  # nothing left to ship
        except Exception:
            log.exception("Writing task log %s to %s failed; the local copy is kept", path, self.destination)

    def stream(self, relative_path: str, ti: Any = None) -> tuple[list[str], Sequence[Iterator[str]]]:
        """Line iterators for each part of the log, for the api-server's streaming reader.

        Each must be a generator or an ``itertools.chain`` (in a list): Airflow's ``FileTaskHandler``
        takes only those types (and ``islice``) as streams.
        """
        raise NotImplementedError

    def read(self, relative_path: str, ti: Any = None) -> tuple[list[str], list[str] | None]:
        """Whole log parts as strings (Airflow prefers :meth:`stream`, which keeps memory bounded)."""
        sources, streams = self.stream(relative_path, ti)
        if not streams:
            return sources, None
        return sources, ["\n".join(stream) for stream in streams]
