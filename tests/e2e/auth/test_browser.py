"""The Airflow UI in headless Chromium, through nginx and the identity provider. Screenshots go to
``test-artifacts/auth/``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.auth.conftest import DAG_ID, SignOn
from tests.harness.browser import docs_screenshot
from tests.harness.idp import COOKIE

pytestmark = pytest.mark.airflow


def sign_in(page: Any, sign_on: SignOn, user: str, path: str = f"/dags/{DAG_ID}") -> None:
    """Sign in at the identity provider, which sends the browser on to Airflow."""
    page.goto(f"{sign_on.nginx.url}/idp/sign_in?user={user}&next={path}")
    page.get_by_role("heading", name=DAG_ID).wait_for()


def whoami(page: Any, sign_on: SignOn) -> str:
    response = page.context.request.get(f"{sign_on.nginx.url}/ui/auth/me")
    assert response.status == 200
    return str(response.json()["username"])


def trigger_from_the_ui(page: Any) -> Any:
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    with page.expect_response(
        lambda r: r.url.endswith(f"/dags/{DAG_ID}/dagRuns") and r.request.method == "POST"
    ) as info:
        dialog.get_by_role("button", name="Trigger").last.click()
    return info.value


def admin_menu(page: Any) -> Any:
    return page.get_by_role("button", name="Admin", exact=True)


def test_a_viewer_sees_dags_but_cannot_trigger(page: Any, sign_on: SignOn, artifacts: Path) -> None:
    viewer = sign_on.new_user("vera", ["airflow-viewers"], given_name="Vera", family_name="Viewer")
    sign_in(page, sign_on, viewer)
    assert whoami(page, sign_on) == viewer
    page.screenshot(path=str(artifacts / "viewer-dag-page.png"))
    runs = sign_on.dag_runs()
    response = trigger_from_the_ui(page)
    assert response.status == 403
    page.get_by_text("Access Denied").wait_for()
    page.screenshot(path=str(artifacts / "viewer-trigger-refused.png"))
    assert sign_on.dag_runs() == runs
    assert admin_menu(page).count() == 0


def test_an_admin_can_trigger(page: Any, sign_on: SignOn, artifacts: Path) -> None:
    admin = sign_on.new_user("adam", ["airflow-admins"], given_name="Adam", family_name="Admin")
    sign_in(page, sign_on, admin)
    docs_screenshot(page, "sign-on-signed-in-admin.png")
    runs = sign_on.dag_runs()
    response = trigger_from_the_ui(page)
    assert response.status == 200
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "admin-triggered.png"))
    assert sign_on.dag_runs() == runs + 1
    assert admin_menu(page).count() == 1


def test_a_role_change_at_the_idp_shows_on_the_next_page_load(
    page: Any, sign_on: SignOn, artifacts: Path
) -> None:
    user = sign_on.new_user("rita", ["airflow-viewers"])
    sign_in(page, sign_on, user)
    page.get_by_role("button", name="Browse").wait_for()
    assert admin_menu(page).count() == 0
    page.screenshot(path=str(artifacts / "role-change-1-viewer.png"))

    sign_on.idp.set_user(user, groups=["airflow-admins"], email=f"{user}@example.org")
    page.reload()
    admin_menu(page).wait_for()
    page.screenshot(path=str(artifacts / "role-change-2-admin.png"))
    assert sign_on.user_roles(user) == ["Admin"]


def test_a_new_identity_in_the_same_browser_wins(page: Any, sign_on: SignOn, artifacts: Path) -> None:
    admin = sign_on.new_user("first", ["airflow-admins"])
    viewer = sign_on.new_user("second", ["airflow-viewers"])
    sign_in(page, sign_on, admin)
    admin_menu(page).wait_for()
    page.goto(f"{sign_on.nginx.url}/auth/users/list/")  # leaves a FAB session cookie behind
    sign_in(page, sign_on, viewer)  # the proxy now sends someone else's token
    assert whoami(page, sign_on) == viewer
    page.get_by_role("button", name="Browse").wait_for()
    assert admin_menu(page).count() == 0
    page.screenshot(path=str(artifacts / "identity-switched.png"))


def test_logout_from_the_ui_signs_out_at_the_proxy(page: Any, sign_on: SignOn, artifacts: Path) -> None:
    user = sign_on.new_user("lou", ["airflow-viewers"])
    sign_in(page, sign_on, user)
    page.get_by_role("button", name="User").click()
    page.get_by_role("menuitem", name="Logout").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    page.get_by_text("Signed out of the identity provider").wait_for()
    page.screenshot(path=str(artifacts / "logged-out.png"))
    assert page.url == f"{sign_on.nginx.url}/idp/sign_out"
    cookies = {c["name"] for c in page.context.cookies()}
    assert not cookies & {"_token", "session", COOKIE}
    response = page.goto(f"{sign_on.nginx.url}/dags/{DAG_ID}")
    assert response.status == 401  # not straight back in


def test_a_refused_sign_in_shows_a_page_that_says_why(page: Any, sign_on: SignOn, artifacts: Path) -> None:
    user = sign_on.new_user("stale", ["airflow-viewers"])
    expired = sign_on.idp.token_for(user, exp=int(time.time()) - 600)
    session = sign_on.idp.session_with_token(expired)
    page.context.add_cookies([{"name": COOKIE, "value": session, "url": sign_on.nginx.url}])
    response = page.goto(f"{sign_on.nginx.url}/dags/{DAG_ID}")
    assert response.status == 401
    assert page.get_by_role("heading").inner_text() == "Sign-in failed"
    assert page.locator("#reason").inner_text() == "token expired"
    page.screenshot(path=str(artifacts / "refused-expired-token.png"))

    unmapped = sign_on.new_user("nobody", ["Admin"])
    page.context.add_cookies(
        [{"name": COOKIE, "value": sign_on.idp.session_for(unmapped), "url": sign_on.nginx.url}]
    )
    response = page.goto(f"{sign_on.nginx.url}/")
    assert response.status == 403
    assert page.locator("#reason").inner_text() == "no Airflow role is mapped to this identity"
    page.screenshot(path=str(artifacts / "refused-no-role.png"))
