"""Build an azure-storage-blob service client from a ``wasb`` connection, as the provider's WasbHook does.

In the hook's order: the extra's ``connection_string``; a service principal (``tenant_id`` in the extra,
login = client id, password = secret); ``shared_access_key``; ``sas_token`` (a full URL or a token);
the password or the extra's ``account_key`` (account key); else ``DefaultAzureCredential`` (workload or
managed identity, with the extra's ``managed_identity_client_id``/``workload_identity_tenant_id``).
The account URL is the connection's host, or ``https://<login>.blob.core.windows.net``. Extras may
carry the ``extra__wasb__`` prefix. Without a connection: ``[platform_logging] azure_account_url``
with the default chain. Entra ID credentials need ``azure-identity`` (pip extra ``azure-identity``).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins import options
from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError

# Bounded transfers: the client buffers each request body and response whole. A chunk (at most
# ``chunk_max_bytes``, 16 MiB by default) goes up in one Put Blob, three times as fast on Azurite as
# staged 4 MiB blocks; larger bodies are staged in 16 MiB blocks. Reads come down in 8 MiB ranges:
# a 200 MiB log read in 0.52-0.57 s against 0.66-0.76 s with 4 MiB ranges (docs/decisions.md); the
# read-ahead counts the buffered range in its budget (``AzureBlobStore.read_buffer``).
_PUT = 16 << 20
RANGE_BYTES = 8 << 20
_CLIENT_OPTIONS: dict[str, Any] = {
    "max_single_put_size": _PUT,
    "max_block_size": _PUT,
    "max_single_get_size": RANGE_BYTES,
    "max_chunk_get_size": RANGE_BYTES,
    "connection_timeout": 5,
    "read_timeout": 60,
}


def _retry_policy() -> Any:
    """Two quick retries of failed reads and 5xx answers, none of a refused connection.

    The client's default waits 15 s and more; the shipper has its own backoff and reports the first
    failure in the task's log, which must happen while the try still writes to it.
    """
    from azure.storage.blob import ExponentialRetry

    return ExponentialRetry(
        initial_backoff=1, increment_base=2, retry_total=2, random_jitter_range=1, retry_connect=0
    )


def _field(extra: dict[str, Any], name: str) -> Any:
    """An extra field, plain or with the ``extra__wasb__`` prefix (as WasbHook._get_field)."""
    if name in extra:
        return extra[name] or None
    return extra.get(f"extra__wasb__{name}") or None


def account_url(host: str | None, login: str | None) -> str:
    """The blob endpoint: ``host`` (with ``https://`` added if it has no scheme), else the account's."""
    if not host:
        if not login:
            raise RemoteLogError(
                "the connection has neither host (account URL) nor login (account name)",
                permanent=True,
                setting=options.REMOTE_LOG_CONN_ID.name,
            )
        return f"https://{login}.blob.core.windows.net/"
    url = host if "://" in host else f"https://{host}"
    if "." not in urlsplit(url).netloc and login:
        return f"https://{login}.blob.core.windows.net/"  # a bare name, as the provider reads it
    return url


def _identity() -> Any:
    try:
        import azure.identity
    except ImportError:
        raise RemoteLogError(
            "Microsoft Entra ID credentials need the 'azure-identity' library: "
            "pip install 'airflow-platform-plugins[azure-identity]'",
            permanent=True,
            setting=f"{options.REMOTE_LOG_CONN_ID.name} (or use a connection string, account key or SAS)",
        ) from None
    return azure.identity


def _default_credential(extra: dict[str, Any]) -> Any:
    tenant = _field(extra, "workload_identity_tenant_id")
    kwargs: dict[str, Any] = {"managed_identity_client_id": _field(extra, "managed_identity_client_id")}
    if tenant:
        kwargs.update(workload_identity_tenant_id=tenant, additionally_allowed_tenants=[tenant])
    return _identity().DefaultAzureCredential(**kwargs)


def client_arguments(fields: ConnectionFields | None, fallback_url: str) -> tuple[str, dict[str, Any]]:
    """``(how, kwargs)``: ``how`` is ``"connection_string"`` or ``"account_url"`` (the constructor)."""
    if fields is None:
        if not fallback_url:
            raise RemoteLogError(
                "no connection and no account URL",
                permanent=True,
                setting=f"{options.REMOTE_LOG_CONN_ID.name} or {options.AZURE_ACCOUNT_URL.name}",
            )
        return "account_url", {"account_url": fallback_url, "credential": _default_credential({})}
    extra = fields.extra
    connection_string = _field(extra, "connection_string")
    if connection_string:
        return "connection_string", {"conn_str": connection_string}
    host = fields.host or (fallback_url if not fields.login else None)
    url = account_url(host, fields.login)
    tenant = _field(extra, "tenant_id")
    if tenant:
        secret_kwargs = dict(_field(extra, "client_secret_auth_config") or {})
        credential = _identity().ClientSecretCredential(
            tenant_id=tenant, client_id=fields.login, client_secret=fields.password, **secret_kwargs
        )
        return "account_url", {"account_url": url, "credential": credential}
    shared_key = _field(extra, "shared_access_key")
    if shared_key:
        return "account_url", {"account_url": url, "credential": shared_key}
    sas = _field(extra, "sas_token")
    if sas:
        if sas.startswith(("https://", "http://")):
            return "account_url", {"account_url": sas}
        return "account_url", {"account_url": url, "credential": sas.lstrip("?")}
    key = fields.password or _field(extra, "account_key")
    if key:
        return "account_url", {"account_url": url, "credential": key}
    return "account_url", {"account_url": url, "credential": _default_credential(extra)}


def build_service_client(fields: ConnectionFields | None, fallback_url: str = "") -> Any:
    """A ``BlobServiceClient`` for the connection (or the default chain), with bounded transfers."""
    from azure.storage.blob import BlobServiceClient

    # The client logs every request at INFO; as the provider, keep that out of the task logs.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    how, kwargs = client_arguments(fields, fallback_url)
    common = {**_CLIENT_OPTIONS, "retry_policy": _retry_policy()}
    try:
        if how == "connection_string":
            return BlobServiceClient.from_connection_string(kwargs.pop("conn_str"), **common)
        return BlobServiceClient(**kwargs, **common)
    except ValueError as exc:
        raise RemoteLogError(
            f"unusable connection: {exc}", permanent=True, setting=options.REMOTE_LOG_CONN_ID.name
        ) from None
