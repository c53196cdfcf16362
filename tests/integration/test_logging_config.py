"""``[logging] logging_config_class = airflow_platform_plugins.logging_config.LOGGING_CONFIG`` in a
fresh interpreter with Airflow's real configuration, as each Airflow component loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLASS = "airflow_platform_plugins.logging_config.LOGGING_CONFIG"
PROBE = """
import json
from airflow.logging_config import get_remote_task_log
import airflow_platform_plugins.logging_config as m
from airflow.config_templates import airflow_local_settings as default
io = get_remote_task_log()
print(json.dumps({
    "remote": type(io).__name__ if io else None,
    # dictConfig rewrites the active dict in place, so compare its shape: handlers and loggers.
    "same_shape": (
        {h: c.get("class") for h, c in m.LOGGING_CONFIG["handlers"].items()}
        == {h: c.get("class") for h, c in default.DEFAULT_LOGGING_CONFIG["handlers"].items()}
        and sorted(m.LOGGING_CONFIG["loggers"]) == sorted(default.DEFAULT_LOGGING_CONFIG["loggers"])
    ),
    "handlers": sorted(m.LOGGING_CONFIG["handlers"]),
    "task_class": m.LOGGING_CONFIG["handlers"]["task"]["class"],
}))
"""


def probe(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS=CLASS,
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(tmp_path / "logs"),
        **settings,
    )
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)


def test_s3_folder_selects_our_s3_backend_without_the_provider(tmp_path: Path) -> None:
    result = probe(
        tmp_path,
        AIRFLOW__LOGGING__REMOTE_LOGGING="True",
        AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="s3://bucket/logs",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"remote": "S3RemoteLogIO"' in result.stdout
    assert '"handlers": ["console", "task"]' in result.stdout


def test_gs_folder_selects_our_gcs_backend_without_the_provider(tmp_path: Path) -> None:
    result = probe(
        tmp_path,
        AIRFLOW__LOGGING__REMOTE_LOGGING="True",
        AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="gs://bucket/logs",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"remote": "GCSRemoteLogIO"' in result.stdout


def test_remote_logging_off_gives_airflows_own_config(tmp_path: Path) -> None:
    result = probe(tmp_path, AIRFLOW__LOGGING__REMOTE_LOGGING="False")
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"remote": null' in result.stdout
    assert '"same_shape": true' in result.stdout


def test_unknown_scheme_fails_with_the_setting_named(tmp_path: Path) -> None:
    result = probe(
        tmp_path,
        AIRFLOW__LOGGING__REMOTE_LOGGING="True",
        AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="ftp://host/logs",
    )
    assert result.returncode != 0
    assert "[logging] remote_base_log_folder = 'ftp://host/logs': no backend for this scheme" in result.stderr


def test_invalid_option_value_fails_with_the_setting_named(tmp_path: Path) -> None:
    result = probe(
        tmp_path,
        AIRFLOW__LOGGING__REMOTE_LOGGING="True",
        AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="s3://bucket/logs",
        AIRFLOW__PLATFORM_LOGGING__FLUSH_INTERVAL="fast",
    )
    assert result.returncode != 0
    assert "[platform_logging] flush_interval must be a number of seconds, got 'fast'" in result.stderr


def test_elasticsearch_host_selects_our_elasticsearch_backend_as_airflow_would(tmp_path: Path) -> None:
    result = probe(
        tmp_path,
        AIRFLOW__LOGGING__REMOTE_LOGGING="True",
        AIRFLOW__ELASTICSEARCH__HOST="http://127.0.0.1:9200",
        AIRFLOW__ELASTICSEARCH__WRITE_STDOUT="True",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"remote": "ElasticsearchRemoteLogIO"' in result.stdout
    assert (
        '"task_class": "airflow_platform_plugins.task_logs.es.handler.ElasticsearchTaskHandler"'
        in result.stdout
    )


def test_an_object_store_folder_wins_over_the_elasticsearch_host(tmp_path: Path) -> None:
    result = probe(
        tmp_path,
        AIRFLOW__LOGGING__REMOTE_LOGGING="True",
        AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="s3://bucket/logs",
        AIRFLOW__ELASTICSEARCH__HOST="http://127.0.0.1:9200",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"remote": "S3RemoteLogIO"' in result.stdout


def test_a_bad_elasticsearch_setting_fails_with_the_setting_named(tmp_path: Path) -> None:
    result = probe(
        tmp_path,
        AIRFLOW__LOGGING__REMOTE_LOGGING="True",
        AIRFLOW__ELASTICSEARCH__HOST="http://127.0.0.1:9200",
        AIRFLOW__ELASTICSEARCH__LOG_ID_TEMPLATE="{dag_id}-{execution_date}",
    )
    assert result.returncode != 0
    assert "[elasticsearch] log_id_template = '{dag_id}-{execution_date}' may use only" in result.stderr
