"""One real api-server per preset of docs/proxies.md (AWS ALB, Google IAP, Cloudflare Access,
Pomerium), signed into with tokens the test identity provider issues in each vendor's documented
format (tests/harness/vendors.py names the page each follows). The presets' key URLs are pointed at
the identity provider; everything else is the recipe as the page prints it.

The api-server is restarted with each preset's ``webserver_config.py``; the database stays.
(oauth2-proxy and Envoy Gateway run for real in test_proxies.py.)
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.auth.conftest import DAGS, SignOn
from tests.e2e.auth.test_fuzz import (
    KeepAliveClient,
    header_bytes,
    json_values,
    jwt_shaped,
    mutated_valid_token,
)
from tests.harness.airflow import AirflowDeployment
from tests.harness.idp import IdentityProvider, new_key
from tests.harness.recipes import webserver_config
from tests.harness.vendors import ALB_ARN, Alb, CloudflareAccess, Iap, Pomerium

pytestmark = pytest.mark.airflow

CONFIG = """\
import json, os
from airflow_platform_plugins.auth.security_manager import JwtHeaderSecurityManager

SECURITY_MANAGER_CLASS = JwtHeaderSecurityManager
globals().update(json.loads(os.environ["TEST_WEBSERVER_CONFIG"]))
"""


@dataclass
class Presets:
    airflow: AirflowDeployment
    idp: IdentityProvider
    alb: Alb
    iap: Iap
    cloudflare: CloudflareAccess
    pomerium: Pomerium
    current: str | None = None
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def use(self, preset: str) -> None:
        """Restart the api-server with this preset's webserver_config.py (unless it runs it already)."""
        if self.current != preset:
            overrides = {"TEST_WEBSERVER_CONFIG": json.dumps(self.configs[preset])}
            self.airflow.restart_component("api-server", overrides)
            self.current = preset

    def sign_on(self) -> SignOn:
        return SignOn(self.airflow, self.idp, None, self.airflow.home / "unused")  # type: ignore[arg-type]

    def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(f"{self.airflow.url}{path}", headers=headers, timeout=60)


@pytest.fixture(scope="module")
def presets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Presets]:
    idp = IdentityProvider()
    home = tmp_path_factory.mktemp("airflow-presets")
    alb, iap, cloudflare, pomerium = Alb(idp), Iap(idp), CloudflareAccess(idp), Pomerium(idp)
    configs = {
        "aws-alb": {
            **webserver_config("aws-alb"),
            "AUTH_JWT_ISSUER": idp.issuer,
            "AUTH_JWT_ALB_KEY_URL": alb.key_url,
        },
        "google-iap": {**webserver_config("google-iap"), "AUTH_JWT_JWKS_URL": iap.jwks_url},
        "cloudflare-access": {**webserver_config("cloudflare-access"), "AUTH_JWT_ISSUER": cloudflare.team},
        "pomerium": {
            **webserver_config("pomerium"),
            "AUTH_JWT_ISSUER": pomerium.host,
            "AUTH_JWT_JWKS_URL": pomerium.jwks_url,
        },
    }
    airflow = AirflowDeployment(
        home,
        dags=[DAGS / "auth_dags.py"],
        components=("api-server",),
        auth_manager="fab",
        webserver_config=CONFIG,
        component_settings={"api-server": {"TEST_WEBSERVER_CONFIG": json.dumps(configs["aws-alb"])}},
    )
    deployment = Presets(airflow, idp, alb, iap, cloudflare, pomerium, "aws-alb", configs)
    try:
        airflow.start()
        yield deployment
    finally:
        airflow.stop()
        idp.stop()


def new_user(presets: Presets, prefix: str, groups: list[str]) -> str:
    name = f"{prefix}-{secrets.token_hex(3)}"
    presets.idp.set_user(name, groups=groups, email=f"{name}@example.org")
    return name


def signs_in(presets: Presets, header: str, token: str, expected: str) -> None:
    me = presets.get("/ui/auth/me", {header: token})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == expected
    assert presets.get("/api/v2/dags", {header: token}).status_code == 200


# -- AWS ALB ---------------------------------------------------------------------------------------


