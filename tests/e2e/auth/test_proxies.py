"""Sign-on behind real proxies, with the identity provider's tokens in ``Authorization: Bearer``:

- oauth2-proxy v7 (built from source) as the reverse proxy, and behind nginx ``auth_request``, with
  the test identity provider as its OIDC provider; headless Chromium signs in through its login form;
- Envoy with the ``jwt_authn`` filter (what an Envoy Gateway ``SecurityPolicy`` configures), letting
  both the identity provider's tokens and Airflow's own through;
- API clients with client-credentials tokens; forgeries across the Airflow / identity provider line;
  the attack cases and the fuzz of issue #5 in this mode; metrics at a real StatsD listener.

The deployment runs docs/proxies.md's recipes (loaded from the page), addresses made local.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_platform_plugins.auth.settings import load_settings
from tests.e2e.auth.conftest import DAG_ID, DAGS, WRITES_PLUGIN, SignOn
from tests.e2e.auth.test_fuzz import (
    KeepAliveClient,
    header_bytes,
    jwt_shaped,
    mutated_valid_token,
    signed_fuzz,
)
from tests.e2e.auth.test_rejected_tokens import CASES
from tests.harness.airflow import AirflowDeployment
from tests.harness.envoy import Envoy, jwt_authn
from tests.harness.idp import IdentityProvider
from tests.harness.nginx import Nginx
from tests.harness.oauth2_proxy import OAuth2Proxy, parse_config
from tests.harness.processes import free_port
from tests.harness.recipes import as_python, recipe, webserver_config
from tests.harness.statsd import StatsdListener

pytestmark = pytest.mark.airflow

AIRFLOW_ISSUER = "http://airflow.internal"
CLIENT_ID = "airflow"
SERVICE_USER, SERVICE_PASSWORD = "svc-api", secrets.token_urlsafe(12)


@dataclass
class Proxies:
    sign_on: SignOn  # the api-server, the identity provider, and the nginx in front of oauth2-proxy
    oauth2_proxy: OAuth2Proxy  # the reverse proxy
    auth_server: OAuth2Proxy  # behind nginx auth_request
    envoy: Envoy
    statsd: StatsdListener
    settings: dict[str, Any]  # webserver_config.py values

    @property
    def airflow(self) -> AirflowDeployment:
        return self.sign_on.airflow

    @property
    def idp(self) -> IdentityProvider:
        return self.sign_on.idp

    @property
    def jwt_secret(self) -> str:
        return self.airflow.env["AIRFLOW__API_AUTH__JWT_SECRET"]


def deployment_settings(idp: IdentityProvider) -> dict[str, Any]:
    """docs/proxies.md's oauth2-proxy webserver_config, with the local issuer; usernames from
    ``preferred_username`` (the override the page names) so client-credentials tokens have one too."""
    values = webserver_config("oauth2-proxy")
    values["AUTH_JWT_ISSUER"] = idp.issuer
    values["AUTH_JWT_USERNAME_CLAIM"] = "preferred_username"
    return values


def oauth2_proxy_config(
    idp: IdentityProvider, secret: str, redirect_url: str, upstream: str
) -> dict[str, Any]:
    config = parse_config(recipe("oauth2-proxy.cfg"))
    config.update(
        oidc_issuer_url=idp.issuer, client_secret=secret, redirect_url=redirect_url, upstreams=[upstream]
    )
    return config


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxies]:
    statsd = StatsdListener()
    idp = IdentityProvider()
    home = tmp_path_factory.mktemp("airflow-proxies")
    o2p_port, nginx_port = free_port(), free_port()
    client = idp.register_client(
        CLIENT_ID,
        redirect_uris=(
            f"http://127.0.0.1:{o2p_port}/oauth2/callback",
            f"http://127.0.0.1:{nginx_port}/oauth2/callback",
        ),
    )
    values = deployment_settings(idp)
    config = (
        "from airflow_platform_plugins.auth.security_manager import JwtHeaderSecurityManager\n"
        "SECURITY_MANAGER_CLASS = JwtHeaderSecurityManager\n" + as_python(values)
    )
    airflow = AirflowDeployment(
        home,
        dags=[DAGS / "auth_dags.py"],
        components=("dag-processor", "api-server"),
        auth_manager="fab",
        webserver_config=config,
        plugins=[WRITES_PLUGIN],
        settings={
            # Relative: the UI is reached through several fronts (oauth2-proxy, nginx, Envoy).
            "AIRFLOW__API__BASE_URL": "/",
            "AIRFLOW__API_AUTH__JWT_ISSUER": AIRFLOW_ISSUER,
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        },
        component_settings={"api-server": {"TEST_DB_WRITES_LOG": str(home / "db-writes.log")}},
    )
    started: list[Any] = []
    try:
        airflow.start()
        airflow.create_fab_user(SERVICE_USER, SERVICE_PASSWORD, role="Admin")
        o2p = OAuth2Proxy(
            home / "oauth2-proxy",
            oauth2_proxy_config(
                idp, client.secret, f"http://127.0.0.1:{o2p_port}/oauth2/callback", f"{airflow.url}/"
            ),
            port=o2p_port,
        )
        started.append(o2p)
        auth_config = oauth2_proxy_config(
            idp, client.secret, f"http://127.0.0.1:{nginx_port}/oauth2/callback", "static://202"
        )
        auth_config.update(set_authorization_header=True, reverse_proxy=True)
        auth_server = OAuth2Proxy(home / "oauth2-proxy-auth", auth_config)
        started.append(auth_server)
        locations = (
            recipe("nginx oauth2-proxy")
            .replace("http://oauth2-proxy:4180", auth_server.url)
            .replace("http://airflow-api-server:8080", "http://airflow")
        )
        nginx = Nginx(home / "nginx", airflow=airflow.url, idp=idp.url, port=nginx_port, locations=locations)
        started.append(nginx)
        policy = yaml.safe_load(recipe("envoy-gateway SecurityPolicy"))
        providers = policy["spec"]["jwt"]["providers"]
        for provider in providers:
            provider["issuer"] = idp.issuer
            provider["remoteJWKS"]["uri"] = f"{idp.url}/jwks"
        envoy = Envoy(
            home / "envoy",
            upstream=airflow.url,
            filter_config=jwt_authn(
                providers,
                airflow_issuer=AIRFLOW_ISSUER,
                airflow_secret=airflow.env["AIRFLOW__API_AUTH__JWT_SECRET"],
            ),
            jwks_urls={p["name"]: idp.url for p in providers},
        )
        started.append(envoy)
        deployment = Proxies(
            SignOn(airflow, idp, nginx, home / "db-writes.log"), o2p, auth_server, envoy, statsd, values
        )
        _wait_for_dag(deployment)
        yield deployment
    finally:
        for part in reversed(started):
            part.stop()
        airflow.stop()
        idp.stop()
        statsd.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wait_for_dag(proxies: Proxies, timeout: float = 120) -> None:
    admin = proxies.sign_on.new_user("setup", ["airflow-admins"])
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=proxies.airflow.url, timeout=60) as client:
        while time.monotonic() < deadline:
            response = client.get(f"/api/v2/dags/{DAG_ID}", headers=bearer(proxies.idp.token_for(admin)))
            if response.status_code == 200:
                return
            time.sleep(1)
    raise TimeoutError(f"{DAG_ID} was not parsed: {response.status_code} {response.text}")


# -- Chromium through oauth2-proxy ----------------------------------------------------------------


def sign_in_through(page: Any, front: str, user: str, artifacts: Path, name: str) -> None:
    """Open Airflow at ``front``; the identity provider's login form appears; type the username."""
    page.goto(f"{front}/dags/{DAG_ID}")
    page.locator("#username").fill(user)  # the IdP's own page, reached through oauth2-proxy's redirect
    page.screenshot(path=str(artifacts / f"{name}-idp-login.png"))
    page.locator("#sign-in").click()
    page.get_by_role("heading", name=DAG_ID).wait_for()
    assert page.url.startswith(front)
    page.screenshot(path=str(artifacts / f"{name}-dag-page.png"))


