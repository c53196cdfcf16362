"""The FAB security manager for JWT-header sign-on: ``SECURITY_MANAGER_CLASS`` in ``webserver_config.py``.

A thin adapter. It reads and validates the settings, builds the verifier and the user store, and
hooks the FAB Flask pages under ``/auth`` into the same identity:

- Flask-Login's loaders return the user the middleware authenticated for this request, never a user
  remembered in a session cookie, so a new identity always beats an old session.
- The login page never shows a form: with a valid header it sends the browser on, without one it
  says why sign-in failed. A page FAB refuses for lack of permission gets a 403 page instead of a
  redirect back to login (which would loop).
- Logout ends the Airflow session (FAB session and ``_token`` cookie) and redirects to the proxy's
  sign-out URL, instead of straight back into the proxy-authenticated UI.

``AUTH_TYPE`` stays ``AUTH_DB`` (or ``AUTH_LDAP``): it is what Airflow's ``POST /auth/token`` uses to
issue its own API tokens to users with a password, which keep working next to the header.
"""

from __future__ import annotations

import logging
from typing import Any, cast
from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride
from flask import current_app, make_response, redirect, request, session
from flask_appbuilder import expose
from flask_appbuilder.const import AUTH_DB, AUTH_LDAP
from flask_appbuilder.security.views import AuthView
from flask_login import logout_user

from airflow_platform_plugins.auth import pages
from airflow_platform_plugins.auth.authenticator import HeaderAuthenticator
from airflow_platform_plugins.auth.context import MiddlewareState, proxy_user
from airflow_platform_plugins.auth.fab_internals import forget_cached_user
from airflow_platform_plugins.auth.settings import (
    AuthSettings,
    build_verifier,
    check_airflow_issuer,
    load_settings,
)
from airflow_platform_plugins.auth.users import UserStore
from airflow_platform_plugins.options import ConfigError

log = logging.getLogger(__name__)


def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


class ProxyAuthView(AuthView):
    """``/auth/login/`` and ``/auth/logout/`` for sign-on through the proxy: never a login form."""

    @expose("/login/", methods=["GET", "POST"])
    def login(self) -> Any:
        """Send a signed-in browser on; tell anyone else why they are not signed in."""
        settings: AuthSettings = self.appbuilder.sm.jwt_settings
        if proxy_user.get() is not None:
            next_url = request.args.get("next", "")
            if next_url and urlsplit(next_url).path.startswith(request.script_root + "/"):
                # FAB refused an /auth page for lack of permission and sent us here: redirecting
                # back would loop.
                page = pages.render("Access refused", "Your Airflow roles do not allow that page.")
                return _no_store(make_response(page, 403))
            return _no_store(redirect(_safe_next(next_url)))
        if request.headers.get(settings.header_name) and not MiddlewareState.installed:
            reason = (
                f"The {settings.header_name} header arrived, but the airflow-platform-plugins middleware is "
                "not running in this api-server; check that the package is installed in its image"
            )
            return _no_store(make_response(pages.refusal(503, reason, settings.header_name), 503))
        reason = (
            f"The request carried no {settings.header_name} header: it did not come through the sign-in proxy"
        )
        return _no_store(make_response(pages.refusal(401, reason, settings.header_name), 401))

    @expose("/logout/", methods=["GET", "POST"])
    def logout(self) -> Any:
        """End the Airflow session, then go to the proxy's sign-out URL."""
        from airflow.api_fastapi.app import get_cookie_path
        from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

        settings: AuthSettings = self.appbuilder.sm.jwt_settings
        logout_user()
        session.clear()
        if settings.logout_url:
            response = redirect(settings.logout_url)
        else:
            page = pages.render(
                "Signed out of Airflow",
                "Your Airflow session has ended.",
                "Your sign-in proxy may still have you signed in: opening Airflow again signs you in again.",
            )
            response = make_response(page, 200)
        cookie_path = get_cookie_path()
        for path in {cookie_path, "/"}:
            response.delete_cookie(COOKIE_NAME_JWT_TOKEN, path=path)
            response.delete_cookie(current_app.config.get("SESSION_COOKIE_NAME", "session"), path=path)
        return _no_store(response)


def _safe_next(next_url: str) -> str:
    """Where to go after login: ``next`` if it stays on this site, else the UI's start page."""
    from airflow.configuration import conf
    from airflow.providers.fab.www.views import get_safe_url
    from flask import url_for

    index = url_for("FabIndexView.index")
    target: str = get_safe_url(next_url) if next_url else index
    # FAB's index page would mint an Airflow _token cookie; the UI needs none, the header is enough.
    return (conf.get("api", "base_url", fallback="/") or "/") if target == index else target


class JwtHeaderSecurityManager(FabAirflowSecurityManagerOverride):
    """Set ``SECURITY_MANAGER_CLASS`` to this class to sign users in with the proxy's JWT."""

    authdbview = ProxyAuthView
    authldapview = ProxyAuthView

    def __init__(self, appbuilder: Any) -> None:
        config = current_app.config
        auth_type = config.get("AUTH_TYPE", AUTH_DB)
        if auth_type not in (AUTH_DB, AUTH_LDAP):
            raise ConfigError(
                "JWT-header sign-on replaces the browser login: AUTH_TYPE must be AUTH_DB (or AUTH_LDAP), "
                "which then only issues Airflow's own API tokens to users with a password"
            )
        # Read before FAB fills in its own defaults, which differ for AUTH_USER_REGISTRATION_ROLE.
        self.jwt_settings = load_settings(config)
        check_airflow_issuer(self.jwt_settings, conf.get("api_auth", "jwt_issuer", fallback=None))
        verifier = build_verifier(self.jwt_settings)
        super().__init__(appbuilder)
        users = UserStore(
            cast(Any, current_app)._get_current_object(),
            appbuilder.session,
            self.jwt_settings.roles,
            ttl=self.jwt_settings.user_cache_ttl,
            on_change=forget_cached_user,
        )
        self.jwt_header_auth = HeaderAuthenticator(
            self.jwt_settings.header_name,
            verifier,
            self.jwt_settings.claims,
            self.jwt_settings.roles,
            users,
            bearer=self.jwt_settings.bearer,
        )

    def create_login_manager(self) -> Any:
        """FAB's login manager, also loading the user from the proxy's header."""
        manager = super().create_login_manager()
        manager.request_loader(self._user_from_proxy)
        return manager

    def load_user(self, pk: Any) -> Any:
        """The header's user, whatever user id an old session cookie remembers."""
        return proxy_user.get()

    @staticmethod
    def _user_from_proxy(_request: Any) -> Any:
        return proxy_user.get()
