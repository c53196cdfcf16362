"""AWS ALB tokens, in the format of "Authenticate users using an Application Load Balancer" (AWS Elastic
Load Balancing user guide, section "User claims encoding and signature verification"): ES256, padded
base64url segments, ``kid`` and ``signer`` in the JOSE header, a PEM key per ``kid`` from a regional URL.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_platform_plugins.auth.alb import AlbKeys, AlbVerifier, b64decode_segment
from airflow_platform_plugins.auth.errors import InvalidToken, KeyFetchNeeded, Unavailable
from tests.unit.auth.conftest import ISSUER, FakeClock, Key, Seconds, from_now, policy

REGION = "eu-west-1"
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/airflow/50dc6c495c0c9188"
TEMPLATE = "https://keys.test/{region}/{kid}"
KID = "2b3c1f7e-6c0a-4c5e-9a51-0e3c1c7b2d10"


def b64(data: bytes, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(data).decode()  # padded, as ALB sends
    return text if pad else text.rstrip("=")


def alb_token(
    key: Any, *, kid: str = KID, signer: str = ARN, alg: str = "ES256", pad: bool = True, **claims: Any
) -> str:
    now = int(time.time())
    header = {
        "typ": "JWT",
        "kid": kid,
        "alg": alg,
        "iss": ISSUER,
        "client": "c1",
        "signer": signer,
        "exp": now + 60,
    }
    payload = {"sub": "1234", "email": "alice@example.org", "exp": now + 60, "iss": ISSUER, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    signing_input = f"{b64(json.dumps(header).encode(), pad)}.{b64(json.dumps(payload).encode(), pad)}"
    raw = jwt.get_algorithm_by_name("ES256").sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(raw, pad)}"


class KeyServer:
    """The regional key endpoint: PEM per (region, kid); counts fetches."""

    def __init__(self) -> None:
        self.pems: dict[str, bytes] = {}
        self.fetched: list[str] = []
        self.down = False

    def publish(self, region: str, kid: str, key: Key) -> None:
        self.pems[TEMPLATE.format(region=region, kid=kid)] = key.pem()

    def __call__(self, url: str, timeout: float) -> bytes:
        self.fetched.append(url)
        if self.down:
            raise OSError("connection refused")
        if url not in self.pems:
            raise FileNotFoundError(url)
        return self.pems[url]


@pytest.fixture
def server(ec_key: Key) -> KeyServer:
    s = KeyServer()
    s.publish(REGION, KID, ec_key)
    return s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(server: KeyServer, clock: FakeClock) -> AlbVerifier:
    keys = AlbKeys(TEMPLATE, REGION, refresh_interval=30, timeout=1, fetch=server, clock=clock)
    return AlbVerifier(policy(("ES256",), audiences=()), keys, ARN)


def refused(verifier: AlbVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token)
    assert info.value.status == 401
    return info.value.reason


def test_a_padded_alb_token_verifies(verifier: AlbVerifier, ec_key: Key, server: KeyServer) -> None:
    token = alb_token(ec_key.private)
    assert "=" in token
    assert verifier.verify(token)["email"] == "alice@example.org"
    assert verifier.verify(token)["sub"] == "1234"
    assert server.fetched == [TEMPLATE.format(region=REGION, kid=KID)]  # fetched once, then kept


def test_unpadded_segments_verify_too(verifier: AlbVerifier, ec_key: Key) -> None:
    token = alb_token(ec_key.private, pad=False)
    assert "=" not in token
    assert verifier.verify(token)["email"] == "alice@example.org"


@pytest.mark.parametrize(
    "kid", ["../etc/passwd", "a/b", "..", "https://evil.test/key", "a.b", "kid?x=1", "%2e%2e", "", "k" * 129]
)
def test_a_kid_that_is_not_a_plain_key_id_is_refused_before_any_fetch(
    verifier: AlbVerifier, ec_key: Key, server: KeyServer, kid: str
) -> None:
    assert refused(verifier, alb_token(ec_key.private, kid=kid)).startswith("malformed token")
    assert server.fetched == []


def test_another_regions_key_is_never_fetched(verifier: AlbVerifier, server: KeyServer, ec_key: Key) -> None:
    other = Key("other", "ES256", ec.generate_private_key(ec.SECP256R1()))
    server.publish("us-east-1", "k-other", other)
    assert refused(verifier, alb_token(other.private, kid="k-other")) == "unknown signing key id"
    assert server.fetched == [TEMPLATE.format(region=REGION, kid="k-other")]


def test_a_signer_mismatch_is_refused_before_any_fetch(
    verifier: AlbVerifier, ec_key: Key, server: KeyServer
) -> None:
    other_arn = ARN.replace("airflow", "attacker")
    assert refused(verifier, alb_token(ec_key.private, signer=other_arn)).startswith("wrong signer")
    assert server.fetched == []


def test_an_altered_payload_with_padding_is_refused(verifier: AlbVerifier, ec_key: Key) -> None:
    head, body, sig = alb_token(ec_key.private).split(".")
    claims = json.loads(b64decode_segment(body))
    claims["email"] = "admin@example.org"
    forged = f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
    assert refused(verifier, forged) == "signature verification failed"


def test_re_encoding_a_segment_breaks_the_signature(verifier: AlbVerifier, ec_key: Key) -> None:
    """The signature covers the bytes as sent: stripping the padding of a signed token changes them."""
    head, body, sig = alb_token(ec_key.private).split(".")
    if body.endswith("="):
        assert refused(verifier, f"{head}.{body.rstrip('=')}.{sig}") == "signature verification failed"
    else:  # same bytes either way; then a changed header must fail
        assert refused(verifier, f"{head}=.{body}.{sig}").startswith("malformed")


@pytest.mark.parametrize("alg", ["HS256", "none", "RS256", "ES384"])
def test_an_algorithm_switch_is_refused(
    verifier: AlbVerifier, ec_key: Key, server: KeyServer, alg: str
) -> None:
    head, body, _ = alb_token(ec_key.private).split(".")
    header = json.loads(b64decode_segment(head))
    header["alg"] = alg
    new_head = b64(json.dumps(header).encode())
    if alg == "HS256":  # signed with the PEM text as an HMAC secret, the classic confusion
        sig = jwt.get_algorithm_by_name("HS256").sign(f"{new_head}.{body}".encode(), ec_key.pem())
        token = f"{new_head}.{body}.{b64(sig)}"
    else:
        token = f"{new_head}.{body}.{b64(b'x' * 64) if alg != 'none' else ''}"
    reason = refused(verifier, token)
    assert reason in ("algorithm not allowed", "malformed token: not a signed JWT in compact form")
    assert server.fetched == []


def test_an_rsa_key_at_the_url_is_unusable(server: KeyServer, clock: FakeClock, ec_key: Key) -> None:
    server.pems[TEMPLATE.format(region=REGION, kid="rsa")] = Key(
        "rsa", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ).pem()
    keys = AlbKeys(TEMPLATE, REGION, refresh_interval=30, timeout=1, fetch=server, clock=clock)
    verifier = AlbVerifier(policy(("ES256",), audiences=()), keys, ARN)
    assert refused(verifier, alb_token(ec_key.private, kid="rsa")) == "unusable signing key"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": Seconds(-120)}, "token expired"),
        ({"exp": None}, "missing claim: exp"),
        ({"iss": "https://other.example.org/"}, "wrong issuer"),
        ({"nbf": Seconds(600)}, "token not yet valid"),
    ],
)
def test_claims_are_checked(verifier: AlbVerifier, ec_key: Key, claims: dict[str, Any], reason: str) -> None:
    assert refused(verifier, alb_token(ec_key.private, **from_now(claims))) == reason


def test_unknown_kids_are_fetched_rarely(
    verifier: AlbVerifier, ec_key: Key, server: KeyServer, clock: FakeClock
) -> None:
    for _ in range(3):
        refused(verifier, alb_token(ec_key.private, kid="unknown-1"))
    assert len(server.fetched) == 1
    for i in range(10):
        with pytest.raises(InvalidToken, match="unknown signing key id"):
            verifier.verify(alb_token(ec_key.private, kid=f"random-{i}"))
    assert len(server.fetched) <= 4  # at most NEW_KIDS_PER_INTERVAL new ids per interval
    clock.advance(31)
    refused(verifier, alb_token(ec_key.private, kid="unknown-1"))
    assert server.fetched.count(TEMPLATE.format(region=REGION, kid="unknown-1")) == 2


def test_an_unreachable_key_endpoint_is_a_503(verifier: AlbVerifier, ec_key: Key, server: KeyServer) -> None:
    server.down = True
    with pytest.raises(Unavailable):
        verifier.verify(alb_token(ec_key.private))


def test_no_blocking_fetch_without_permission(verifier: AlbVerifier, ec_key: Key, server: KeyServer) -> None:
    with pytest.raises(KeyFetchNeeded):
        verifier.verify(alb_token(ec_key.private), may_fetch=False)
    assert server.fetched == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_input_is_a_401_never_a_crash(text: str) -> None:
    keys = AlbKeys(TEMPLATE, REGION, refresh_interval=30, timeout=1, fetch=KeyServer())
    verifier = AlbVerifier(policy(("ES256",), audiences=()), keys, ARN)
    with pytest.raises(InvalidToken):
        verifier.verify(text)
