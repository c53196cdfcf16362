"""The two private parts of Airflow's FAB auth manager that sign-on relies on, each behind one function.

``tests/contract/test_fab_internals.py`` fails loudly when a provider release moves either:

- ``FabAuthManager.cache``: the class-level TTL cache behind ``deserialize_user`` (keyed by user id),
  from which a user whose roles changed must be dropped, or Airflow's own tokens keep the old roles
  for ``[fab] cache_ttl``.
- ``FabAuthManager.security_manager``: a ``functools.cached_property``; reading the instance's
  ``__dict__`` tells whether it was built without building it (building it outside the api-server's
  start-up would create a second Flask app).
"""

from __future__ import annotations

from typing import Any


def forget_cached_user(user_id: int) -> None:
    """Drop the auth manager's cached copy of a user (Airflow's own tokens resolve it again).

    That cache is not thread-safe and is read on the event loop, so the entry is dropped there when
    called from a worker thread of the loop.
    """
    import anyio.from_thread
    from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager

    try:
        anyio.from_thread.run_sync(FabAuthManager.cache.pop, user_id, None)
    except RuntimeError:  # not called from an event loop's worker thread
        FabAuthManager.cache.pop(user_id, None)


def built_security_manager(manager: Any) -> Any | None:
    """The auth manager's security manager if it was built already, else ``None`` (never builds it)."""
    security_manager = manager.__dict__.get("security_manager")
    if security_manager is None:
        security_manager = getattr(getattr(manager, "appbuilder", None), "sm", None)
    return security_manager
