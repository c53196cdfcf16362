"""Every ``webserver_config.py`` key of JWT-header sign-on: type, default and documentation.

Python values read from the FAB Flask app's config, next to Flask-AppBuilder's own keys.
:mod:`airflow_platform_plugins.auth.settings` checks how they combine; ``docs/configuration.md`` is
generated partly from here (``python -m airflow_platform_plugins.reference``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_platform_plugins.options import ConfigError

_HEADER_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


@dataclass(frozen=True)
class ConfigKey:
    """One ``webserver_config.py`` key: a Python value in the FAB Flask app's config."""

    key: str
    default: Any
    kind: str  # a key of _CONFIG_PARSERS
    description: str
    fab: bool = False  # a Flask-AppBuilder key, read with FAB's name
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def get(self, config: Mapping[str, Any]) -> Any:
        """Read and validate the key from a Flask config; raise :class:`ConfigError` naming it."""
        value = config.get(self.key, self.default)
        if value is None:
            if self.required:
                raise ConfigError(f"{self.key} must be set in webserver_config.py: {self.description}")
            return None
        return self.parse(value)

    def parse(self, value: Any) -> Any:
        """Convert ``value`` to this key's type; raise :class:`ConfigError` naming the key if invalid."""
        parser, expected = _CONFIG_PARSERS[self.kind]
        try:
            parsed = parser(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.key} must be {expected}, got {value!r}") from exc
        if self.minimum is not None and parsed < self.minimum:
            raise ConfigError(f"{self.key} must be at least {self.minimum:g}, got {value!r}")
        if self.maximum is not None and parsed > self.maximum:
            raise ConfigError(f"{self.key} must be at most {self.maximum:g}, got {value!r}")
        return parsed


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(value)
    return value.strip()


