"""Header value -> Airflow user: verify the token, read the identity, map roles, find the user.

Split so that the common case never blocks: :meth:`HeaderAuthenticator.begin` either returns the
user (token verified against cached keys, user unchanged and cached), or returns the rest of the
work as a function to run in a worker thread (a key fetch or a database sync).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_platform_plugins.auth.errors import InvalidToken, KeyFetchNeeded
from airflow_platform_plugins.auth.identity import ClaimNames, Identity, RolePolicy, identity_from_claims
from airflow_platform_plugins.auth.tokens import TokenVerifier


class Users(Protocol):
    """Where users come from (:class:`~airflow_platform_plugins.auth.users.UserStore` in Airflow)."""

    def cached(self, identity: Identity, granted: frozenset[str]) -> Any | None:
        """The user if known and unchanged, without I/O."""
        ...

    def resolve(self, identity: Identity, granted: frozenset[str]) -> Any:
        """The user, created or updated as needed (blocking)."""
        ...


@dataclass(frozen=True)
class Pending:
    """The blocking rest of an authentication: call ``run`` in a worker thread to get the user."""

    run: Callable[[], Any]


class HeaderAuthenticator:
    """Turn the proxy's header into a FAB user, or raise a :class:`~.errors.Rejected` with a reason."""

    def __init__(
        self,
        header_name: str,
        verifier: TokenVerifier,
        claims: ClaimNames,
        roles: RolePolicy,
        users: Users,
    ) -> None:
        self.header_name = header_name
        self.header_key = header_name.lower().encode("latin-1")
        self.verifier = verifier
        self.claims = claims
        self.roles = roles
        self.users = users

    def token_from(self, values: Sequence[bytes]) -> str:
        """The token from the header's raw values; exactly one ASCII value within the size limit."""
        if len(values) != 1:
            raise InvalidToken(f"the {self.header_name} header was sent {len(values)} times")
        raw = values[0]
        limit = self.verifier.policy.max_bytes
        if len(raw) > limit:
            raise InvalidToken(f"the {self.header_name} header is larger than {limit} bytes")
        try:
            return raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise InvalidToken("malformed token: not ASCII") from None

    def begin(self, token: str) -> Any:
        """The user, if no I/O is needed; otherwise a :class:`Pending` with the blocking rest."""
        try:
            claims = self.verifier.verify(token, may_fetch=False)
        except KeyFetchNeeded:
            return Pending(lambda: self._finish(self.verifier.verify(token, may_fetch=True)))
        identity = identity_from_claims(claims, self.claims)
        granted = self.roles.roles_for(identity)
        user = self.users.cached(identity, granted)
        if user is not None:
            return user
        return Pending(lambda: self.users.resolve(identity, granted))

    def _finish(self, claims: dict[str, Any]) -> Any:
        identity = identity_from_claims(claims, self.claims)
        granted = self.roles.roles_for(identity)
        return self.users.cached(identity, granted) or self.users.resolve(identity, granted)

    def authenticate(self, token: str) -> Any:
        """The user for this token (blocking)."""
        step = self.begin(token)
        return step.run() if isinstance(step, Pending) else step
