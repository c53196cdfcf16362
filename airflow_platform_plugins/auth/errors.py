"""Why a request was refused: one exception per HTTP outcome, each with a short reason for the user.

Reasons are shown to the browser and returned in API error bodies, so they say what was wrong
(``token expired``, ``wrong audience``) and never echo token contents or key material.
"""

from __future__ import annotations


class Rejected(Exception):
    """The request's identity header was refused; ``status`` is the HTTP status to answer with."""

    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidToken(Rejected):
    """The token is malformed, unsigned, signed with an unknown key, expired, or for someone else."""

    status = 401


class InvalidClaims(Rejected):
    """The token verified, but a claim that names the user or their roles is unusable."""

    status = 401


class Forbidden(Rejected):
    """The identity is valid but may not use Airflow (no role, or deactivated in Airflow)."""

    status = 403


class Unavailable(Rejected):
    """A dependency needed to decide is down: the signing keys or the user database."""

    status = 503


class KeyFetchNeeded(Exception):
    """Verifying needs a network fetch of signing keys; retry where blocking is allowed."""
