"""The OpenSearch client adapter: settings as the provider reads them, errors, and the product check."""

from __future__ import annotations

from typing import Any

import opensearchpy
import pytest

from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.es.client import ServerAnswered, ServerUnreachable, translate_error
from airflow_platform_plugins.task_logs.es.os_client import OpenSearchClient, _ndjson, _translate
from airflow_platform_plugins.task_logs.es.os_settings import opensearch_settings
from tests.harness.config import DictConf


def test_host_port_credentials_and_configs_are_read_as_the_provider_reads_them() -> None:
    conf = DictConf(
        {
            "opensearch": {"host": "os.example", "port": "9243", "username": "u", "password": "p"},
            "opensearch_configs": {"use_ssl": "False", "verify_certs": "True", "timeout": "30", "nope": "x"},
        }
    )
    settings = opensearch_settings(conf)
    assert (settings.scheme, settings.host, settings.port) == ("http", "os.example", 9243)
    assert (settings.username, settings.password) == ("u", "p")
    assert settings.kwargs == {"use_ssl": False, "verify_certs": True, "timeout": 30}
    assert settings.display == "http://os.example:9243", "no credentials in messages"

    url = opensearch_settings(DictConf({"opensearch": {"host": "https://a:b@os.example"}}))
    assert (url.scheme, url.port, url.username, url.password) == ("https", 9200, "a", "b")
    assert url.display == "https://os.example:9200"


def test_bad_settings_name_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"\[opensearch\] host must be set"):
        opensearch_settings(DictConf({"opensearch": {"host": " "}}))
    with pytest.raises(ConfigError, match=r"\[opensearch\] port must be a port number"):
        opensearch_settings(DictConf({"opensearch": {"host": "os", "port": "x"}}))
    with pytest.raises(ConfigError, match="opensearch_aws_service must be es or aoss"):
        opensearch_settings(
            DictConf({"opensearch": {"host": "os"}, "platform_logging": {"opensearch_aws_service": "s3"}})
        )


def test_client_errors_become_messages_that_say_what_to_check() -> None:
    refused = _translate(opensearchpy.AuthenticationException(401, "security_exception", {"error": "x"}))
    assert isinstance(refused, ServerAnswered)
    error = translate_error(refused, "OpenSearch http://os:9200")
    assert error.permanent
    assert "refused the credentials: 401" in str(error)
    assert "[opensearch] username" in str(error)
    amazon = _translate(
        opensearchpy.AuthorizationException(403, "", {"message": "The request signature ..."})
    )
    assert "The request signature" in str(translate_error(amazon, "OpenSearch"))
    down = _translate(opensearchpy.ConnectionError("N/A", "refused", OSError("refused")))
    assert isinstance(down, ServerUnreachable)
    assert not translate_error(down, "OpenSearch").permanent


class FakeTransport:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.calls: list[tuple[str, str]] = []

    def perform_request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append((method, path))
        return self.info if path == "/" else {"responses": []}


class FakeOpenSearch:
    def __init__(self, info: dict[str, Any]) -> None:
        self.transport = FakeTransport(info)


@pytest.mark.parametrize(
    ("info", "refused"),
    [
        ({"version": {"distribution": "opensearch", "number": "3.3.2"}}, False),
        ({"version": {"number": "7.10.2"}}, False),  # an Amazon OpenSearch Service "Elasticsearch 7.10"
        ({"version": {"number": "9.5.4", "build_flavor": "default"}}, True),
    ],
)
def test_an_elasticsearch_server_is_refused_once_with_the_setting_to_change(
    info: dict[str, Any], refused: bool
) -> None:
    client = OpenSearchClient(FakeOpenSearch(info))
    if refused:
        with pytest.raises(
            Exception, match=r"Elasticsearch 9.5.4, not OpenSearch.*\[elasticsearch\] host"
        ) as exc:
            client.msearch(searches=[])
        assert "[opensearch] host" in str(translate_error(exc.value, "OpenSearch"))
    else:
        client.msearch(searches=[])
        client.msearch(searches=[])
        assert client.client.transport.calls == [("GET", "/"), ("POST", "/_msearch"), ("POST", "/_msearch")]


def test_ndjson_bodies_end_with_a_newline() -> None:
    assert _ndjson([{"a": 1}, b'{"b":2}']) == b'{"a": 1}\n{"b":2}\n'
    assert _ndjson(b"x") == b"x\n"
    assert _ndjson("x\n") == b"x\n"


def test_the_opensearch_handler_links_to_dashboards(tmp_path: Any) -> None:
    from types import SimpleNamespace

    from airflow_platform_plugins.task_logs.es.handler import OpenSearchTaskHandler

    handler = OpenSearchTaskHandler(str(tmp_path), frontend="dashboards.example.com/#/?q={log_id}")
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r 1", map_index=-1, try_number=2)
    assert handler.log_name == "OpenSearch"
    assert handler.supports_external_link
    assert handler.get_external_log_url(ti, 1) == "https://dashboards.example.com/#/?q=d-t-r%201--1-1"
