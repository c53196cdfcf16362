"""The header authenticator: which token it takes from a request, and the user it returns for it.

Users come from an in-memory directory that counts lookups (the FAB store is tested against a real
database in the integration tests)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest

from airflow_platform_plugins.auth.authenticator import HeaderAuthenticator, Pending, is_unsigned_payload
from airflow_platform_plugins.auth.bearer import bearer_token, unverified_issuer
from airflow_platform_plugins.auth.errors import Forbidden, InvalidToken
from airflow_platform_plugins.auth.identity import ClaimNames, Identity, RolePolicy
from airflow_platform_plugins.auth.keys import KeyRing, PemFile
from airflow_platform_plugins.auth.tokens import TokenVerifier
from tests.unit.auth.conftest import ISSUER, FakeJwksEndpoint, Key, claims, jwks_verifier, policy, sign

AIRFLOW_SECRET = "airflow-jwt-secret-" + "x" * 64
AIRFLOW_ISSUER = "http://airflow.example.org"


class Directory:
    def __init__(self) -> None:
        self.cached_calls = 0
        self.resolved: list[tuple[Identity, frozenset[str]]] = []
        self.known: dict[str, Any] = {}

    def cached(self, identity: Identity, granted: frozenset[str]) -> Any | None:
        self.cached_calls += 1
        return self.known.get(identity.username)

    def resolve(self, identity: Identity, granted: frozenset[str]) -> Any:
        self.resolved.append((identity, granted))
        user = {"username": identity.username, "roles": sorted(granted)}
        self.known[identity.username] = user
        return user


def make(
    tmp_path: Path, key: Key, *, bearer: bool = False, header: str = "X-Jwt-Assertion"
) -> tuple[HeaderAuthenticator, Directory]:
    pem = tmp_path / "k.pem"
    pem.write_bytes(key.pem())
    users = Directory()
    auth = HeaderAuthenticator(
        header,
        TokenVerifier(policy(), KeyRing([PemFile(pem)])),
        ClaimNames(username=("preferred_username",)),
        RolePolicy({"viewers": ("Viewer",)}),
        users,
        bearer=bearer,
    )
    return auth, users


def airflow_token(**extra: Any) -> str:
    """What Airflow's POST /auth/token hands out (HS512 with [api_auth] jwt_secret)."""
    payload = {"sub": "1", "iss": AIRFLOW_ISSUER, "exp": 2**31, **extra}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, AIRFLOW_SECRET, algorithm="HS512")


def test_a_new_user_is_resolved_off_the_event_loop_then_served_from_cache(
    tmp_path: Path, rsa_key: Key
) -> None:
    auth, users = make(tmp_path, rsa_key)
    token = sign(rsa_key, claims(groups=["viewers"]))
    step = auth.begin(token)
    assert isinstance(step, Pending)  # database work: the caller runs it in a worker thread
    assert users.resolved == []
    assert step.run() == {"username": "alice", "roles": ["Viewer"]}
    assert auth.begin(token) == {"username": "alice", "roles": ["Viewer"]}  # no Pending: from memory
    assert len(users.resolved) == 1


def test_a_key_fetch_is_pending_work_not_a_block(rsa_key: Key) -> None:
    endpoint = FakeJwksEndpoint([rsa_key.jwk()])
    verifier, _ = jwks_verifier(endpoint, lambda: 1000.0)
    users = Directory()
    auth = HeaderAuthenticator(
        "X-Jwt-Assertion",
        verifier,
        ClaimNames(username=("preferred_username",)),
        RolePolicy({}, "Viewer"),
        users,
    )
    step = auth.begin(sign(rsa_key))
    assert isinstance(step, Pending)
    assert endpoint.fetches == 0
    assert step.run()["username"] == "alice"
    assert endpoint.fetches == 1


def test_an_identity_without_a_role_is_forbidden_and_never_stored(tmp_path: Path, rsa_key: Key) -> None:
    auth, users = make(tmp_path, rsa_key)
    with pytest.raises(Forbidden):
        auth.authenticate(sign(rsa_key, claims(groups=["nobody"])))
    assert users.resolved == []
    assert users.cached_calls == 0


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([b"a", b"b"], "the X-Jwt-Assertion header was sent 2 times"),
        ([b"\xff\xfe"], "malformed token: not ASCII"),
        ([b"x" * 20000], "the X-Jwt-Assertion header is larger than 16384 bytes"),
    ],
)
def test_header_values_are_checked_before_parsing(
    tmp_path: Path, rsa_key: Key, values: list[bytes], reason: str
) -> None:
    auth, _ = make(tmp_path, rsa_key)
    with pytest.raises(InvalidToken, match=reason):
        auth.token_for_request(values)


