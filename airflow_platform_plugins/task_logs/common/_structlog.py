"""The one private structlog attribute the package reads; its contract test is tests/contract.

Airflow's supervisor writes each try's log through a ``structlog.BytesLogger``; the file it writes is
``BytesLogger._file`` (no public accessor). Its ``name`` says which try a line belongs to, and its
``tell()`` how far this process has written.
"""

from __future__ import annotations

from typing import Any


def logger_file(logger: Any) -> Any:
    """The file a structlog ``BytesLogger``/``PrintLogger`` writes to; ``None`` for any other logger."""
    return getattr(logger, "_file", None)
