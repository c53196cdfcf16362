"""JWT-header sign-on through real nginx to a real api-server: every behaviour of issue #5."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.auth.conftest import (
    DAG_ID,
    HEADER,
    LEEWAY,
    SERVICE_PASSWORD,
    SERVICE_USER,
    USER_CACHE_TTL,
    SignOn,
)
from tests.harness.airflow import airflow_executable
from tests.harness.processes import ManagedProcess, free_port, wait_http

pytestmark = pytest.mark.airflow


def trigger(client: httpx.Client) -> httpx.Response:
    return client.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})


def test_ui_and_api_work_with_the_header_alone(sign_on: SignOn) -> None:
    user = sign_on.new_user("ada", ["airflow-admins"])
    with sign_on.through_proxy(user) as client:
        dags = client.get("/api/v2/dags")
        assert dags.status_code == 200
        assert DAG_ID in [d["dag_id"] for d in dags.json()["dags"]]
        assert client.get("/ui/auth/me").json()["username"] == user
        for path in ("/", f"/dags/{DAG_ID}"):
            page = client.get(path, headers={"Accept": "text/html"})
            assert page.status_code == 200
            assert '<div id="root"' in page.text  # the Airflow UI itself, not a login form
            assert 'type="password"' not in page.text
        menus = client.get("/ui/auth/menus").json()
        assert "Dags" in menus["authorized_menu_items"]


def test_the_user_is_created_on_first_sight_from_the_claims(sign_on: SignOn) -> None:
    user = sign_on.new_user("grace", ["airflow-users"], given_name="Grace", family_name="Hopper")
    assert sign_on.user_row(user) is None
    with sign_on.through_proxy(user) as client:
        assert client.get("/api/v2/dags").status_code == 200
    row = sign_on.user_row(user)
    assert row is not None
    assert (row["email"], row["first_name"], row["last_name"], row["active"]) == (
        f"{user}@example.org",
        "Grace",
        "Hopper",
        1,
    )
    assert row["password"] is None  # signs in through the proxy only
    assert sign_on.user_roles(user) == ["User"]


def test_name_email_and_roles_changes_apply_on_the_next_request(sign_on: SignOn) -> None:
    user = sign_on.new_user("carol", ["airflow-viewers"], given_name="Carol", family_name="Old")
    with sign_on.through_proxy(user) as client:
        assert trigger(client).status_code == 403
        sign_on.idp.set_user(
            user,
            groups=["airflow-admins"],
            email=f"new-{user}@example.org",
            given_name="Carol",
            family_name="New",
        )
        assert trigger(client).status_code == 200
        row = sign_on.user_row(user)
        assert row is not None
        assert (row["email"], row["last_name"]) == (f"new-{user}@example.org", "New")
        assert sign_on.user_roles(user) == ["Admin"]

        # AUTH_ROLES_SYNC_AT_LOGIN = True: a group removed at the IdP is removed in Airflow.
        sign_on.idp.set_user(user, groups="airflow-viewers", email=f"new-{user}@example.org")
        assert trigger(client).status_code == 403
        assert sign_on.user_roles(user) == ["Viewer"]
        row = sign_on.user_row(user)
        assert row is not None
        assert row["last_name"] == "New"  # absent name claims leave the names alone


def test_the_token_is_verified_again_on_every_request(sign_on: SignOn) -> None:
    user = sign_on.new_user("brief", ["airflow-viewers"])
    expires = int(time.time()) + 3
    session = sign_on.idp.session_with_token(sign_on.idp.token_for(user, exp=expires))
    with sign_on.through_proxy(session=session) as client:
        assert client.get("/api/v2/dags").status_code == 200
        assert client.get("/api/v2/dags").status_code == 200  # the user is cached now
        time.sleep(max(0.0, expires + LEEWAY + 1 - time.time()))
        response = client.get("/api/v2/dags")
    assert response.status_code == 401
    assert response.json() == {"detail": "token expired"}


def test_a_new_identity_beats_an_old_session(sign_on: SignOn) -> None:
    # A browser that still holds someone else's Airflow sessions: an Admin's _token cookie (Airflow's
    # own token) and an Admin's FAB session cookie from the Security pages.
    admin_token = sign_on.airflow.fab_token(SERVICE_USER, SERVICE_PASSWORD)
    admin = sign_on.new_user("root", ["airflow-admins"])
    with sign_on.through_proxy(admin) as admin_client:
        assert admin_client.get("/auth/users/list/").status_code == 200
        fab_session = admin_client.cookies.get("session")
    assert fab_session

    viewer = sign_on.new_user("victor", ["airflow-viewers"])
    with sign_on.through_proxy(viewer) as client:
        client.cookies.set("_token", admin_token)
        client.cookies.set("session", fab_session)
        assert client.get("/ui/auth/me").json()["username"] == viewer
        assert trigger(client).status_code == 403
        users_page = client.get("/auth/users/list/")
        assert users_page.status_code == 302  # FAB refuses the Viewer and sends them to login ...
        login = client.get(users_page.headers["location"])
        assert login.status_code == 403  # ... which says so instead of redirecting back
        assert "Your Airflow roles do not allow that page." in login.text


def test_concurrent_first_requests_create_exactly_one_user(sign_on: SignOn, tmp_path: Path) -> None:
    # A second api-server process on the same database, as with several replicas.
    port = free_port()
    second = ManagedProcess(
        [airflow_executable(), "api-server"],
        tmp_path / "second-api-server.log",
        env=sign_on.airflow.component_env(
            "api-server", {"AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "1"}
        ),
        cwd=sign_on.airflow.home,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", proc=second, timeout=180)
        user = sign_on.new_user("rush", ["airflow-users"])
        token = sign_on.idp.token_for(user)
        session = sign_on.idp.session_for(user)
        targets = [f"http://127.0.0.1:{port}", sign_on.airflow.url, sign_on.nginx.url]
        barrier = threading.Barrier(24)

        def first_request(i: int) -> int:
            base = targets[i % 3]
            headers = {} if base == sign_on.nginx.url else {HEADER: token}
            with httpx.Client(base_url=base, timeout=120, cookies={"idp_session": session}) as client:
                client.get("/api/v2/monitor/health")  # connect before the race
                barrier.wait()
                return client.get("/api/v2/dags", headers=headers).status_code

        with ThreadPoolExecutor(24) as pool:
            statuses = list(pool.map(first_request, range(24)))
        assert statuses == [200] * 24
        assert sign_on.count_users(user) == 1
        assert sign_on.user_roles(user) == ["User"]
    finally:
        second.stop()


def test_no_database_write_when_nothing_changed(sign_on: SignOn) -> None:
    user = sign_on.new_user("steady", ["airflow-viewers"], given_name="Stay", family_name="Same")
    # Proxies differ: some pass the same token until it expires, some mint a new one per request.
    same_token = sign_on.idp.session_for(user)
    fresh_tokens = sign_on.idp.session_with_token(lambda: sign_on.idp.token_for(user))
    with sign_on.through_proxy(session=same_token) as a, sign_on.through_proxy(session=fresh_tokens) as b:
        before = sign_on.writes_mark()
        assert a.get("/api/v2/dags").status_code == 200  # first sight: the user is created
        created = sign_on.writes(since=before)
        assert any(line.endswith("INSERT ab_user") for line in created), created  # the counter sees writes
        row = sign_on.user_row(user)
        mark = sign_on.writes_mark()
        for _ in range(20):
            for client in (a, b):
                assert client.get("/api/v2/dags").status_code == 200
                assert client.get("/ui/auth/me").status_code == 200
                assert client.get(f"/api/v2/dags/{DAG_ID}").status_code == 200
        time.sleep(USER_CACHE_TTL + 1)  # the in-memory copy expires: the row is read and compared
        for client in (a, b):
            assert client.get("/api/v2/dags").status_code == 200
    assert sign_on.writes(since=mark) == []
    assert sign_on.user_row(user) == row


def test_without_the_header_airflow_answers_401_and_the_login_page_says_why(sign_on: SignOn) -> None:
    with sign_on.direct() as client:
        api = client.get("/api/v2/dags")
        assert api.status_code == 401
        assert api.json() == {"detail": "Not authenticated"}
        # The UI sends a browser that got 401 to the login page; there is no form, only the reason.
        redirect = client.get(f"/api/v2/auth/login?next={sign_on.nginx.url}/dags")
        assert redirect.status_code == 307
        location = httpx.URL(redirect.headers["location"])
        assert location.path == "/auth/login/"
        login = client.get(f"{location.path}?{location.query.decode()}")  # on this api-server, not the proxy
        assert login.status_code == 401
        assert f"The request carried no {HEADER} header" in login.text
        assert "<form" not in login.text
    with sign_on.through_proxy() as client:  # not signed in at the IdP: nginx refuses
        assert client.get("/api/v2/dags").status_code == 401


def test_an_invalid_header_gets_401_with_a_reason_and_browsers_a_page(sign_on: SignOn) -> None:
    user = sign_on.new_user("late", ["airflow-viewers"])
    expired = sign_on.idp.token_for(user, exp=int(time.time()) - 3600)
    with sign_on.through_proxy(session=sign_on.idp.session_with_token(expired)) as client:
        api = client.get("/api/v2/dags")
        assert (api.status_code, api.json()) == (401, {"detail": "token expired"})
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 401
        assert '<p class="reason" id="reason">token expired</p>' in page.text
    assert sign_on.user_row(user) is None


def test_logout_ends_the_session_and_goes_to_the_proxy_sign_out(sign_on: SignOn) -> None:
    user = sign_on.new_user("leo", ["airflow-viewers"])
    with sign_on.through_proxy(user) as client:
        assert client.get("/api/v2/dags").status_code == 200
        client.cookies.set("_token", sign_on.airflow.fab_token(SERVICE_USER, SERVICE_PASSWORD))
        response = client.get("/api/v2/auth/logout", follow_redirects=True)
        hops = [(r.status_code, httpx.URL(r.headers["location"]).path) for r in response.history]
        assert hops == [(307, "/auth/logout"), (307, "/auth/logout/"), (302, "/idp/sign_out")]
        cleared = response.history[-1].headers.get_list("set-cookie")
        assert any(c.startswith("_token=;") and "Max-Age=0" in c for c in cleared)
        assert any(c.startswith("session=;") and "Max-Age=0" in c for c in cleared)
        assert response.status_code == 200
        assert "Signed out of the identity provider" in response.text
        # Not straight back in: the proxy has no session any more.
        assert client.get("/api/v2/dags").status_code == 401
        assert client.get("/", headers={"Accept": "text/html"}).status_code == 401


def test_airflows_own_bearer_tokens_keep_working(sign_on: SignOn) -> None:
    token = sign_on.airflow.fab_token(SERVICE_USER, SERVICE_PASSWORD)
    bearer = {"Authorization": f"Bearer {token}"}
    with sign_on.direct() as client:
        assert client.get("/api/v2/dags", headers=bearer).status_code == 200
        assert client.get("/ui/auth/me", headers=bearer).json()["username"] == SERVICE_USER
    # A signed-on user can get Airflow's own token for the CLI, and use it without the proxy.
    viewer = sign_on.new_user("cli", ["airflow-viewers"])
    with sign_on.through_proxy(viewer) as client:
        minted = client.post("/ui/auth/token", json={"token_type": "cli"})
        assert minted.status_code == 200
    cli = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    with sign_on.direct() as client:
        assert client.get("/ui/auth/me", headers=cli).json()["username"] == viewer
        assert trigger(httpx.Client(base_url=sign_on.airflow.url, headers=cli)).status_code == 403
    # An explicit bearer token takes precedence over the header, as Airflow decides for its own tokens.
    with sign_on.through_proxy(viewer) as client:
        assert client.get("/ui/auth/me", headers=bearer).json()["username"] == SERVICE_USER


def test_nginx_replaces_a_header_the_client_sent(sign_on: SignOn) -> None:
    viewer = sign_on.new_user("honest", ["airflow-viewers"])
    admin = sign_on.new_user("target", ["airflow-admins"])
    forged = sign_on.idp.token_for(admin)  # even a genuinely signed token of someone else
    with sign_on.through_proxy(viewer) as client:
        for name in (HEADER, HEADER.lower(), HEADER.upper()):
            assert client.get("/ui/auth/me", headers={name: forged}).json()["username"] == viewer
        assert trigger(client).status_code == 403
    with sign_on.through_proxy() as client:
        assert client.get("/api/v2/dags", headers={HEADER: forged}).status_code == 401
    assert sign_on.user_row(admin) is None