def test_aws_alb_token_signs_in(presets: Presets) -> None:
    """AWS ELB user guide, "Authenticate users using an Application Load Balancer": x-amzn-oidc-data."""
    presets.use("aws-alb")
    user = new_user(presets, "alb", ["airflow-viewers"])
    token = presets.alb.token(user)
    assert "=" in token.split(".")[0] + token.split(".")[1]  # padded segments, as ALB sends them
    signs_in(presets, "x-amzn-oidc-data", token, f"{user}@example.org")
    assert presets.sign_on().user_roles(f"{user}@example.org") == ["Viewer"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _altered_payload(presets: Presets, user: str) -> str:
    head, body, sig = presets.alb.token(user).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body))
    claims["groups"] = ["airflow-admins"]
    claims["email"] = "root@example.org"
    while len(json.dumps(claims)) % 3 == 0:  # keep the forged segment padded, as ALB's are
        claims["note"] = claims.get("note", "") + "x"
    forged = f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"
    assert forged.split(".")[1].endswith("=")
    return forged


def _alg_switch(presets: Presets, user: str, alg: str) -> str:
    head, body, _ = presets.alb.token(user).split(".")
    header = json.loads(base64.urlsafe_b64decode(head))
    header["alg"] = alg
    new_head = _b64(json.dumps(header).encode())
    if alg == "none":
        return f"{new_head}.{body}."
    from tests.harness.vendors import pem

    mac = jwt.get_algorithm_by_name("HS256").sign(f"{new_head}.{body}".encode(), pem(presets.alb.key))
    return f"{new_head}.{body}.{_b64(mac)}"


ALB_ATTACKS = {
    "kid with /": lambda p, u: p.alb.token(u, kid="../../keys/abc"),
    "kid ..": lambda p, u: p.alb.token(u, kid=".."),
    "kid is a URL": lambda p, u: p.alb.token(u, kid="http://127.0.0.1:1/evil"),
    "another region's key": lambda p, u: p.alb.token(u, key=p.alb.publish("us-east-1")),
    "signer ARN mismatch": lambda p, u: p.alb.token(u, signer=ALB_ARN.replace("/airflow/", "/attacker/")),
    "padded segments, altered payload": _altered_payload,
    "alg HS256 with the PEM as secret": lambda p, u: _alg_switch(p, u, "HS256"),
    "alg none": lambda p, u: _alg_switch(p, u, "none"),
    "key not published at all": lambda p, u: p.alb.token(u, key=new_key("ES256")),
}


@pytest.mark.parametrize("attack", list(ALB_ATTACKS))
def test_aws_alb_attacks_are_refused_and_change_nothing(presets: Presets, attack: str) -> None:
    presets.use("aws-alb")
    sign_on = presets.sign_on()
    victim = new_user(presets, "alb-victim", ["airflow-viewers"])
    signs_in(presets, "x-amzn-oidc-data", presets.alb.token(victim), f"{victim}@example.org")
    row, roles = sign_on.user_row(f"{victim}@example.org"), sign_on.user_roles(f"{victim}@example.org")
    newcomer = new_user(presets, "alb-newcomer", ["airflow-admins"])
    for target in (victim, newcomer):
        token = ALB_ATTACKS[attack](presets, target)
        for path in ("/ui/auth/me", "/api/v2/dags"):
            response = presets.get(path, {"x-amzn-oidc-data": token})
            assert response.status_code in (401, 403), (attack, path, response.status_code, response.text)
    assert sign_on.user_row(f"{victim}@example.org") == row
    assert sign_on.user_roles(f"{victim}@example.org") == roles
    assert sign_on.count_users(f"{newcomer}@example.org") == 0


def test_aws_alb_plaintext_identity_headers_are_ignored(presets: Presets) -> None:
    presets.use("aws-alb")
    sign_on = presets.sign_on()
    user = new_user(presets, "alb-plain", ["airflow-viewers"])
    admin = new_user(presets, "alb-admin", ["airflow-admins"])
    plaintext = {"x-amzn-oidc-identity": f"{admin}@example.org", "x-amzn-oidc-accesstoken": "opaque"}
    assert presets.get("/ui/auth/me", plaintext).status_code == 401  # nothing signed: not signed in
    assert sign_on.count_users(f"{admin}@example.org") == 0
    both = {**plaintext, "x-amzn-oidc-data": presets.alb.token(user)}
    assert presets.get("/ui/auth/me", both).json()["username"] == f"{user}@example.org"


# -- Google IAP, Cloudflare Access, Pomerium --------------------------------------------------------


