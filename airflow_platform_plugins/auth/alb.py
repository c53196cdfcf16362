"""AWS ALB's ``x-amzn-oidc-data`` token: a narrow verifier for its padded ES256 JWS.

ALB signs with ES256 and base64url-encodes the segments *with* ``=`` padding, which PyJWT 2.14+
refuses. Instead of weakening PyJWT, this path checks the signature itself, over the exact bytes
received (``header.payload`` as sent), so an altered or re-encoded segment never verifies.

- The key is a PEM per ``kid``, fetched from the regional URL template with the region fixed by
  configuration. ``kid`` must be a plain key id (letters, digits, ``-`` and ``_``), so no path,
  ``..`` or URL reaches the fetch. Fetched keys are kept (a ``kid`` names one key for good); an
  unknown ``kid`` is fetched at most once per refresh interval, and few new ones are fetched per
  interval, so random ids cannot make Airflow hammer the key endpoint.
- The JOSE header's ``signer`` must be the configured load balancer ARN; ``alg`` must be ES256.
- ``exp`` and ``iss`` are required (ALB tokens carry no ``aud``: the signer pin takes its place).
- The plaintext ``x-amzn-oidc-identity`` and ``x-amzn-oidc-accesstoken`` headers are never read.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from airflow_platform_plugins.auth import metrics
from airflow_platform_plugins.auth.claims import check_claims
from airflow_platform_plugins.auth.errors import InvalidToken, KeyFetchNeeded, Rejected, Unavailable
from airflow_platform_plugins.auth.jwks import fetch_bytes
from airflow_platform_plugins.auth.keys import VerificationKey, load_pem_public_keys
from airflow_platform_plugins.auth.tokens import MAX_HEADER_SEGMENT_CHARS, TokenPolicy

log = logging.getLogger(__name__)

ALB_KEY_URL = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
ALB_HEADER = "X-Amzn-Oidc-Data"
KID = re.compile(r"[A-Za-z0-9_-]{1,128}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:loadbalancer/app/[A-Za-z0-9-]+/[0-9a-f]+"
)
MAX_PEM_BYTES = 16 * 1024
MAX_CACHED_KEYS = 64
NEW_KIDS_PER_INTERVAL = 4
_SEGMENTS = re.compile(r"([A-Za-z0-9_-]+={0,2})\.([A-Za-z0-9_-]+={0,2})\.([A-Za-z0-9_-]+={0,2})")


def b64decode_segment(segment: str) -> bytes:
    """base64url, with or without ``=`` padding; padding, if present, must be exactly right."""
    bare = segment.rstrip("=")
    if len(segment) != len(bare) and len(segment) % 4:
        raise InvalidToken("malformed token: bad padding")
    if len(bare) % 4 == 1:
        raise InvalidToken("malformed token: bad base64")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed token: bad base64") from exc


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidToken(f"malformed token: {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken(f"malformed token: {what} is not a JSON object")
    return value


class AlbKeys:
    """ALB's public keys, one PEM per ``kid`` at ``url_template`` (``{region}`` and ``{kid}``)."""

    def __init__(
        self,
        url_template: str,
        region: str,
        *,
        refresh_interval: float,
        timeout: float,
        fetch: Callable[[str, float], bytes] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url_template = url_template
        self.region = region
        self.refresh_interval = refresh_interval
        self.timeout = timeout
        self._fetch = fetch or (lambda url, timeout: fetch_bytes(url, timeout, limit=MAX_PEM_BYTES))
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, VerificationKey] = OrderedDict()
        self._attempted: dict[str, float] = {}
        self._window: list[float] = []
        self.fetch_attempts = 0

    def url_for(self, kid: str) -> str:
        """The key's URL; ``kid`` must already be a plain key id."""
        if not KID.fullmatch(kid):
            raise InvalidToken("malformed token: bad key id")
        return self.url_template.format(region=self.region, kid=kid)

    def lookup(self, kid: str, *, may_fetch: bool) -> VerificationKey:
        """The key for ``kid``; fetched (rate-limited) when not known yet."""
        url = self.url_for(kid)
        key = self._keys.get(kid)
        if key is not None:
            return key
        now = self._clock()
        if now - self._attempted.get(kid, -float("inf")) < self.refresh_interval:
            raise InvalidToken("unknown signing key id")
        if not may_fetch:
            raise KeyFetchNeeded(url)
        with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            now = self._clock()
            if now - self._attempted.get(kid, -float("inf")) < self.refresh_interval:
                raise InvalidToken("unknown signing key id")
            self._window = [t for t in self._window if now - t < self.refresh_interval]
            if len(self._window) >= NEW_KIDS_PER_INTERVAL:
                # As a JWKS answers a kid it lacks within the refresh interval: unknown, not an outage.
                raise InvalidToken("unknown signing key id (too many new key ids at once; try again shortly)")
            self._window.append(now)
            self._attempted[kid] = now
            if len(self._attempted) > 4 * MAX_CACHED_KEYS:
                self._attempted = {
                    k: t for k, t in self._attempted.items() if now - t < self.refresh_interval
                }
            self.fetch_attempts += 1
            metrics.incr("key_fetches")
            try:
                pem = self._fetch(url, self.timeout)
            except FileNotFoundError as exc:
                metrics.incr("key_fetch_failures")
                raise InvalidToken("unknown signing key id") from exc
            except Exception as exc:
                metrics.incr("key_fetch_failures")
                log.warning("Fetching the ALB signing key %s failed: %s", url, exc)
                raise Unavailable("the load balancer's signing key is unavailable") from exc
            try:
                keys = load_pem_public_keys(pem, source=f"alb {kid}")
            except ValueError as exc:
                metrics.incr("key_fetch_failures")
                log.warning("The ALB signing key at %s is not a PEM public key: %s", url, exc)
                raise InvalidToken("unknown signing key id") from exc
            key = keys[0]
            if len(keys) != 1 or not key.accepts("ES256"):
                raise InvalidToken("unusable signing key")
            self._keys[kid] = key
            while len(self._keys) > MAX_CACHED_KEYS:
                self._keys.popitem(last=False)
            return key


