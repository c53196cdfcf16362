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
from airflow_platform_plugins.auth.tokens import TokenPolicy, TokenVerifier
from airflow_platform_plugins.options import ConfigError

# Headers that already mean something to Airflow, HTTP or the proxy; never an identity header.
_RESERVED_HEADERS = {
    "authorization": "Airflow 3 reads `Authorization: Bearer` as its own API token, so the proxy's "
    "token would be refused there; use a header of its own such as X-Jwt-Assertion",
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


def load_settings(config: Mapping[str, Any]) -> AuthSettings:
    """Read every key from a Flask config; raise :class:`ConfigError` naming the key that is wrong."""
    header = o.AUTH_JWT_HEADER_NAME.get(config)
    if header.lower() in _RESERVED_HEADERS:
        raise ConfigError(f"AUTH_JWT_HEADER_NAME cannot be {header}: {_RESERVED_HEADERS[header.lower()]}")
    if "_" in header:
        raise ConfigError(
            f"AUTH_JWT_HEADER_NAME cannot contain '_' ({header}): nginx drops such headers by default and "
            "WSGI maps '_' and '-' to the same name, so a client could smuggle a copy; use '-'"
        )

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

    jwks_url = o.AUTH_JWT_JWKS_URL.get(config)
    pem = o.AUTH_JWT_PUBLIC_KEY_FILE.get(config)
    secret = o.AUTH_JWT_HMAC_SECRET.get(config)
    if not (jwks_url or pem or secret):
        raise ConfigError(
            "JWT-header sign-on needs keys: set AUTH_JWT_JWKS_URL, AUTH_JWT_PUBLIC_KEY_FILE "
            "or AUTH_JWT_HMAC_SECRET"
        )
    if jwks_url and urlsplit(jwks_url).scheme not in ("http", "https"):
        raise ConfigError(f"AUTH_JWT_JWKS_URL must be an http(s) URL, got {jwks_url!r}")
    if secret is not None:
        if len(secret) < MIN_HMAC_BYTES:
            raise ConfigError(f"AUTH_JWT_HMAC_SECRET must have at least {MIN_HMAC_BYTES} bytes")
        if not hmac_algs:
            raise ConfigError("AUTH_JWT_HMAC_SECRET is set but AUTH_JWT_ALGORITHMS has no HS256/HS384/HS512")
    elif hmac_algs:
        raise ConfigError(f"AUTH_JWT_ALGORITHMS has {hmac_algs} but AUTH_JWT_HMAC_SECRET is not set")
    if (jwks_url or pem) and not public_algs:
        raise ConfigError(
            "AUTH_JWT_JWKS_URL / AUTH_JWT_PUBLIC_KEY_FILE are set but AUTH_JWT_ALGORITHMS has only "
            "HMAC algorithms"
        )
    if public_algs and not (jwks_url or pem):
        raise ConfigError(
            f"AUTH_JWT_ALGORITHMS has {public_algs}, which need AUTH_JWT_JWKS_URL or AUTH_JWT_PUBLIC_KEY_FILE"
        )

    username = o.AUTH_JWT_USERNAME_CLAIM.get(config)
    if username is None:
        raise ConfigError("AUTH_JWT_USERNAME_CLAIM cannot be None: it names the Airflow user")
    policy = TokenPolicy(
        algorithms=frozenset(algorithms),
        issuer=o.AUTH_JWT_ISSUER.get(config),
        audiences=o.AUTH_JWT_AUDIENCE.get(config),
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
    return AuthSettings(
        header_name=header,
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
    )


def build_verifier(settings: AuthSettings) -> TokenVerifier:
    """The token verifier for these settings, with its key sources (a bad PEM file is a config error)."""
    sources: list[KeySource] = []
    if settings.hmac_secret is not None:
        sources.append(HmacSecret(settings.hmac_secret))
    if settings.public_key_file:
        try:
            sources.append(PemFile(settings.public_key_file))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"AUTH_JWT_PUBLIC_KEY_FILE: {exc}") from None
    if settings.jwks_url:
        sources.append(
            JwksUrl(
                settings.jwks_url,
                cache_ttl=settings.jwks_cache_ttl,
                refresh_interval=settings.jwks_refresh_interval,
                timeout=settings.jwks_timeout,
            )
        )
    return TokenVerifier(settings.policy, KeyRing(sources))
