"""Signing keys from a JWKS URL: cached, refreshed on an unknown ``kid``, every fetch rate-limited.

- Fetched keys are trusted for ``cache_ttl`` seconds after a successful fetch, also while the URL is
  down; after that, tokens are refused with 503 until a fetch succeeds again.
- A token with a ``kid`` that the cached set lacks triggers a refetch (key rotation), and so does an
  expired cache. Fetch attempts, successful or not, are at least ``refresh_interval`` apart, so random
  ``kid`` values cannot make Airflow hammer the identity provider.
- Only public signature keys are accepted: RSA, EC and OKP. Symmetric (``oct``) keys, private keys,
  and keys whose ``use``/``key_ops`` exclude verification are skipped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_platform_plugins.auth import metrics
from airflow_platform_plugins.auth.errors import KeyFetchNeeded, Unavailable
from airflow_platform_plugins.auth.keys import ALGORITHMS, VerificationKey, public_key

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 1 << 20
MAX_KEYS = 100
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an error: the configured URL is the only source of keys


_opener = urllib.request.build_opener(_NoRedirects)


def fetch_bytes(url: str, timeout: float, *, limit: int = MAX_JWKS_BYTES, accept: str = "*/*") -> bytes:
    """GET ``url``; redirects, non-200 answers and bodies over ``limit`` bytes are errors.

    A 404 raises :class:`FileNotFoundError` (the key does not exist), anything else ``OSError``.
    """
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 (http(s) only)
    try:
        with _opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            body: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise FileNotFoundError(f"{url}: HTTP 404") from exc
        raise OSError(f"{url}: HTTP {exc.code}") from exc
    if len(body) > limit:
        raise ValueError(f"document larger than {limit} bytes")
    return body


def fetch_json(url: str, timeout: float) -> Any:
    """GET ``url`` and parse JSON; redirects, non-200 answers and bodies over 1 MiB are errors."""
    return json.loads(fetch_bytes(url, timeout, accept="application/json"))


def parse_jwks(document: Any) -> list[VerificationKey]:
    """The usable verification keys of a JWKS document; raise ``ValueError`` if it is not one."""
    import jwt

    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWKS document: expected {"keys": [...]}')
    entries = document["keys"]
    if len(entries) > MAX_KEYS:
        raise ValueError(f"JWKS has {len(entries)} keys; at most {MAX_KEYS} are accepted")
    keys: list[VerificationKey] = []
    for entry in entries:
        try:
            keys.append(_parse_jwk(entry, jwt))
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            kid = entry.get("kid") if isinstance(entry, Mapping) else None
            log.warning("Skipping JWKS key %r: %s", kid, exc)
    return keys


def _parse_jwk(entry: Any, jwt: Any) -> VerificationKey:
    if not isinstance(entry, Mapping):
        raise ValueError("key is not an object")
    kty = entry.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        raise ValueError(f"key type {kty!r} is not a public signature key type")
    if any(member in entry for member in _PRIVATE_MEMBERS):
        raise ValueError("private key material published in the JWKS")
    if entry.get("use", "sig") != "sig":
        raise ValueError(f"use is {entry.get('use')!r}, not 'sig'")
    ops = entry.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise ValueError("key_ops does not include 'verify'")
    kid = entry.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("kid is not a string")
    alg = entry.get("alg")
    if alg is not None and (not isinstance(alg, str) or ALGORITHMS.get(alg, ("",))[0] != kty):
        raise ValueError(f"alg {alg!r} does not fit key type {kty}")
    # Parse with the key type's default algorithm; the key is then checked against each token's alg.
    obj = jwt.PyJWK(dict(entry), algorithm=_default_algorithm(kty, entry.get("crv"))).key
    return public_key(obj, kid=kid, alg=alg, source="jwks")


def _default_algorithm(kty: str, crv: Any) -> str:
    if kty == "RSA":
        return "RS256"
    if kty == "OKP":
        return "EdDSA"
    for alg, (key_type, curve) in ALGORITHMS.items():
        if key_type == "EC" and curve == crv:
            return alg
    raise ValueError(f"unsupported curve {crv!r}")


class JwksUrl:
    """The keys published at a JWKS URL (see the module docstring for the caching rules)."""

    def __init__(
        self,
        url: str,
        *,
        cache_ttl: float,
        refresh_interval: float,
        timeout: float,
        fetch: Callable[[str, float], Any] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.cache_ttl = cache_ttl
        self.refresh_interval = refresh_interval
        self.timeout = timeout
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: tuple[VerificationKey, ...] | None = None
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._fetching = False
        self.fetch_attempts = 0

    def _fresh_keys(self, now: float) -> tuple[VerificationKey, ...] | None:
        if self._keys is not None and now - self._fetched_at < self.cache_ttl:
            return self._keys
        return None

    def _may_attempt(self, now: float) -> bool:
        # A fetch in flight counts as allowed: callers then wait for its result instead of failing.
        return self._fetching or now - self._attempted_at >= self.refresh_interval

    def lookup(self, alg: str, kid: str | None, *, may_fetch: bool) -> Sequence[VerificationKey]:
        """Keys for ``alg`` with this ``kid``, refetching (rate-limited) when the set lacks it or expired."""
        if ALGORITHMS.get(alg, ("oct",))[0] == "oct":
            return ()  # a JWKS never supplies HMAC keys: nothing to look up, nothing to fetch
        now = self._clock()
        keys = self._fresh_keys(now)
        if keys is not None:
            found = _select(keys, alg, kid)
            known = kid is None or any(k.kid == kid for k in keys)
            if found or known or not self._may_attempt(now):
                return found
        elif not self._may_attempt(now):
            raise Unavailable("the identity provider's signing keys are unavailable")
        if not may_fetch:
            raise KeyFetchNeeded(self.url)
        self.refresh()
        keys = self._fresh_keys(self._clock())
        if keys is None:
            raise Unavailable("the identity provider's signing keys are unavailable")
        return _select(keys, alg, kid)

    def refresh(self) -> None:
        """Fetch the key set now, unless another fetch was attempted less than ``refresh_interval`` ago."""
        with self._lock:  # one fetch at a time; a caller arriving meanwhile waits, then uses its result
            now = self._clock()
            if now - self._attempted_at < self.refresh_interval:
                return
            self._attempted_at = now
            self.fetch_attempts += 1
            self._fetching = True
            metrics.incr("key_fetches")
            try:
                keys = parse_jwks(self._fetch(self.url, self.timeout))
            except Exception as exc:  # any failure to fetch or parse keeps the current keys
                metrics.incr("key_fetch_failures")
                log.warning("Fetching signing keys from %s failed: %s", self.url, exc)
                return
            finally:
                self._fetching = False
            if not keys:
                log.warning("The JWKS at %s has no usable signing key", self.url)
            self._keys, self._fetched_at = tuple(keys), now
            log.info("Fetched %d signing keys from %s", len(keys), self.url)


def _select(keys: Sequence[VerificationKey], alg: str, kid: str | None) -> list[VerificationKey]:
    return [k for k in keys if (kid is None or k.kid == kid) and k.accepts(alg)]
