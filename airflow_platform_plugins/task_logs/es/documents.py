"""Turn a line of a try's local log into the Elasticsearch document that carries it (pure).

A document is Airflow's own JSON line (``level``, ``event``, ``logger``, ``chan``, ``error_detail`` and
whatever else the line holds) with ``timestamp`` renamed to ``@timestamp``, plus:

- ``message``: the ``event`` again, for Kibana and for readers of Airflow 2 documents;
- ``log_id`` and the offset field (``[elasticsearch] offset_field``): which log, and where in it;
- the host field (``[elasticsearch] host_field``): the host that wrote the line;
- ``dag_id``, ``task_id``, ``run_id``, ``map_index``, ``try_number``: for filtering in Kibana.

Dotted field names (``log.offset``, ``host.name``) become nested objects, as Elasticsearch maps them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from airflow_platform_plugins.task_logs.es.identity import TryIdentity

TIMESTAMP = "@timestamp"
RESERVED = ("message", "log_id", "dag_id", "task_id", "run_id", "map_index", "try_number", TIMESTAMP)
OVERFLOW_FIELD = "airflow_fields"
"""Where ``write_to_es`` keeps, as JSON text, the fields an index refused to map."""


def set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``doc[a][b] = value`` for ``dotted = "a.b"`` (creating or replacing objects on the way)."""
    *parents, last = dotted.split(".")
    for name in parents:
        child = doc.get(name)
        if not isinstance(child, dict):
            child = doc[name] = {}
        doc = child
    doc[last] = value


def get_path(doc: dict[str, Any], dotted: str) -> Any:
    """``doc["a"]["b"]`` or ``doc["a.b"]`` for ``dotted = "a.b"``; ``None`` if absent."""
    if dotted in doc:
        return doc[dotted]
    value: Any = doc
    for name in dotted.split("."):
        if not isinstance(value, dict) or name not in value:
            return None
        value = value[name]
    return value


def parse_line(line: bytes) -> dict[str, Any]:
    """Airflow's JSON line as a dict; a line that is not a JSON object becomes its text as ``event``."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    return {"event": text, "unparsed": True}


def now_iso() -> str:
    """The current UTC time as Airflow writes timestamps."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def json_fields(raw: str) -> tuple[str, ...]:
    """``[elasticsearch] json_fields`` as field names."""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


class DocumentBuilder:
    """Builds the documents of one try's log.

    With ``json_fields`` (``[elasticsearch] json_format`` on), a document also gets the provider JSON
    formatter's ``asctime`` and ``levelname``; the line's own fields (``filename``, ``lineno`` ...)
    are in every document anyway.
    """

    def __init__(
        self,
        *,
        identity: TryIdentity,
        log_id: str,
        host: str,
        offset_field: str,
        host_field: str,
        json_fields: tuple[str, ...] = (),
    ) -> None:
        self.log_id = log_id
        self._asctime = "asctime" in json_fields
        self._levelname = "levelname" in json_fields
        self.offset_field = offset_field
        self.host_field = host_field
        self._fields = {"log_id": log_id, **identity.fields()}
        self._host = host
        self._last_timestamp: str | None = None

    def build(self, line: bytes, offset: int) -> dict[str, Any]:
        """The document for ``line`` at ``offset``."""
        doc = parse_line(line)
        timestamp = doc.pop("timestamp", None)
        if not isinstance(timestamp, str) or not timestamp:
            timestamp = self._last_timestamp or now_iso()
        self._last_timestamp = timestamp
        event = doc.get("event")
        if event is None and isinstance(doc.get("message"), str):
            event = doc["event"] = doc["message"]
        doc[TIMESTAMP] = timestamp
        doc["message"] = event if isinstance(event, str) else json.dumps(event, default=str)
        if self._asctime:
            doc.setdefault("asctime", timestamp)
        if self._levelname and isinstance(doc.get("level"), str):
            doc.setdefault("levelname", doc["level"].upper())
        doc.update(self._fields)
        set_path(doc, self.offset_field, offset)
        set_path(doc, self.host_field, self._host)
        return doc


def document_id(log_id: str, offset: int) -> str:
    """A stable ``_id`` for the line at ``offset`` of ``log_id``: a retried write finds its document."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(log_id.encode("utf-8", "surrogatepass")).digest()[:18])
    return f"{digest.decode()}-{offset}"


def to_json_line(doc: dict[str, Any]) -> bytes:
    """One compact JSON line, UTF-8, ending in a newline."""
    return (
        json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "replace")
        + b"\n"
    )
