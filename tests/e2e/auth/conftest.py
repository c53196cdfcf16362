"""Sign-on end to end: identity provider -> real nginx (auth_request) -> real api-server with the FAB
auth manager and this package's security manager, on 127.0.0.1."""

from __future__ import annotations

import itertools
import secrets
import sqlite3
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.airflow import AirflowDeployment
from tests.harness.browser import chromium
from tests.harness.idp import COOKIE, IdentityProvider
from tests.harness.nginx import Nginx
from tests.harness.processes import free_port

ROOT = Path(__file__).parents[3]
DAGS = Path(__file__).parents[1] / "dags"
WRITES_PLUGIN = ROOT / "tests" / "harness" / "airflow_plugins" / "db_writes.py"
ARTIFACTS = ROOT / "test-artifacts" / "auth"
HEADER = "X-Jwt-Assertion"
DAG_ID = "sign_on_demo"
ROLES_MAPPING = {
    "airflow-admins": ["Admin"],
    "airflow-users": ["User"],
    "airflow-viewers": ["Viewer"],
}
JWKS_CACHE_TTL = 15
JWKS_REFRESH_INTERVAL = 2
USER_CACHE_TTL = 4
LEEWAY = 2
SERVICE_USER, SERVICE_PASSWORD = "svc-admin", secrets.token_urlsafe(12)
_names = itertools.count()


def webserver_config(idp: IdentityProvider) -> str:
    return textwrap.dedent(
        f"""\
        from airflow_platform_plugins.auth.security_manager import JwtHeaderSecurityManager

        SECURITY_MANAGER_CLASS = JwtHeaderSecurityManager
        AUTH_JWT_HEADER_NAME = {HEADER!r}
        AUTH_JWT_JWKS_URL = {idp.url + "/jwks"!r}
        AUTH_JWT_ALGORITHMS = ["RS256", "ES256"]
        AUTH_JWT_ISSUER = {idp.issuer!r}
        AUTH_JWT_AUDIENCE = "airflow"
        AUTH_JWT_LEEWAY = {LEEWAY}
        AUTH_JWT_JWKS_CACHE_TTL = {JWKS_CACHE_TTL}
        AUTH_JWT_JWKS_REFRESH_INTERVAL = {JWKS_REFRESH_INTERVAL}
        AUTH_JWT_USER_CACHE_TTL = {USER_CACHE_TTL}
        AUTH_JWT_USERNAME_CLAIM = "preferred_username"
        AUTH_JWT_ROLES_CLAIM = "groups"
        AUTH_JWT_LOGOUT_URL = "/idp/sign_out"
        AUTH_ROLES_MAPPING = {ROLES_MAPPING!r}
        AUTH_ROLES_SYNC_AT_LOGIN = True
        """
    )


@dataclass
class SignOn:
    """The running pieces, and helpers to look at them from outside."""

    airflow: AirflowDeployment
    idp: IdentityProvider
    nginx: Nginx
    writes_log: Path

    @property
    def db(self) -> Path:
        return self.airflow.home / "airflow.db"

    def new_user(self, prefix: str, groups: list[str] | str, **claims: Any) -> str:
        """A user the IdP knows and Airflow has never seen."""
        name = f"{prefix}-{next(_names)}-{secrets.token_hex(2)}"
        self.idp.set_user(name, groups=groups, email=f"{name}@example.org", **claims)
        return name

    def through_proxy(self, username: str | None = None, session: str | None = None) -> httpx.Client:
        """A client of nginx, signed in at the IdP as ``username`` (or with a given session)."""
        cookies = {}
        if username is not None:
            cookies[COOKIE] = self.idp.session_for(username)
        if session is not None:
            cookies[COOKIE] = session
        return httpx.Client(base_url=self.nginx.url, cookies=cookies, timeout=60, follow_redirects=False)

    def direct(self) -> httpx.Client:
        """A client of the api-server itself, bypassing nginx (as a pod on the cluster network could)."""
        return httpx.Client(base_url=self.airflow.url, timeout=60, follow_redirects=False)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as connection:
            return list(connection.execute(sql, args))

    def user_row(self, username: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT id, username, email, first_name, last_name, active, changed_on, password "
            "FROM ab_user WHERE lower(username) = lower(?)",
            username,
        )
        if not rows:
            return None
        keys = ("id", "username", "email", "first_name", "last_name", "active", "changed_on", "password")
        return dict(zip(keys, rows[0], strict=True))

    def user_roles(self, username: str) -> list[str]:
        return sorted(
            r[0]
            for r in self.query(
                "SELECT r.name FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id "
                "JOIN ab_role r ON r.id = ur.role_id WHERE lower(u.username) = lower(?)",
                username,
            )
        )

    def count_users(self, username: str) -> int:
        return int(
            self.query("SELECT count(*) FROM ab_user WHERE lower(username) = lower(?)", username)[0][0]
        )

    def dag_runs(self) -> int:
        return int(self.query("SELECT count(*) FROM dag_run WHERE dag_id = ?", DAG_ID)[0][0])

    def writes_mark(self) -> int:
        return len(self.writes())

    def writes(self, since: int = 0) -> list[str]:
        if not self.writes_log.exists():
            return []
        return self.writes_log.read_text().splitlines()[since:]


@pytest.fixture(scope="session")
def sign_on(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignOn]:
    idp = IdentityProvider()
    home = tmp_path_factory.mktemp("airflow-sign-on")
    writes_log = home / "db-writes.log"
    nginx_port = free_port()  # Airflow's public URL ([api] base_url) is the proxy's
    airflow = AirflowDeployment(
        home,
        dags=[DAGS / "auth_dags.py"],
        components=("dag-processor", "api-server"),
        auth_manager="fab",
        webserver_config=webserver_config(idp),
        plugins=[WRITES_PLUGIN],
        settings={"AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{nginx_port}"},
        component_settings={"api-server": {"TEST_DB_WRITES_LOG": str(writes_log)}},
    )
    nginx: Nginx | None = None
    try:
        airflow.start()
        airflow.create_fab_user(SERVICE_USER, SERVICE_PASSWORD, role="Admin")
        nginx = Nginx(home / "nginx", airflow=airflow.url, idp=idp.url, header=HEADER, port=nginx_port)
        deployment = SignOn(airflow, idp, nginx, writes_log)
        _wait_for_dag(deployment)
        yield deployment
    finally:
        if nginx is not None:
            nginx.stop()
        airflow.stop()
        idp.stop()


def _wait_for_dag(sign_on: SignOn, timeout: float = 120) -> None:
    admin = sign_on.new_user("setup", ["airflow-admins"])
    deadline = time.monotonic() + timeout
    with sign_on.through_proxy(admin) as client:
        while time.monotonic() < deadline:
            response = client.get(f"/api/v2/dags/{DAG_ID}")
            if response.status_code == 200:
                return
            time.sleep(1)
    raise TimeoutError(f"{DAG_ID} was not parsed: {response.status_code} {response.text}")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


BROWSER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the distribution, one per test module."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
