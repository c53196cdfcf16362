"""ASGI middleware for the api-server: authenticate every request that carries the proxy's header.

Registered by this package's Airflow plugin as a root middleware, which makes it the innermost
layer around every route: ``/api/v2``, the UI's ``/ui`` calls, and the FAB app under ``/auth``.
Being inside Airflow's ``JWTRefreshMiddleware``, the header's user replaces any user that an old
``_token`` cookie named. An explicit ``Authorization: Bearer`` token (Airflow's own, for CLI and
API clients) still takes precedence in Airflow's ``get_user``.

- Without the header, nothing changes: Airflow's own authentication applies. With
  ``Authorization`` as the header, a token whose ``iss`` is not the identity provider's is Airflow's
  own and is left to Airflow; an identity provider's token, once verified, is taken off the request
  so that Airflow's ``get_user`` uses the injected user.
- ``/auth/logout`` (FAB's API route, which would send the browser to the login page and so straight
  back in through the proxy) is redirected to the security manager's logout page, which ends the
  session and sends the browser to the proxy's sign-out URL.
- With the header, it must be valid: otherwise the request is refused here (401, 403 or 503 with a
  short reason; an HTML page for browsers), whatever else the request carries.
- While the metadata database cannot be reached, a request that Airflow would answer with
  ``500 Database error`` gets ``503`` with ``Retry-After`` instead (:mod:`.database`).
- Inert unless the FAB security manager is this package's
  :class:`~airflow_platform_plugins.auth.security_manager.JwtHeaderSecurityManager`, so installing the
  package for its task logs changes nothing about authentication.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from airflow_platform_plugins.auth import database, metrics
from airflow_platform_plugins.auth.authenticator import Pending
from airflow_platform_plugins.auth.context import MiddlewareState, proxy_user
from airflow_platform_plugins.auth.errors import InvalidToken, Rejected
from airflow_platform_plugins.compat import hand_user_to_airflow, trusted_user_marker

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths that never need the header checked: the task execution API has its own tokens, and logging
# out must work even with an expired token.
_PASS_PREFIXES = ("/execution/",)
_PASS_PATHS = frozenset({"/execution", "/api/v2/auth/logout", "/auth/logout/"})
_FAB_LOGOUT = "/auth/logout"
_UNRESOLVED = object()


def find_authenticator() -> Any:
    """The running security manager's authenticator, ``None`` if sign-on is not configured.

    Raises ``RuntimeError`` while Airflow's auth manager is not initialised yet.
    """
    from airflow.api_fastapi.app import get_auth_manager

    from airflow_platform_plugins.auth.fab_internals import built_security_manager

    return getattr(built_security_manager(get_auth_manager()), "jwt_header_auth", None)


class JwtHeaderMiddleware:
    """Verify the identity header on every request and hand Airflow the user it names."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        resolve: Callable[[], Any] = find_authenticator,
        trusted_marker: object | None = None,
    ) -> None:
        self.app = app
        self._resolve = resolve
        self._auth: Any = _UNRESOLVED
        self._trusted = trusted_marker
        MiddlewareState.installed = True

    def _authenticator(self) -> Any:
        if self._auth is _UNRESOLVED:
            try:
                auth = self._resolve()
            except RuntimeError:
                return None  # the auth manager is not initialised yet; ask again next time
            except Exception:
                log.exception("Cannot tell whether JWT-header sign-on is configured; it stays off")
                auth = None
            if auth is not None:
                if self._trusted is None:
                    # Airflow 3.3's get_user() honours request.state.user only next to this marker.
                    self._trusted = trusted_user_marker()
                log.info("JWT-header sign-on active: %s header", auth.header_name)
                database.install_listener()
            self._auth = auth
        return self._auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass requests without the header through; authenticate or refuse the others."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth = self._authenticator()
        if auth is None:
            await self.app(scope, receive, send)
            return
        marks, token = database.watch()
        try:
            await self._handle(auth, scope, receive, database.answer_503_when_unreachable(send, marks))
        finally:
            database.unwatch(token)

    async def _handle(self, auth: Any, scope: Scope, receive: Receive, send: Send) -> None:
        path = _relative_path(scope)
        if path == _FAB_LOGOUT:
            await _redirect(send, f"{str(scope.get('root_path', '')).rstrip('/')}{_FAB_LOGOUT}/")
            return
        values, lookalike = _header_values(scope.get("headers", ()), auth.header_key)
        if not values and not lookalike:
            await self.app(scope, receive, send)
            return
        if path in _PASS_PATHS or path.startswith(_PASS_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            if lookalike:
                raise InvalidToken(f"a header named like {auth.header_name} (with '_') was sent")
            token = auth.token_for_request(values)
            if token is None:  # Airflow's own token in Authorization: Airflow checks it
                await self.app(scope, receive, send)
                return
            step = auth.begin(token)
            if isinstance(step, Pending):
                from starlette.concurrency import run_in_threadpool

                user = await run_in_threadpool(step.run)
            else:
                user = step
        except Rejected as exc:
            log.info("Refused %s %s: %s", scope.get("method"), path, exc.reason)
            metrics.incr(f"refused.{metrics.refusal_reason(exc)}")
            await _refuse(scope, send, exc, auth.header_name)
            return
        except Exception:
            metrics.incr("refused.error")
            log.exception("Unexpected error while checking the %s header", auth.header_name)
            await _refuse(
                scope, send, InvalidToken("the identity header could not be verified"), auth.header_name
            )
            return
        metrics.incr("admitted")
        if auth.bearer:
            # Airflow's get_user() prefers a Bearer token over request.state.user and would read the
            # identity provider's token as its own: the verified token is taken off the request.
            scope["headers"] = [(n, v) for n, v in scope.get("headers", ()) if n.lower() != auth.header_key]
        hand_user_to_airflow(scope, user, self._trusted)
        reset = proxy_user.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            proxy_user.reset(reset)


def _header_values(headers: Sequence[tuple[bytes, bytes]], key: bytes) -> tuple[list[bytes], bool]:
    """Values of the header, and whether a look-alike (``_`` for ``-``) was sent too.

    WSGI turns ``X_Jwt`` and ``X-Jwt`` into the same name, so a look-alike could reach the FAB pages
    as a second copy; it is refused rather than ignored.
    """
    values: list[bytes] = []
    lookalike = False
    folded = key.replace(b"_", b"-")
    for name, value in headers:
        lowered = name.lower()
        if lowered == key:
            values.append(value)
        elif b"_" in lowered and lowered.replace(b"_", b"-") == folded:
            lookalike = True
    return values, lookalike


def _relative_path(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "")).rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return path or "/"


def _wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"accept":
            return b"text/html" in value
    return False


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 307,
            "headers": [
                (b"location", location.encode("latin-1")),
                (b"content-length", b"0"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(scope: Scope, send: Send, exc: Rejected, header_name: str) -> None:
    from airflow_platform_plugins.auth import pages

    if _wants_html(scope):
        body = pages.refusal(exc.status, exc.reason, header_name).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"detail": exc.reason}).encode()
        content_type = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
