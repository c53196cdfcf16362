"""JWT-header sign-on settings from ``webserver_config.py``, validated together, with clear errors.

Each key is defined (type, default, documentation) in :mod:`airflow_platform_plugins.auth.config_keys`;
this module checks the combinations: at least one key source, algorithms that fit the keys, a
header name that cannot collide with Airflow's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins.auth import config_keys as o
from airflow_platform_plugins.auth.alb import ALB_KEY_URL, ARN, KID, REGION, AlbKeys, AlbVerifier
from airflow_platform_plugins.auth.discovery import OidcDiscovery, discovery_url
from airflow_platform_plugins.auth.identity import ClaimNames, RolePolicy
from airflow_platform_plugins.auth.jwks import JwksUrl
from airflow_platform_plugins.auth.keys import (
    ALGORITHMS,
    HMAC_ALGORITHMS,
    MIN_HMAC_BYTES,
    HmacSecret,
    KeyRing,
    KeySource,
    PemFile,
)
from airflow_platform_plugins.auth.presets import with_preset
from airflow_platform_plugins.auth.tokens import TokenPolicy, TokenVerifier
from airflow_platform_plugins.options import ConfigError

UNSIGNED_PAYLOAD_HELP = (
    "an unsigned JWT payload (Istio's outputPayloadToHeader) proves nothing, since anyone who reaches "
    "Airflow can send one. Have Istio forward the signed token instead: RequestAuthentication "
    "jwtRules[].forwardOriginalToken: true (AUTH_JWT_PRESET = 'istio', the token stays in "
    "Authorization), or jwtRules[].fromHeaders with forwardOriginalToken: true to keep the signed "
    "token in a header of its own (AUTH_JWT_HEADER_NAME)"
)

BEARER_HEADER = "Authorization"
# Headers that already mean something to Airflow, HTTP or the proxy; never an identity header.
_RESERVED_HEADERS = {
    "proxy-authorization": "it is meant for the proxy, not for Airflow",
    "cookie": "it carries Airflow's session cookies",
    "host": "it is a routing header",
    "content-length": "it frames the request",
    "content-type": "it describes the request body",
    "transfer-encoding": "it frames the request",
    "connection": "it is a hop-by-hop header",
}


@dataclass(frozen=True)
class AuthSettings:
    """Everything the sign-on reads, validated."""

    header_name: str
    mode: str  # "header": a raw token; "bearer": Authorization beside Airflow's own; "alb": AWS ALB
    policy: TokenPolicy
    jwks_url: str | None
    public_key_file: str | None
    hmac_secret: bytes | None
    jwks_cache_ttl: float
    jwks_refresh_interval: float
    jwks_timeout: float
    claims: ClaimNames
    roles: RolePolicy
    logout_url: str | None
    user_cache_ttl: float
    preset: str | None = None
    discovery: bool = False
    alb_region: str | None = None
    alb_arn: str | None = None
    alb_key_url: str | None = None

    @property
    def bearer(self) -> bool:
        """Whether the identity provider's tokens come in ``Authorization: Bearer``."""
        return self.mode == "bearer"


