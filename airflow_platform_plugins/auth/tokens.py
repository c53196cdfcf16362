"""Verify a JWT from the proxy: size and shape, algorithm allowlist, key, signature, then claims.

Pure: no Flask, no FastAPI, no database. The order is cheapest-first and nothing about the token
is trusted before its signature checks out, except what is needed to pick the key: ``alg`` (which
must be on the configured allowlist) and ``kid``.

- ``alg`` must be on the allowlist; ``none`` can never be on it. The key's type must fit ``alg``,
  so an HMAC algorithm is never checked with a public key (the RS256/HS256 confusion).
- ``exp``, ``iss`` and ``aud`` are required; ``iss`` must equal the configured issuer exactly,
  ``aud`` must contain one of the configured audiences; ``nbf`` and ``iat`` are checked when
  present. ``leeway`` seconds of clock skew are tolerated.
- ``crit`` headers are refused (no extension is supported), and so are JWE and detached payloads.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_platform_plugins.auth.errors import InvalidToken, KeyFetchNeeded, Rejected
from airflow_platform_plugins.auth.keys import ALGORITHMS, KeyRing

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}")
MAX_KID_CHARS = 256
MAX_HEADER_SEGMENT_CHARS = 4096


@dataclass(frozen=True)
class TokenPolicy:
    """What a token must satisfy besides a good signature."""

    algorithms: frozenset[str]
    issuer: str
    audiences: tuple[str, ...]
    leeway: float
    max_bytes: int


class TokenVerifier:
    """Check tokens against a policy and the configured keys; return the verified claims."""

    def __init__(self, policy: TokenPolicy, keys: KeyRing) -> None:
        unknown = set(policy.algorithms) - set(ALGORITHMS)
        if unknown:
            raise ValueError(f"unsupported algorithms: {sorted(unknown)}")
        self.policy = policy
        self.keys = keys

    def verify(self, token: str, *, may_fetch: bool = True) -> dict[str, Any]:
        """The claims of ``token`` if it passes every check; else raise :class:`InvalidToken`.

        With ``may_fetch=False`` nothing blocks: if keys must be fetched first,
        :class:`~airflow_platform_plugins.auth.errors.KeyFetchNeeded` is raised instead.
        """
        try:
            return self._verify(token, may_fetch)
        except (Rejected, KeyFetchNeeded):
            raise
        except Exception as exc:  # a token is hostile input: no parser error may escape as a crash
            raise InvalidToken("malformed token") from exc

    def _verify(self, token: str, may_fetch: bool) -> dict[str, Any]:
        import jwt

        policy = self.policy
        if len(token) > policy.max_bytes:
            raise InvalidToken(f"token larger than {policy.max_bytes} bytes")
        if not _COMPACT_JWS.fullmatch(token):
            raise InvalidToken("malformed token: not a signed JWT in compact form")
        alg, kid = _read_header(token.split(".", 1)[0])
        if alg not in policy.algorithms:
            raise InvalidToken(f"algorithm not allowed: {_printable(alg)}")
        candidates = self.keys.candidates(alg, kid, may_fetch=may_fetch)
        if not candidates:
            raise InvalidToken("unknown signing key" + (" id" if kid is not None else ""))
        last: Exception | None = None
        for candidate in candidates:
            try:
                return dict(
                    jwt.decode(
                        token,
                        key=candidate.key,
                        algorithms=[alg],
                        issuer=policy.issuer,
                        audience=list(policy.audiences),
                        leeway=policy.leeway,
                        options={
                            "require": ["exp", "iss", "aud"],
                            "verify_signature": True,
                            "verify_exp": True,
                            "verify_nbf": True,
                            "verify_iat": True,
                            "verify_iss": True,
                            "verify_aud": True,
                            "strict_aud": False,
                            "enforce_minimum_key_length": True,
                        },
                    )
                )
            except jwt.InvalidSignatureError as exc:
                last = exc  # another key of the set may have signed it
            except jwt.PyJWTError as exc:  # undecodable, or a claim failed (checked after the signature)
                raise map_jwt_error(exc) from exc
        raise InvalidToken("signature verification failed") from last


def _read_header(segment: str) -> tuple[str, str | None]:
    """``alg`` and ``kid`` from the unverified JOSE header, refusing anything unusual."""
    if len(segment) > MAX_HEADER_SEGMENT_CHARS:
        raise InvalidToken("malformed token: header too large")
    try:
        raw = base64.urlsafe_b64decode(segment.rstrip("=") + "=" * (-len(segment.rstrip("=")) % 4))
        header = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise InvalidToken("malformed token: header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed token: header is not a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise InvalidToken("malformed token: no algorithm")
    if "crit" in header:
        raise InvalidToken("critical header extensions are not supported")
    if header.get("b64", True) is not True:
        raise InvalidToken("unencoded payloads are not supported")
    if "enc" in header:
        raise InvalidToken("encrypted tokens are not supported")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or len(kid) > MAX_KID_CHARS):
        raise InvalidToken("malformed token: bad key id")
    return alg, kid


def _printable(value: str, limit: int = 32) -> str:
    cleaned = "".join(c if c.isprintable() else "?" for c in value[:limit])
    return cleaned + ("..." if len(value) > limit else "")


def map_jwt_error(exc: Exception) -> InvalidToken:
    """A short, user-facing reason for a PyJWT exception."""
    import jwt

    reasons: Sequence[tuple[type[Exception], str]] = (
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.ImmatureSignatureError, "token not yet valid"),
        (jwt.InvalidIssuerError, "wrong issuer"),
        (jwt.InvalidAudienceError, "wrong audience"),
        (jwt.InvalidAlgorithmError, "algorithm not allowed"),
        (jwt.InvalidSignatureError, "signature verification failed"),
        (jwt.InvalidKeyError, "unusable signing key"),
        (jwt.InvalidIssuedAtError, "invalid claim: iat"),
    )
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return InvalidToken(f"missing claim: {exc.claim}")
    for kind, reason in reasons:
        if isinstance(exc, kind):
            return InvalidToken(reason)
    return InvalidToken("malformed token")
