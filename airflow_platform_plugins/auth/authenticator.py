"""Header value -> Airflow user: verify the token, read the identity, map roles, find the user.

Split so that the common case never blocks: :meth:`HeaderAuthenticator.begin` either returns the
user (token verified against cached keys, user unchanged and cached), or returns the rest of the
work as a function to run in a worker thread (a key fetch or a database sync).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_platform_plugins.auth import metrics
from airflow_platform_plugins.auth.bearer import idp_tokens
from airflow_platform_plugins.auth.errors import InvalidToken, KeyFetchNeeded
from airflow_platform_plugins.auth.identity import ClaimNames, Identity, RolePolicy, identity_from_claims
from airflow_platform_plugins.auth.tokens import TokenPolicy


class Verifier(Protocol):
    """:class:`~.tokens.TokenVerifier` or :class:`~.alb.AlbVerifier`."""

    policy: TokenPolicy

    def verify(self, token: str, *, may_fetch: bool = True) -> dict[str, Any]:
        """The verified claims, or raise :class:`~.errors.Rejected` (or ``KeyFetchNeeded``)."""
        ...


def is_unsigned_payload(token: str) -> bool:
    """Whether ``token`` is a bare base64 JSON object, as Istio's ``outputPayloadToHeader`` sends."""
    if "." in token or len(token) > 65536:
        return False
    bare = token.rstrip("=")
    try:
        decoded = base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=b"-_", validate=False)
        return isinstance(json.loads(decoded), dict)
    except (ValueError, binascii.Error, RecursionError):
        return False


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


_UNSIGNED = (
    "an unsigned JWT payload (Istio's outputPayloadToHeader); configure Istio's "
    "forwardOriginalToken: true to send the signed token"
)


class HeaderAuthenticator:
    """Turn the proxy's header into a FAB user, or raise a :class:`~.errors.Rejected` with a reason."""

    def __init__(
        self,
        header_name: str,
        verifier: Verifier,
        claims: ClaimNames,
        roles: RolePolicy,
        users: Users,
        *,
        bearer: bool = False,
    ) -> None:
        self.header_name = header_name
        self.bearer = bearer
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
            token = raw.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise InvalidToken("malformed token: not ASCII") from exc
        if is_unsigned_payload(token):
            raise InvalidToken(f"unsigned token: the {self.header_name} header carries {_UNSIGNED}")
        return token

    def token_for_request(self, values: Sequence[bytes]) -> str | None:
        """The token this authenticator must check, or ``None`` when the request is not its business.

        With a header of its own, any value is its business. With ``Authorization``, only tokens whose
        ``iss`` is the identity provider's (see :mod:`~.bearer`); Airflow's own are left to Airflow.
        """
        if not self.bearer:
            return self.token_from(values) if values else None
        ours = idp_tokens(values, self.verifier.policy.issuer)
        if not ours:
            return None
        if len(values) != 1:
            raise InvalidToken(f"the {self.header_name} header was sent {len(values)} times")
        limit = self.verifier.policy.max_bytes
        if len(ours[0]) > limit:
            raise InvalidToken(f"the {self.header_name} header is larger than {limit} bytes")
        return ours[0]

    def _verify(self, token: str, *, may_fetch: bool) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return self.verifier.verify(token, may_fetch=may_fetch)
        finally:
            metrics.timing("verify_duration", time.perf_counter() - started)

    def begin(self, token: str) -> Any:
        """The user, if no I/O is needed; otherwise a :class:`Pending` with the blocking rest."""
        try:
            claims = self._verify(token, may_fetch=False)
        except KeyFetchNeeded:
            return Pending(lambda: self._finish(self._verify(token, may_fetch=True)))
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
