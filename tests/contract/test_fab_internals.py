"""Contracts with the FAB provider's private parts that sign-on uses (auth/fab_internals.py).

Each test fails, naming what moved, when an Airflow or FAB provider release changes one of them.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager


def test_deserialize_user_reads_through_the_class_cache_keyed_by_user_id() -> None:
    """If this fails, a user whose roles changed keeps the old ones in Airflow's own tokens."""
    from airflow_platform_plugins.auth.fab_internals import forget_cached_user

    assert hasattr(FabAuthManager, "cache"), "FabAuthManager.cache is gone: update auth/fab_internals.py"
    sentinel = object()
    user_id = 987_654_321
    FabAuthManager.cache[user_id] = sentinel
    manager = FabAuthManager.__new__(FabAuthManager)  # deserialize_user must not need more than the cache
    try:
        assert manager.deserialize_user({"sub": str(user_id)}) is sentinel, (
            "FabAuthManager.deserialize_user no longer reads FabAuthManager.cache by int(sub)"
        )
        forget_cached_user(user_id)
        assert user_id not in FabAuthManager.cache
    finally:
        FabAuthManager.cache.pop(user_id, None)


def test_security_manager_is_a_cached_property_stored_in_the_instance_dict() -> None:
    """If this fails, the middleware cannot find the security manager without building a second one."""
    from airflow_platform_plugins.auth.fab_internals import built_security_manager

    attribute = FabAuthManager.__dict__.get("security_manager")
    assert isinstance(attribute, cached_property), "FabAuthManager.security_manager is no cached_property"
    assert attribute.attrname == "security_manager"
    manager: Any = FabAuthManager.__new__(FabAuthManager)
    assert built_security_manager(manager) is None  # not built, and reading did not build it
    assert "security_manager" not in manager.__dict__
    marker = object()
    manager.__dict__["security_manager"] = marker
    assert manager.security_manager is marker
    assert built_security_manager(manager) is marker