def _texts(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(value)
    return tuple(_text(item) for item in items)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    return float(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(value)
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def _header_name(value: Any) -> str:
    name = _text(value)
    if not _HEADER_TOKEN.fullmatch(name):
        raise ValueError(value)
    return name


def _claim(value: Any) -> tuple[str, ...]:
    # "email" -> ("email",); ["realm_access", "roles"] -> a nested claim. Dots are part of names
    # (URL-style claim names are common), so they never split a path.
    return _texts(value)


def _secret(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    raise ValueError(value)


def _role_mapping(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise ValueError(value)
    return {_text(k): _texts(v) for k, v in value.items()}


def _delimiter(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(value)
    return value


_CONFIG_PARSERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "text": (_text, "a non-empty string"),
    "texts": (_texts, "a string or a non-empty list of strings"),
    "seconds": (_number, "a number of seconds"),
    "bytes": (_whole, "a whole number of bytes"),
    "boolean": (_flag, "True or False"),
    "header": (_header_name, "an HTTP header name"),
    "claim": (_claim, 'a claim name, or a list of names for a nested claim (["realm_access", "roles"])'),
    "secret": (_secret, "a string or bytes"),
    "mapping": (
        _role_mapping,
        'a dict of claim value to a list of Airflow role names ({"admins": ["Admin"]})',
    ),
    "delimiter": (_delimiter, "a non-empty string"),
}

AUTH_JWT_PRESET = ConfigKey(
    "AUTH_JWT_PRESET",
    None,
    "text",
    "The proxy in front: ``aws-alb``, ``google-iap``, ``cloudflare-access``, ``pomerium``, "
    "``oauth2-proxy``, ``envoy-gateway`` or ``istio``. Sets the defaults of the other ``AUTH_JWT_*`` "
    "keys for that proxy (docs/proxies.md); a key set here wins over the preset.",
)
AUTH_JWT_HEADER_NAME = ConfigKey(
    "AUTH_JWT_HEADER_NAME",
    "X-Jwt-Assertion",
    "header",
    "Request header that carries the proxy's JWT (the raw token, no ``Bearer`` prefix). "
    "``Authorization``: the identity provider's token as ``Bearer``, beside Airflow's own API tokens, "
    "told apart by ``iss``.",
)
AUTH_JWT_ALB_REGION = ConfigKey(
    "AUTH_JWT_ALB_REGION",
    None,
    "text",
    "``aws-alb``: the load balancer's AWS region (for example ``eu-west-1``); keys are fetched from "
    "this region only.",
)
AUTH_JWT_ALB_ARN = ConfigKey(
    "AUTH_JWT_ALB_ARN",
    None,
    "text",
    "``aws-alb``: the load balancer's ARN; a token whose ``signer`` is another is refused.",
)
AUTH_JWT_ALB_KEY_URL = ConfigKey(
    "AUTH_JWT_ALB_KEY_URL",
    None,
    "text",
    "``aws-alb``: where the PEM key of each ``kid`` is published, with ``{region}`` and ``{kid}``. "
    "The preset sets AWS's ``https://public-keys.auth.elb.{region}.amazonaws.com/{kid}``.",
)
AUTH_JWT_JWKS_URL = ConfigKey(
    "AUTH_JWT_JWKS_URL",
    None,
    "text",
    "Keys: URL of the identity provider's JWKS. Cached; refetched on an unknown ``kid`` and when the "
    "cache expires, never more often than ``AUTH_JWT_JWKS_REFRESH_INTERVAL``.",
)
AUTH_JWT_PUBLIC_KEY_FILE = ConfigKey(
    "AUTH_JWT_PUBLIC_KEY_FILE",
    None,
    "text",
    "Keys: a PEM file with one or more public keys or certificates. Re-read within a second of a change "
    "(a Kubernetes secret update works).",
)
AUTH_JWT_HMAC_SECRET = ConfigKey(
    "AUTH_JWT_HMAC_SECRET",
    None,
    "secret",
    "Keys: a shared secret of at least 32 bytes, used only with the ``HS*`` algorithms in "
    "``AUTH_JWT_ALGORITHMS``.",
)
AUTH_JWT_ALGORITHMS = ConfigKey(
    "AUTH_JWT_ALGORITHMS",
    ["RS256", "ES256"],
    "texts",
    "Signature algorithms accepted; the token's ``alg`` must be one of them and fit the key's type. "
    "``none`` is never accepted. Known: RS/PS/ES/HS 256, 384, 512 and EdDSA.",
)
AUTH_JWT_ISSUER = ConfigKey(
    "AUTH_JWT_ISSUER",
    None,
    "text",
    "The exact ``iss`` every token must carry. Without another key source, the keys are found by "
    "OIDC discovery: ``<issuer>/.well-known/openid-configuration``, then its ``jwks_uri``.",
    required=True,
)
AUTH_JWT_AUDIENCE = ConfigKey(
    "AUTH_JWT_AUDIENCE",
    None,
    "texts",
    "The audience (or list of audiences) of Airflow; a token's ``aud`` must contain one of them. "
    "Required, except with ``aws-alb`` (ALB tokens carry no ``aud``; the signer ARN is pinned instead).",
)
AUTH_JWT_LEEWAY = ConfigKey(
    "AUTH_JWT_LEEWAY",
    30,
    "seconds",
    "Clock skew tolerated when checking ``exp``, ``nbf`` and ``iat``.",
    minimum=0,
    maximum=300,
)
AUTH_JWT_MAX_HEADER_BYTES = ConfigKey(
    "AUTH_JWT_MAX_HEADER_BYTES",
    16384,
    "bytes",
    "Longer header values are refused before any parsing.",
    minimum=256,
    maximum=65536,
)
AUTH_JWT_JWKS_CACHE_TTL = ConfigKey(
    "AUTH_JWT_JWKS_CACHE_TTL",
    300,
    "seconds",
    "How long fetched JWKS keys are trusted, also while the JWKS URL is down. Also the longest time a "
    "key removed from the JWKS keeps verifying tokens.",
    minimum=1,
)
AUTH_JWT_JWKS_REFRESH_INTERVAL = ConfigKey(
    "AUTH_JWT_JWKS_REFRESH_INTERVAL",
    30,
    "seconds",
    "Least time between two JWKS fetches (per api-server process), whatever tokens arrive.",
    minimum=1,
)
AUTH_JWT_JWKS_TIMEOUT = ConfigKey(
    "AUTH_JWT_JWKS_TIMEOUT",
    5,
    "seconds",
    "Timeout of one JWKS fetch.",
    minimum=0.1,
    maximum=60,
)
AUTH_JWT_USERNAME_CLAIM = ConfigKey(
    "AUTH_JWT_USERNAME_CLAIM",
    "sub",
    "claim",
    "Claim that names the Airflow user. It must be unique and stable at the identity provider; a user "
    "whose username matches (case-insensitively) is that Airflow user.",
)
AUTH_JWT_EMAIL_CLAIM = ConfigKey(
    "AUTH_JWT_EMAIL_CLAIM", "email", "claim", "Claim with the user's email address (``None``: not read)."
)
AUTH_JWT_FIRST_NAME_CLAIM = ConfigKey(
    "AUTH_JWT_FIRST_NAME_CLAIM", "given_name", "claim", "Claim with the first name (``None``: not read)."
)
AUTH_JWT_LAST_NAME_CLAIM = ConfigKey(
    "AUTH_JWT_LAST_NAME_CLAIM", "family_name", "claim", "Claim with the last name (``None``: not read)."
)
AUTH_JWT_FULL_NAME_CLAIM = ConfigKey(
    "AUTH_JWT_FULL_NAME_CLAIM",
    "name",
    "claim",
    "Used when neither name claim is present: split at the first space into first and last name.",
)
AUTH_JWT_ROLES_CLAIM = ConfigKey(
    "AUTH_JWT_ROLES_CLAIM",
    "groups",
    "claim",
    "Claim with the user's roles or groups: a list of strings, or one delimited string. Its values are "
    "looked up in ``AUTH_ROLES_MAPPING``.",
)
AUTH_JWT_ROLES_DELIMITER = ConfigKey(
    "AUTH_JWT_ROLES_DELIMITER",
    ",",
    "delimiter",
    "Splits a roles claim that is a single string; spaces around values are dropped.",
)
AUTH_JWT_LOGOUT_URL = ConfigKey(
    "AUTH_JWT_LOGOUT_URL",
    None,
    "text",
    "The proxy's sign-out URL. Airflow's logout ends the Airflow session and redirects there; "
    "``None``: a page saying the proxy session is still active.",
)
AUTH_JWT_USER_CACHE_TTL = ConfigKey(
    "AUTH_JWT_USER_CACHE_TTL",
    30,
    "seconds",
    "How long a user whose claims did not change is served from memory without reading the database; "
    "bounds how long a deactivation in Airflow's user list takes to apply.",
    minimum=0,
    maximum=3600,
)
AUTH_ROLES_MAPPING = ConfigKey(
    "AUTH_ROLES_MAPPING",
    {},
    "mapping",
    "Roles-claim value to Airflow role names. Values without an entry grant nothing.",
    fab=True,
)
AUTH_USER_REGISTRATION_ROLE = ConfigKey(
    "AUTH_USER_REGISTRATION_ROLE",
    None,
    "text",
    "Role every user gets in addition to mapped ones. A user who ends up with no role is refused (403) "
    "and not created. (FAB's own default, ``Public``, is not applied.)",
    fab=True,
)
AUTH_ROLES_SYNC_AT_LOGIN = ConfigKey(
    "AUTH_ROLES_SYNC_AT_LOGIN",
    True,
    "boolean",
    "``True``: a user's roles are replaced by the mapped ones whenever they change, so a group removed at "
    "the identity provider is removed in Airflow. ``False``: mapped roles are only added. (FAB's default "
    "is ``False``; here roles follow the identity provider unless you choose otherwise.)",
    fab=True,
)

AUTH_KEYS: tuple[ConfigKey, ...] = (
    AUTH_JWT_PRESET,
    AUTH_JWT_HEADER_NAME,
    AUTH_JWT_ALB_REGION,
    AUTH_JWT_ALB_ARN,
    AUTH_JWT_ALB_KEY_URL,
    AUTH_JWT_JWKS_URL,
    AUTH_JWT_PUBLIC_KEY_FILE,
    AUTH_JWT_HMAC_SECRET,
    AUTH_JWT_ALGORITHMS,
    AUTH_JWT_ISSUER,
    AUTH_JWT_AUDIENCE,
    AUTH_JWT_LEEWAY,
    AUTH_JWT_MAX_HEADER_BYTES,
    AUTH_JWT_JWKS_CACHE_TTL,
    AUTH_JWT_JWKS_REFRESH_INTERVAL,
    AUTH_JWT_JWKS_TIMEOUT,
    AUTH_JWT_USERNAME_CLAIM,
    AUTH_JWT_EMAIL_CLAIM,
    AUTH_JWT_FIRST_NAME_CLAIM,
    AUTH_JWT_LAST_NAME_CLAIM,
    AUTH_JWT_FULL_NAME_CLAIM,
    AUTH_JWT_ROLES_CLAIM,
    AUTH_JWT_ROLES_DELIMITER,
    AUTH_JWT_LOGOUT_URL,
    AUTH_JWT_USER_CACHE_TTL,
    AUTH_ROLES_MAPPING,
    AUTH_USER_REGISTRATION_ROLE,
    AUTH_ROLES_SYNC_AT_LOGIN,
)
SECURITY_MANAGER_CLASS = "airflow_platform_plugins.auth.security_manager.JwtHeaderSecurityManager"


def reference_markdown() -> str:
    """The sign-on part of the configuration reference (``docs/configuration.md``)."""
    out = [
        "",
        "## JWT-header sign-on: `webserver_config.py`",
        "",
        "The api-server's `webserver_config.py` (`[fab] config_file`) sets "
        f"`SECURITY_MANAGER_CLASS = {SECURITY_MANAGER_CLASS.rsplit('.', 1)[1]}` (imported from "
        f"`{SECURITY_MANAGER_CLASS.rsplit('.', 1)[0]}`) and these keys. Give at least one of the key "
        "sources (`AUTH_JWT_JWKS_URL`, `AUTH_JWT_PUBLIC_KEY_FILE`, `AUTH_JWT_HMAC_SECRET`). Values are "
        "checked when the api-server starts; a bad one stops it with a message naming the key.",
        "",
    ]
    out += _key_table(k for k in AUTH_KEYS if not k.fab)
    out += ["", "### Flask-AppBuilder keys, with their FAB names", ""]
    out += _key_table(k for k in AUTH_KEYS if k.fab)
    out.append("")
    return "\n".join(out)


def _key_table(keys: Any) -> list[str]:
    rows = ["| key | default | description |", "|---|---|---|"]
    for k in keys:
        default = "(required)" if k.required else f"`{k.default!r}`".replace('"', "'")
        rows.append(f"| `{k.key}` | {default} | {k.description} |")
    return rows
