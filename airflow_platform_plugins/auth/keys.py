"""Verification keys and where they come from: an HMAC secret, a PEM file, or a JWKS URL (``jwks.py``).

Every key knows its type (RSA, EC with its curve, OKP, or an HMAC secret) and accepts only the
algorithms of that type, so an HMAC algorithm is never tried with a public key and the reverse.
Keys never come from the token (``jku``, ``x5u``, ``jwk`` and ``x5c`` headers are ignored).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

# algorithm -> (key type, curve). The allowlist is checked against this table; nothing else is known.
ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "HS256": ("oct", None),
    "HS384": ("oct", None),
    "HS512": ("oct", None),
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}
HMAC_ALGORITHMS = frozenset(alg for alg, (kty, _) in ALGORITHMS.items() if kty == "oct")
MIN_RSA_BITS = 2048
MIN_HMAC_BYTES = 32
PEM_RECHECK_SECONDS = 1.0

_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


@dataclass(frozen=True)
class VerificationKey:
    """One key that may verify signatures of the algorithms its type allows."""

    key: Any  # a cryptography public key object, or bytes for an HMAC secret
    kty: str  # "RSA" | "EC" | "OKP" | "oct"
    crv: str | None = None
    kid: str | None = None
    alg: str | None = None  # pinned by a JWK's "alg": only this algorithm
    source: str = ""

    def accepts(self, alg: str) -> bool:
        """Whether a token signed with ``alg`` may be checked with this key."""
        spec = ALGORITHMS.get(alg)
        if spec is None or spec[0] != self.kty:
            return False
        if spec[1] is not None and spec[1] != self.crv:
            return False
        return self.alg is None or self.alg == alg


class KeySource(Protocol):
    """Somewhere keys come from."""

    def lookup(self, alg: str, kid: str | None, *, may_fetch: bool) -> Sequence[VerificationKey]:
        """Keys that may check a token signed with ``alg`` and carrying this ``kid``.

        Raises :class:`~airflow_platform_plugins.auth.errors.KeyFetchNeeded` when answering needs
        network I/O and ``may_fetch`` is false.
        """
        ...


def public_key(
    obj: Any, *, kid: str | None = None, alg: str | None = None, source: str = ""
) -> VerificationKey:
    """Wrap a ``cryptography`` public key, refusing private keys, weak RSA keys and unknown curves."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(obj, rsa.RSAPublicKey):
        if obj.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {obj.key_size} bits; at least {MIN_RSA_BITS} are required")
        return VerificationKey(obj, "RSA", None, kid, alg, source)
    if isinstance(obj, ec.EllipticCurvePublicKey):
        curve = _CURVES.get(obj.curve.name)
        if curve is None:
            raise ValueError(f"unsupported elliptic curve {obj.curve.name}")
        return VerificationKey(obj, "EC", curve, kid, alg, source)
    if isinstance(obj, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return VerificationKey(obj, "OKP", None, kid, alg, source)
    raise ValueError(f"not a public key: {type(obj).__name__}")


class HmacSecret:
    """A shared secret for HS256/384/512. Only HMAC algorithms are ever tried with it."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(raw) < MIN_HMAC_BYTES:
            raise ValueError(f"the HMAC secret has {len(raw)} bytes; at least {MIN_HMAC_BYTES} are required")
        self._keys = (VerificationKey(raw, "oct", source="hmac secret"),)

    def lookup(self, alg: str, kid: str | None, *, may_fetch: bool) -> Sequence[VerificationKey]:
        """The secret, for HMAC algorithms only."""
        return [k for k in self._keys if k.accepts(alg)]


def load_pem_public_keys(data: bytes, source: str = "") -> list[VerificationKey]:
    """Every public key (``PUBLIC KEY`` or ``CERTIFICATE`` block) in PEM text; private keys are refused."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    text = data.decode("ascii", errors="strict")
    blocks: list[tuple[str, str]] = []
    remainder = text
    while True:
        start = remainder.find("-----BEGIN ")
        if start < 0:
            break
        label_end = remainder.find("-----", start + 11)
        if label_end < 0:
            raise ValueError("unterminated PEM header")
        label = remainder[start + 11 : label_end]
        end_marker = f"-----END {label}-----"
        end = remainder.find(end_marker, label_end)
        if end < 0:
            raise ValueError(f"PEM block {label!r} has no END line")
        blocks.append((label, remainder[start : end + len(end_marker)]))
        remainder = remainder[end + len(end_marker) :]
    keys: list[VerificationKey] = []
    for label, block in blocks:
        if "PRIVATE" in label:
            raise ValueError("the file holds a private key; give Airflow only the public key")
        if label == "CERTIFICATE":
            obj: Any = x509.load_pem_x509_certificate(block.encode()).public_key()
        elif label == "PUBLIC KEY":
            obj = serialization.load_pem_public_key(block.encode())
        else:
            raise ValueError(f"unsupported PEM block {label!r}; use PUBLIC KEY or CERTIFICATE")
        keys.append(public_key(obj, source=source))
    if not keys:
        raise ValueError("no PEM public key found")
    return keys


class PemFile:
    """Public keys from a PEM file, re-read when the file changes (checked at most once a second).

    A file that becomes unreadable or invalid leaves no keys (tokens are refused) until it is fixed.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int, int] | None = None
        self._checked_at = -float("inf")
        self._keys: tuple[VerificationKey, ...] = ()
        self.reloads = 0
        self._reload(self._stat(), raise_errors=True)

    def _stat(self) -> tuple[int, int, int, int]:
        st = os.stat(self.path)
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def _reload(self, stamp: tuple[int, int, int, int] | None, *, raise_errors: bool = False) -> None:
        self._stamp = stamp
        try:
            self._keys = tuple(load_pem_public_keys(self.path.read_bytes(), source=f"pem {self.path}"))
            self.reloads += 1
        except (OSError, ValueError) as exc:
            self._keys = ()
            if raise_errors:
                raise ValueError(f"{self.path}: {exc}") from exc
            log.error(
                "Public key file %s is unusable, refusing all tokens until it is fixed: %s", self.path, exc
            )

    def lookup(self, alg: str, kid: str | None, *, may_fetch: bool) -> Sequence[VerificationKey]:
        """PEM keys have no ``kid``: every key of the right type is a candidate."""
        now = self._clock()
        if now - self._checked_at >= PEM_RECHECK_SECONDS:
            with self._lock:
                if now - self._checked_at >= PEM_RECHECK_SECONDS:
                    self._checked_at = now
                    try:
                        stamp: tuple[int, int, int, int] | None = self._stat()
                    except OSError:
                        stamp = None
                    if stamp != self._stamp:
                        if stamp is None:
                            self._stamp, self._keys = None, ()
                            log.error("Public key file %s is gone, refusing all tokens", self.path)
                        else:
                            self._reload(stamp)
                            log.info("Reloaded public key file %s (%d keys)", self.path, len(self._keys))
        return [k for k in self._keys if k.accepts(alg)]


class KeyRing:
    """All configured key sources; finds the keys allowed to check a token's algorithm and ``kid``."""

    def __init__(self, sources: Sequence[KeySource]) -> None:
        self.sources = tuple(sources)

    def candidates(self, alg: str, kid: str | None, *, may_fetch: bool) -> list[VerificationKey]:
        """Keys of the right type for ``alg``; a ``kid`` narrows keys that have one (JWKS keys)."""
        out: list[VerificationKey] = []
        for source in self.sources:
            out.extend(source.lookup(alg, kid, may_fetch=may_fetch))
        return out