def whoami(page: Any, front: str) -> str:
    response = page.context.request.get(f"{front}/ui/auth/me")
    assert response.status == 200
    return str(response.json()["username"])


def test_chromium_signs_in_through_oauth2_proxy(page: Any, proxies: Proxies, artifacts: Path) -> None:
    viewer = proxies.sign_on.new_user("o2p-viewer", ["airflow-viewers"], given_name="Olga")
    issued = len(proxies.idp.tokens_issued)
    sign_in_through(page, proxies.oauth2_proxy.url, viewer, artifacts, "oauth2-proxy")
    assert whoami(page, proxies.oauth2_proxy.url) == viewer
    assert proxies.sign_on.user_roles(viewer) == ["Viewer"]
    assert len(proxies.idp.tokens_issued) == issued + 1  # one real authorization-code exchange
    trigger = page.context.request.post(
        f"{proxies.oauth2_proxy.url}/api/v2/dags/{DAG_ID}/dagRuns", data={"logical_date": None}
    )
    assert trigger.status == 403  # a Viewer, as the groups claim says


def test_chromium_signs_in_through_nginx_auth_request_and_oauth2_proxy(
    page: Any, proxies: Proxies, artifacts: Path
) -> None:
    admin = proxies.sign_on.new_user("nginx-admin", ["airflow-admins"], given_name="Nina")
    sign_in_through(page, proxies.sign_on.nginx.url, admin, artifacts, "nginx-oauth2-proxy")
    assert whoami(page, proxies.sign_on.nginx.url) == admin
    assert proxies.sign_on.user_roles(admin) == ["Admin"]
    page.get_by_role("button", name="Admin", exact=True).wait_for()  # the Admin menu: Admin role in the UI


