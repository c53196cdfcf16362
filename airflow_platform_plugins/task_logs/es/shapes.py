"""Turn a stored document, in any of the shapes users have, into an Airflow log line (pure).

Shapes read without re-indexing:

- this package's documents, written to stdout and shipped by Fluentd (the line parsed out of the
  container runtime's ``log`` field, ``kubernetes``/``docker`` metadata added) or Fluent Bit
  (``Merge_Log``: the line's fields at the top, ``kubernetes.host`` …), or indexed directly;
- the elasticsearch provider's ``write_stdout`` / ``write_to_es`` documents (Airflow's line plus
  ``log_id`` and ``offset``; a line that was not JSON as ``message`` with ``unparsed``);
- Airflow 2 ``json_format`` documents (``asctime``, ``levelname``, ``message``, ``filename``,
  ``lineno`` …).

The result has the keys of Airflow's own line (``timestamp``, ``level``, ``event``, ``logger`` and the
line's other keys) and none of the writers' or shippers' additions, so a line read from Elasticsearch
equals the same line read from the worker's file, and Airflow shows it once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from airflow_platform_plugins.task_logs.es.documents import OVERFLOW_FIELD

# Fields that writers (this package, the provider, Airflow 2) and shippers add to Airflow's line.
ADDED_FIELDS = frozenset(
    {
        "@timestamp",
        "@version",
        "asctime",
        "levelname",
        "message",
        "log_id",
        "ti_id",
        "dag_id",
        "task_id",
        "run_id",
        "map_index",
        "try_number",
        "execution_date",
        "logical_date",
        "unparsed",
        "log",
        "stream",
        "_p",
        "time",
        "kubernetes",
        "docker",
        "tag",
        "ingest_time",
        "airflow_fields",
    }
)
TEXT_FIELDS = ["log", "message"]
"""Where a shipper that did not parse the JSON line keeps it."""
# Sent back by Elasticsearch only if asked for: excluded from ``_source`` when searching.
SHIPPER_FIELDS = ("kubernetes", "docker", "stream", "_p", "tag", "@version", "ingest_time")
IDENTITY_FIELDS = (
    "log_id",
    "ti_id",
    "dag_id",
    "task_id",
    "run_id",
    "map_index",
    "try_number",
    "execution_date",
)
# What the reader gets back (identity, host and offset excluded) of this package's document of a
# line with no other fields.
_PLAIN = frozenset({"@timestamp", "level", "event", "message", "logger"})
_OFFSET_TZ_RE = re.compile(r"([+-]\d\d)(\d\d)$")
_SPACE_DATE_RE = re.compile(r"^(\d{4}-\d\d-\d\d) (\d)")


def source_excludes(host_field: str, offset_field: str) -> list[str]:
    """``_source`` fields a reader never needs: identity, shipper metadata, host and offset."""
    return [*IDENTITY_FIELDS, *SHIPPER_FIELDS, host_field, offset_field]


def iso_timestamp(value: Any) -> Any:
    """``2024-01-01 00:00:00,123+0000`` (Python logging, Airflow 2) as ISO 8601 Airflow can parse."""
    if not isinstance(value, str):
        return value
    text = value.replace(",", ".", 1) if "," in value else value
    text = _SPACE_DATE_RE.sub(r"\1T\2", text)
    return _OFFSET_TZ_RE.sub(r"\1:\2", text)


class Normaliser:
    """Stored documents -> Airflow log lines, for one reader's field names."""

    def __init__(self, *, host_field: str = "host", offset_field: str = "offset") -> None:
        roots = {host_field.split(".", 1)[0], offset_field.split(".", 1)[0]}
        self._drop = ADDED_FIELDS | roots

    def line(self, source: dict[str, Any]) -> dict[str, Any]:
        """The Airflow log line that ``source`` stores."""
        if source.keys() == _PLAIN:  # this package's document of a plain line: the common case
            return {
                "timestamp": source["@timestamp"],
                "level": source["level"],
                "event": source["event"],
                "logger": source["logger"],
            }
        get = source.get
        timestamp = get("timestamp")
        if timestamp is None:
            timestamp = get("@timestamp")
            if timestamp is None:
                timestamp = get("asctime")
            if timestamp.__class__ is str and not timestamp.endswith("Z"):
                timestamp = iso_timestamp(timestamp)
        out: dict[str, Any] = {} if timestamp is None else {"timestamp": timestamp}
        level = get("level")
        if level is None:
            levelname = get("levelname")
            if levelname.__class__ is str:
                out["level"] = levelname.lower()
        else:
            out["level"] = level
        event = get("event")
        if event is None:
            event = get("message")
            if event is None:
                raw = get("log")
                event = raw.rstrip("\n") if raw.__class__ is str else ""
        out["event"] = event if event.__class__ is str else str(event)
        drop = self._drop
        for key, value in source.items():
            if key not in drop and key not in out:
                out[key] = value
        return out

    def lines(self, sources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`line` for each source."""
        return [self.line(source) for source in sources]


def merge_overflow(source: dict[str, Any]) -> None:
    """Put back the fields that ``write_to_es`` kept as text because the index refused them."""
    try:
        extra = json.loads(source.pop(OVERFLOW_FIELD))
    except (TypeError, ValueError):
        return
    if isinstance(extra, dict):
        for key, value in extra.items():
            source.setdefault(key, value)


def plain_line(normaliser: Normaliser, source: dict[str, Any], log_id: str) -> dict[str, Any] | None:
    """The line of a document without a usable offset; ``None`` if it is another log's."""
    if "log_id" in source and source["log_id"] != log_id:
        return None
    if OVERFLOW_FIELD in source:
        merge_overflow(source)
    return normaliser.line(source)


def text_line(normaliser: Normaliser, source: dict[str, Any], log_id: str) -> dict[str, Any] | None:
    """A document whose line is only text (``log``/``message``): parsed back if it is this log's."""
    for name in TEXT_FIELDS:
        raw = source.get(name)
        if not isinstance(raw, str) or log_id not in raw:
            continue
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            if parsed.get("log_id") != log_id:
                return None
            for key in ("@timestamp", "time"):
                if key in source and "timestamp" not in parsed and "@timestamp" not in parsed:
                    parsed["@timestamp"] = source[key]
            return normaliser.line(parsed)
        return {"timestamp": source.get("@timestamp") or source.get("time"), "event": raw.rstrip("\n")}
    return None


class OrderedLines:
    """The ordered stream's documents as JSON lines: checked, shown once, and counted (pure).

    A document at the same offset as the one before with the same content was sent twice and is
    shown once; with other content, two writers shared offsets and both are shown. ``check`` drops
    documents of other logs that an analysed ``log_id`` search matched.
    """

    def __init__(self, normaliser: Normaliser, log_id: str, *, check: bool) -> None:
        self._line = normaliser.line
        self._encode = msgspec.json.Encoder().encode
        self._log_id = log_id
        self._check = check
        self.identical = 0
        self.shared = 0
        self.last_offset: Any = None
        self._last_text = ""
        self.last_timestamp: Any = None

    def text(self, hit: dict[str, Any]) -> str | None:
        """The JSON line of ``hit``, or ``None`` when it is not shown."""
        source = hit["_source"]
        if self._check and source.get("log_id") != self._log_id:
            return None
        if OVERFLOW_FIELD in source:
            merge_overflow(source)
        line = self._line(source)
        text = self._encode(line).decode("utf-8", "replace")
        offset = hit["sort"][0]
        if offset == self.last_offset:
            if text == self._last_text:
                self.identical += 1
                return None
            self.shared += 1
        self.last_offset, self._last_text = offset, text
        self.last_timestamp = line.get("timestamp", self.last_timestamp)
        return text

    def notices(self) -> list[str]:
        """What to tell the reader at the end of the stream."""
        out = []
        if self.identical:
            out.append(
                f"{self.identical} documents repeated another document of this log (same offset and "
                "content, a shipper sent them twice); each line is shown once"
            )
        if self.shared:
            out.append(
                f"{self.shared} documents share their offset with a different document of this log (two "
                "writers used the same offsets); all are shown, in the order Elasticsearch returned them"
            )
        return out