def load_settings(config: Mapping[str, Any]) -> AuthSettings:
    """Read every key from a Flask config; raise :class:`ConfigError` naming the key that is wrong."""
    preset = o.AUTH_JWT_PRESET.get(config)
    config = with_preset(config)
    header = o.AUTH_JWT_HEADER_NAME.get(config)
    _check_header(header)
    alb_region = o.AUTH_JWT_ALB_REGION.get(config)
    alb_arn = o.AUTH_JWT_ALB_ARN.get(config)
    alb_key_url = o.AUTH_JWT_ALB_KEY_URL.get(config)
    mode = "bearer" if header.lower() == BEARER_HEADER.lower() else "header"
    if alb_key_url or alb_region or alb_arn or header.lower() == "x-amzn-oidc-data":
        mode = "alb"
        _check_alb(alb_region, alb_arn, alb_key_url or ALB_KEY_URL)
        alb_key_url = alb_key_url or ALB_KEY_URL

    algorithms = o.AUTH_JWT_ALGORITHMS.get(config)
    if any(alg.lower() == "none" for alg in algorithms):
        raise ConfigError("AUTH_JWT_ALGORITHMS cannot contain 'none': unsigned tokens are never accepted")
    unknown = [alg for alg in algorithms if alg not in ALGORITHMS]
    if unknown:
        raise ConfigError(
            f"AUTH_JWT_ALGORITHMS has unknown algorithms {unknown}; known: {sorted(ALGORITHMS)}"
        )
    hmac_algs = sorted(set(algorithms) & HMAC_ALGORITHMS)
    public_algs = sorted(set(algorithms) - HMAC_ALGORITHMS)
    issuer = o.AUTH_JWT_ISSUER.get(config)
    audiences = o.AUTH_JWT_AUDIENCE.get(config)

    jwks_url = o.AUTH_JWT_JWKS_URL.get(config)
    pem = o.AUTH_JWT_PUBLIC_KEY_FILE.get(config)
    secret = o.AUTH_JWT_HMAC_SECRET.get(config)
    discovery = False
    if mode == "alb":
        if list(algorithms) != ["ES256"]:
            raise ConfigError("AUTH_JWT_ALGORITHMS must be ['ES256'] for AWS ALB tokens")
        if jwks_url or pem or secret:
            raise ConfigError(
                "AWS ALB keys come from AUTH_JWT_ALB_KEY_URL; unset AUTH_JWT_JWKS_URL, "
                "AUTH_JWT_PUBLIC_KEY_FILE and AUTH_JWT_HMAC_SECRET"
            )
        audiences = audiences or ()
    else:
        if audiences is None:
            raise ConfigError(
                "AUTH_JWT_AUDIENCE must be set in webserver_config.py: the audience of Airflow's tokens"
            )
        if not (jwks_url or pem or secret):
            discovery = True  # keys from <issuer>/.well-known/openid-configuration
            if urlsplit(issuer).scheme not in ("http", "https"):
                raise ConfigError(
                    "JWT-header sign-on needs keys: set AUTH_JWT_JWKS_URL, AUTH_JWT_PUBLIC_KEY_FILE or "
                    f"AUTH_JWT_HMAC_SECRET, or an http(s) AUTH_JWT_ISSUER for OIDC discovery (got {issuer!r})"
                )
    if jwks_url and urlsplit(jwks_url).scheme not in ("http", "https"):
        raise ConfigError(f"AUTH_JWT_JWKS_URL must be an http(s) URL, got {jwks_url!r}")
    if secret is not None:
        if len(secret) < MIN_HMAC_BYTES:
            raise ConfigError(f"AUTH_JWT_HMAC_SECRET must have at least {MIN_HMAC_BYTES} bytes")
        if not hmac_algs:
            raise ConfigError("AUTH_JWT_HMAC_SECRET is set but AUTH_JWT_ALGORITHMS has no HS256/HS384/HS512")
        if mode == "bearer":
            raise ConfigError(
                "AUTH_JWT_HMAC_SECRET cannot be used with Authorization: the identity provider's tokens "
                "there must be signed with a public key, so they cannot be mistaken for Airflow's own"
            )
    elif hmac_algs:
        raise ConfigError(f"AUTH_JWT_ALGORITHMS has {hmac_algs} but AUTH_JWT_HMAC_SECRET is not set")
    public_keys = jwks_url or pem or discovery or mode == "alb"
    if public_keys and not public_algs:
        raise ConfigError(
            "AUTH_JWT_JWKS_URL / AUTH_JWT_PUBLIC_KEY_FILE / OIDC discovery give public keys but "
            "AUTH_JWT_ALGORITHMS has only HMAC algorithms"
        )
    if public_algs and not public_keys:
        raise ConfigError(
            f"AUTH_JWT_ALGORITHMS has {public_algs}, which need AUTH_JWT_JWKS_URL or AUTH_JWT_PUBLIC_KEY_FILE"
        )

    username = o.AUTH_JWT_USERNAME_CLAIM.get(config)
    if username is None:
        raise ConfigError("AUTH_JWT_USERNAME_CLAIM cannot be None: it names the Airflow user")
    policy = TokenPolicy(
        algorithms=frozenset(algorithms),
        issuer=issuer,
        audiences=audiences,
        leeway=o.AUTH_JWT_LEEWAY.get(config),
        max_bytes=o.AUTH_JWT_MAX_HEADER_BYTES.get(config),
    )
    claims = ClaimNames(
        username=username,
        email=o.AUTH_JWT_EMAIL_CLAIM.get(config),
        first_name=o.AUTH_JWT_FIRST_NAME_CLAIM.get(config),
        last_name=o.AUTH_JWT_LAST_NAME_CLAIM.get(config),
        full_name=o.AUTH_JWT_FULL_NAME_CLAIM.get(config),
        roles=o.AUTH_JWT_ROLES_CLAIM.get(config),
        roles_delimiter=o.AUTH_JWT_ROLES_DELIMITER.get(config),
    )
    roles = RolePolicy(
        mapping=o.AUTH_ROLES_MAPPING.get(config) or {},
        registration_role=o.AUTH_USER_REGISTRATION_ROLE.get(config),
        replace=o.AUTH_ROLES_SYNC_AT_LOGIN.get(config),
    )
    if claims.roles is None and not roles.registration_role:
        raise ConfigError(
            "AUTH_JWT_ROLES_CLAIM is None (these tokens carry no groups), so every user needs "
            "AUTH_USER_REGISTRATION_ROLE: set it to the role everyone signed in gets"
        )
    return AuthSettings(
        header_name=header,
        mode=mode,
        policy=policy,
        jwks_url=jwks_url,
        public_key_file=pem,
        hmac_secret=secret,
        jwks_cache_ttl=o.AUTH_JWT_JWKS_CACHE_TTL.get(config),
        jwks_refresh_interval=o.AUTH_JWT_JWKS_REFRESH_INTERVAL.get(config),
        jwks_timeout=o.AUTH_JWT_JWKS_TIMEOUT.get(config),
        claims=claims,
        roles=roles,
        logout_url=o.AUTH_JWT_LOGOUT_URL.get(config),
        user_cache_ttl=o.AUTH_JWT_USER_CACHE_TTL.get(config),
        preset=preset,
        discovery=discovery,
        alb_region=alb_region,
        alb_arn=alb_arn,
        alb_key_url=alb_key_url,
    )