class AlbVerifier:
    """Verify ALB's ``x-amzn-oidc-data`` token; same interface as :class:`~.tokens.TokenVerifier`."""

    def __init__(
        self,
        policy: TokenPolicy,
        keys: AlbKeys,
        signer_arn: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if policy.algorithms != frozenset({"ES256"}):
            raise ValueError("ALB tokens are ES256 only")
        self.policy = policy
        self.keys = keys
        self.signer_arn = signer_arn
        self._clock = clock

    def verify(self, token: str, *, may_fetch: bool = True) -> dict[str, Any]:
        """The claims of an ALB token that passes every check; else raise :class:`InvalidToken`."""
        try:
            return self._verify(token, may_fetch)
        except (Rejected, KeyFetchNeeded):
            raise
        except Exception as exc:  # hostile input: no parser error may escape as a crash
            raise InvalidToken("malformed token") from exc

    def _verify(self, token: str, may_fetch: bool) -> dict[str, Any]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        policy = self.policy
        if len(token) > policy.max_bytes:
            raise InvalidToken(f"token larger than {policy.max_bytes} bytes")
        match = _SEGMENTS.fullmatch(token)
        if match is None:
            raise InvalidToken("malformed token: not a signed JWT in compact form")
        head_b64, body_b64, sig_b64 = match.groups()
        if len(head_b64) > MAX_HEADER_SEGMENT_CHARS:
            raise InvalidToken("malformed token: header too large")
        header = _json_object(b64decode_segment(head_b64), "header")
        if header.get("alg") != "ES256":
            raise InvalidToken("algorithm not allowed")
        if "crit" in header or "enc" in header or header.get("b64", True) is not True:
            raise InvalidToken("unsupported token header")
        kid = header.get("kid")
        if not isinstance(kid, str) or not KID.fullmatch(kid):
            raise InvalidToken("malformed token: bad key id")
        if header.get("signer") != self.signer_arn:
            raise InvalidToken("wrong signer: not the configured load balancer")
        key = self.keys.lookup(kid, may_fetch=may_fetch)
        signature = b64decode_segment(sig_b64)
        if len(signature) != 64:
            raise InvalidToken("signature verification failed")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        signed = f"{head_b64}.{body_b64}".encode("ascii")
        try:
            key.key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise InvalidToken("signature verification failed") from exc
        claims = _json_object(b64decode_segment(body_b64), "payload")
        check_claims(
            claims, issuer=policy.issuer, audiences=policy.audiences, leeway=policy.leeway, now=self._clock()
        )
        if "iss" in header and header["iss"] != claims.get("iss"):
            raise InvalidToken("wrong issuer")
        return claims
