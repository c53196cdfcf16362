"""OIDC discovery: the JWKS URL from ``<issuer>/.well-known/openid-configuration``.

Used when only ``AUTH_JWT_ISSUER`` names the identity provider. The discovery document is fetched
like a JWKS (no redirects, at most 1 MiB, a timeout), must name exactly the configured issuer (OpenID
Connect Discovery 1.0, section 4.3), and its ``jwks_uri`` must be http(s) — plain http only when the
issuer itself is plain http. It is fetched together with the keys, so caching, rate limits and outage
behaviour are :class:`~airflow_platform_plugins.auth.jwks.JwksUrl`'s: a failed discovery is a failed
key fetch, and the keys fetched before keep working for ``AUTH_JWT_JWKS_CACHE_TTL``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins.auth.jwks import fetch_json

WELL_KNOWN = "/.well-known/openid-configuration"


def discovery_url(issuer: str) -> str:
    """Where the issuer publishes its configuration."""
    return issuer.rstrip("/") + WELL_KNOWN


def jwks_uri_from(document: Any, issuer: str) -> str:
    """The ``jwks_uri`` of a discovery document for ``issuer``; ``ValueError`` if it is not one."""
    if not isinstance(document, Mapping):
        raise ValueError("the discovery document is not a JSON object")
    if document.get("issuer") != issuer:
        raise ValueError(f"the discovery document names issuer {document.get('issuer')!r}, not {issuer!r}")
    uri = document.get("jwks_uri")
    if not isinstance(uri, str):
        raise ValueError("the discovery document has no jwks_uri")
    scheme = urlsplit(uri).scheme
    allowed = ("https", "http") if urlsplit(issuer).scheme == "http" else ("https",)
    if scheme not in allowed or not urlsplit(uri).netloc:
        raise ValueError(f"jwks_uri {uri!r} is not an {' or '.join(allowed)} URL")
    return uri


class OidcDiscovery:
    """Fetch function for :class:`~.jwks.JwksUrl`: discovery (cached for ``cache_ttl``), then the JWKS."""

    def __init__(
        self,
        issuer: str,
        *,
        cache_ttl: float,
        fetch: Callable[[str, float], Any] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.url = discovery_url(issuer)
        self.cache_ttl = cache_ttl
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._fetched_at = -float("inf")

    def jwks_uri(self, timeout: float) -> str:
        """The JWKS URL, from the cached document or a new fetch (errors propagate)."""
        with self._lock:
            now = self._clock()
            if self._jwks_uri is None or now - self._fetched_at >= self.cache_ttl:
                self._jwks_uri = jwks_uri_from(self._fetch(self.url, timeout), self.issuer)
                self._fetched_at = now
            return self._jwks_uri

    def __call__(self, _url: str, timeout: float) -> Any:
        """The JWKS document (``_url`` is the discovery URL JwksUrl was built with)."""
        return self._fetch(self.jwks_uri(timeout), timeout)