def test_an_unsigned_payload_header_names_istios_setting(tmp_path: Path, rsa_key: Key) -> None:
    auth, _ = make(tmp_path, rsa_key)
    payload = base64.b64encode(json.dumps(claims()).encode()).decode()  # outputPayloadToHeader
    assert is_unsigned_payload(payload)
    with pytest.raises(InvalidToken, match="forwardOriginalToken: true"):
        auth.token_for_request([payload.encode()])


# -- Authorization: Bearer, beside Airflow's own tokens ------------------------------------------


def test_bearer_parsing() -> None:
    assert bearer_token(b"Bearer abc") == "abc"
    assert bearer_token(b"bearer  abc ") == "abc"
    assert bearer_token(b"Basic abc") is None
    assert bearer_token(b"Bearer ") is None
    assert bearer_token(b"\xffBearer x") is None


def test_the_idp_token_is_taken_and_airflows_is_left_alone(tmp_path: Path, rsa_key: Key) -> None:
    auth, _ = make(tmp_path, rsa_key, bearer=True, header="Authorization")
    idp = sign(rsa_key, claims(groups=["viewers"]))
    assert auth.token_for_request([f"Bearer {idp}".encode()]) == idp
    assert auth.token_for_request([f"Bearer {airflow_token()}".encode()]) is None
    assert auth.token_for_request([f"Bearer {airflow_token(iss=None)}".encode()]) is None
    assert auth.token_for_request([b"Basic dXNlcjpwYXNz"]) is None
    assert auth.token_for_request([]) is None


def test_an_idp_token_sent_twice_is_refused(tmp_path: Path, rsa_key: Key) -> None:
    auth, _ = make(tmp_path, rsa_key, bearer=True, header="Authorization")
    idp = sign(rsa_key, claims(groups=["viewers"]))
    with pytest.raises(InvalidToken, match="sent 2 times"):
        auth.token_for_request([f"Bearer {idp}".encode(), f"Bearer {airflow_token()}".encode()])


def test_forgery_claiming_the_idp_but_signed_with_airflows_secret_is_refused(
    tmp_path: Path, rsa_key: Key
) -> None:
    auth, users = make(tmp_path, rsa_key, bearer=True, header="Authorization")
    forged = jwt.encode(
        claims(groups=["viewers"]), AIRFLOW_SECRET, algorithm="HS512", headers={"kid": rsa_key.kid}
    )
    token = auth.token_for_request([f"Bearer {forged}".encode()])
    assert token == forged  # claims the IdP: the IdP's verifier decides, never Airflow's
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        auth.authenticate(token)
    assert users.resolved == []


def test_forgery_claiming_airflow_but_signed_by_the_idp_goes_to_airflow(tmp_path: Path, rsa_key: Key) -> None:
    """Routed to Airflow, whose HS512 check with its own secret refuses it (e2e: a 401/403 there)."""
    auth, _ = make(tmp_path, rsa_key, bearer=True, header="Authorization")
    forged = sign(rsa_key, claims(iss=AIRFLOW_ISSUER))
    assert auth.token_for_request([f"Bearer {forged}".encode()]) is None
    with pytest.raises(jwt.PyJWTError):
        jwt.decode(forged, AIRFLOW_SECRET, algorithms=["HS512"], options={"verify_aud": False})


def test_unverified_issuer_reads_only_well_formed_tokens(rsa_key: Key) -> None:
    assert unverified_issuer(sign(rsa_key)) == ISSUER
    assert unverified_issuer("a.b") is None
    assert unverified_issuer("a.!!!.c") is None
    assert unverified_issuer("a." + base64.urlsafe_b64encode(b"[1]").decode() + ".c") is None
    assert unverified_issuer("a." + base64.urlsafe_b64encode(b'{"iss": 3}').decode() + ".c") is None
