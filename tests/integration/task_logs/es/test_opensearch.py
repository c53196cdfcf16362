"""What only OpenSearch has: SigV4 signing (Amazon OpenSearch Service) and telling the engines apart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from airflow_platform_plugins.task_logs.es.client import ClientHandle, ClientSettings, build_client
from airflow_platform_plugins.task_logs.es.os_remote_io import OpenSearchRemoteLogIO
from airflow_platform_plugins.task_logs.es.os_settings import build_opensearch, opensearch_settings
from airflow_platform_plugins.task_logs.es.reader import LogReader
from tests.harness.config import DictConf
from tests.harness.elasticsearch import ElasticsearchNode, OpenSearchNode
from tests.harness.sigv4proxy import SigV4Proxy
from tests.harness.tasklog import TaskLog, wait_for

REL = "dag_id=signed/run_id=r1/task_id=t/attempt=1.log"
LOG_ID = "signed-t-r1--1-1"
KEY, SECRET, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1"


@pytest.fixture
def proxy(opensearch_node: OpenSearchNode) -> Iterator[SigV4Proxy]:
    proxy = SigV4Proxy(opensearch_node.port, access_key=KEY, secret_key=SECRET, region=REGION)
    try:
        yield proxy
    finally:
        proxy.close()
        opensearch_node.delete_indices("signed-*")


def signed_conf(tmp_path: Path, url: str) -> DictConf:
    return DictConf(
        {
            "logging": {"base_log_folder": str(tmp_path), "remote_base_log_folder": ""},
            "opensearch": {
                "host": url,
                "write_to_os": "True",
                "target_index": "signed-logs",
                "index_patterns": "signed-*",
            },
            "opensearch_configs": {"timeout": "30"},
            "platform_logging": {
                "opensearch_aws_sigv4": "True",
                "opensearch_aws_region": REGION,
                "flush_interval": "0.2",
                # Signing is under test, not speed: a first write that creates the index on a loaded
                # 2-core CI machine has taken longer than a few seconds.
                "upload_timeout": "60",
                "retry_max_delay": "0.5",
            },
        }
    )


def test_signed_requests_write_and_read_a_log(
    proxy: SigV4Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    io = OpenSearchRemoteLogIO.from_config(signed_conf(tmp_path, proxy.url))
    assert io.writer is not None
    log = TaskLog(tmp_path, REL)
    log.lines(ShippingProcessor(io.writer), 50)
    assert io.writer.finish(str(log.path)), (
        f"not all sent: {proxy.accepted} accepted, {proxy.refused} refused"
    )

    def read() -> list[str]:
        return [json.loads(line)["event"] for line in io.reader.iter_lines(LOG_ID)]

    local = [json.loads(line)["event"] for line in log.path.read_text().splitlines()]
    # The try's log may hold a line the package wrote itself (a retried first request): every line of
    # the local file, whatever it is, must be read back.
    wait_for(lambda: read() == local, timeout=60, what="the signed log read back")
    assert len(local) >= 50
    assert proxy.accepted > 0
    assert proxy.refused == 0


def test_a_wrong_secret_is_refused_with_a_clear_error(
    proxy: SigV4Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    io = OpenSearchRemoteLogIO.from_config(signed_conf(tmp_path, proxy.url))

    sources, streams = io.reader.open(LOG_ID)

    assert streams == []
    assert proxy.refused >= 1
    assert proxy.accepted == 0
    message = sources[0]
    assert "refused the credentials: 403" in message
    assert "The request signature we calculated does not match" in message
    assert "opensearch_aws_sigv4" in message, "names what to check"


def test_an_elasticsearch_server_configured_as_opensearch_is_named(
    elasticsearch_node: ElasticsearchNode,
) -> None:
    settings = opensearch_settings(DictConf({"opensearch": {"host": elasticsearch_node.url}}))
    reader = LogReader(
        ClientHandle(settings, build_opensearch), display=settings.display, engine="OpenSearch"
    )

    sources, streams = reader.open(LOG_ID)

    assert streams == []
    assert "is it Elasticsearch?" in sources[0]
    assert "set [elasticsearch] host and leave [opensearch] host empty" in sources[0]


def test_an_opensearch_server_configured_as_elasticsearch_is_named(opensearch_node: OpenSearchNode) -> None:
    client = build_client(ClientSettings((opensearch_node.url,), {"request_timeout": 30}))
    reader = LogReader(lambda: client, display=opensearch_node.url)

    sources, streams = reader.open(LOG_ID)

    assert streams == []
    assert "it is not Elasticsearch (an OpenSearch server? then set [opensearch] host" in sources[0]
