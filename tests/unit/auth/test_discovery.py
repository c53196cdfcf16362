"""OIDC discovery: the JWKS URL from the issuer's configuration, with JwksUrl's caching and outage rules.
(The HTTP side, redirects and size caps: tests/integration/auth/test_discovery_http.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_platform_plugins.auth.discovery import OidcDiscovery, discovery_url, jwks_uri_from
from airflow_platform_plugins.auth.errors import Unavailable
from airflow_platform_plugins.auth.jwks import JwksUrl
from airflow_platform_plugins.auth.keys import KeyRing
from airflow_platform_plugins.auth.tokens import TokenVerifier
from tests.unit.auth.conftest import ISSUER, FakeClock, Key, policy, sign

JWKS = "https://idp.example.org/keys"


class Web:
    def __init__(self, key: Key) -> None:
        self.documents: dict[str, Any] = {
            discovery_url(ISSUER): {"issuer": ISSUER, "jwks_uri": JWKS},
            JWKS: {"keys": [key.jwk()]},
        }
        self.fetched: list[str] = []
        self.down = False

    def __call__(self, url: str, timeout: float) -> Any:
        self.fetched.append(url)
        if self.down:
            raise OSError("connection refused")
        return self.documents[url]


def verifier(web: Web, clock: FakeClock) -> TokenVerifier:
    source = JwksUrl(
        discovery_url(ISSUER),
        cache_ttl=300,
        refresh_interval=30,
        timeout=1,
        fetch=OidcDiscovery(ISSUER, cache_ttl=300, fetch=web, clock=clock),
        clock=clock,
    )
    return TokenVerifier(policy(), KeyRing([source]))


def test_discovery_url() -> None:
    assert (
        discovery_url("https://idp.example.org/")
        == "https://idp.example.org/.well-known/openid-configuration"
    )
    assert discovery_url("https://idp.example.org/realms/x") == (
        "https://idp.example.org/realms/x/.well-known/openid-configuration"
    )


def test_keys_come_from_the_discovered_jwks_uri_and_are_cached(rsa_key: Key) -> None:
    web, clock = Web(rsa_key), FakeClock()
    v = verifier(web, clock)
    assert v.verify(sign(rsa_key))["preferred_username"] == "alice"
    assert v.verify(sign(rsa_key))["preferred_username"] == "alice"
    assert web.fetched == [discovery_url(ISSUER), JWKS]


def test_an_outage_keeps_the_cached_keys_then_is_a_503(rsa_key: Key) -> None:
    web, clock = Web(rsa_key), FakeClock()
    v = verifier(web, clock)
    v.verify(sign(rsa_key))
    web.down = True
    clock.advance(299)
    assert v.verify(sign(rsa_key))  # within the cache TTL
    clock.advance(2)
    with pytest.raises(Unavailable):
        v.verify(sign(rsa_key))
    web.down = False
    clock.advance(30)
    assert v.verify(sign(rsa_key))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        ({"issuer": "https://evil.example.org/", "jwks_uri": JWKS}, "names issuer"),
        ({"issuer": ISSUER}, "no jwks_uri"),
        ({"issuer": ISSUER, "jwks_uri": "http://idp.example.org/keys"}, "is not an https URL"),
        ({"issuer": ISSUER, "jwks_uri": "file:///etc/passwd"}, "is not an https URL"),
    ],
)
def test_a_bad_discovery_document_is_refused(document: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jwks_uri_from(document, ISSUER)


def test_plain_http_jwks_only_for_a_plain_http_issuer() -> None:
    issuer = "http://127.0.0.1:8080/"
    assert jwks_uri_from({"issuer": issuer, "jwks_uri": "http://127.0.0.1:8080/jwks"}, issuer)


def test_a_discovery_document_naming_another_issuer_gives_no_keys(rsa_key: Key) -> None:
    web, clock = Web(rsa_key), FakeClock()
    web.documents[discovery_url(ISSUER)] = {"issuer": "https://evil.example.org/", "jwks_uri": JWKS}
    with pytest.raises(Unavailable):
        verifier(web, clock).verify(sign(rsa_key))
    assert JWKS not in web.fetched
