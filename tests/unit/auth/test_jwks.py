"""JWKS keys: cached for their TTL (also while the URL is down), refetched on rotation, rate-limited."""

from __future__ import annotations

import threading
import time

import jwt
import pytest

from airflow_platform_plugins.auth.errors import InvalidToken, KeyFetchNeeded, Unavailable
from airflow_platform_plugins.auth.jwks import JwksUrl, parse_jwks
from airflow_platform_plugins.auth.keys import KeyRing
from airflow_platform_plugins.auth.tokens import TokenVerifier
from tests.unit.auth.conftest import FakeClock, FakeJwksEndpoint, Key, jwks_verifier, policy, sign


def test_keys_are_fetched_once_and_cached(rsa_key: Key) -> None:
    endpoint, clock = FakeJwksEndpoint([rsa_key.jwk()]), FakeClock()
    verifier, _ = jwks_verifier(endpoint, clock)
    for _ in range(50):
        verifier.verify(sign(rsa_key))
        clock.advance(1)
    assert endpoint.fetches == 1


def test_rotation_new_kid_triggers_one_refetch(rsa_key: Key, rsa_key2: Key) -> None:
    endpoint, clock = FakeJwksEndpoint([rsa_key.jwk()]), FakeClock()
    verifier, _ = jwks_verifier(endpoint, clock, interval=30)
    verifier.verify(sign(rsa_key))
    clock.advance(31)
    endpoint.keys.append(rsa_key2.jwk())
    assert verifier.verify(sign(rsa_key2))["sub"] == "u-1"
    assert endpoint.fetches == 2


def test_unknown_kids_cannot_make_it_fetch_more_than_once_per_interval(rsa_key: Key, rsa_key2: Key) -> None:
    endpoint, clock = FakeJwksEndpoint([rsa_key.jwk()]), FakeClock()
    verifier, _ = jwks_verifier(endpoint, clock, interval=30)
    verifier.verify(sign(rsa_key))
    for i in range(300):  # 300 tokens with random kids over 100 s
        with pytest.raises(InvalidToken, match="unknown signing key id"):
            verifier.verify(sign(rsa_key2, kid=f"random-{i}"))
        clock.advance(1 / 3)
    assert endpoint.fetches <= 1 + 100 // 30 + 1


def test_cached_keys_keep_working_during_an_outage_until_their_ttl(rsa_key: Key) -> None:
    endpoint, clock = FakeJwksEndpoint([rsa_key.jwk()]), FakeClock()
    verifier, _ = jwks_verifier(endpoint, clock, ttl=300, interval=30)
    verifier.verify(sign(rsa_key))
    endpoint.down = True
    clock.advance(299)
    assert verifier.verify(sign(rsa_key))["sub"] == "u-1"
    assert endpoint.fetches == 1  # nothing needed fetching yet
    clock.advance(2)  # past the TTL: a refetch is attempted and fails
    with pytest.raises(Unavailable, match="signing keys are unavailable"):
        verifier.verify(sign(rsa_key))
    assert endpoint.fetches == 2
    for _ in range(100):  # rate-limited while down
        with pytest.raises(Unavailable):
            verifier.verify(sign(rsa_key))
        clock.advance(0.25)
    assert endpoint.fetches == 2  # the next attempt is allowed only 30 s after the last one
    endpoint.down = False
    clock.advance(30)
    assert verifier.verify(sign(rsa_key))["sub"] == "u-1"


def test_a_failed_refetch_keeps_the_cached_keys(rsa_key: Key, rsa_key2: Key) -> None:
    endpoint, clock = FakeJwksEndpoint([rsa_key.jwk()]), FakeClock()
    verifier, _ = jwks_verifier(endpoint, clock)
    verifier.verify(sign(rsa_key))
    endpoint.down = True
    clock.advance(60)
    with pytest.raises(InvalidToken, match="unknown signing key id"):
        verifier.verify(sign(rsa_key2))  # triggers a refetch, which fails
    assert verifier.verify(sign(rsa_key))["sub"] == "u-1"


def test_never_blocks_when_asked_not_to(rsa_key: Key) -> None:
    endpoint, clock = FakeJwksEndpoint([rsa_key.jwk()]), FakeClock()
    verifier, _ = jwks_verifier(endpoint, clock)
    with pytest.raises(KeyFetchNeeded):
        verifier.verify(sign(rsa_key), may_fetch=False)
    assert endpoint.fetches == 0
    verifier.verify(sign(rsa_key), may_fetch=True)
    assert verifier.verify(sign(rsa_key), may_fetch=False)["sub"] == "u-1"


def test_hmac_tokens_never_trigger_a_fetch(rsa_key: Key) -> None:
    endpoint, clock = FakeJwksEndpoint([rsa_key.jwk()]), FakeClock()
    verifier, _ = jwks_verifier(endpoint, clock, algorithms=("RS256", "HS256"))
    token = jwt.encode({"a": 1}, "s" * 32, algorithm="HS256", headers={"kid": "new"})
    with pytest.raises(InvalidToken, match="unknown signing key"):
        verifier.verify(token)
    assert endpoint.fetches == 0


def test_only_public_signature_keys_are_taken(rsa_key: Key, ec_key: Key) -> None:
    private = {**rsa_key.jwk(), "kid": "leaked", "d": "AAAA"}
    keys = parse_jwks(
        {
            "keys": [
                rsa_key.jwk(),
                ec_key.jwk(use="sig"),
                {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
                private,
                {**rsa_key.jwk(), "kid": "enc", "use": "enc"},
                {**rsa_key.jwk(), "kid": "ops", "key_ops": ["encrypt"]},
                {**rsa_key.jwk(), "kid": "wrong-alg", "alg": "HS256"},
                {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
                "not a key",
            ]
        }
    )
    assert [k.kid for k in keys] == [rsa_key.kid, ec_key.kid]


@pytest.mark.parametrize("document", [[], {"keys": "x"}, {"nokeys": []}, "text", {"keys": [{}] * 101}])
def test_documents_that_are_not_a_jwks_are_errors(document: object) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        parse_jwks(document)


def test_requests_arriving_during_the_first_fetch_wait_for_it(rsa_key: Key) -> None:
    release = threading.Event()
    endpoint = FakeJwksEndpoint([rsa_key.jwk()])

    def slow_fetch(url: str, timeout: float) -> object:
        release.wait(5)
        return endpoint(url, timeout)

    source = JwksUrl("https://idp/jwks", cache_ttl=300, refresh_interval=30, timeout=1, fetch=slow_fetch)
    verifier = TokenVerifier(policy(), KeyRing([source]))
    results: list[object] = []

    def verify() -> None:
        try:
            results.append(verifier.verify(sign(rsa_key))["sub"])
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # all of them are asking for keys while the first fetch hangs
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == ["u-1"] * 8
    assert endpoint.fetches == 1
