"""Token verification: what is accepted, what is refused, and why (RFC 8725's pitfalls in particular)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_platform_plugins.auth.errors import InvalidToken
from airflow_platform_plugins.auth.keys import HmacSecret, KeyRing, PemFile
from airflow_platform_plugins.auth.tokens import TokenVerifier
from tests.unit.auth.conftest import (
    AUDIENCE,
    ISSUER,
    FakeClock,
    FakeJwksEndpoint,
    Key,
    Seconds,
    claims,
    from_now,
    jwks_verifier,
    policy,
    sign,
)

SECRET = b"s" * 32


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pem_verifier(
    tmp_path: Path, *keys: Key, algorithms: tuple[str, ...] = ("RS256", "ES256")
) -> TokenVerifier:
    path = tmp_path / "keys.pem"
    path.write_bytes(b"".join(k.pem() for k in keys))
    return TokenVerifier(policy(algorithms), KeyRing([PemFile(path)]))


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token)
    assert info.value.status == 401
    return info.value.reason


# -- accepted ------------------------------------------------------------------------------------


def test_rs256_from_a_pem_file(tmp_path: Path, rsa_key: Key) -> None:
    verified = pem_verifier(tmp_path, rsa_key).verify(sign(rsa_key))
    assert verified["preferred_username"] == "alice"


def test_any_key_of_a_pem_file_with_several(tmp_path: Path, rsa_key: Key, rsa_key2: Key, ec_key: Key) -> None:
    verifier = pem_verifier(tmp_path, rsa_key, rsa_key2, ec_key)
    assert verifier.verify(sign(rsa_key2, kid="whatever"))["sub"] == "u-1"
    assert verifier.verify(sign(ec_key))["sub"] == "u-1"


def test_es256_and_eddsa_from_a_jwks(ec_key: Key, ed_key: Key) -> None:
    endpoint = FakeJwksEndpoint([ec_key.jwk(), ed_key.jwk()])
    verifier, _ = jwks_verifier(endpoint, FakeClock(), algorithms=("ES256", "EdDSA"))
    assert verifier.verify(sign(ec_key))["sub"] == "u-1"
    assert verifier.verify(sign(ed_key))["sub"] == "u-1"


def test_hs256_with_the_configured_secret() -> None:
    verifier = TokenVerifier(policy(("HS256",)), KeyRing([HmacSecret(SECRET)]))
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert verifier.verify(token)["sub"] == "u-1"


def test_audience_may_be_one_of_several(tmp_path: Path, rsa_key: Key) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(rsa_key.pem())
    verifier = TokenVerifier(policy(audiences=("other", AUDIENCE)), KeyRing([PemFile(path)]))
    assert verifier.verify(sign(rsa_key, claims(aud=["x", AUDIENCE])))["sub"] == "u-1"


def test_leeway_tolerates_small_clock_skew(tmp_path: Path, rsa_key: Key) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(rsa_key.pem())
    verifier = TokenVerifier(policy(leeway=30), KeyRing([PemFile(path)]))
    now = int(time.time())
    assert verifier.verify(sign(rsa_key, claims(exp=now - 10)))
    assert verifier.verify(sign(rsa_key, claims(nbf=now + 10)))
    assert refused(verifier, sign(rsa_key, claims(exp=now - 60))) == "token expired"


# -- refused: algorithms and keys ----------------------------------------------------------------


def test_alg_none_is_refused(tmp_path: Path, rsa_key: Key) -> None:
    verifier = pem_verifier(tmp_path, rsa_key)
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    assert refused(verifier, f"{header}.{payload}.").startswith("malformed token")
    assert refused(verifier, f"{header}.{payload}.c2ln") == "algorithm not allowed: none"


def test_hs256_signed_with_the_rsa_public_key_is_refused(tmp_path: Path, rsa_key: Key) -> None:
    # The classic confusion: the attacker uses the public key as an HMAC secret.
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(preferred_username="admin")).encode())
    mac = hmac.new(rsa_key.pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{b64(mac)}"
    assert refused(pem_verifier(tmp_path, rsa_key), token) == "algorithm not allowed: HS256"
    # Even with HS256 allowed (for a configured secret), the RSA key is never used as a secret.
    path = tmp_path / "keys.pem"
    mixed = TokenVerifier(policy(("RS256", "HS256")), KeyRing([PemFile(path), HmacSecret(SECRET)]))
    assert [k.kty for k in mixed.keys.candidates("HS256", None, may_fetch=False)] == ["oct"]
    assert refused(mixed, token) == "signature verification failed"


def test_rs256_token_is_not_checked_with_the_hmac_secret(rsa_key: Key) -> None:
    verifier = TokenVerifier(policy(("HS256",)), KeyRing([HmacSecret(SECRET)]))
    assert refused(verifier, sign(rsa_key)) == "algorithm not allowed: RS256"


def test_algorithm_must_fit_the_key_type_and_curve(ec_key: Key, rsa_key: Key) -> None:
    endpoint = FakeJwksEndpoint([ec_key.jwk(), rsa_key.jwk()])
    verifier, _ = jwks_verifier(endpoint, FakeClock(), algorithms=("RS256", "ES256", "ES384"))
    # An ES384 token naming the P-256 key: the curve does not fit, so no key is tried.
    header = b64(json.dumps({"alg": "ES384", "kid": ec_key.kid}).encode())
    payload = b64(json.dumps(claims()).encode())
    assert refused(verifier, f"{header}.{payload}.c2ln") == "unknown signing key id"
    # An ES256 token naming the RSA key's kid.
    header = b64(json.dumps({"alg": "ES256", "kid": rsa_key.kid}).encode())
    assert refused(verifier, f"{header}.{payload}.c2ln") == "unknown signing key id"


def test_a_jwk_alg_pins_its_key_to_that_algorithm(rsa_key: Key) -> None:
    endpoint = FakeJwksEndpoint([rsa_key.jwk(alg="RS256")])
    verifier, _ = jwks_verifier(endpoint, FakeClock(), algorithms=("RS256", "PS256"))
    assert verifier.verify(sign(rsa_key))
    assert refused(verifier, sign(rsa_key, alg="PS256")) == "unknown signing key id"


def test_unknown_kid_is_refused(rsa_key: Key, rsa_key2: Key) -> None:
    verifier, _ = jwks_verifier(FakeJwksEndpoint([rsa_key.jwk()]), FakeClock())
    assert refused(verifier, sign(rsa_key2)) == "unknown signing key id"


def test_bad_signature_is_refused(tmp_path: Path, rsa_key: Key) -> None:
    token = sign(rsa_key)
    head, payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert refused(pem_verifier(tmp_path, rsa_key), f"{head}.{payload}.{flipped}") == (
        "signature verification failed"
    )
    other_payload = b64(json.dumps(claims(preferred_username="admin")).encode())
    assert refused(pem_verifier(tmp_path, rsa_key), f"{head}.{other_payload}.{signature}") == (
        "signature verification failed"
    )


def test_key_from_the_token_header_is_never_used(tmp_path: Path, rsa_key: Key, rsa_key2: Key) -> None:
    # The attacker's own key, offered in the header: jwk, jku and x5u are ignored.
    token = sign(rsa_key2, jwk=rsa_key2.jwk(), jku="https://evil.example/jwks", x5u="https://evil.example/c")
    assert refused(pem_verifier(tmp_path, rsa_key), token) == "signature verification failed"


# -- refused: shape and claims --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": Seconds(-3600)}, "token expired"),
        ({"nbf": Seconds(3600)}, "token not yet valid"),
        ({"iat": Seconds(3600)}, "token not yet valid"),
        ({"exp": None}, "missing claim: exp"),
        ({"iss": "https://idp.example.org"}, "wrong issuer"),
        ({"iss": ISSUER + "evil"}, "wrong issuer"),
        ({"iss": None}, "missing claim: iss"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"aud": ["a", "b"]}, "wrong audience"),
        ({"aud": None}, "missing claim: aud"),
        ({"exp": "tomorrow"}, "malformed token"),
    ],
)
def test_claims_are_checked(tmp_path: Path, rsa_key: Key, overrides: dict[str, object], reason: str) -> None:
    token = sign(rsa_key, claims(**from_now(overrides)))
    assert refused(pem_verifier(tmp_path, rsa_key), token) == reason


def test_oversized_token_is_refused_before_parsing(tmp_path: Path, rsa_key: Key) -> None:
    token = sign(rsa_key, claims(padding="x" * 20000))
    assert refused(pem_verifier(tmp_path, rsa_key), token) == "token larger than 16384 bytes"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"crit": ["exp"]}, "critical header extensions are not supported"),
        ({"b64": False}, "unencoded payloads are not supported"),
        ({"enc": "A256GCM"}, "encrypted tokens are not supported"),
        ({"kid": 7}, "malformed token: bad key id"),
        ({"kid": "k" * 300}, "malformed token: bad key id"),
    ],
)
def test_unusual_headers_are_refused(
    tmp_path: Path, rsa_key: Key, headers: dict[str, object], reason: str
) -> None:
    header = b64(json.dumps({"alg": "RS256", **headers}).encode())
    payload = b64(json.dumps(claims()).encode())
    assert refused(pem_verifier(tmp_path, rsa_key), f"{header}.{payload}.c2ln") == reason


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d.e", "a..c", "eyJ.eyJ.sig with space", "é.é.é", "a.b.c\n", "Bearer a.b.c"],
)
def test_malformed_tokens_are_refused(tmp_path: Path, rsa_key: Key, token: str) -> None:
    assert refused(pem_verifier(tmp_path, rsa_key), token).startswith("malformed token")


# -- no crash on anything -------------------------------------------------------------------------


@settings(max_examples=3000)
@given(
    st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,40}")
)
def test_arbitrary_text_is_refused_not_crashed(fuzz_verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidToken):
        fuzz_verifier.verify(token)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=1500)
@given(
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jku", "x"]), json_values),
    payload=st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "sub", "preferred_username", "groups"]),
        json_values,
    ),
)
def test_signed_garbage_is_refused_or_verified_never_crashed(
    fuzz_key: Key, fuzz_verifier: TokenVerifier, header: dict[str, object], payload: dict[str, object]
) -> None:
    head = b64(json.dumps({**header, "alg": header.get("alg", "RS256")}).encode())
    body = b64(json.dumps(payload).encode())
    signature = fuzz_key.private.sign(f"{head}.{body}".encode(), *_rsa_padding())
    token = f"{head}.{body}.{b64(signature)}"
    try:
        verified = fuzz_verifier.verify(token)
    except InvalidToken:
        return
    # Whatever passes really satisfies the policy.
    assert verified["iss"] == ISSUER
    assert verified["exp"] > time.time() - 1


@pytest.fixture(scope="module")
def fuzz_key() -> Key:
    """One RSA key for all fuzzed cases, made before Hypothesis runs (it watches global state)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return Key("fuzz", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def fuzz_verifier(tmp_path_factory: pytest.TempPathFactory, fuzz_key: Key) -> TokenVerifier:
    """A verifier with a PEM key and an HMAC secret, warmed up before Hypothesis runs."""
    path = tmp_path_factory.mktemp("fuzz") / "k.pem"
    path.write_bytes(fuzz_key.pem())
    verifier = TokenVerifier(
        policy(("RS256", "ES256", "HS256")), KeyRing([PemFile(path), HmacSecret(SECRET)])
    )
    with pytest.raises(InvalidToken):
        verifier.verify("a.b.c")
    return verifier


def _rsa_padding() -> tuple[object, object]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15(), hashes.SHA256()


def test_pem_mode_ignores_the_kid_by_decision(tmp_path: Path, rsa_key: Key, rsa_key2: Key) -> None:
    """docs/decisions.md "PEM keys and kid": a PEM file has no key ids, so a token's ``kid`` selects
    nothing; the file's keys are the whole trust anchor and a ``kid`` can neither add a key nor make
    one be fetched. Only a signature by a key in the file verifies, whatever the ``kid`` says."""
    verifier = pem_verifier(tmp_path, rsa_key)
    for kid in ("rsa-1", "unknown", "../../etc/passwd", "https://evil.test/key"):
        assert verifier.verify(sign(rsa_key, kid=kid))["sub"] == "u-1"
    assert refused(verifier, sign(rsa_key2, kid=rsa_key.kid)) == "signature verification failed"
