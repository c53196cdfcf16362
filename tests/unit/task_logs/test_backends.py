"""Choosing the backend from the configuration: the scheme, Elasticsearch's host, a missing extra."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs import backends
from airflow_platform_plugins.task_logs.es.remote_io import ElasticsearchRemoteLogIO
from airflow_platform_plugins.task_logs.objectstore.azure import AzureBlobRemoteLogIO
from airflow_platform_plugins.task_logs.objectstore.gcs import GCSRemoteLogIO
from airflow_platform_plugins.task_logs.objectstore.s3 import S3RemoteLogIO
from tests.harness.config import DictConf


def conf(tmp_path: Path, folder: str, **elasticsearch: str) -> DictConf:
    logging = {"remote_logging": "True", "remote_base_log_folder": folder, "base_log_folder": str(tmp_path)}
    return DictConf({"logging": logging, "elasticsearch": dict(elasticsearch)})


def test_remote_logging_off_means_no_backend(tmp_path: Path) -> None:
    values = conf(tmp_path, "s3://bucket/logs")
    values.values["logging"]["remote_logging"] = "False"
    assert backends.build_remote_task_log(values) is None


@pytest.mark.parametrize(
    ("folder", "kind"),
    [
        ("s3://bucket/logs", S3RemoteLogIO),
        ("s3a://bucket/logs", S3RemoteLogIO),
        ("gs://bucket/logs", GCSRemoteLogIO),
        ("wasb://path/to/logs", AzureBlobRemoteLogIO),
        ("wasbs://path/to/logs", AzureBlobRemoteLogIO),
        ("wasb-airflow-logs", AzureBlobRemoteLogIO),
    ],
)
def test_the_scheme_picks_the_object_store(tmp_path: Path, folder: str, kind: type) -> None:
    backend = backends.build_remote_task_log(conf(tmp_path, folder))
    assert type(backend) is kind


def test_elasticsearch_is_picked_by_its_host_when_the_folder_is_no_object_store(tmp_path: Path) -> None:
    backend = backends.build_remote_task_log(conf(tmp_path, "", host="http://127.0.0.1:9200"))
    assert type(backend) is ElasticsearchRemoteLogIO


def test_an_unknown_scheme_names_the_setting_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[logging\] remote_base_log_folder = 'oss://c/p'.*s3://.*wasb"):
        backends.build_remote_task_log(conf(tmp_path, "oss://c/p", host="http://127.0.0.1:9200"))


def test_a_wasb_folder_is_azure_even_with_an_elasticsearch_host(tmp_path: Path) -> None:
    backend = backends.build_remote_task_log(conf(tmp_path, "wasb-logs", host="http://127.0.0.1:9200"))
    assert type(backend) is AzureBlobRemoteLogIO


def test_a_missing_client_library_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_installed", lambda module: module != "boto3")
    with pytest.raises(ConfigError, match=r"pip install 'airflow-platform-plugins\[s3\]'"):
        backends.build_remote_task_log(conf(tmp_path, "s3://bucket/logs"))
    monkeypatch.setattr(backends, "_installed", lambda module: False)
    with pytest.raises(ConfigError, match=r"pip install 'airflow-platform-plugins\[gcs\]'"):
        backends.build_remote_task_log(conf(tmp_path, "gs://bucket/logs"))
    with pytest.raises(
        ConfigError, match=r"'azure.storage.blob'.*pip install 'airflow-platform-plugins\[azure\]'"
    ):
        backends.build_remote_task_log(conf(tmp_path, "wasb://logs"))


def test_installed_answers_for_a_missing_parent_package() -> None:
    assert backends._installed("json")
    assert not backends._installed("no_such_parent.child")


def os_conf(tmp_path: Path, folder: str, es_host: str = "", **opensearch: str) -> DictConf:
    values = conf(tmp_path, folder, host=es_host)
    values.values["opensearch"] = dict(opensearch)
    return values


def test_opensearch_is_picked_by_its_host_when_elasticsearch_has_none(tmp_path: Path) -> None:
    from airflow_platform_plugins.task_logs.es.os_remote_io import OpenSearchRemoteLogIO

    backend = backends.build_remote_task_log(os_conf(tmp_path, "", host="opensearch", port="9200"))
    assert type(backend) is OpenSearchRemoteLogIO
    assert backend.task_handler["class"].endswith("OpenSearchTaskHandler")
    # Airflow's order: an object store first, then [elasticsearch] host, then [opensearch] host.
    both = os_conf(tmp_path, "", es_host="http://127.0.0.1:9200", host="opensearch")
    assert type(backends.build_remote_task_log(both)) is ElasticsearchRemoteLogIO
    store = os_conf(tmp_path, "s3://bucket/logs", host="opensearch")
    assert type(backends.build_remote_task_log(store)) is S3RemoteLogIO


def test_a_missing_opensearch_client_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_installed", lambda module: module != "opensearchpy")
    with pytest.raises(
        ConfigError,
        match=r"\[opensearch\] host is set: it needs.*pip install 'airflow-platform-plugins\[opensearch\]'",
    ):
        backends.build_remote_task_log(os_conf(tmp_path, "", host="opensearch"))
