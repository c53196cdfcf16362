"""FAB users from identities: created on first sight, updated when claims change, else untouched.

Unchanged users are served from memory.

- **One row.** Concurrent first requests in one process are serialised per username; across
  processes the database's unique username decides, and the loser reads the winner's row.
- **Writes only on change.** Name, email and roles are compared with the row; equal means no write
  (no login statistics either: those would write on every request).
- **Cache.** A user whose identity (all claims used and the granted roles) is unchanged is served
  from memory for ``ttl`` seconds; any change of claims misses the cache and syncs.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_platform_plugins.auth import metrics
from airflow_platform_plugins.auth.errors import Forbidden, Unavailable
from airflow_platform_plugins.auth.identity import Identity, RolePolicy

log = logging.getLogger(__name__)

CACHE_SIZE = 10_000
_LOCK_STRIPES = 64
_ATTEMPTS = 4


@dataclass(frozen=True)
class _Entry:
    identity: Identity
    granted: frozenset[str]
    user: Any
    expires_at: float


class UserStore:
    """Create and update FAB ``User`` rows; a thin adapter over FAB's models and scoped session."""

    def __init__(
        self,
        flask_app: Any,
        session: Any,
        roles: RolePolicy,
        *,
        ttl: float,
        on_change: Callable[[int], None] = lambda user_id: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = flask_app
        self._session = session  # FAB's scoped session (thread-local)
        self._roles = roles
        self._ttl = ttl
        self._on_change = on_change
        self._clock = clock
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def cached(self, identity: Identity, granted: frozenset[str]) -> Any | None:
        """The user for an unchanged identity seen less than ``ttl`` ago; never blocks on I/O."""
        key = identity.username.lower()
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry.identity != identity or entry.granted != granted or entry.expires_at <= self._clock():
                return None
            self._cache.move_to_end(key)
            return entry.user

    def resolve(self, identity: Identity, granted: frozenset[str]) -> Any:
        """The user for this identity, created or updated as needed (blocking: database I/O)."""
        key = identity.username.lower()
        with self._stripes[hash(key) % _LOCK_STRIPES]:
            user = self.cached(identity, granted)
            if user is not None:
                return user
            with self._app.app_context():
                try:
                    user = self._sync(identity, granted)
                finally:
                    self._session.remove()
            if self._ttl > 0:
                with self._cache_lock:
                    self._cache[key] = _Entry(identity, granted, user, self._clock() + self._ttl)
                    self._cache.move_to_end(key)
                    while len(self._cache) > CACHE_SIZE:
                        self._cache.popitem(last=False)
            return user

    # -- database -----------------------------------------------------------------------------------

    def _sync(self, identity: Identity, granted: frozenset[str]) -> Any:
        from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

        session = self._session
        for attempt in range(_ATTEMPTS):
            try:
                return self._sync_once(session, identity, granted)
            except IntegrityError:
                # Another process created or changed the same user first (or took the email address
                # meanwhile): read again.
                session.rollback()
            except OperationalError:
                session.rollback()  # database locked or a deadlock: back off, then read again
                time.sleep(0.05 * (attempt + 1))
            except SQLAlchemyError as exc:
                session.rollback()
                log.exception("User sync for %r failed", identity.username)
                raise Unavailable("the user database is unavailable") from exc
        raise Unavailable("the user database is busy")

    def _sync_once(self, session: Any, identity: Identity, granted: frozenset[str]) -> Any:
        from airflow.providers.fab.auth_manager.models import Role, User
        from sqlalchemy import func, select
        from sqlalchemy.exc import MultipleResultsFound

        try:
            user = session.scalars(
                select(User).where(func.lower(User.username) == identity.username.lower())
            ).one_or_none()
        except MultipleResultsFound as exc:
            raise Forbidden("several Airflow users have this username") from exc
        current = frozenset(role.name for role in user.roles) if user is not None else frozenset()
        wanted = self._roles.target_roles(current, granted)
        found = {
            role.name: role for role in session.scalars(select(Role).where(Role.name.in_(wanted))).unique()
        }
        for name in sorted(wanted - found.keys()):
            log.warning(
                "Role %r (from AUTH_ROLES_MAPPING or AUTH_USER_REGISTRATION_ROLE) does not exist", name
            )
        if not found:
            raise Forbidden("the Airflow roles mapped to this identity do not exist")
        roles = [found[name] for name in sorted(found)]
        now = datetime.datetime.now()  # FAB stores naive local times in these columns
        if (
            identity.email
            and (user is None or user.email != identity.email)
            and self._email_taken(session, identity)
        ):
            raise Forbidden("this email address belongs to another Airflow user")

        if user is None:
            user = User()
            user.username = identity.username
            user.email = identity.email or f"{identity.username}@email.notfound"
            user.first_name = identity.first_name if identity.first_name is not None else identity.username
            user.last_name = identity.last_name or ""
            user.active = True
            user.password = None  # no password: this user can only sign in through the proxy
            user.roles = roles
            user.login_count = 1
            user.last_login = now
            session.add(user)
            session.commit()
            metrics.incr("users_created")
            log.info("Created Airflow user %r with roles %s", user.username, sorted(found))
        else:
            if not user.is_active:
                session.rollback()
                raise Forbidden("this user is deactivated in Airflow")
            changed = []
            for field, value in (
                ("email", identity.email),
                ("first_name", identity.first_name),
                ("last_name", identity.last_name),
            ):
                if value is not None and getattr(user, field) != value:
                    setattr(user, field, value)
                    changed.append(field)
            if current != frozenset(found):
                user.roles = roles
                changed.append("roles")
            if changed:
                user.changed_on = now
                user.last_login = now
                session.commit()
                metrics.incr("users_updated")
                log.info("Updated Airflow user %r: %s", user.username, ", ".join(changed))
                self._on_change(user.id)
            else:
                session.rollback()  # only reads happened: end the transaction without writing
        return self._load(session, user.id)

    def _load(self, session: Any, user_id: int) -> Any:
        """A fresh copy with roles and permissions loaded, usable after the session is gone."""
        from airflow.providers.fab.auth_manager.models import User
        from sqlalchemy import select

        session.expire_all()
        user = session.scalars(select(User).where(User.id == user_id)).one()
        for role in user.roles:
            _ = [(p.action.name, p.resource.name) for p in role.permissions]
        _ = user.perms  # computed now, inside the app context, and kept on the object
        # The caller closes the session, which detaches these objects without expiring them.
        return user

    def _email_taken(self, session: Any, identity: Identity) -> bool:
        from airflow.providers.fab.auth_manager.models import User
        from sqlalchemy import func, select

        if not identity.email:
            return False
        other = session.scalars(
            select(User.id).where(
                User.email == identity.email, func.lower(User.username) != identity.username.lower()
            )
        ).first()
        return other is not None
