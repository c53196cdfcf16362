"""Verified claims -> who the user is and which Airflow roles they get. Pure and config-driven.

Claim names are paths into the claims: ``("email",)`` for a top-level claim, or
``("realm_access", "roles")`` for a nested one. A claim that is absent leaves the Airflow value as it
is (or a default for a new user); a claim that is present but unusable refuses the request, so a
broken identity provider never half-updates a user.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_platform_plugins.auth.errors import Forbidden, InvalidClaims

Claim = tuple[str, ...]
MAX_USERNAME_CHARS = 256
MAX_EMAIL_CHARS = 256
MAX_NAME_CHARS = 256
MAX_ROLE_VALUES = 1000
MAX_ROLE_VALUE_CHARS = 256
# Unicode categories refused in usernames and emails: controls, formatting (bidi overrides,
# zero-width characters), line and paragraph separators, surrogates, unassigned and private use.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn", "Co"})


@dataclass(frozen=True)
class ClaimNames:
    """Where the user's attributes are in the claims (``None``: not read)."""

    username: Claim
    email: Claim | None = ("email",)
    first_name: Claim | None = ("given_name",)
    last_name: Claim | None = ("family_name",)
    full_name: Claim | None = ("name",)
    roles: Claim | None = ("groups",)
    roles_delimiter: str = ","


@dataclass(frozen=True)
class Identity:
    """What the token says about the user. ``None`` fields were not in the token."""

    username: str
    email: str | None
    first_name: str | None
    last_name: str | None
    role_keys: tuple[str, ...]  # the roles claim's values, sorted and unique


@dataclass(frozen=True)
class RolePolicy:
    """FAB's ``AUTH_ROLES_MAPPING``, ``AUTH_USER_REGISTRATION_ROLE`` and ``AUTH_ROLES_SYNC_AT_LOGIN``."""

    mapping: Mapping[str, tuple[str, ...]]
    registration_role: str | None = None
    replace: bool = True

    def roles_for(self, identity: Identity) -> frozenset[str]:
        """The Airflow roles the token grants; refuse an identity that maps to none.

        Claim values without an entry in the mapping grant nothing: a token that asks for
        ``Admin`` gets Admin only if the mapping says so.
        """
        roles = {role for key in identity.role_keys for role in self.mapping.get(key, ())}
        if self.registration_role:
            roles.add(self.registration_role)
        if not roles:
            raise Forbidden("no Airflow role is mapped to this identity")
        return frozenset(roles)

    def target_roles(self, current: frozenset[str], granted: frozenset[str]) -> frozenset[str]:
        """Roles the user should have: the granted ones, or (adding only) current plus granted."""
        return granted if self.replace else current | granted


def lookup(claims: Mapping[str, Any], path: Claim) -> Any:
    """The value at ``path`` in the claims, or ``None`` when any step is missing."""
    value: Any = claims
    for step in path:
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def identity_from_claims(claims: Mapping[str, Any], names: ClaimNames) -> Identity:
    """Read and validate the user's attributes; raise :class:`InvalidClaims` naming the bad claim."""
    username = _clean_identifier(lookup(claims, names.username), "username", MAX_USERNAME_CHARS)
    if username is None:
        raise InvalidClaims(f"missing claim: {'.'.join(names.username)}")
    email = None
    if names.email is not None:
        email = _clean_identifier(lookup(claims, names.email), "email", MAX_EMAIL_CHARS)
        if email is not None and ("@" not in email or any(c.isspace() for c in email)):
            raise InvalidClaims("invalid claim: email is not an email address")
    first = _name(claims, names.first_name, "first name")
    last = _name(claims, names.last_name, "last name")
    if first is None and last is None and names.full_name is not None:
        full = _name(claims, names.full_name, "name")
        if full:
            first, _, last = full.partition(" ")
            last = last.strip()
    role_keys: tuple[str, ...] = ()
    if names.roles is not None:
        role_keys = _role_values(lookup(claims, names.roles), names.roles_delimiter)
    return Identity(username, email, first, last, role_keys)


def _clean_identifier(value: Any, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidClaims(f"invalid claim: {what} is not a string")
    if not value or value != value.strip():
        raise InvalidClaims(f"invalid claim: {what} is empty or has surrounding spaces")
    if len(value) > limit:
        raise InvalidClaims(f"invalid claim: {what} is longer than {limit} characters")
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in value):
        raise InvalidClaims(f"invalid claim: {what} contains control characters")
    return value


def _name(claims: Mapping[str, Any], path: Claim | None, what: str) -> str | None:
    if path is None:
        return None
    value = lookup(claims, path)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidClaims(f"invalid claim: {what} is not a string")
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in value):
        raise InvalidClaims(f"invalid claim: {what} contains control characters")
    return value.strip()[:MAX_NAME_CHARS]


def _role_values(value: Any, delimiter: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split(delimiter) if delimiter else [value]
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidClaims("invalid claim: roles must be a string or a list of strings")
    if len(items) > MAX_ROLE_VALUES:
        raise InvalidClaims(f"invalid claim: more than {MAX_ROLE_VALUES} roles")
    out: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise InvalidClaims("invalid claim: roles must be a string or a list of strings")
        item = item.strip()
        if len(item) > MAX_ROLE_VALUE_CHARS:
            raise InvalidClaims(f"invalid claim: a role is longer than {MAX_ROLE_VALUE_CHARS} characters")
        if item:
            out.add(item)
    return tuple(sorted(out))
