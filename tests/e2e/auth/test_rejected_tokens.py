"""Every rejected token of issue #5, through nginx: 401 or 403 with its reason, never a 500, and no
user created or changed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tests.e2e.auth.conftest import HEADER, SignOn
from tests.harness.idp import IdentityProvider, new_key

pytestmark = pytest.mark.airflow

# Each bad token claims to be the victim and asks for more: Admin, and a new email address.
ESCALATE: dict[str, Any] = {"groups": ["airflow-admins"], "email": "attacker@example.org"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(idp: IdentityProvider, user: str, signature: str) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(idp.claims_for(user, **ESCALATE)).encode())
    return f"{header}.{payload}.{signature}"


def hs256_with_the_public_key(idp: IdentityProvider, user: str) -> str:
    public_pem = idp.active.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": idp.active.kid}).encode())
    payload = b64(json.dumps(idp.claims_for(user, **ESCALATE)).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def bad_signature(idp: IdentityProvider, user: str) -> str:
    genuine = idp.token_for(user)  # a real token of the victim, its payload swapped for an escalated one
    header, _, signature = genuine.split(".")
    payload = b64(json.dumps(idp.claims_for(user, **ESCALATE)).encode())
    return f"{header}.{payload}.{signature}"


Case = tuple[str, Callable[[IdentityProvider, str], str], int, str]
CASES: list[Case] = [
    ("alg none", lambda idp, u: unsigned(idp, u, "c2ln"), 401, "algorithm not allowed: none"),
    (
        "alg none, no signature",
        lambda idp, u: unsigned(idp, u, ""),
        401,
        "malformed token: not a signed JWT in compact form",
    ),
    ("HS256 signed with the RSA public key", hs256_with_the_public_key, 401, "algorithm not allowed: HS256"),
    (
        "expired",
        lambda idp, u: idp.token_for(u, exp=int(time.time()) - 3600, **ESCALATE),
        401,
        "token expired",
    ),
    (
        "nbf in the future",
        lambda idp, u: idp.token_for(u, nbf=int(time.time()) + 3600, **ESCALATE),
        401,
        "token not yet valid",
    ),
    (
        "wrong iss",
        lambda idp, u: idp.token_for(u, iss="https://evil.example/", **ESCALATE),
        401,
        "wrong issuer",
    ),
    ("wrong aud", lambda idp, u: idp.token_for(u, aud="another-app", **ESCALATE), 401, "wrong audience"),
    (
        "unknown kid",
        lambda idp, u: idp.token_for(u, key=new_key("RS256"), **ESCALATE),
        401,
        "unknown signing key id",
    ),
    ("bad signature", bad_signature, 401, "signature verification failed"),
    (
        "header over 16 KiB",
        lambda idp, u: idp.token_for(u, padding="x" * 17000, **ESCALATE),
        401,
        f"the {HEADER} header is larger than 16384 bytes",
    ),
    (
        "roles claim is an object",
        lambda idp, u: idp.token_for(u, groups={"airflow-admins": True}),
        401,
        "invalid claim: roles must be a string or a list of strings",
    ),
    (
        "roles claim is a number",
        lambda idp, u: idp.token_for(u, groups=7),
        401,
        "invalid claim: roles must be a string or a list of strings",
    ),
    (
        "claim asks for Admin, which AUTH_ROLES_MAPPING does not map",
        lambda idp, u: idp.token_for(u, groups=["Admin"], email="attacker@example.org"),
        403,
        "no Airflow role is mapped to this identity",
    ),
    (
        "control characters in the username",
        lambda idp, u: idp.token_for(u, preferred_username=f"{u}\x1b[31m", **ESCALATE),
        401,
        "invalid claim: username contains control characters",
    ),
    (
        "bidi override in the username",
        lambda idp, u: idp.token_for(u, preferred_username=f"{u}\u202etxt.exe", **ESCALATE),
        401,
        "invalid claim: username contains control characters",
    ),
]


@pytest.fixture
def victim(sign_on: SignOn) -> tuple[str, dict[str, Any], list[str]]:
    """An existing Viewer, as the database holds them before the attack."""
    user = sign_on.new_user("victim", ["airflow-viewers"], given_name="Val")
    with sign_on.through_proxy(user) as client:
        assert client.get("/api/v2/dags").status_code == 200
    row = sign_on.user_row(user)
    assert row is not None
    return user, row, sign_on.user_roles(user)


def users_named_like(sign_on: SignOn, prefix: str) -> int:
    return int(sign_on.query("SELECT count(*) FROM ab_user WHERE username LIKE ?", f"{prefix}%")[0][0])


@pytest.mark.parametrize(("case", "make", "status", "reason"), CASES, ids=[c[0] for c in CASES])
def test_rejected_token_changes_nothing(
    sign_on: SignOn,
    victim: tuple[str, dict[str, Any], list[str]],
    case: str,
    make: Callable[[IdentityProvider, str], str],
    status: int,
    reason: str,
) -> None:
    user, row, roles = victim
    newcomer = sign_on.new_user("newcomer", ["airflow-viewers"])
    for target in (user, newcomer):
        session = sign_on.idp.session_with_token(make(sign_on.idp, target))
        with sign_on.through_proxy(session=session) as client:
            api = client.get("/api/v2/dags")
            page = client.get("/", headers={"Accept": "text/html"})
        assert (api.status_code, api.json()) == (status, {"detail": reason}), case
        assert page.status_code == status
        assert f'id="reason">{reason}' in page.text.replace("&#x27;", "'")
    assert sign_on.user_row(user) == row
    assert sign_on.user_roles(user) == roles
    assert users_named_like(sign_on, newcomer) == 0


def test_two_copies_of_the_header_are_refused(sign_on: SignOn) -> None:
    # nginx always sends exactly one; a client that reaches the api-server directly could send two.
    user = sign_on.new_user("twice", ["airflow-viewers"])
    token = sign_on.idp.token_for(user)
    with sign_on.direct() as client:
        response = client.get("/api/v2/dags", headers=[(HEADER, token), (HEADER, token)])
        lookalike = client.get("/api/v2/dags", headers=[(HEADER, token), ("X_Jwt_Assertion", token)])
    assert (response.status_code, response.json()) == (
        401,
        {"detail": f"the {HEADER} header was sent 2 times"},
    )
    assert lookalike.status_code == 401
    assert sign_on.user_row(user) is None


def test_no_rejection_was_an_unexpected_error(sign_on: SignOn) -> None:
    log = sign_on.airflow.processes["api-server"].log_text()
    assert "Unexpected error while checking" not in log
    assert httpx.get(f"{sign_on.airflow.url}/api/v2/monitor/health").status_code == 200
