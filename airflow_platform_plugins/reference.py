"""Write ``docs/configuration.md``: ``python -m airflow_platform_plugins.reference > docs/configuration.md``.

The page has the task-log options (:mod:`airflow_platform_plugins.options`) and the sign-on keys
(:mod:`airflow_platform_plugins.auth.config_keys`); only this module knows both, so task logs and
sign-on stay independent of each other.
"""

from __future__ import annotations

import sys

from airflow_platform_plugins import options
from airflow_platform_plugins.auth import config_keys


def configuration_markdown() -> str:
    """The whole configuration reference page."""
    return options.reference_markdown() + config_keys.reference_markdown()


if __name__ == "__main__":
    sys.stdout.write(configuration_markdown())
