"""The Airflow plugin (entry point ``airflow.plugins``): registers what needs registering.

Loaded by every Airflow component, so it imports nothing heavy. The JWT-header middleware it adds
to the api-server stays inert unless ``webserver_config.py`` selects
:class:`~airflow_platform_plugins.auth.security_manager.JwtHeaderSecurityManager`.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_platform_plugins.auth.middleware import JwtHeaderMiddleware


class PlatformPlugins(AirflowPlugin):
    """airflow-platform-plugins."""

    name = "airflow_platform_plugins"
    fastapi_root_middlewares = [
        {"name": "jwt_header_sign_on", "middleware": JwtHeaderMiddleware, "args": [], "kwargs": {}},
    ]
