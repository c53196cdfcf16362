"""Whose token is in ``Authorization: Bearer``: the identity provider's, or Airflow's own.

Pure. Airflow's api-server issues its own JWTs (``POST /auth/token``, the UI's ``_token``) and reads
them from ``Authorization: Bearer``. With ``AUTH_JWT_HEADER_NAME = "Authorization"`` the identity
provider's tokens travel there too. They are told apart by the unverified ``iss`` only, never by
trying both verifiers:

- ``iss`` equal to ``AUTH_JWT_ISSUER``: the identity provider's. It is verified like any header token
  (its keys, its algorithms); if that fails the request is refused, never handed to Airflow.
- anything else (Airflow's own tokens carry ``[api_auth] jwt_issuer`` or no ``iss``): Airflow's,
  left untouched for Airflow to verify with its own key.

A forgery across the line therefore meets the verifier of the issuer it claims: a token claiming
Airflow's issuer but signed by the identity provider fails Airflow's check, and a token claiming the
identity provider's issuer but signed with Airflow's key fails ours. The two issuers must differ
(checked at start-up).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

MAX_PAYLOAD_CHARS = 64 * 1024


def bearer_token(value: bytes) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; ``None`` for other schemes."""
    try:
        text = value.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    scheme, _, token = text.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a compact JWS claims, without verifying anything; ``None`` if unreadable."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > MAX_PAYLOAD_CHARS:
        return None
    segment = parts[1].rstrip("=")
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None
    iss = payload.get("iss") if isinstance(payload, dict) else None
    return iss if isinstance(iss, str) else None


def idp_tokens(values: Sequence[bytes], issuer: str) -> list[str]:
    """The identity provider's tokens among ``Authorization`` values (see the module docstring)."""
    out = []
    for value in values:
        token = bearer_token(value)
        if token is not None and unverified_issuer(token) == issuer:
            out.append(token)
    return out
