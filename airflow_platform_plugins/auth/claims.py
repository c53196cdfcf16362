"""Registered-claim checks (``exp``, ``nbf``, ``iat``, ``iss``, ``aud``) for tokens verified outside PyJWT.

Pure. Used by the ALB path (:mod:`~airflow_platform_plugins.auth.alb`), whose padded segments PyJWT
refuses; the rules are PyJWT's as :mod:`~airflow_platform_plugins.auth.tokens` configures them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_platform_plugins.auth.errors import InvalidToken


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"invalid claim: {name}")
    return float(value)


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audiences: tuple[str, ...],
    leeway: float,
    now: float,
) -> None:
    """Raise :class:`InvalidToken` unless the claims are current, from ``issuer`` and for us.

    ``exp`` and ``iss`` are required; ``aud`` is required when ``audiences`` is not empty, and must
    then contain one of them; ``nbf`` and ``iat`` are checked when present.
    """
    exp = _number(claims, "exp")
    if exp is None:
        raise InvalidToken("missing claim: exp")
    if exp <= now - leeway:
        raise InvalidToken("token expired")
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise InvalidToken("token not yet valid")
    iat = _number(claims, "iat")
    if iat is not None and iat > now + leeway:
        raise InvalidToken("token not yet valid")
    iss = claims.get("iss")
    if iss is None:
        raise InvalidToken("missing claim: iss")
    if iss != issuer:
        raise InvalidToken("wrong issuer")
    if audiences:
        aud = claims.get("aud")
        if aud is None:
            raise InvalidToken("missing claim: aud")
        values = [aud] if isinstance(aud, str) else aud
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidToken("wrong audience")
        if not set(values) & set(audiences):
            raise InvalidToken("wrong audience")
