"""Which try a log file belongs to, and its ``log_id`` (pure).

Airflow names a try's log ``dag_id=…/run_id=…/task_id=…/[map_index=N/]attempt=N.log`` under
``[logging] base_log_folder`` (and the triggerer's part ``…attempt=N.log.trigger.J.log``). Lines the
supervisor writes do not carry the try's ids, so the writer takes them from this path; the reader
gets the same path from Airflow.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from airflow_platform_plugins.options import ES_LOG_ID_TEMPLATE, ConfigError

_PATH_RE = re.compile(
    r"^dag_id=(?P<dag_id>[^/]+)/run_id=(?P<run_id>.+)/task_id=(?P<task_id>[^/]+)/"
    r"(?:map_index=(?P<map_index>-?\d+)/)?attempt=(?P<try_number>\d+)\.log"
    r"(?:\.trigger\.(?P<trigger>\d+)\.log)?$"
)
FIELDS = ("dag_id", "task_id", "run_id", "map_index", "try_number")


@dataclass(frozen=True)
class TryIdentity:
    """The task instance try a log belongs to."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int

    def fields(self) -> dict[str, Any]:
        """The ids as document fields."""
        return {
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "map_index": self.map_index,
            "try_number": self.try_number,
        }


def parse_relative_path(relative_path: str) -> TryIdentity | None:
    """The try of a path in Airflow's default ``log_filename_template`` layout; ``None`` otherwise."""
    match = _PATH_RE.match(relative_path)
    if match is None:
        return None
    map_index = match["map_index"]
    return TryIdentity(
        dag_id=match["dag_id"],
        task_id=match["task_id"],
        run_id=match["run_id"],
        map_index=int(map_index) if map_index is not None else -1,
        try_number=int(match["try_number"]),
    )


def identity_of(ti: Any, try_number: int | None = None) -> TryIdentity:
    """The try of an Airflow task instance (any object with its ids), for ``try_number`` or its own."""
    map_index = getattr(ti, "map_index", -1)
    return TryIdentity(
        dag_id=str(ti.dag_id),
        task_id=str(ti.task_id),
        run_id=str(getattr(ti, "run_id", "")),
        map_index=int(map_index if map_index is not None else -1),
        try_number=int(try_number if try_number is not None else ti.try_number),
    )


class LogIdTemplate:
    """``[elasticsearch] log_id_template``, checked once: only the five ids may appear in it."""

    def __init__(self, template: str) -> None:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        except ValueError as exc:
            raise ConfigError(
                f"{ES_LOG_ID_TEMPLATE.name} = {template!r} is not a format string: {exc}"
            ) from None
        unknown = sorted(names - set(FIELDS))
        if unknown or not names:
            raise ConfigError(
                f"{ES_LOG_ID_TEMPLATE.name} = {template!r} may use only {{{'}, {'.join(FIELDS)}}}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            )
        self.template = template

    def render(self, identity: TryIdentity) -> str:
        """The ``log_id`` of ``identity``."""
        return self.template.format(**identity.fields())
