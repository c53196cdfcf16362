"""webserver_config.py settings: defaults, and refusals that name the key and say why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins.auth.keys import HmacSecret, PemFile
from airflow_platform_plugins.auth.settings import build_verifier, check_airflow_issuer, load_settings
from airflow_platform_plugins.auth.tokens import TokenVerifier
from airflow_platform_plugins.options import ConfigError
from tests.unit.auth.conftest import Key

BASE: dict[str, Any] = {
    "AUTH_JWT_JWKS_URL": "https://idp.example.org/jwks",
    "AUTH_JWT_ISSUER": "https://idp.example.org/",
    "AUTH_JWT_AUDIENCE": "airflow",
}


def load(**overrides: Any) -> Any:
    config = {**BASE, **overrides}
    return load_settings({k: v for k, v in config.items() if v is not ...})


def refused(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load(**overrides)
    return str(info.value)


def test_defaults() -> None:
    settings = load()
    assert settings.header_name == "X-Jwt-Assertion"
    assert settings.policy.algorithms == {"RS256", "ES256"}
    assert settings.policy.audiences == ("airflow",)
    assert settings.policy.leeway == 30
    assert settings.policy.max_bytes == 16384
    assert settings.claims.username == ("sub",)
    assert settings.claims.roles == ("groups",)
    assert settings.roles.mapping == {}
    assert settings.roles.registration_role is None
    assert settings.roles.replace is True
    assert settings.logout_url is None


def test_fab_keys_keep_fab_names() -> None:
    settings = load(
        AUTH_ROLES_MAPPING={"admins": ["Admin"], "viewers": "Viewer"},
        AUTH_USER_REGISTRATION_ROLE="Viewer",
        AUTH_ROLES_SYNC_AT_LOGIN=False,
    )
    assert settings.roles.mapping == {"admins": ("Admin",), "viewers": ("Viewer",)}
    assert settings.roles.registration_role == "Viewer"
    assert settings.roles.replace is False


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_authorization_means_idp_tokens_as_bearer_beside_airflows_own(name: str) -> None:
    settings = load(AUTH_JWT_HEADER_NAME=name)
    assert settings.mode == "bearer"
    assert settings.bearer


def test_authorization_refuses_an_hmac_secret() -> None:
    message = refused(
        AUTH_JWT_HEADER_NAME="Authorization",
        AUTH_JWT_JWKS_URL=...,
        AUTH_JWT_ALGORITHMS=["HS256"],
        AUTH_JWT_HMAC_SECRET="s" * 32,
    )
    assert message.startswith("AUTH_JWT_HMAC_SECRET cannot be used with Authorization")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"AUTH_JWT_HEADER_NAME": "Cookie"}, "AUTH_JWT_HEADER_NAME cannot be Cookie"),
        ({"AUTH_JWT_HEADER_NAME": "X_Jwt"}, "AUTH_JWT_HEADER_NAME cannot contain '_'"),
        ({"AUTH_JWT_HEADER_NAME": "X Jwt"}, "AUTH_JWT_HEADER_NAME must be an HTTP header name"),
        ({"AUTH_JWT_ALGORITHMS": ["none"]}, "AUTH_JWT_ALGORITHMS cannot contain 'none'"),
        ({"AUTH_JWT_ALGORITHMS": ["RS256", "XS1"]}, "AUTH_JWT_ALGORITHMS has unknown algorithms ['XS1']"),
        ({"AUTH_JWT_ALGORITHMS": []}, "AUTH_JWT_ALGORITHMS must be a string or a non-empty list"),
        ({"AUTH_JWT_ISSUER": ...}, "AUTH_JWT_ISSUER must be set in webserver_config.py"),
        ({"AUTH_JWT_AUDIENCE": ...}, "AUTH_JWT_AUDIENCE must be set in webserver_config.py"),
        ({"AUTH_JWT_JWKS_URL": ..., "AUTH_JWT_ISSUER": "idp"}, "JWT-header sign-on needs keys"),
        ({"AUTH_JWT_JWKS_URL": "file:///etc/keys"}, "AUTH_JWT_JWKS_URL must be an http(s) URL"),
        ({"AUTH_JWT_HMAC_SECRET": "s" * 32}, "AUTH_JWT_HMAC_SECRET is set but AUTH_JWT_ALGORITHMS has no HS"),
        (
            {"AUTH_JWT_ALGORITHMS": ["RS256", "HS256"]},
            "AUTH_JWT_ALGORITHMS has ['HS256'] but AUTH_JWT_HMAC_SECRET",
        ),
        (
            {"AUTH_JWT_ALGORITHMS": ["HS256"], "AUTH_JWT_HMAC_SECRET": "s" * 32},
            "AUTH_JWT_JWKS_URL / AUTH_JWT_PUBLIC_KEY_FILE / OIDC discovery give public keys but "
            "AUTH_JWT_ALGORITHMS has only HMAC",
        ),
        (
            {"AUTH_JWT_JWKS_URL": ..., "AUTH_JWT_ALGORITHMS": ["HS256"], "AUTH_JWT_HMAC_SECRET": "short"},
            "AUTH_JWT_HMAC_SECRET must have at least 32 bytes",
        ),
        ({"AUTH_JWT_LEEWAY": 3600}, "AUTH_JWT_LEEWAY must be at most 300"),
        ({"AUTH_JWT_LEEWAY": "30"}, "AUTH_JWT_LEEWAY must be a number of seconds"),
        ({"AUTH_JWT_USERNAME_CLAIM": None}, "AUTH_JWT_USERNAME_CLAIM cannot be None"),
        ({"AUTH_ROLES_MAPPING": {"admins": "Admin", "x": 3}}, "AUTH_ROLES_MAPPING must be a dict"),
        ({"AUTH_ROLES_SYNC_AT_LOGIN": "yes"}, "AUTH_ROLES_SYNC_AT_LOGIN must be True or False"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(overrides: dict[str, Any], message: str) -> None:
    assert refused(**overrides).startswith(message)


def test_optional_claims_can_be_switched_off() -> None:
    settings = load(AUTH_JWT_EMAIL_CLAIM=None, AUTH_JWT_ROLES_CLAIM=["realm_access", "roles"])
    assert settings.claims.email is None
    assert settings.claims.roles == ("realm_access", "roles")


def test_each_key_source_is_built(tmp_path: Path, rsa_key: Key) -> None:
    pem = tmp_path / "k.pem"
    pem.write_bytes(rsa_key.pem())
    settings = load(
        AUTH_JWT_PUBLIC_KEY_FILE=str(pem),
        AUTH_JWT_HMAC_SECRET="s" * 32,
        AUTH_JWT_ALGORITHMS=["RS256", "HS256"],
    )
    verifier = build_verifier(settings)
    assert isinstance(verifier, TokenVerifier)
    kinds = [type(source).__name__ for source in verifier.keys.sources]
    assert kinds == [HmacSecret.__name__, PemFile.__name__, "JwksUrl"]


def test_an_unreadable_key_file_is_a_config_error(tmp_path: Path) -> None:
    settings = load(AUTH_JWT_PUBLIC_KEY_FILE=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="AUTH_JWT_PUBLIC_KEY_FILE"):
        build_verifier(settings)


def test_airflows_own_issuer_must_differ_from_the_idps_in_authorization_mode() -> None:
    bearer = load(AUTH_JWT_HEADER_NAME="Authorization")
    check_airflow_issuer(bearer, None)
    check_airflow_issuer(bearer, "http://airflow.internal")
    with pytest.raises(ConfigError, match="must differ"):
        check_airflow_issuer(bearer, "https://idp.example.org/")
    check_airflow_issuer(load(), "https://idp.example.org/")  # a header of its own: no ambiguity
