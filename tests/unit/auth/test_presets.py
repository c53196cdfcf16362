"""AUTH_JWT_PRESET: a few lines per proxy, every value overridable; ALB, discovery and Istio settings."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_platform_plugins.auth.alb import AlbVerifier
from airflow_platform_plugins.auth.presets import IAP_ISSUER, IAP_JWKS_URL, PRESETS
from airflow_platform_plugins.auth.settings import build_verifier, load_settings
from airflow_platform_plugins.auth.tokens import TokenVerifier
from airflow_platform_plugins.options import ConfigError

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/airflow/50dc6c495c0c9188"
ALB = {
    "AUTH_JWT_PRESET": "aws-alb",
    "AUTH_JWT_ALB_REGION": "eu-west-1",
    "AUTH_JWT_ALB_ARN": ARN,
    "AUTH_JWT_ISSUER": "https://idp.example.org",
}


def refused(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    return str(info.value)


def test_aws_alb() -> None:
    settings = load_settings(ALB)
    assert settings.mode == "alb"
    assert settings.header_name == "X-Amzn-Oidc-Data"
    assert settings.policy.algorithms == {"ES256"}
    assert settings.policy.audiences == ()
    assert settings.alb_key_url == "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
    assert settings.claims.username == ("email",)
    verifier = build_verifier(settings)
    assert isinstance(verifier, AlbVerifier)
    assert verifier.keys.url_for("abc-123") == "https://public-keys.auth.elb.eu-west-1.amazonaws.com/abc-123"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"AUTH_JWT_ALB_REGION": None}, "AUTH_JWT_ALB_REGION must be an AWS region"),
        ({"AUTH_JWT_ALB_REGION": "eu-west-1/../x"}, "AUTH_JWT_ALB_REGION must be an AWS region"),
        (
            {"AUTH_JWT_ALB_ARN": "arn:aws:iam::123456789012:role/x"},
            "AUTH_JWT_ALB_ARN must be the load balancer",
        ),
        (
            {"AUTH_JWT_ALB_REGION": "us-east-1"},
            "AUTH_JWT_ALB_ARN is in eu-west-1, not in AUTH_JWT_ALB_REGION",
        ),
        ({"AUTH_JWT_ALGORITHMS": ["ES256", "RS256"]}, "AUTH_JWT_ALGORITHMS must be ['ES256']"),
        ({"AUTH_JWT_JWKS_URL": "https://x/jwks"}, "AWS ALB keys come from AUTH_JWT_ALB_KEY_URL"),
        ({"AUTH_JWT_ALB_KEY_URL": "https://keys.test/{region}/"}, "AUTH_JWT_ALB_KEY_URL must be"),
        ({"AUTH_JWT_ALB_KEY_URL": "https://keys.test/{other}/{kid}"}, "AUTH_JWT_ALB_KEY_URL may use only"),
        (
            {"AUTH_JWT_HEADER_NAME": "X-Amzn-Oidc-Identity"},
            "AUTH_JWT_HEADER_NAME cannot be X-Amzn-Oidc-Identity",
        ),
        (
            {"AUTH_JWT_HEADER_NAME": "X-Amzn-Oidc-Accesstoken"},
            "AUTH_JWT_HEADER_NAME cannot be X-Amzn-Oidc-Accesstoken",
        ),
    ],
)
def test_aws_alb_refusals(overrides: dict[str, Any], message: str) -> None:
    assert refused({**ALB, **overrides}).startswith(message)


def test_google_iap_needs_only_the_audience_and_a_role() -> None:
    settings = load_settings(
        {
            "AUTH_JWT_PRESET": "google-iap",
            "AUTH_JWT_AUDIENCE": "/projects/1/global/backendServices/2",
            "AUTH_USER_REGISTRATION_ROLE": "Viewer",
        }
    )
    assert settings.header_name == "X-Goog-Iap-Jwt-Assertion"
    assert settings.jwks_url == IAP_JWKS_URL
    assert settings.policy.issuer == IAP_ISSUER
    assert settings.policy.algorithms == {"ES256"}
    assert settings.claims.roles is None


def test_presets_without_groups_need_a_registration_role() -> None:
    message = refused(
        {"AUTH_JWT_PRESET": "google-iap", "AUTH_JWT_AUDIENCE": "/projects/1/global/backendServices/2"}
    )
    assert "AUTH_USER_REGISTRATION_ROLE" in message


def test_cloudflare_access_derives_the_certs_url_from_the_team_domain() -> None:
    settings = load_settings(
        {
            "AUTH_JWT_PRESET": "cloudflare-access",
            "AUTH_JWT_ISSUER": "https://acme.cloudflareaccess.com",
            "AUTH_JWT_AUDIENCE": "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2",
            "AUTH_USER_REGISTRATION_ROLE": "Viewer",
        }
    )
    assert settings.header_name == "Cf-Access-Jwt-Assertion"
    assert settings.jwks_url == "https://acme.cloudflareaccess.com/cdn-cgi/access/certs"
    assert settings.policy.algorithms == {"RS256"}


def test_pomerium_uses_the_route_for_keys_and_audience() -> None:
    settings = load_settings({"AUTH_JWT_PRESET": "pomerium", "AUTH_JWT_ISSUER": "airflow.example.com"})
    assert settings.header_name == "X-Pomerium-Jwt-Assertion"
    assert settings.jwks_url == "https://airflow.example.com/.well-known/pomerium/jwks.json"
    assert settings.policy.audiences == ("airflow.example.com",)
    assert settings.policy.issuer == "airflow.example.com"
    message = refused({"AUTH_JWT_PRESET": "pomerium", "AUTH_JWT_ISSUER": "https://airflow.example.com"})
    assert "the route's host name" in message
    assert settings.policy.issuer == "airflow.example.com"
    message = refused({"AUTH_JWT_PRESET": "pomerium", "AUTH_JWT_ISSUER": "https://airflow.example.com"})
    assert "the route's host name" in message


@pytest.mark.parametrize("preset", ["oauth2-proxy", "envoy-gateway", "istio"])
def test_bearer_presets_use_authorization_and_discovery(preset: str) -> None:
    settings = load_settings(
        {
            "AUTH_JWT_PRESET": preset,
            "AUTH_JWT_ISSUER": "https://idp.example.org/",
            "AUTH_JWT_AUDIENCE": "airflow",
        }
    )
    assert settings.bearer
    assert settings.discovery
    assert settings.jwks_url is None
    verifier = build_verifier(settings)
    assert isinstance(verifier, TokenVerifier)
    assert type(verifier.keys.sources[0]).__name__ == "JwksUrl"


def test_every_preset_value_can_be_overridden() -> None:
    settings = load_settings(
        {
            "AUTH_JWT_PRESET": "oauth2-proxy",
            "AUTH_JWT_ISSUER": "https://idp.example.org/",
            "AUTH_JWT_AUDIENCE": "airflow",
            "AUTH_JWT_HEADER_NAME": "X-Forwarded-Id-Token",
            "AUTH_JWT_USERNAME_CLAIM": "preferred_username",
            "AUTH_JWT_ALGORITHMS": ["PS256"],
            "AUTH_JWT_JWKS_URL": "https://idp.example.org/jwks",
        }
    )
    assert settings.header_name == "X-Forwarded-Id-Token"
    assert not settings.bearer
    assert settings.claims.username == ("preferred_username",)
    assert settings.policy.algorithms == {"PS256"}
    assert settings.jwks_url == "https://idp.example.org/jwks"
    assert not settings.discovery


def test_an_unknown_preset_lists_the_known_ones() -> None:
    message = refused({"AUTH_JWT_PRESET": "nginx-ingress"})
    assert message.startswith("AUTH_JWT_PRESET must be one of")
    for name in PRESETS:
        assert name in message


@pytest.mark.parametrize("header", ["X-Jwt-Payload", "x-istio-jwt-payload"])
def test_istio_payload_header_is_refused_naming_the_settings_that_work(header: str) -> None:
    message = refused(
        {
            "AUTH_JWT_HEADER_NAME": header,
            "AUTH_JWT_ISSUER": "https://idp.example.org/",
            "AUTH_JWT_AUDIENCE": "a",
        }
    )
    assert message.startswith(f"AUTH_JWT_HEADER_NAME cannot be {header}: an unsigned JWT payload")
    assert "outputPayloadToHeader" in message
    assert "forwardOriginalToken: true" in message
    assert "fromHeaders" in message
