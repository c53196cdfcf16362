"""Where the supported Airflow versions (3.2 and 3.3) differ, handled in this one module.

Each difference is detected from what the installed Airflow provides, never from its version number,
and the rest of the package calls the functions here instead of checking a version.

- **A user authenticated by a middleware** (sign-on). Airflow 3.3's ``get_user()`` takes an explicit
  ``Authorization: Bearer`` token first, and honours ``request.state.user`` only next to its trust
  marker ``USER_INJECTED_BY_TRUSTED_MIDDLEWARE``. Airflow 3.2 has no marker and takes
  ``request.state.user`` before any token. :func:`hand_user_to_airflow` gives both the 3.3 behaviour.
- **Metrics.** Airflow 3.3's ``airflow.observability.stats`` module has ``incr`` and ``timing``
  functions; Airflow 3.2's exports only its ``Stats`` class, which has them. :func:`airflow_stats`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["airflow_stats", "hand_user_to_airflow", "trusted_user_marker"]


def airflow_stats() -> Any:
    """Airflow's metrics API, the object whose ``incr`` and ``timing`` send to ``[metrics]``.

    The ``airflow.observability.stats`` module (3.3), or its ``Stats`` class where the module has no
    ``incr`` (3.2). Raises ``ImportError`` without Airflow.
    """
    module = importlib.import_module("airflow.observability.stats")
    return module if hasattr(module, "incr") else module.Stats


@functools.cache
def trusted_user_marker() -> object | None:
    """The marker Airflow's ``get_user()`` requires next to a middleware's user; ``None`` on 3.2.

    Airflow 3.3 honours ``request.state.user`` only when ``request.state.user_authenticated_via`` is
    this marker; Airflow 3.2 honours ``request.state.user`` alone.
    """
    from airflow.api_fastapi.core_api import security

    return getattr(security, "USER_INJECTED_BY_TRUSTED_MIDDLEWARE", None)


def hand_user_to_airflow(scope: MutableMapping[str, Any], user: Any, marker: object | None) -> None:
    """Make ``user`` the one Airflow's ``get_user()`` returns for this ASGI request.

    Unless the request carries Airflow's own ``Authorization: Bearer`` token: that wins, as Airflow 3.3
    decides.

    ``marker`` is :func:`trusted_user_marker`. Without one (Airflow 3.2) ``get_user()`` would take
    ``request.state.user`` before a bearer token, so a request that carries one is left to Airflow.
    """
    if marker is None and _has_bearer_token(scope.get("headers", ())):
        return
    state = scope.setdefault("state", {})
    state["user"] = user
    state["user_authenticated_via"] = marker


def _has_bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the first ``Authorization`` header is ``Bearer <token>``.

    Read as FastAPI's ``HTTPBearer`` reads it: the scheme in any case, a non-empty token.
    """
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and bool(token.strip())
    return False
