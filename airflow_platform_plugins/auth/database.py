"""A 503 instead of Airflow's 500 while the metadata database cannot be reached.

Airflow's api-server answers every SQLAlchemy error with ``500 Database error``. While the database
restarts or fails over, that tells clients and load balancers the wrong thing: the request was
fine and is worth retrying. A SQLAlchemy ``handle_error`` listener marks the request whose database
call failed for want of a connection (connecting failed, or the server dropped the connection); the
middleware then answers that request's 500 with ``503`` and ``Retry-After``. Any other database
error stays Airflow's 500.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from airflow_platform_plugins.auth import metrics

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

RETRY_AFTER_SECONDS = 5
REASON = "the Airflow metadata database cannot be reached; retry shortly"

_marks: ContextVar[list[str] | None] = ContextVar("airflow_platform_plugins_db_marks", default=None)
_installing = threading.Lock()


def unreachable(*, connecting: bool, is_disconnect: bool) -> bool:
    """Whether a database error means the server cannot be reached (pure)."""
    return connecting or is_disconnect


def _on_error(context: Any) -> None:
    marks = _marks.get()
    if marks is not None and unreachable(
        connecting=context.connection is None, is_disconnect=bool(context.is_disconnect)
    ):
        marks.append(type(context.original_exception).__name__)


def install_listener() -> None:
    """Listen to every SQLAlchemy engine's errors in this process (once)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    with _installing:
        if not event.contains(Engine, "handle_error", _on_error):
            event.listen(Engine, "handle_error", _on_error)


def watch() -> tuple[list[str], Any]:
    """Start marking this request's connection failures: the marks, and a token for :func:`unwatch`.

    The marks are a list shared with the threads the request runs in (they get a copy of this
    context, which holds the same list).
    """
    marks: list[str] = []
    return marks, _marks.set(marks)


def unwatch(token: Any) -> None:
    """Stop marking (the request is over)."""
    _marks.reset(token)


def answer_503_when_unreachable(send: Send, marks: list[str]) -> Send:
    """``send``, with a 500 replaced by a 503 when ``marks`` says the database was unreachable."""
    replaced = False

    async def wrapped(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and message.get("status") == 500 and marks:
            replaced = True
            metrics.incr("database_unavailable")
            body = json.dumps({"detail": REASON}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if replaced and message["type"] == "http.response.body":
            return  # the body of the 500 that was replaced
        await send(message)

    return wrapped
