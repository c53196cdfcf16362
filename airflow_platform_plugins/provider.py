"""Provider metadata for Airflow: our ``[platform_logging]`` section, so ``airflow config list`` shows it.

Airflow loads :func:`get_provider_info` through the ``apache_airflow_provider`` entry point of this
distribution. Only the configuration is registered; the remote log backend is chosen by
``[logging] logging_config_class`` (see :mod:`airflow_platform_plugins.logging_config`).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from airflow_platform_plugins import options

PACKAGE = "airflow-platform-plugins"
# Our option kinds as the types Airflow's provider schema knows.
_TYPES = {"string": "string", "boolean": "boolean", "integer": "integer", "bytes": "integer"}
_TYPES |= {"float": "float", "seconds": "float"}


def _version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # a source checkout that is not installed
        return "0.1.0"


def config() -> dict[str, Any]:
    """The ``config`` of the provider info: this package's own options, with defaults and texts."""
    own = [o for o in (*options.LOGGING_OPTIONS, *options.ELASTICSEARCH_OPTIONS) if o.ours]
    return {
        options.SECTION: {
            "description": "Remote task logs of airflow-platform-plugins: shipping while the task runs, "
            "and reading back (Airflow's own [logging] and [elasticsearch] options apply too).",
            "options": {
                o.key: {
                    "description": o.description,
                    "version_added": "0.1.0",
                    "type": _TYPES[o.kind],
                    "example": None,
                    "default": o.default,
                }
                for o in own
            },
        }
    }


def get_provider_info() -> dict[str, Any]:
    """What Airflow's providers manager reads from this distribution."""
    return {
        "package-name": PACKAGE,
        "name": "Airflow Platform Plugins",
        "description": "Live, crash-safe remote task logs (S3, GCS, Elasticsearch) and JWT-header sign-on.",
        "versions": [_version()],
        "config": config(),
    }
