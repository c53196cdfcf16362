"""Keys and token helpers for the sign-on unit tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from airflow_platform_plugins.auth.jwks import JwksUrl
from airflow_platform_plugins.auth.keys import KeyRing
from airflow_platform_plugins.auth.tokens import TokenPolicy, TokenVerifier

ISSUER = "https://idp.example.org/"
AUDIENCE = "airflow"


@dataclass
class Key:
    kid: str
    alg: str
    private: Any

    @property
    def public(self) -> Any:
        return self.private.public_key()

    def pem(self) -> bytes:
        return bytes(
            self.public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def jwk(self, **extra: Any) -> dict[str, Any]:
        cls: Any = {
            "RS": jwt.algorithms.RSAAlgorithm,
            "PS": jwt.algorithms.RSAAlgorithm,
            "ES": jwt.algorithms.ECAlgorithm,
            "Ed": jwt.algorithms.OKPAlgorithm,
        }[self.alg[:2]]
        return {**json.loads(cls.to_jwk(self.public)), "kid": self.kid, **extra}


@pytest.fixture(scope="session")
def rsa_key() -> Key:
    return Key("rsa-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def rsa_key2() -> Key:
    return Key("rsa-2", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def ec_key() -> Key:
    return Key("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="session")
def ed_key() -> Key:
    return Key("ed-1", "EdDSA", ed25519.Ed25519PrivateKey.generate())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u-1",
        "preferred_username": "alice",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Key, payload: dict[str, Any] | None = None, *, alg: str | None = None, **headers: Any) -> str:
    return jwt.encode(
        payload if payload is not None else claims(),
        key.private,
        algorithm=alg or key.alg,
        headers={"kid": key.kid, **headers},
    )


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeJwksEndpoint:
    """What the URL serves: a document, or an error. Counts fetches. (The HTTP path is tested against a
    real server in the integration tests.)"""

    keys: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    fetches: int = 0

    def __call__(self, url: str, timeout: float) -> Any:
        self.fetches += 1
        if self.down:
            raise OSError("connection refused")
        return {"keys": list(self.keys)}


def policy(algorithms: tuple[str, ...] = ("RS256", "ES256"), leeway: float = 0, **kw: Any) -> TokenPolicy:
    return TokenPolicy(
        algorithms=frozenset(algorithms),
        issuer=kw.pop("issuer", ISSUER),
        audiences=kw.pop("audiences", (AUDIENCE,)),
        leeway=leeway,
        max_bytes=kw.pop("max_bytes", 16384),
    )


def jwks_verifier(
    endpoint: FakeJwksEndpoint,
    clock: Callable[[], float],
    *,
    algorithms: tuple[str, ...] = ("RS256", "ES256"),
    ttl: float = 300,
    interval: float = 30,
) -> tuple[TokenVerifier, JwksUrl]:
    source = JwksUrl(
        "https://idp.example.org/jwks",
        cache_ttl=ttl,
        refresh_interval=interval,
        timeout=1,
        fetch=endpoint,
        clock=clock,
    )
    return TokenVerifier(policy(algorithms), KeyRing([source])), source


class Seconds(int):
    """A time claim given as seconds from when the test runs (not from when it was collected)."""


def from_now(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each :class:`Seconds` turned into a timestamp that far from now."""
    now = int(time.time())
    return {k: now + v if isinstance(v, Seconds) else v for k, v in values.items()}
