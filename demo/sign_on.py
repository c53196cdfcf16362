"""The sign-on demo: nginx (auth_request) and a small identity provider in front of Airflow's api-server.

The browser signs in at the identity provider; nginx asks it for the user's signed JWT on every
request and passes it to Airflow in ``X-Jwt-Assertion``; Airflow verifies it, creates the user on
first sight with the roles the token's groups map to, and shows the UI with no login form.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import httpx

from demo.logs import hold_servers
from tests.harness.airflow import AirflowDeployment
from tests.harness.idp import IdentityProvider
from tests.harness.nginx import Nginx
from tests.harness.processes import free_port
from tests.harness.tasklog import wait_for

HERE = Path(__file__).parent
HEADER = "X-Jwt-Assertion"
DAG_ID = "demo_logs"
ROLES_MAPPING = {"airflow-admins": ["Admin"], "airflow-viewers": ["Viewer"]}
USERS = {"alice": ["airflow-admins"], "victor": ["airflow-viewers"]}


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
        AUTH_JWT_USERNAME_CLAIM = "preferred_username"
        AUTH_JWT_ROLES_CLAIM = "groups"
        AUTH_JWT_LOGOUT_URL = "/idp/sign_out"
        AUTH_ROLES_MAPPING = {ROLES_MAPPING!r}
        """
    )


def sign_in_url(nginx: Nginx, user: str) -> str:
    """Opening this URL signs the browser in at the identity provider, then lands on Airflow's UI."""
    return f"{nginx.url}/idp/sign_in?user={user}&next=/"


def run(workdir: Path, hold: float | None) -> bool:
    """Run the demo; ``True`` when each user got exactly what their roles allow."""
    idp = IdentityProvider()
    for user, groups in USERS.items():
        idp.set_user(user, groups=groups, email=f"{user}@example.org", name=user.title())
    print(f"Identity provider:  {idp.url}   users {', '.join(f'{u} ({g[0]})' for u, g in USERS.items())}")
    nginx_port = free_port()  # Airflow's public URL ([api] base_url) is the proxy's
    airflow = AirflowDeployment(
        workdir / "airflow",
        dags=[HERE / "dags" / "demo_logs.py"],
        components=("dag-processor", "api-server"),
        auth_manager="fab",
        webserver_config=webserver_config(idp),
        settings={"AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{nginx_port}"},
    )
    nginx: Nginx | None = None
    try:
        print("Starting Airflow 3 with the FAB auth manager and JwtHeaderSecurityManager ...")
        started = time.monotonic()
        airflow.start()
        nginx = Nginx(workdir / "nginx", airflow=airflow.url, idp=idp.url, header=HEADER, port=nginx_port)
        print(f"Airflow is up after {time.monotonic() - started:.0f} s; nginx in front: {nginx.url}")
        ok = _show(nginx)
        print("\nOpen one of these in a browser; it is signed in through the header, with no login form:")
        for user in USERS:
            print(f"  {user:7s} {sign_in_url(nginx, user)}")
        print(f"Sign out: {nginx.url}/auth/logout")
        hold_servers(hold)
        return ok
    finally:
        if nginx is not None:
            nginx.stop()
        airflow.stop()
        idp.stop()


def _show(nginx: Nginx) -> bool:
    """What a browser of each user gets through the proxy, printed; ``True`` when it is as expected."""
    with httpx.Client(base_url=nginx.url, timeout=60) as anonymous:
        status = anonymous.get("/api/v2/dags").status_code
    print(f"\nWithout signing in, nginx refuses: GET /api/v2/dags -> {status}")
    ok = status == 401
    for user in USERS:
        with httpx.Client(timeout=60, follow_redirects=True) as browser:
            browser.get(sign_in_url(nginx, user))  # the identity provider's session cookie
            me = browser.get(f"{nginx.url}/ui/auth/me")

            def parsed(client: httpx.Client = browser) -> bool:
                return client.get(f"{nginx.url}/api/v2/dags/{DAG_ID}").status_code == 200

            wait_for(parsed, timeout=120, what=f"{DAG_ID} parsed")
            trigger = browser.post(f"{nginx.url}/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})
        name = me.json().get("username") if me.status_code == 200 else None
        print(
            f"Signed in as {user}: /ui/auth/me -> {me.status_code} username={name!r}; "
            f"trigger {DAG_ID} -> {trigger.status_code}"
        )
        expected = 200 if "airflow-admins" in USERS[user] else 403
        ok = ok and name == user and trigger.status_code == expected
    return ok