def test_google_iap_token_signs_in(presets: Presets) -> None:
    """Google Cloud IAP, "Securing your app with signed headers": x-goog-iap-jwt-assertion."""
    presets.use("google-iap")
    user = new_user(presets, "iap", [])
    signs_in(presets, "x-goog-iap-jwt-assertion", presets.iap.token(user), f"{user}@example.org")
    assert presets.sign_on().user_roles(f"{user}@example.org") == [
        "Viewer"
    ]  # no groups: the registration role
    wrong = presets.iap.token(user, aud="/projects/1/global/backendServices/2")
    assert presets.get("/api/v2/dags", {"x-goog-iap-jwt-assertion": wrong}).json() == {
        "detail": "wrong audience"
    }


def test_cloudflare_access_token_signs_in(presets: Presets) -> None:
    """Cloudflare One, "Validate JWTs": Cf-Access-Jwt-Assertion, keys at <team>/cdn-cgi/access/certs."""
    presets.use("cloudflare-access")
    user = new_user(presets, "cf", [])
    signs_in(presets, "Cf-Access-Jwt-Assertion", presets.cloudflare.token(user), f"{user}@example.org")
    assert presets.sign_on().user_roles(f"{user}@example.org") == ["Viewer"]
    other_team = presets.cloudflare.token(user, iss="https://evil.cloudflareaccess.com")
    assert presets.get("/api/v2/dags", {"Cf-Access-Jwt-Assertion": other_team}).status_code == 401


def test_pomerium_token_signs_in(presets: Presets) -> None:
    """Pomerium, "Identity verification": X-Pomerium-Jwt-Assertion, /.well-known/pomerium/jwks.json."""
    presets.use("pomerium")
    user = new_user(presets, "pom", ["airflow-users"])
    signs_in(presets, "X-Pomerium-Jwt-Assertion", presets.pomerium.token(user), f"{user}@example.org")
    assert presets.sign_on().user_roles(f"{user}@example.org") == ["User"]
    other_route = presets.pomerium.token(user, aud="grafana.pomerium.test")
    assert presets.get("/api/v2/dags", {"X-Pomerium-Jwt-Assertion": other_route}).status_code == 401


# -- the fuzz, in ALB mode -------------------------------------------------------------------------


@st.composite
def alb_fuzz(draw: st.DrawFn, presets: Presets, user: str) -> bytes:
    """An ALB token with fuzzed JOSE header fields and claims, correctly signed by the ALB key."""
    header: dict[str, Any] = {}
    if draw(st.integers(0, 4)):
        header["kid"] = presets.alb.key.kid
    else:
        header["kid"] = draw(st.text(max_size=40) | json_values)
    if not draw(st.integers(0, 4)):
        header["signer"] = draw(st.text(max_size=80) | json_values)
    if not draw(st.integers(0, 6)):
        header["alg"] = draw(st.sampled_from(["none", "HS256", "RS256", "ES384", ""]) | json_values)
    claims: dict[str, Any] = {
        name: draw(json_values)
        for name in draw(
            st.lists(st.sampled_from(["exp", "iss", "email", "nbf", "iat", "groups"]), max_size=3)
        )
    }
    return presets.alb.token(user, header=header, pad=draw(st.booleans()), **claims).encode()


def test_no_alb_header_value_causes_a_server_error(presets: Presets) -> None:
    presets.use("aws-alb")
    user = new_user(presets, "alb-fuzz", ["airflow-viewers"])
    good = [presets.alb.token(user).encode()]
    client = KeepAliveClient("127.0.0.1", presets.airflow.api_port, header="x-amzn-oidc-data")
    statuses: dict[int, int] = {}
    failures: list[tuple[bytes, int]] = []

    @settings(max_examples=10_000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        value=st.one_of(header_bytes, jwt_shaped, mutated_valid_token(good), alb_fuzz(presets, user)),
        path=st.sampled_from(("/api/v2/dags", "/ui/auth/me", "/", "/auth/login/")),
    )
    def one_request(value: bytes, path: str) -> None:
        status = client.get(path, value, b"application/json")
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 500:
            failures.append((value, status))

    try:
        one_request()
    finally:
        client.close()
    print(f"\nALB fuzz statuses {sorted(statuses.items())}")
    assert sum(statuses.values()) >= 10_000
    assert failures == []
    assert statuses.get(200, 0) > 100  # past the signature into claims and users
    assert "Unexpected error while checking" not in presets.airflow.processes["api-server"].log_text()