def test_without_signing_in_oauth2_proxy_sends_the_browser_to_the_idp(proxies: Proxies) -> None:
    for front in (proxies.oauth2_proxy.url, proxies.sign_on.nginx.url):
        response = httpx.get(f"{front}/dags/{DAG_ID}", follow_redirects=True, timeout=60)
        assert response.url.path == "/authorize"
        assert 'id="username"' in response.text


# -- Envoy jwt_authn: IdP tokens and Airflow's own -----------------------------------------------


def test_envoy_jwt_authn_ui_and_api_with_the_idp_token(proxies: Proxies) -> None:
    user = proxies.sign_on.new_user("envoy-user", ["airflow-users"])
    token = proxies.idp.token_for(user)
    with httpx.Client(base_url=proxies.envoy.url, timeout=60, headers=bearer(token)) as client:
        dags = client.get("/api/v2/dags")
        assert dags.status_code == 200
        assert DAG_ID in [d["dag_id"] for d in dags.json()["dags"]]
        assert client.get("/ui/auth/me").json()["username"] == user
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert '<div id="root"' in page.text
        security_page = client.get(
            "/auth/users/list/", headers={"Accept": "text/html"}, follow_redirects=True
        )
        assert security_page.status_code == 403  # the FAB pages know the user too: a User, not an Admin
    assert proxies.sign_on.user_roles(user) == ["User"]


def test_envoy_jwt_authn_refuses_what_the_policy_refuses(proxies: Proxies) -> None:
    user = proxies.sign_on.new_user("envoy-refused", ["airflow-users"])
    with httpx.Client(base_url=proxies.envoy.url, timeout=60) as client:
        assert client.get("/api/v2/dags").status_code == 401  # no token: Envoy refuses
        wrong_aud = proxies.idp.token_for(user, aud="someone-else")
        assert client.get("/api/v2/dags", headers=bearer(wrong_aud)).status_code in (401, 403)
    assert proxies.sign_on.user_row(user) is None


def test_envoy_jwt_authn_lets_airflows_own_tokens_through(proxies: Proxies) -> None:
    with httpx.Client(base_url=proxies.envoy.url, timeout=60) as client:
        issued = client.post("/auth/token", json={"username": SERVICE_USER, "password": SERVICE_PASSWORD})
        assert issued.status_code in (200, 201), issued.text
        token = issued.json()["access_token"]
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == AIRFLOW_ISSUER
        assert client.get("/api/v2/dags", headers=bearer(token)).status_code == 200
        assert client.get("/ui/auth/me", headers=bearer(token)).json()["username"] == SERVICE_USER


