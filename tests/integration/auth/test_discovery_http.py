"""OIDC discovery over HTTP from real servers on 127.0.0.1: the test identity provider's
``/.well-known/openid-configuration``, and an issuer whose discovery document redirects, is huge, or
names another issuer. Refusals keep the verifier closed; nothing is followed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_platform_plugins.auth.discovery import OidcDiscovery, discovery_url
from airflow_platform_plugins.auth.errors import Unavailable
from airflow_platform_plugins.auth.jwks import JwksUrl
from airflow_platform_plugins.auth.keys import KeyRing
from airflow_platform_plugins.auth.tokens import TokenPolicy, TokenVerifier
from tests.harness.idp import IdentityProvider


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    try:
        yield provider
    finally:
        provider.stop()


def verifier(issuer: str) -> tuple[TokenVerifier, JwksUrl]:
    source = JwksUrl(
        discovery_url(issuer),
        cache_ttl=300,
        refresh_interval=30,
        timeout=2,
        fetch=OidcDiscovery(issuer, cache_ttl=300),
    )
    policy = TokenPolicy(frozenset({"RS256", "ES256"}), issuer, ("airflow",), 5, 16384)
    return TokenVerifier(policy, KeyRing([source])), source


def test_keys_are_found_from_the_issuer_alone(idp: IdentityProvider) -> None:
    idp.set_user("dora", groups=["g"])
    token_verifier, source = verifier(idp.issuer)
    assert token_verifier.verify(idp.token_for("dora"))["preferred_username"] == "dora"
    assert source.fetch_attempts == 1


@pytest.fixture(scope="module")
def odd_issuer(idp: IdentityProvider) -> Iterator[str]:
    """An issuer at ``/<case>/`` whose discovery document misbehaves in the way ``case`` says."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            case = self.path.split("/")[1]
            issuer = f"http://{self.headers['Host']}/{case}/"
            document: dict[str, Any] = {"issuer": issuer, "jwks_uri": f"{idp.url}/jwks"}
            if case == "redirect":
                self.send_response(302)
                self.send_header("Location", f"{idp.url}/.well-known/openid-configuration")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if case == "huge":
                document["padding"] = " " * (2 << 20)
            if case == "other-issuer":
                document["issuer"] = idp.issuer
            if case == "file-jwks":
                document["jwks_uri"] = "file:///etc/passwd"
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("redirect", "HTTP 302"),
        ("huge", "larger than"),
        ("other-issuer", "names issuer"),
        ("file-jwks", "is not an http"),
    ],
)
def test_a_misbehaving_discovery_gives_no_keys(
    idp: IdentityProvider, odd_issuer: str, case: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    idp.set_user("eve", groups=["g"])
    issuer = f"{odd_issuer}/{case}/"
    token_verifier, source = verifier(issuer)
    with caplog.at_level("WARNING", logger="airflow_platform_plugins.auth.jwks"), pytest.raises(Unavailable):
        token_verifier.verify(idp.token_for("eve", iss=issuer))
    assert source.fetch_attempts == 1
    assert why in caplog.text
