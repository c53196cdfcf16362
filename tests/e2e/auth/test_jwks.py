"""Keys from the identity provider's JWKS, against the real api-server: RS256 and ES256, rotation,
removal, and an outage of the JWKS endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.auth.conftest import HEADER, JWKS_CACHE_TTL, JWKS_REFRESH_INTERVAL, SignOn
from tests.harness.idp import new_key

pytestmark = pytest.mark.airflow


@pytest.fixture
def idp_keys(sign_on: SignOn) -> Iterator[None]:
    """Put the identity provider's keys and JWKS back as they were."""
    keys, active = list(sign_on.idp.keys), sign_on.idp.active
    try:
        yield
    finally:
        sign_on.idp.jwks_up = True
        sign_on.idp.keys[:] = keys
        sign_on.idp.active = active
        time.sleep(JWKS_REFRESH_INTERVAL)


def status(sign_on: SignOn, token: str) -> int:
    with sign_on.direct() as client:
        return client.get("/api/v2/dags", headers={HEADER: token}).status_code


def test_rs256_and_es256_tokens_are_accepted(sign_on: SignOn, idp_keys: None) -> None:
    user = sign_on.new_user("algo", ["airflow-viewers"])
    for alg in ("RS256", "ES256"):
        sign_on.idp.use(alg)
        with sign_on.through_proxy(user) as client:
            me = client.get("/ui/auth/me")
        assert (alg, me.status_code, me.json()["username"]) == (alg, 200, user)


def test_a_rotated_key_is_fetched_on_first_use_and_a_removed_key_stops_working(
    sign_on: SignOn, idp_keys: None
) -> None:
    user = sign_on.new_user("rotor", ["airflow-viewers"])
    old = sign_on.idp.active
    assert status(sign_on, sign_on.idp.token_for(user)) == 200
    time.sleep(JWKS_REFRESH_INTERVAL + 0.5)
    fetches = len(sign_on.idp.jwks_requests)
    new = sign_on.idp.rotate("ES256")  # published; the api-server has not seen its kid
    assert status(sign_on, sign_on.idp.token_for(user)) == 200
    assert len(sign_on.idp.jwks_requests) == fetches + 1

    # The old key is withdrawn from the JWKS. It verifies until the next fetch, which any unknown kid
    # triggers (rate-limited); after that, its tokens are refused.
    sign_on.idp.keys.remove(old)
    time.sleep(JWKS_REFRESH_INTERVAL + 0.5)
    assert status(sign_on, sign_on.idp.token_for(user, key=new_key("RS256"))) == 401
    assert status(sign_on, sign_on.idp.token_for(user, key=old)) == 401
    assert status(sign_on, sign_on.idp.token_for(user, key=new)) == 200


def test_jwks_outage_cached_keys_work_until_their_ttl_and_refetches_are_rate_limited(
    sign_on: SignOn, idp_keys: None
) -> None:
    user = sign_on.new_user("outage", ["airflow-viewers"])
    time.sleep(JWKS_REFRESH_INTERVAL + 0.5)
    key = sign_on.idp.rotate("RS256")  # a kid the api-server must fetch now: the cache is fresh from here
    assert status(sign_on, sign_on.idp.token_for(user)) == 200
    fetched_at = sign_on.idp.jwks_requests[-1]

    sign_on.idp.jwks_up = False
    down_at = time.time()
    results: list[tuple[float, int, int]] = []  # (seconds since the fetch, known kid, unknown kid)
    while time.time() < fetched_at + JWKS_CACHE_TTL + 3 * JWKS_REFRESH_INTERVAL:
        known = status(sign_on, sign_on.idp.token_for(user, key=key))
        unknown = status(sign_on, sign_on.idp.token_for(user, key=new_key("RS256")))
        results.append((time.time() - fetched_at, known, unknown))
        time.sleep(0.2)
    attempts = sign_on.idp.jwks_fetches_since(down_at)
    outage = time.time() - down_at

    before_ttl = [r for r in results if r[0] < JWKS_CACHE_TTL - 0.5]
    after_ttl = [r for r in results if r[0] > JWKS_CACHE_TTL + JWKS_REFRESH_INTERVAL + 0.5]
    assert before_ttl
    assert after_ttl
    assert {known for _, known, _ in before_ttl} == {200}, "cached keys must keep working until their TTL"
    assert {unknown for _, _, unknown in before_ttl} == {401}
    assert {known for _, known, _ in after_ttl} == {503}, "expired keys that cannot be refetched"
    # Many more requests for a key the api-server does not have than fetches of the key set:
    assert len(results) >= 3 * attempts
    assert 1 <= attempts <= outage / JWKS_REFRESH_INTERVAL + 2

    sign_on.idp.jwks_up = True
    time.sleep(JWKS_REFRESH_INTERVAL + 0.5)
    assert status(sign_on, sign_on.idp.token_for(user, key=key)) == 200
