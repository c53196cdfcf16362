"""Which credential a ``wasb`` connection gives, in WasbHook's order (no request is made here)."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.objectstore.azure_auth import (
    account_url,
    build_service_client,
    client_arguments,
)


def test_connection_string_wins_over_everything() -> None:
    fields = ConnectionFields(
        "c", login="acct", password="key", extra={"connection_string": "cs", "tenant_id": "t"}
    )
    assert client_arguments(fields, "") == ("connection_string", {"conn_str": "cs"})


def test_service_principal_from_tenant_login_and_password() -> None:
    from azure.identity import ClientSecretCredential

    fields = ConnectionFields(
        "c", login="client-id", password="secret", host="acct", extra={"tenant_id": "t"}
    )
    how, kwargs = client_arguments(fields, "")
    assert how == "account_url"
    assert isinstance(kwargs["credential"], ClientSecretCredential)


def test_login_only_means_the_default_chain_with_the_connections_identity_hints() -> None:
    from azure.identity import DefaultAzureCredential

    extra = {"managed_identity_client_id": "mi", "workload_identity_tenant_id": "tenant"}
    _, kwargs = client_arguments(ConnectionFields("c", login="acct", extra=extra), "")
    assert kwargs["account_url"] == "https://acct.blob.core.windows.net/"
    assert isinstance(kwargs["credential"], DefaultAzureCredential)


def test_no_connection_uses_the_account_url_option_and_the_default_chain() -> None:
    from azure.identity import DefaultAzureCredential

    _, kwargs = client_arguments(None, "https://acct.blob.core.windows.net")
    assert kwargs["account_url"] == "https://acct.blob.core.windows.net"
    assert isinstance(kwargs["credential"], DefaultAzureCredential)
    with pytest.raises(RemoteLogError, match=r"remote_log_conn_id or \[platform_logging\] azure_account_url"):
        client_arguments(None, "")


@pytest.mark.parametrize(
    ("host", "login", "url"),
    [
        (None, "acct", "https://acct.blob.core.windows.net/"),
        ("acct.blob.core.windows.net", None, "https://acct.blob.core.windows.net"),
        ("http://127.0.0.1:10000/devstoreaccount1", "x", "http://127.0.0.1:10000/devstoreaccount1"),
        ("tenant-guid", "acct", "https://acct.blob.core.windows.net/"),
    ],
)
def test_account_url_as_the_provider_reads_host_and_login(
    host: str | None, login: str | None, url: str
) -> None:
    assert account_url(host, login) == url


def test_a_connection_without_account_names_the_setting() -> None:
    with pytest.raises(RemoteLogError, match=r"remote_log_conn_id") as error:
        client_arguments(ConnectionFields("c", password="key"), "")
    assert error.value.permanent


def test_missing_azure_identity_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_identity(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("azure.identity"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_identity)
    with pytest.raises(RemoteLogError, match=r"pip install 'airflow-platform-plugins\[azure-identity\]'"):
        build_service_client(None, "https://acct.blob.core.windows.net")
    # Keys and SAS tokens need only azure-storage-blob.
    assert build_service_client(ConnectionFields("c", login="acct", password="a2V5"), "") is not None
