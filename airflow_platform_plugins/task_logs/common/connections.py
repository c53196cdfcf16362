"""Look up the Airflow connection named by ``[logging] remote_log_conn_id`` (thin Airflow adapter)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionFields:
    """The parts of an Airflow connection that store clients use."""

    conn_id: str
    login: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def signature(self) -> tuple[Any, ...]:
        """Hashable identity: a client built from equal signatures is interchangeable."""
        return (
            self.login,
            self.password,
            self.host,
            self.port,
            self.schema,
            json.dumps(self.extra, sort_keys=True),
        )


class ConnectionNotFound(LookupError):
    """The configured connection is not defined anywhere Airflow looks."""


def lookup_connection(conn_id: str) -> ConnectionFields:
    """Return the connection ``conn_id`` as Airflow resolves it in this process.

    Airflow's resolution covers ``AIRFLOW_CONN_*`` variables (the task supervisor exposes the remote
    log connection that way while it sets up logging and uploads), secrets backends, and the metadata
    database in server processes. Raises :class:`ConnectionNotFound` if none has it.
    """
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:
        raise ConnectionNotFound(f"connection {conn_id!r} not found: {exc}") from None
    if conn is None:
        raise ConnectionNotFound(f"connection {conn_id!r} not found")
    extra: dict[str, Any] = {}
    if conn.extra:
        try:
            loaded = json.loads(conn.extra) if isinstance(conn.extra, str) else conn.extra
            extra = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            log.warning("Connection %r has an extra that is not JSON; ignoring it", conn_id)
    return ConnectionFields(
        conn_id=conn_id,
        login=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port,
        schema=conn.schema or None,
        extra=extra,
    )