def _check_header(header: str) -> None:
    """Refuse header names that cannot carry a token Airflow may trust."""
    if header.lower() in _RESERVED_HEADERS:
        raise ConfigError(f"AUTH_JWT_HEADER_NAME cannot be {header}: {_RESERVED_HEADERS[header.lower()]}")
    if "_" in header:
        raise ConfigError(
            f"AUTH_JWT_HEADER_NAME cannot contain '_' ({header}): nginx drops such headers by default and "
            "WSGI maps '_' and '-' to the same name, so a client could smuggle a copy; use '-'"
        )
    if "payload" in header.lower():
        raise ConfigError(f"AUTH_JWT_HEADER_NAME cannot be {header}: {UNSIGNED_PAYLOAD_HELP}")
    if header.lower().startswith("x-amzn-oidc-") and header.lower() != "x-amzn-oidc-data":
        raise ConfigError(
            f"AUTH_JWT_HEADER_NAME cannot be {header}: ALB's x-amzn-oidc-identity and "
            "x-amzn-oidc-accesstoken are not signed by the load balancer; use AUTH_JWT_PRESET = 'aws-alb'"
        )


def check_airflow_issuer(settings: AuthSettings, airflow_issuer: str | None) -> None:
    """With ``Authorization``, Airflow's own tokens (``[api_auth] jwt_issuer``) must not claim our issuer.

    Tokens are told apart by ``iss`` alone (:mod:`~airflow_platform_plugins.auth.bearer`); the same
    issuer on both sides would send Airflow's own tokens to the identity provider's verifier.
    """
    if settings.bearer and airflow_issuer and airflow_issuer.strip() == settings.policy.issuer:
        raise ConfigError(
            f"AUTH_JWT_ISSUER and Airflow's [api_auth] jwt_issuer are both {airflow_issuer!r}: with "
            "AUTH_JWT_HEADER_NAME = 'Authorization' they must differ, as tokens are told apart by iss"
        )


def _check_alb(region: str | None, arn: str | None, key_url: str) -> None:
    if region is None or not REGION.fullmatch(region):
        raise ConfigError(f"AUTH_JWT_ALB_REGION must be an AWS region such as eu-west-1, got {region!r}")
    if arn is None or not ARN.fullmatch(arn):
        raise ConfigError(
            "AUTH_JWT_ALB_ARN must be the load balancer's ARN "
            f"(arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/app/NAME/ID), got {arn!r}"
        )
    if arn.split(":")[3] != region:
        raise ConfigError(f"AUTH_JWT_ALB_ARN is in {arn.split(':')[3]}, not in AUTH_JWT_ALB_REGION {region}")
    try:
        probe = key_url.format(region=region, kid="probe")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"AUTH_JWT_ALB_KEY_URL may use only {{region}} and {{kid}}, got {key_url!r}"
        ) from exc
    if (
        "{kid}" not in key_url
        or urlsplit(probe).scheme not in ("http", "https")
        or not KID.fullmatch("probe")
    ):
        raise ConfigError(
            f"AUTH_JWT_ALB_KEY_URL must be an http(s) URL template with {{kid}}, got {key_url!r}"
        )


def build_verifier(settings: AuthSettings) -> TokenVerifier | AlbVerifier:
    """The token verifier for these settings, with its key sources (a bad PEM file is a config error)."""
    if settings.mode == "alb":
        assert settings.alb_key_url
        assert settings.alb_region
        assert settings.alb_arn
        keys = AlbKeys(
            settings.alb_key_url,
            settings.alb_region,
            refresh_interval=settings.jwks_refresh_interval,
            timeout=settings.jwks_timeout,
        )
        return AlbVerifier(settings.policy, keys, settings.alb_arn)
    sources: list[KeySource] = []
    if settings.hmac_secret is not None:
        sources.append(HmacSecret(settings.hmac_secret))
    if settings.public_key_file:
        try:
            sources.append(PemFile(settings.public_key_file))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"AUTH_JWT_PUBLIC_KEY_FILE: {exc}") from exc
    if settings.jwks_url:
        sources.append(
            JwksUrl(
                settings.jwks_url,
                cache_ttl=settings.jwks_cache_ttl,
                refresh_interval=settings.jwks_refresh_interval,
                timeout=settings.jwks_timeout,
            )
        )
    if settings.discovery:
        discovery = OidcDiscovery(settings.policy.issuer, cache_ttl=settings.jwks_cache_ttl)
        sources.append(
            JwksUrl(
                discovery_url(settings.policy.issuer),
                cache_ttl=settings.jwks_cache_ttl,
                refresh_interval=settings.jwks_refresh_interval,
                timeout=settings.jwks_timeout,
                fetch=discovery,
            )
        )
    return TokenVerifier(settings.policy, KeyRing(sources))
