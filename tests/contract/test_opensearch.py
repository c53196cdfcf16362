"""opensearch-py and botocore: what the OpenSearch adapter and the SigV4-checking proxy rely on.

The adapter uses only opensearch-py's public API (``transport.perform_request``, the exceptions,
``Urllib3AWSV4SignerAuth``, ``JSONSerializer``); these checks fail first if a release changes it.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import opensearchpy
import pytest
from opensearchpy.serializer import JSONSerializer

from airflow_platform_plugins.task_logs.es.os_settings import OpenSearchSettings, build_opensearch
from tests.harness.sigv4proxy import SigV4Proxy


class Stop(Exception):
    pass


def test_perform_request_takes_the_arguments_the_adapter_passes() -> None:
    parameters = inspect.signature(opensearchpy.Transport.perform_request).parameters
    assert {"method", "url", "params", "body", "headers"} <= set(parameters)
    transport = opensearchpy.Transport([{"host": "127.0.0.1", "port": 9}])
    method, _params, body, ignore, _ = transport._resolve_request_args(
        "POST", {"ignore": (404,)}, b"x\n", (), None
    )
    assert (method, body, tuple(ignore)) == ("POST", b"x\n", (404,)), (
        "bytes pass unchanged; ignore from params"
    )


def test_error_classes_carry_status_and_info() -> None:
    error = opensearchpy.AuthorizationException(403, "x", {"message": "m"})
    assert (error.status_code, error.info) == (403, {"message": "m"})
    assert issubclass(opensearchpy.ConnectionTimeout, opensearchpy.ConnectionError)
    assert issubclass(opensearchpy.ConnectionError, opensearchpy.TransportError)


def test_the_msgspec_serializer_replaces_the_json_loads() -> None:
    client = build_opensearch(OpenSearchSettings(host="127.0.0.1", port=9, scheme="http"))
    serializer = client.client.transport.deserializer.serializers["application/json"]
    assert isinstance(serializer, JSONSerializer)
    assert serializer.loads('{"a": [1]}') == {"a": [1]}


def test_the_sigv4_signer_is_a_urllib3_auth_callable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings = OpenSearchSettings(host="127.0.0.1", port=9, scheme="http", sigv4=True, region="eu-west-1")
    client = build_opensearch(settings)
    connection: Any = client.client.transport.get_connection()
    headers = connection.http_auth("GET", "http://127.0.0.1:9/", None)
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert "/eu-west-1/es/aws4_request" in headers["Authorization"]


def test_the_proxy_recomputes_the_signature_opensearch_py_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's ``canonical_request``/``string_to_sign``/``signature`` agree with its ``add_auth``."""
    from botocore.credentials import Credentials
    from opensearchpy import Urllib3AWSV4SignerAuth

    proxy = SigV4Proxy(9, access_key="AKID", secret_key="secret", region="eu-west-1")
    try:
        sign = Urllib3AWSV4SignerAuth(Credentials("AKID", "secret"), "eu-west-1", "es")
        url = f"{proxy.url}/a-*/_search?ignore_unavailable=true"
        headers = {"Host": f"127.0.0.1:{proxy.port}", **sign("POST", url, b'{"size":1}')}
        assert proxy.check("POST", "/a-*/_search?ignore_unavailable=true", headers, b'{"size":1}') is None
        tampered = proxy.check("POST", "/a-*/_search?ignore_unavailable=true", headers, b'{"size":2}')
        assert tampered is not None
        assert "x-amz-content-sha256" in tampered
        rehashed = {**headers, "X-Amz-Content-SHA256": hashlib.sha256(b'{"size":2}').hexdigest()}
        forged = proxy.check("POST", "/a-*/_search?ignore_unavailable=true", rehashed, b'{"size":2}')
        assert forged is not None
        assert "signature we calculated does not match" in forged
        wrong = proxy.check("POST", "/b-*/_search?ignore_unavailable=true", headers, b'{"size":1}')
        assert wrong is not None
        assert "signature we calculated does not match" in wrong
    finally:
        proxy.close()
