"""The Elasticsearch client adapter: settings from the configuration, errors, one client per process."""

from __future__ import annotations

import os
from typing import Any, cast

import elastic_transport
import elasticsearch
import pytest

from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.es.client import (
    ClientHandle,
    ClientSettings,
    client_settings,
    display_host,
    translate_error,
)
from tests.harness.config import DictConf


def test_hosts_get_a_scheme_and_configs_become_typed_client_arguments() -> None:
    conf = DictConf(
        {
            "elasticsearch": {"host": "es1:9200, https://u:p@es2:9243"},
            "elasticsearch_configs": {"verify_certs": "False", "timeout": "30", "not_a_client_arg": "x"},
        }
    )
    settings = client_settings(conf)
    assert settings.hosts == ("http://es1:9200", "https://u:p@es2:9243")
    assert settings.kwargs == {"verify_certs": False, "request_timeout": 30}
    assert settings.display == "http://es1:9200,https://es2:9243", "no credentials in messages"


def test_bad_settings_name_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"\[elasticsearch\] host must be set"):
        client_settings(DictConf({"elasticsearch": {"host": " , "}}))
    with pytest.raises(ConfigError, match="es_compat_with"):
        client_settings(DictConf({"elasticsearch": {"host": "es:9200", "es_compat_with": "eight"}}))


def test_display_host_drops_only_credentials() -> None:
    assert display_host("https://user:secret@es:9243/path") == "https://es:9243/path"
    assert display_host("http://es:9200") == "http://es:9200"


class Meta:
    def __init__(self, status: int) -> None:
        self.status = status


def api_error(status: int, reason: str) -> Exception:
    return elasticsearch.ApiError(
        reason, meta=cast(Any, Meta(status)), body={"error": {"type": "x_exception", "reason": reason}}
    )


@pytest.mark.parametrize(
    ("status", "permanent", "text"),
    [
        (401, True, "refused the credentials: 401 x_exception: nope"),
        (403, True, "refused the credentials"),
        (404, True, "x_exception: nope"),
        (400, True, "rejected the request: 400"),
        (503, False, "answered 503"),
    ],
)
def test_api_errors_say_what_to_check(status: int, permanent: bool, text: str) -> None:
    error = translate_error(api_error(status, "nope"), "Elasticsearch es")
    assert error.permanent is permanent
    assert text in str(error)


def test_transport_errors_are_transient_and_unknown_ones_are_named() -> None:
    error = translate_error(elastic_transport.ConnectionError("refused"), "Elasticsearch es")
    assert not error.permanent
    assert str(error).startswith("cannot reach Elasticsearch es")
    assert "ValueError" in str(translate_error(ValueError("x"), "es"))


def test_one_client_per_process_built_on_first_use() -> None:
    built: list[Any] = []

    def build(settings: ClientSettings) -> Any:
        built.append(object())
        return built[-1]

    handle = ClientHandle(ClientSettings(("http://127.0.0.1:9",)), build)
    assert built == []
    assert handle() is handle()
    assert len(built) == 1
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os._exit(0 if handle() is not built[0] and len(built) == 2 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
