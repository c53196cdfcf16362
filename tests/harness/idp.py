"""A small identity provider for tests, on 127.0.0.1, in a thread of the test process.

What a sign-in proxy's auth server does, reduced to what the tests need:

- ``GET /auth``: nginx's ``auth_request`` target. The ``idp_session`` cookie names a session;
  the answer is 200 with the session's token in ``X-Idp-Token``, or 401 without a session.
- ``GET /jwks``: the published public keys (503 while :attr:`IdentityProvider.jwks_up` is false).
- ``GET /sign_in?user=NAME&next=URL``: starts a session for a user (sets the cookie).
- ``GET /sign_out``: ends the session (the sign-out URL Airflow's logout redirects to).
- OpenID Connect for real clients (oauth2-proxy, API clients): ``/.well-known/openid-configuration``,
  ``/authorize`` (a login form: the browser types a username the IdP knows), ``/token``
  (``authorization_code`` with PKCE, and ``client_credentials``), ``/userinfo``. Clients are
  registered with :meth:`IdentityProvider.register_client`.
- Key publications in vendors' formats (:mod:`tests.harness.vendors`), served from :attr:`documents`.

Tests change users (:meth:`IdentityProvider.set_user`), rotate keys (:meth:`rotate`), take the
JWKS down, and mint any token they like (:meth:`sign`) — also bad ones, which a session can hand
out instead of a real token (:meth:`session_with_token`).
"""

from __future__ import annotations

import base64
import hashlib
import html
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


@dataclass
class Client:
    """An OAuth client: a relying party (oauth2-proxy) or a service with client credentials."""

    client_id: str
    secret: str
    redirect_uris: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)  # for client_credentials tokens
    audience: str = AUDIENCE


@dataclass
class Grant:
    client_id: str
    username: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None
    method: str


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
        self.clients: dict[str, Client] = {}
        self.grants: dict[str, Grant] = {}
        self.tokens_issued: list[str] = []
        self.documents: dict[str, tuple[str, bytes]] = {}  # path -> (content type, body)
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

    def register_client(
        self,
        client_id: str,
        *,
        redirect_uris: tuple[str, ...] = (),
        audience: str = AUDIENCE,
        **claims: Any,
    ) -> Client:
        """A client; ``claims`` go into its ``client_credentials`` tokens."""
        client = Client(client_id, secrets.token_urlsafe(16), redirect_uris, claims, audience)
        with self._lock:
            self.clients[client_id] = client
        return client

    def serve(self, path: str, body: bytes, content_type: str = "application/json") -> str:
        """Publish a document (a vendor's key format) at ``path``; its URL."""
        with self._lock:
            self.documents[path] = (content_type, body)
        return f"{self.url}{path}"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys}),
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "claims_supported": ["sub", "email", "email_verified", "preferred_username", "groups", "name"],
        }

    def client_credentials_token(self, client: Client) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": client.audience,
            "sub": f"service-account-{client.client_id}",
            "azp": client.client_id,
            "client_id": client.client_id,
            "preferred_username": f"service-account-{client.client_id}",
            "iat": now,
            "exp": now + self.token_lifetime,
            "jti": secrets.token_hex(8),
            **client.claims,
        }
        return self.sign(claims)

    def _code_grant_tokens(self, grant: Grant) -> dict[str, Any]:
        extra: dict[str, Any] = {"nonce": grant.nonce} if grant.nonce else {}
        id_token = self.token_for(
            grant.username, aud=grant.client_id, azp=grant.client_id, email_verified=True, **extra
        )
        access_token = self.token_for(grant.username)
        self.tokens_issued.append(id_token)
        return {
            "access_token": access_token,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "scope": "openid email profile groups",
        }

    def _client_auth(self, headers: Any, form: dict[str, str]) -> Client | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, secret = decoded.partition(":")
            client_id, secret = urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
        client = self.clients.get(client_id or "")
        if client is None or not secrets.compare_digest(client.secret, secret or ""):
            return None
        return client

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

            def _json(self, status: int, value: Any) -> None:
                self._send(status, json.dumps(value).encode(), {"Content-Type": "application/json"})

            def _form(self) -> dict[str, str]:
                length = int(self.headers.get("Content-Length") or 0)
                return dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))

            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                form = self._form()
                if url.path == "/authorize":  # the login form was submitted
                    client = idp.clients.get(form.get("client_id", ""))
                    if client is None or form.get("redirect_uri") not in client.redirect_uris:
                        self._send(400, b"unknown client or redirect_uri")
                        return
                    if form.get("user") not in idp.users:
                        self._login_page(form, "Unknown user")
                        return
                    code = secrets.token_urlsafe(16)
                    idp.grants[code] = Grant(
                        client.client_id,
                        form["user"],
                        form["redirect_uri"],
                        form.get("nonce") or None,
                        form.get("code_challenge") or None,
                        form.get("code_challenge_method") or "plain",
                    )
                    target = (
                        form["redirect_uri"]
                        + "?"
                        + urllib.parse.urlencode({"code": code, "state": form.get("state", "")})
                    )
                    self._send(302, b"", {"Location": target})
                elif url.path == "/token":
                    client = idp._client_auth(self.headers, form)
                    if client is None:
                        self._json(401, {"error": "invalid_client"})
                        return
                    if form.get("grant_type") == "client_credentials":
                        token = idp.client_credentials_token(client)
                        self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 600})
                        return
                    grant = idp.grants.pop(form.get("code", ""), None)
                    if (
                        form.get("grant_type") != "authorization_code"
                        or grant is None
                        or grant.client_id != client.client_id
                        or grant.redirect_uri != form.get("redirect_uri")
                        or not _pkce_ok(grant, form.get("code_verifier"))
                    ):
                        self._json(400, {"error": "invalid_grant"})
                        return
                    self._json(200, idp._code_grant_tokens(grant))
                else:
                    self._send(404, b"not found")

            def _login_page(self, fields: dict[str, str], error: str = "") -> None:
                hidden = "".join(
                    f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                    for k, v in fields.items()
                    if k != "user"
                )
                body = (
                    "<!doctype html><title>Test IdP sign-in</title><h1>Sign in</h1>"
                    f"<p id='error'>{html.escape(error)}</p>"
                    f'<form method="post" action="/authorize">{hidden}'
                    '<label>Username <input id="username" name="user"></label>'
                    '<button id="sign-in" type="submit">Sign in</button></form>'
                ).encode()
                self._send(200, body, {"Content-Type": "text/html; charset=utf-8"})

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path in idp.documents:
                    content_type, body = idp.documents[url.path]
                    self._send(200, body, {"Content-Type": content_type})
                elif url.path == "/.well-known/openid-configuration":
                    self._json(200, idp.discovery())
                elif url.path == "/authorize":
                    client = idp.clients.get(query.get("client_id", ""))
                    if client is None or query.get("redirect_uri") not in client.redirect_uris:
                        self._send(400, b"unknown client or redirect_uri")
                        return
                    self._login_page(query)
                elif url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                    try:
                        claims = jwt.decode(token, options={"verify_signature": False, "verify_aud": False})
                    except jwt.PyJWTError:
                        self._json(401, {"error": "invalid_token"})
                        return
                    self._json(
                        200, {k: v for k, v in claims.items() if k not in ("aud", "exp", "iat", "nbf")}
                    )
                elif url.path == "/auth":
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


def _pkce_ok(grant: Grant, verifier: str | None) -> bool:
    if grant.challenge is None:
        return True
    if verifier is None:
        return False
    if grant.method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == grant.challenge
    return verifier == grant.challenge
