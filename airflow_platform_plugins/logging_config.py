"""Target of ``[logging] logging_config_class``: Airflow's logging config plus our remote task logs.

Set ``[logging] logging_config_class = airflow_platform_plugins.logging_config.LOGGING_CONFIG``.
Airflow reads ``LOGGING_CONFIG`` (its own default dict, unchanged) and the module-level
``REMOTE_TASK_LOG`` (chosen from ``[logging] remote_base_log_folder``) and ``DEFAULT_REMOTE_CONN_ID``.
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
import threading
from typing import Any

from airflow.configuration import conf

from airflow_platform_plugins.task_logs.backends import build_remote_task_log

_DEFAULT_MODULE = "airflow.config_templates.airflow_local_settings"
_lock = threading.Lock()


def _airflow_default_logging_config() -> dict[str, Any]:
    """Airflow's ``DEFAULT_LOGGING_CONFIG`` without its remote-logging branch.

    Airflow's default module picks a provider handler when ``remote_logging`` is on and fails when
    none is installed for the scheme; with remote logging masked off while importing it we get the
    plain dict, identical to what Airflow builds for local logs.
    """
    module = sys.modules.get(_DEFAULT_MODULE)
    if module is None:
        variable = "AIRFLOW__LOGGING__REMOTE_LOGGING"
        with _lock:
            previous = os.environ.get(variable)
            os.environ[variable] = "False"
            try:
                module = importlib.import_module(_DEFAULT_MODULE)
            finally:
                if previous is None:
                    del os.environ[variable]
                else:
                    os.environ[variable] = previous
    config: dict[str, Any] = copy.deepcopy(module.DEFAULT_LOGGING_CONFIG)
    # A provider handler may have been wired in if Airflow's module was imported with remote logging on.
    config["handlers"]["task"] = {
        "class": "airflow.utils.log.file_task_handler.FileTaskHandler",
        "formatter": "airflow",
        "base_log_folder": module.BASE_LOG_FOLDER,
        "filters": ["mask_secrets_core"],
    }
    return config


LOGGING_CONFIG: dict[str, Any] = _airflow_default_logging_config()
REMOTE_TASK_LOG = build_remote_task_log(conf)
# A backend may need more from the ``task`` handler than reading files (Elasticsearch: the Kibana link).
LOGGING_CONFIG["handlers"]["task"].update(getattr(REMOTE_TASK_LOG, "task_handler", None) or {})
DEFAULT_REMOTE_CONN_ID: str | None = None
