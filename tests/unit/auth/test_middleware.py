"""The ASGI middleware with a real verifier and claim mapping; users come from an in-memory directory
(the FAB user store is exercised against a real api-server in the end-to-end tests)."""

from __future__ import annotations

import json
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from airflow_platform_plugins.auth.authenticator import HeaderAuthenticator
from airflow_platform_plugins.auth.context import proxy_user
from airflow_platform_plugins.auth.errors import Unavailable
from airflow_platform_plugins.auth.identity import ClaimNames, Identity, RolePolicy
from airflow_platform_plugins.auth.keys import KeyRing, PemFile
from airflow_platform_plugins.auth.middleware import JwtHeaderMiddleware
from airflow_platform_plugins.auth.tokens import TokenVerifier
from tests.unit.auth.conftest import Key, claims, policy, sign

MARKER = object()
HEADER = "X-Jwt-Assertion"


class Directory:
    """Users by identity, as the FAB store hands them out; records where each lookup ran."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.resolved_in: list[str] = []
        self.fail: Exception | None = None

    def cached(self, identity: Identity, granted: frozenset[str]) -> Any | None:
        user = self.users.get(identity.username)
        return user if user is not None and user["roles"] == sorted(granted) else None

    def resolve(self, identity: Identity, granted: frozenset[str]) -> Any:
        self.resolved_in.append(threading.current_thread().name)
        if self.fail is not None:
            raise self.fail
        user = {"username": identity.username, "roles": sorted(granted)}
        self.users[identity.username] = user
        return user


async def echo(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    state = scope.get("state", {})
    body = json.dumps(
        {
            "user": state.get("user"),
            "trusted": state.get("user_authenticated_via") is MARKER,
            "context": proxy_user.get(),
            "path": scope["path"],
        }
    ).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def authenticator(tmp_path: Path, rsa_key: Key, directory: Directory) -> HeaderAuthenticator:
    pem = tmp_path / "k.pem"
    pem.write_bytes(rsa_key.pem())
    return HeaderAuthenticator(
        HEADER,
        TokenVerifier(policy(), KeyRing([PemFile(pem)])),
        ClaimNames(username=("preferred_username",)),
        RolePolicy({"viewers": ("Viewer",), "admins": ("Admin",)}),
        directory,
    )


@pytest.fixture
def client(authenticator: HeaderAuthenticator) -> TestClient:
    app = JwtHeaderMiddleware(echo, resolve=lambda: authenticator, trusted_marker=MARKER)
    return TestClient(app, follow_redirects=False)


def token(key: Key, **overrides: Any) -> str:
    return sign(key, claims(groups=["viewers"], **overrides))


def test_without_the_header_nothing_changes(client: TestClient) -> None:
    assert client.get("/api/v2/dags").json() == {
        "user": None,
        "trusted": False,
        "context": None,
        "path": "/api/v2/dags",
    }


def test_a_valid_header_names_the_user_for_airflow_and_the_fab_pages(
    client: TestClient, rsa_key: Key, directory: Directory
) -> None:
    body = client.get("/api/v2/dags", headers={HEADER: token(rsa_key)}).json()
    assert body["user"] == {"username": "alice", "roles": ["Viewer"]}
    assert body["trusted"] is True
    assert body["context"] == body["user"]
    assert proxy_user.get() is None  # reset after the request


def test_the_first_sight_runs_off_the_event_loop_then_comes_from_the_cache(
    client: TestClient, rsa_key: Key, directory: Directory
) -> None:
    for _ in range(5):
        assert client.get("/", headers={HEADER: token(rsa_key)}).status_code == 200
    assert len(directory.resolved_in) == 1
    assert directory.resolved_in[0] != threading.main_thread().name


def test_a_role_change_in_the_token_resolves_again(
    client: TestClient, rsa_key: Key, directory: Directory
) -> None:
    client.get("/", headers={HEADER: token(rsa_key)})
    body = client.get("/", headers={HEADER: sign(rsa_key, claims(groups=["admins"]))}).json()
    assert body["user"]["roles"] == ["Admin"]
    assert len(directory.resolved_in) == 2


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ([(HEADER, "a.b.c"), (HEADER, "a.b.c")], 401, f"the {HEADER} header was sent 2 times"),
        ([("X_Jwt_Assertion", "a.b.c")], 401, f"a header named like {HEADER} (with '_') was sent"),
        ([(HEADER, "x" * 20000)], 401, f"the {HEADER} header is larger than 16384 bytes"),
        ([(HEADER.encode(), b"\xff\xfe.a.b")], 401, "malformed token: not ASCII"),
        ([(HEADER, "garbage")], 401, "malformed token: not a signed JWT in compact form"),
    ],
)
def test_a_bad_header_is_refused_with_a_short_reason(
    client: TestClient, headers: list[tuple[Any, Any]], status: int, reason: str
) -> None:
    response = client.get("/api/v2/dags", headers=headers)
    assert response.status_code == status
    assert response.json() == {"detail": reason}
    assert response.headers["cache-control"] == "no-store"


def test_an_identity_without_a_role_gets_403(client: TestClient, rsa_key: Key) -> None:
    response = client.get("/api/v2/dags", headers={HEADER: sign(rsa_key, claims(groups=["Admin"]))})
    assert response.status_code == 403
    assert response.json() == {"detail": "no Airflow role is mapped to this identity"}


def test_browsers_get_a_page_that_says_why(client: TestClient, rsa_key: Key) -> None:
    expired = sign(rsa_key, claims(groups=["viewers"], exp=1000))
    response = client.get("/", headers={HEADER: expired, "Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert '<p class="reason" id="reason">token expired</p>' in response.text
    assert HEADER in response.text


def test_reasons_are_escaped_in_pages(client: TestClient) -> None:
    header = "eyJhbGciOiI8c2NyaXB0PiJ9.e30.c2ln"  # {"alg":"<script>"}
    response = client.get("/", headers={HEADER: header, "Accept": "text/html"})
    assert "<script>" not in response.text
    assert "algorithm not allowed: &lt;script&gt;" in response.text


def test_database_trouble_is_503_and_unexpected_errors_are_not_500(
    client: TestClient, rsa_key: Key, directory: Directory
) -> None:
    directory.fail = Unavailable("the user database is unavailable")
    assert client.get("/", headers={HEADER: token(rsa_key)}).status_code == 503
    directory.fail = RuntimeError("bug")
    response = client.get("/", headers={HEADER: token(rsa_key)})
    assert response.status_code == 401
    assert response.json() == {"detail": "the identity header could not be verified"}


def test_task_execution_api_and_logout_pass_untouched(client: TestClient) -> None:
    for path in ("/execution/task-instances/1/run", "/api/v2/auth/logout", "/auth/logout/"):
        assert client.get(path, headers={HEADER: "garbage"}).json()["path"] == path


def test_fab_logout_is_sent_to_the_sign_on_logout_page(client: TestClient) -> None:
    response = client.get("/auth/logout")
    assert response.status_code == 307
    assert response.headers["location"] == "/auth/logout/"


def test_paths_are_taken_relative_to_the_root_path(authenticator: HeaderAuthenticator) -> None:
    app = JwtHeaderMiddleware(echo, resolve=lambda: authenticator, trusted_marker=MARKER)
    client = TestClient(app, root_path="/airflow", follow_redirects=False)
    assert client.get("/execution/x", headers={HEADER: "garbage"}).status_code == 200
    assert client.get("/auth/logout").headers["location"] == "/airflow/auth/logout/"


def test_inert_unless_the_security_manager_is_configured(rsa_key: Key) -> None:
    client = TestClient(JwtHeaderMiddleware(echo, resolve=lambda: None, trusted_marker=MARKER))
    assert client.get("/", headers={HEADER: "garbage"}).json()["user"] is None


def test_asks_again_while_airflow_is_starting(authenticator: HeaderAuthenticator, rsa_key: Key) -> None:
    ready = {"now": False}

    def resolve() -> Any:
        if not ready["now"]:
            raise RuntimeError("Auth Manager has not been initialized yet")
        return authenticator

    client = TestClient(JwtHeaderMiddleware(echo, resolve=resolve, trusted_marker=MARKER))
    assert client.get("/", headers={HEADER: token(rsa_key)}).json()["user"] is None
    ready["now"] = True
    assert client.get("/", headers={HEADER: token(rsa_key)}).json()["user"]["username"] == "alice"


# -- Authorization: the identity provider's tokens beside Airflow's own ---------------------------


async def echo_authorization(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    state = scope.get("state", {})
    seen = [v.decode() for n, v in scope.get("headers", ()) if n.lower() == b"authorization"]
    body = json.dumps({"user": state.get("user"), "authorization": seen}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def bearer_client(tmp_path: Path, rsa_key: Key, directory: Directory) -> TestClient:
    pem = tmp_path / "bearer.pem"
    pem.write_bytes(rsa_key.pem())
    auth = HeaderAuthenticator(
        "Authorization",
        TokenVerifier(policy(), KeyRing([PemFile(pem)])),
        ClaimNames(username=("preferred_username",)),
        RolePolicy({"viewers": ("Viewer",)}),
        directory,
        bearer=True,
    )
    return TestClient(JwtHeaderMiddleware(echo_authorization, resolve=lambda: auth, trusted_marker=MARKER))


def test_an_idp_bearer_token_signs_in_and_is_taken_off_the_request(
    bearer_client: TestClient, rsa_key: Key
) -> None:
    body = bearer_client.get("/api/v2/dags", headers={"Authorization": f"Bearer {token(rsa_key)}"}).json()
    assert body == {"user": {"username": "alice", "roles": ["Viewer"]}, "authorization": []}


def test_airflows_own_bearer_token_is_left_to_airflow(bearer_client: TestClient) -> None:
    import jwt

    own = jwt.encode({"sub": "1", "iss": "http://airflow", "exp": 2**31}, "s" * 64, algorithm="HS512")
    body = bearer_client.get("/api/v2/dags", headers={"Authorization": f"Bearer {own}"}).json()
    assert body == {"user": None, "authorization": [f"Bearer {own}"]}


def test_a_bad_idp_bearer_token_is_refused_never_passed_on(bearer_client: TestClient, rsa_key: Key) -> None:
    expired = token(rsa_key, exp=1)
    response = bearer_client.get("/api/v2/dags", headers={"Authorization": f"Bearer {expired}"})
    assert (response.status_code, response.json()) == (401, {"detail": "token expired"})
