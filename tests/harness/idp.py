"""A small identity provider for tests, on 127.0.0.1, in a thread of the test process.

What a sign-in proxy's auth server does, reduced to what the tests need:

- ``GET /auth``: nginx's ``auth_request`` target. The ``idp_session`` cookie names a session;
  the answer is 200 with the session's token in ``X-Idp-Token``, or 401 without a session.
- ``GET /jwks``: the published public keys (503 while :attr:`IdentityProvider.jwks_up` is false).
- ``GET /sign_in?user=NAME&next=URL``: starts a session for a user (sets the cookie).
- ``GET /sign_out``: ends the session (the sign-out URL Airflow's logout redirects to).

Tests change users (:meth:`IdentityProvider.set_user`), rotate keys (:meth:`rotate`), take the
JWKS down, and mint any token they like (:meth:`sign`) — also bad ones, which a session can hand
out instead of a real token (:meth:`session_with_token`).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "airflow"
TOKEN_HEADER = "X-Idp-Token"
COOKIE = "idp_session"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def public(self) -> Any:
        return self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.RSAAlgorithm if self.alg.startswith("RS") else jwt.algorithms.ECAlgorithm
        data = json.loads(algorithm.to_jwk(self.public))
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}


def new_key(alg: str) -> SigningKey:
    if alg == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(alg)
    return SigningKey(f"{alg.lower()}-{secrets.token_hex(4)}", alg, private)


@dataclass
class Session:
    username: str | None
    token: Callable[[], str] | None = None  # a fixed token source, for bad-token tests
    cached: str | None = None
    cached_until: float = 0.0
    cached_version: int = -1


@dataclass
class Profile:
    claims: dict[str, Any] = field(default_factory=dict)
    version: int = 0


class IdentityProvider:
    """See the module docstring."""

    def __init__(
        self, *, algorithms: tuple[str, ...] = ("RS256", "ES256"), token_lifetime: int = 600
    ) -> None:
        self.keys = [new_key(alg) for alg in algorithms]
        self.active = self.keys[0]
        self.retired: list[SigningKey] = []
        self.token_lifetime = token_lifetime
        self.users: dict[str, Profile] = {}
        self.sessions: dict[str, Session] = {}
        self.jwks_up = True
        self.jwks_requests: list[float] = []
        self.auth_requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = f"{self.url}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-idp", daemon=True)
        self._thread.start()

    # -- test API -------------------------------------------------------------------------------

    def set_user(self, username: str, **claims: Any) -> None:
        """Create or change a user; their next token carries the new claims."""
        with self._lock:
            profile = self.users.setdefault(username, Profile())
            profile.claims = {"preferred_username": username, **claims}
            profile.version += 1

    def session_for(self, username: str) -> str:
        """A session cookie value for a signed-in user."""
        sid = secrets.token_urlsafe(16)
        with self._lock:
            self.sessions[sid] = Session(username)
        return sid

    def session_with_token(self, token: str | Callable[[], str]) -> str:
        """A session whose auth answer carries exactly this token (for bad-token tests)."""
        sid = secrets.token_urlsafe(16)
        source = token if callable(token) else (lambda: token)
        with self._lock:
            self.sessions[sid] = Session(None, source)
        return sid

    def claims_for(self, username: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        with self._lock:
            profile = self.users[username]
            base = dict(profile.claims)
        return {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": f"sub-{username}",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "jti": secrets.token_hex(8),
            **base,
            **overrides,
        }

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        key = key or self.active
        return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})})

    def token_for(self, username: str, *, key: SigningKey | None = None, **overrides: Any) -> str:
        return self.sign(self.claims_for(username, **overrides), key=key)

    def use(self, alg: str) -> SigningKey:
        """Sign new tokens with the published key of this algorithm."""
        with self._lock:
            self.active = next(k for k in self.keys if k.alg == alg)
            self._drop_cached_tokens()
            return self.active

    def rotate(self, alg: str | None = None, *, retire_old: bool = False, publish: bool = True) -> SigningKey:
        """A new signing key (published unless ``publish`` is false); the old one stays published
        unless ``retire_old``."""
        key = new_key(alg or self.active.alg)
        with self._lock:
            if retire_old:
                self.retired.append(self.active)
                self.keys.remove(self.active)
            if publish:
                self.keys.append(key)
            self.active = key
            self._drop_cached_tokens()
        return key

    def publish(self, key: SigningKey) -> None:
        with self._lock:
            if key not in self.keys:
                self.keys.append(key)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [k.jwk() for k in self.keys]}

    def jwks_fetches_since(self, since: float) -> int:
        return sum(1 for t in list(self.jwks_requests) if t >= since)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- HTTP -----------------------------------------------------------------------------------

    def _drop_cached_tokens(self) -> None:
        for session in self.sessions.values():
            session.cached = None

    def _token_for_session(self, session: Session) -> str:
        if session.token is not None:
            return session.token()
        assert session.username is not None
        with self._lock:
            version = self.users[session.username].version
            if session.cached and session.cached_version == version and time.time() < session.cached_until:
                return session.cached
        token = self.token_for(session.username)
        with self._lock:
            session.cached, session.cached_version = token, version
            session.cached_until = time.time() + self.token_lifetime / 2
        return token

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _session(self) -> Session | None:
                cookie = SimpleCookie(self.headers.get("Cookie", ""))
                morsel = cookie.get(COOKIE)
                return idp.sessions.get(morsel.value) if morsel else None

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/auth":
                    idp.auth_requests += 1
                    session = self._session()
                    if session is None:
                        self._send(401, b"not signed in")
                        return
                    self._send(200, b"", {TOKEN_HEADER: idp._token_for_session(session)})
                elif url.path == "/jwks":
                    idp.jwks_requests.append(time.time())
                    if not idp.jwks_up:
                        self._send(503, b"down")
                        return
                    body = json.dumps(idp.jwks()).encode()
                    self._send(200, body, {"Content-Type": "application/json"})
                elif url.path == "/sign_in":
                    sid = idp.session_for(query["user"])
                    cookie = f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"
                    self._send(302, b"", {"Location": query.get("next", "/"), "Set-Cookie": cookie})
                elif url.path == "/sign_out":
                    morsel = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
                    if morsel:
                        idp.sessions.pop(morsel.value, None)
                    cookie = f"{COOKIE}=; Path=/; Max-Age=0"
                    body = b"<!doctype html><title>Signed out</title><h1>Signed out of the identity provider"
                    self._send(200, body, {"Set-Cookie": cookie, "Content-Type": "text/html"})
                else:
                    self._send(404, b"not found")

        return Handler
