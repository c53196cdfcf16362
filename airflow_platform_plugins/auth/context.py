"""The user the middleware authenticated for the current request, for the FAB Flask pages.

The FAB Flask app under ``/auth`` runs inside the same request (Starlette runs WSGI in a worker
thread with the request's context variables), so it reads the identity from here instead of
parsing the header a second time. Nothing a client sends can set this variable.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

proxy_user: ContextVar[Any] = ContextVar("airflow_platform_plugins_proxy_user", default=None)


class MiddlewareState:
    """Whether this process built the middleware (the login page explains when it did not)."""

    installed = False