def test_the_envoy_recipe_gives_the_settings_the_deployment_runs(proxies: Proxies) -> None:
    envoy_values = {**webserver_config("envoy-gateway"), "AUTH_JWT_ISSUER": proxies.idp.issuer}
    ours, theirs = load_settings(proxies.settings), load_settings(envoy_values)
    assert (theirs.mode, theirs.header_name, theirs.discovery) == (
        ours.mode,
        ours.header_name,
        ours.discovery,
    )
    assert (theirs.policy, theirs.claims, theirs.roles) == (ours.policy, ours.claims, ours.roles)


# -- API clients with client credentials -----------------------------------------------------------


def client_credentials(proxies: Proxies, client_id: str, groups: list[str]) -> str:
    registered = proxies.idp.register_client(client_id, groups=groups)
    response = httpx.post(
        f"{proxies.idp.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(registered.client_id, registered.secret),
        timeout=30,
    )
    assert response.status_code == 200
    return str(response.json()["access_token"])


def test_an_api_client_lists_dags_and_is_refused_a_write_its_role_lacks(proxies: Proxies) -> None:
    token = client_credentials(proxies, f"ci-{secrets.token_hex(3)}", ["airflow-viewers"])
    runs = proxies.sign_on.dag_runs()
    for front in (proxies.envoy.url, proxies.airflow.url):
        with httpx.Client(base_url=front, timeout=60, headers=bearer(token)) as client:
            dags = client.get("/api/v2/dags")
            assert dags.status_code == 200
            assert DAG_ID in [d["dag_id"] for d in dags.json()["dags"]]
            trigger = client.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})
            assert trigger.status_code == 403
    assert proxies.sign_on.dag_runs() == runs
    name = jwt.decode(token, options={"verify_signature": False})["preferred_username"]
    assert proxies.sign_on.user_roles(name) == ["Viewer"]


