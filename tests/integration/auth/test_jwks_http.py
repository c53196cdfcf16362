"""Fetching a JWKS over HTTP from real servers on 127.0.0.1: the test identity provider, and a server
that misbehaves (redirects, huge or slow answers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_platform_plugins.auth.errors import Unavailable
from airflow_platform_plugins.auth.jwks import JwksUrl, fetch_json
from tests.harness.idp import IdentityProvider


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def odd_server(idp: IdentityProvider) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", f"{idp.url}/jwks")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/huge":
                body = b'{"keys": [' + b" " * (2 << 20) + b"]}"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/slow":
                time.sleep(3)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_keys_are_fetched_over_http(idp: IdentityProvider) -> None:
    source = JwksUrl(f"{idp.url}/jwks", cache_ttl=60, refresh_interval=1, timeout=5)
    found = source.lookup(idp.active.alg, idp.active.kid, may_fetch=True)
    assert [k.kid for k in found] == [idp.active.kid]
    assert {k.kid for k in source.lookup("ES256", None, may_fetch=True)} == {
        k.kid for k in idp.keys if k.alg == "ES256"
    }


def test_an_outage_keeps_the_cached_keys_and_a_recovery_is_noticed(idp: IdentityProvider) -> None:
    source = JwksUrl(f"{idp.url}/jwks", cache_ttl=2, refresh_interval=0.5, timeout=5)
    assert source.lookup(idp.active.alg, idp.active.kid, may_fetch=True)
    idp.jwks_up = False
    try:
        assert source.lookup(idp.active.alg, idp.active.kid, may_fetch=True)  # cached
        time.sleep(2.2)
        with pytest.raises(Unavailable):
            source.lookup(idp.active.alg, idp.active.kid, may_fetch=True)
    finally:
        idp.jwks_up = True
    time.sleep(0.6)
    assert source.lookup(idp.active.alg, idp.active.kid, may_fetch=True)


@pytest.mark.parametrize(
    ("path", "error"), [("/redirect", OSError), ("/huge", ValueError), ("/slow", OSError)]
)
def test_redirects_huge_and_slow_answers_are_errors(
    odd_server: str, path: str, error: type[Exception]
) -> None:
    started = time.monotonic()
    with pytest.raises(error):
        fetch_json(f"{odd_server}{path}", timeout=1)
    assert time.monotonic() - started < 2.5
