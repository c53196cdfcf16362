"""Airflow's RemoteLogIO for OpenSearch: the Elasticsearch one, with ``[opensearch]`` options and client."""

from __future__ import annotations

from typing import Any

from airflow_platform_plugins import options
from airflow_platform_plugins.task_logs.es.client import ClientHandle
from airflow_platform_plugins.task_logs.es.os_client import ENGINE
from airflow_platform_plugins.task_logs.es.os_settings import build_opensearch, opensearch_settings
from airflow_platform_plugins.task_logs.es.remote_io import ElasticsearchRemoteLogIO, EngineOptions

OPENSEARCH = EngineOptions(
    ENGINE,
    log_id_template=options.OS_LOG_ID_TEMPLATE,
    write_stdout=options.OS_WRITE_STDOUT,
    write_direct=options.OS_WRITE_TO_OS,
    target_index=options.OS_TARGET_INDEX,
    json_format=options.OS_JSON_FORMAT,
    json_fields=options.OS_JSON_FIELDS,
    host_field=options.OS_HOST_FIELD,
    offset_field=options.OS_OFFSET_FIELD,
    index_patterns=options.OS_INDEX_PATTERNS,
    index_patterns_callable=options.OS_INDEX_PATTERNS_CALLABLE,
    frontend=options.OS_FRONTEND,
)


class OpenSearchRemoteLogIO(ElasticsearchRemoteLogIO):
    """Task logs in OpenSearch: ``[opensearch] host`` set, no ``[elasticsearch] host``, no object store."""

    destination = ENGINE
    handler_class = "airflow_platform_plugins.task_logs.es.handler.OpenSearchTaskHandler"

    @classmethod
    def from_config(cls, conf: Any = None) -> ElasticsearchRemoteLogIO:
        """Build from Airflow's configuration; raise ``ConfigError`` naming a bad setting."""
        if conf is None:
            from airflow.configuration import conf
        settings = opensearch_settings(conf)
        return cls.build(conf, OPENSEARCH, ClientHandle(settings, build_opensearch), settings.display)