def test_an_api_client_with_a_write_role_triggers(proxies: Proxies) -> None:
    token = client_credentials(proxies, f"deployer-{secrets.token_hex(3)}", ["airflow-users"])
    runs = proxies.sign_on.dag_runs()
    response = httpx.post(
        f"{proxies.envoy.url}/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None},
        headers=bearer(token),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert proxies.sign_on.dag_runs() == runs + 1


# -- forgeries across the line ---------------------------------------------------------------------


def test_a_token_claiming_airflow_but_signed_by_the_idp_is_refused(proxies: Proxies) -> None:
    """Routed to Airflow by its iss, whose own check refuses it: no IdP key can make an Airflow token."""
    svc_id = proxies.sign_on.user_row(SERVICE_USER)
    assert svc_id is not None
    forged = proxies.idp.sign(
        {
            "iss": AIRFLOW_ISSUER,
            "sub": str(svc_id["id"]),
            "aud": "apache-airflow",
            "exp": int(time.time()) + 600,
        }
    )
    with httpx.Client(base_url=proxies.airflow.url, timeout=60, headers=bearer(forged)) as client:
        for path in ("/api/v2/dags", "/ui/auth/me"):
            response = client.get(path)
            assert response.status_code in (401, 403), (path, response.status_code)


def test_a_token_claiming_the_idp_but_signed_with_airflows_secret_is_refused(proxies: Proxies) -> None:
    victim = proxies.sign_on.new_user("forged", ["airflow-admins"])
    forged = jwt.encode(
        proxies.idp.claims_for(victim),
        proxies.jwt_secret,
        algorithm="HS512",
        headers={"kid": proxies.idp.active.kid},
    )
    response = httpx.get(f"{proxies.airflow.url}/api/v2/dags", headers=bearer(forged), timeout=60)
    assert (response.status_code, response.json()) == (401, {"detail": "algorithm not allowed: HS512"})
    assert proxies.sign_on.user_row(victim) is None


# -- the attack cases and the fuzz, in this mode ---------------------------------------------------

BEARER_REASONS = {"header over 16 KiB": "the Authorization header is larger than 16384 bytes"}


@pytest.mark.parametrize(("case", "make", "status", "reason"), CASES, ids=[c[0] for c in CASES])
def test_rejected_bearer_token_changes_nothing(
    proxies: Proxies, case: str, make: Callable[[IdentityProvider, str], str], status: int, reason: str
) -> None:
    sign_on = proxies.sign_on
    victim = sign_on.new_user("bearer-victim", ["airflow-viewers"], given_name="Val")
    with httpx.Client(base_url=proxies.airflow.url, timeout=60) as client:
        assert client.get("/api/v2/dags", headers=bearer(proxies.idp.token_for(victim))).status_code == 200
        row, roles = sign_on.user_row(victim), sign_on.user_roles(victim)
        newcomer = sign_on.new_user("bearer-newcomer", ["airflow-viewers"])
        for target in (victim, newcomer):
            token = make(proxies.idp, target)
            api = client.get("/api/v2/dags", headers=bearer(token))
            if case == "wrong iss":  # not the IdP's issuer: Airflow's own token, which Airflow refuses
                assert api.status_code in (401, 403)
            else:
                assert (api.status_code, api.json()) == (
                    status,
                    {"detail": BEARER_REASONS.get(case, reason)},
                ), case
    assert sign_on.user_row(victim) == row
    assert sign_on.user_roles(victim) == roles
    assert sign_on.count_users(newcomer) == 0


def test_no_bearer_value_causes_a_server_error(proxies: Proxies) -> None:
    sign_on = proxies.sign_on
    good = [sign_on.idp.token_for(sign_on.new_user("fuzz-bearer", ["airflow-viewers"])).encode()]
    client = KeepAliveClient("127.0.0.1", proxies.airflow.api_port, header="Authorization")
    statuses: dict[int, int] = {}
    failures: list[tuple[bytes, int]] = []

    @settings(max_examples=10_000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        value=st.one_of(header_bytes, jwt_shaped, mutated_valid_token(good), signed_fuzz(sign_on)),
        scheme=st.sampled_from([b"Bearer ", b"Bearer ", b"Bearer ", b"bearer  ", b""]),
        path=st.sampled_from(("/api/v2/dags", "/ui/auth/me", "/", "/auth/login/")),
    )
    def one_request(value: bytes, scheme: bytes, path: str) -> None:
        status = client.get(path, scheme + value, b"application/json")
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 500:
            failures.append((value, status))

    try:
        one_request()
    finally:
        client.close()
    assert sum(statuses.values()) >= 10_000
    assert failures == []
    assert statuses.get(200, 0) > 100  # past the signature into claims and users
    assert "Unexpected error while checking" not in proxies.airflow.processes["api-server"].log_text()


# -- metrics ---------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.1)


def test_metrics_reach_statsd(proxies: Proxies) -> None:
    statsd = proxies.statsd
    before = {
        name: statsd.counter(f"airflow.platform_auth.{name}")
        for name in ("admitted", "users_created", "users_updated", "refused.expired", "refused.signature")
    }
    user = proxies.sign_on.new_user("metrics", ["airflow-viewers"])
    with httpx.Client(base_url=proxies.airflow.url, timeout=60) as client:
        assert client.get("/api/v2/dags", headers=bearer(proxies.idp.token_for(user))).status_code == 200
        proxies.idp.set_user(user, groups=["airflow-users"], email=f"{user}@example.org")
        assert client.get("/api/v2/dags", headers=bearer(proxies.idp.token_for(user))).status_code == 200
        expired = proxies.idp.token_for(user, exp=int(time.time()) - 3600)
        assert client.get("/api/v2/dags", headers=bearer(expired)).status_code == 401
        genuine = proxies.idp.token_for(user).split(".")
        tampered = ".".join(
            [
                genuine[0],
                proxies.idp.token_for(user, groups=["x"]).split(".")[1],
                genuine[2],
            ]
        )
        assert client.get("/api/v2/dags", headers=bearer(tampered)).status_code == 401

    def arrived() -> bool:
        return (
            statsd.counter("airflow.platform_auth.admitted") >= before["admitted"] + 2
            and statsd.counter("airflow.platform_auth.users_created") >= before["users_created"] + 1
            and statsd.counter("airflow.platform_auth.users_updated") >= before["users_updated"] + 1
            and statsd.counter("airflow.platform_auth.refused.expired") >= before["refused.expired"] + 1
            and statsd.counter("airflow.platform_auth.refused.signature") >= before["refused.signature"] + 1
            and statsd.counter("airflow.platform_auth.key_fetches") >= 1
        )

    wait_for(arrived)
    timers = [
        line for line in list(statsd.lines) if line.startswith("airflow.platform_auth.verify_duration:")
    ]
    assert timers
    assert all(line.endswith("|ms") for line in timers)
