"""elasticsearch: every API call ends in ``client.transport.perform_request`` with its headers."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_platform_plugins.task_logs.es._transport import rewrite_headers
from airflow_platform_plugins.task_logs.es.client import ClientSettings, _pin_compatibility, build_client


class Stop(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("stopped before the network")
        self.headers = headers


def test_the_header_rewrite_sees_every_request_before_the_network() -> None:
    client = build_client(ClientSettings(("http://127.0.0.1:9",), {}))
    seen: list[dict[str, str]] = []

    def rewrite(headers: dict[str, str]) -> dict[str, str]:
        seen.append(dict(headers))
        raise Stop(headers)

    rewrite_headers(client, rewrite)
    with pytest.raises(Stop):
        client.info()
    with pytest.raises(Stop):
        client.search(index="x", query={"match_all": {}})
    assert len(seen) == 2
    assert all("compatible-with=" in h.get("accept", "") for h in seen)


def test_the_compatibility_pin_rewrites_the_media_types_the_client_sends() -> None:
    client = build_client(ClientSettings(("http://127.0.0.1:9",), {}))

    def record(*args: Any, **kwargs: Any) -> Any:
        raise Stop(dict(kwargs.get("headers") or {}))

    client.transport.perform_request = record  # the network layer, as the pin finds it
    _pin_compatibility(client, "8")
    with pytest.raises(Stop) as stopped:
        client.search(index="x", query={"match_all": {}})
    headers = {k.lower(): v for k, v in stopped.value.headers.items()}
    assert "compatible-with=8" in headers["accept"]
    assert "compatible-with=8" in headers["content-type"]
