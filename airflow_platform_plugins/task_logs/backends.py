"""Pick the remote log backend from the configuration: the one place that knows all backends."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins import options
from airflow_platform_plugins.options import ConfigError

# scheme of [logging] remote_base_log_folder -> (module, class, pip extra)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "s3": ("airflow_platform_plugins.task_logs.objectstore.s3", "S3RemoteLogIO", "s3"),
    "s3a": ("airflow_platform_plugins.task_logs.objectstore.s3", "S3RemoteLogIO", "s3"),
    "gs": ("airflow_platform_plugins.task_logs.objectstore.gcs", "GCSRemoteLogIO", "gcs"),
}
# As in Airflow, any folder that starts with "wasb" is Azure Blob ("wasb://path", "wasb-logs").
AZURE = ("airflow_platform_plugins.task_logs.objectstore.azure", "AzureBlobRemoteLogIO", "azure")
_CLIENT_MODULES = {
    "s3": "boto3",
    "gcs": "google.cloud.storage",
    "azure": "azure.storage.blob",
    "elasticsearch": "elasticsearch",
    "opensearch": "opensearchpy",
}
# Schemes Airflow sends to an object-store handler; any other folder goes to Elasticsearch when
# [elasticsearch] host is set, else to OpenSearch when [opensearch] host is set, in this order
# (airflow/config_templates/airflow_local_settings.py).
_OBJECT_STORE_PREFIXES = ("s3://", "cloudwatch://", "gs://", "wasb", "stackdriver://", "oss://", "hdfs://")
ELASTICSEARCH = (
    "airflow_platform_plugins.task_logs.es.remote_io",
    "ElasticsearchRemoteLogIO",
    "elasticsearch",
)
OPENSEARCH = (
    "airflow_platform_plugins.task_logs.es.os_remote_io",
    "OpenSearchRemoteLogIO",
    "opensearch",
)


def build_remote_task_log(conf: Any) -> Any | None:
    """The RemoteLogIO for this configuration, or ``None`` when remote logging is off.

    Raises :class:`ConfigError` with the setting's name for a scheme no backend handles, or when the
    backend's client library (its pip extra) is missing.
    """
    if not options.REMOTE_LOGGING.get(conf):
        return None
    folder = options.REMOTE_BASE_LOG_FOLDER.get(conf)
    scheme = urlsplit(folder).scheme
    if scheme in BACKENDS:
        module_name, class_name, extra = BACKENDS[scheme]
    elif folder.startswith("wasb"):
        module_name, class_name, extra = AZURE
    elif not folder.startswith(_OBJECT_STORE_PREFIXES) and options.ES_HOST.get(conf):
        module_name, class_name, extra = ELASTICSEARCH
    elif not folder.startswith(_OBJECT_STORE_PREFIXES) and options.OS_HOST.get(conf):
        module_name, class_name, extra = OPENSEARCH
    else:
        supported = ", ".join([*(f"{s}://" for s in BACKENDS), "wasb"])
        raise ConfigError(
            f"{options.REMOTE_BASE_LOG_FOLDER.name} = {folder!r}: no backend for this scheme "
            f"(supported: {supported}, or set {options.ES_HOST.name} for Elasticsearch or "
            f"{options.OS_HOST.name} for OpenSearch)"
        )
    client = _CLIENT_MODULES.get(extra)
    if client is not None and not _installed(client):
        hosts = {"elasticsearch": options.ES_HOST.name, "opensearch": options.OS_HOST.name}
        setting = (
            f"{hosts[extra]} is set: it"
            if extra in hosts
            else (f"{options.REMOTE_BASE_LOG_FOLDER.name} = {folder!r}")
        )
        raise ConfigError(
            f"{setting} needs the {client!r} library: pip install 'airflow-platform-plugins[{extra}]'"
        )
    backend = getattr(importlib.import_module(module_name), class_name)
    return backend.from_config(conf)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package (``google``) is missing
        return False
