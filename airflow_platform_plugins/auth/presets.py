"""``AUTH_JWT_PRESET``: the settings each supported proxy needs, so a user writes only a few lines.

Pure. A preset gives defaults for the ``AUTH_JWT_*`` keys: the header, the algorithms, where the keys
are, the ``iss``/``aud`` rules and the claim names. Every key the user sets in ``webserver_config.py``
wins over the preset's value. Some values are derived from keys the user gives (the issuer, the ALB
region); docs/proxies.md shows each proxy's configuration next to its preset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_platform_plugins.auth.alb import ALB_HEADER, ALB_KEY_URL
from airflow_platform_plugins.options import ConfigError

IAP_ISSUER = "https://cloud.google.com/iap"
IAP_JWKS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"


def _issuer(config: Mapping[str, Any], preset: str, example: str) -> str:
    issuer = config.get("AUTH_JWT_ISSUER")
    if not isinstance(issuer, str) or not issuer.strip():
        raise ConfigError(f"AUTH_JWT_PRESET = {preset!r} needs AUTH_JWT_ISSUER ({example})")
    return issuer.strip().rstrip("/")


def _aws_alb(config: Mapping[str, Any]) -> dict[str, Any]:
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html
    return {
        "AUTH_JWT_HEADER_NAME": ALB_HEADER,
        "AUTH_JWT_ALGORITHMS": ["ES256"],
        "AUTH_JWT_ALB_KEY_URL": ALB_KEY_URL,
        "AUTH_JWT_USERNAME_CLAIM": "email",
        "AUTH_JWT_ROLES_CLAIM": "groups",
    }


def _google_iap(config: Mapping[str, Any]) -> dict[str, Any]:
    # https://cloud.google.com/iap/docs/signed-headers-howto
    return {
        "AUTH_JWT_HEADER_NAME": "X-Goog-Iap-Jwt-Assertion",
        "AUTH_JWT_ALGORITHMS": ["ES256"],
        "AUTH_JWT_JWKS_URL": IAP_JWKS_URL,
        "AUTH_JWT_ISSUER": IAP_ISSUER,
        "AUTH_JWT_USERNAME_CLAIM": "email",
        "AUTH_JWT_ROLES_CLAIM": None,  # IAP tokens carry no groups
    }


def _cloudflare_access(config: Mapping[str, Any]) -> dict[str, Any]:
    # https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/validating-json/
    team = _issuer(config, "cloudflare-access", "https://<team>.cloudflareaccess.com")
    return {
        "AUTH_JWT_HEADER_NAME": "Cf-Access-Jwt-Assertion",
        "AUTH_JWT_ALGORITHMS": ["RS256"],
        "AUTH_JWT_JWKS_URL": f"{team}/cdn-cgi/access/certs",
        "AUTH_JWT_USERNAME_CLAIM": "email",
        "AUTH_JWT_ROLES_CLAIM": None,  # the application token carries no groups
    }


def _pomerium(config: Mapping[str, Any]) -> dict[str, Any]:
    # https://www.pomerium.com/docs/capabilities/getting-users-identity
    host = _issuer(config, "pomerium", "the route's host, airflow.example.com")
    if "/" in host or ":" in host:
        raise ConfigError(
            f"AUTH_JWT_PRESET = 'pomerium' needs AUTH_JWT_ISSUER = the route's host name, got {host!r}"
        )
    return {
        "AUTH_JWT_HEADER_NAME": "X-Pomerium-Jwt-Assertion",
        "AUTH_JWT_ALGORITHMS": ["ES256"],
        "AUTH_JWT_JWKS_URL": f"https://{host}/.well-known/pomerium/jwks.json",
        "AUTH_JWT_AUDIENCE": host,
        "AUTH_JWT_USERNAME_CLAIM": "email",
        "AUTH_JWT_ROLES_CLAIM": "groups",
    }


def _bearer_from_idp(username: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """oauth2-proxy, Envoy Gateway, Istio: the IdP's token in ``Authorization: Bearer``.

    Keys by OIDC discovery from ``AUTH_JWT_ISSUER``.
    """

    def preset(config: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "AUTH_JWT_HEADER_NAME": "Authorization",
            "AUTH_JWT_ALGORITHMS": ["RS256", "ES256"],
            "AUTH_JWT_USERNAME_CLAIM": username,
            "AUTH_JWT_ROLES_CLAIM": "groups",
        }

    return preset


PRESETS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "aws-alb": _aws_alb,
    "google-iap": _google_iap,
    "cloudflare-access": _cloudflare_access,
    "pomerium": _pomerium,
    # https://oauth2-proxy.github.io/oauth2-proxy/configuration/overview (--pass-authorization-header)
    "oauth2-proxy": _bearer_from_idp("email"),
    # https://gateway.envoyproxy.io/docs/tasks/security/jwt-authentication/
    "envoy-gateway": _bearer_from_idp("sub"),
    # https://istio.io/latest/docs/reference/config/security/request_authentication/ (forwardOriginalToken)
    "istio": _bearer_from_idp("sub"),
}


def with_preset(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the preset's defaults under it (keys the user set win); unchanged without one."""
    name = config.get("AUTH_JWT_PRESET")
    if name is None:
        return dict(config)
    if name not in PRESETS:
        raise ConfigError(f"AUTH_JWT_PRESET must be one of {sorted(PRESETS)}, got {name!r}")
    return {**PRESETS[name](config), **config}
