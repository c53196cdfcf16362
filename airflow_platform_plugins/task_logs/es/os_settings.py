"""``[opensearch]`` and ``[opensearch_configs]``, read as the opensearch provider reads them, and the client.

Amazon OpenSearch Service is signed with SigV4 from boto3's credential chain (IRSA), as
``opensearch-py``'s ``AWSV4SignerAuth`` does; the region and the service (``es`` or ``aoss``) come from
``[platform_logging]``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins import options
from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.es.client import _value, display_host
from airflow_platform_plugins.task_logs.es.os_client import OpenSearchClient

CONFIGS_SECTION = "opensearch_configs"


@dataclass(frozen=True)
class OpenSearchSettings:
    """Where the cluster is and how to talk to it."""

    host: str
    port: int
    scheme: str
    username: str = ""
    password: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    sigv4: bool = False
    region: str = ""
    service: str = "es"

    @property
    def url(self) -> str:
        """The cluster's URL, without credentials."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def display(self) -> str:
        """The URL, for messages and log sources."""
        return self.url


def opensearch_settings(conf: Any, *, host: str | None = None) -> OpenSearchSettings:
    """Read ``[opensearch]`` (``host``, ``port``, ``username``, ``password``) and ``[opensearch_configs]``."""
    raw = (host or options.OS_HOST.get(conf)).strip()
    if not raw:
        raise ConfigError(f"{options.OS_HOST.name} must be set")
    url = raw if urlsplit(raw).scheme in ("http", "https") else f"http://{raw}"
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"{options.OS_HOST.name} = {display_host(raw)!r} is not a host or URL")
    port_raw = options.OS_PORT.get(conf) if conf is not None else ""
    try:
        port = int(port_raw) if port_raw else (parts.port or 9200)
    except ValueError:
        raise ConfigError(f"{options.OS_PORT.name} must be a port number, got {port_raw!r}") from None
    username = options.OS_USERNAME.get(conf) if conf is not None else ""
    password = options.OS_PASSWORD.get(conf) if conf is not None else ""
    username = username or (parts.username or "")
    password = password or (parts.password or "")
    sigv4 = bool(conf is not None and options.OS_AWS_SIGV4.get(conf))
    service = options.OS_AWS_SERVICE.get(conf) if conf is not None else "es"
    if service not in ("es", "aoss"):
        raise ConfigError(f"{options.OS_AWS_SERVICE.name} must be es or aoss, got {service!r}")
    region = options.OS_AWS_REGION.get(conf) if conf is not None else ""
    return OpenSearchSettings(
        host=parts.hostname,
        port=port,
        scheme=parts.scheme,
        username=username,
        password=password,
        kwargs=_config_kwargs(conf),
        sigv4=sigv4,
        region=region,
        service=service,
    )


def _config_kwargs(conf: Any) -> dict[str, Any]:
    """``[opensearch_configs]`` entries the ``OpenSearch`` client and its connection class accept."""
    from opensearchpy import Connection, OpenSearch, Urllib3HttpConnection

    if conf is None or not conf.has_section(CONFIGS_SECTION):
        return {}
    accepted = set(inspect.signature(Urllib3HttpConnection.__init__).parameters)
    accepted |= set(inspect.signature(Connection.__init__).parameters)
    accepted |= set(inspect.signature(OpenSearch.__init__).parameters)
    accepted |= {"max_retries", "retry_on_timeout", "retry_on_status", "sniff_on_start", "serializer"}
    accepted -= {"self", "hosts", "host", "port", "http_auth", "transport_class", "kwargs"}
    section = dict(conf.getsection(CONFIGS_SECTION) or {})
    return {key: _value(value) for key, value in section.items() if key in accepted}


def _sigv4_auth(settings: OpenSearchSettings) -> Any:
    """opensearch-py's urllib3 SigV4 signer with boto3's default credential chain (refreshed as needed)."""
    import boto3
    from opensearchpy import Urllib3AWSV4SignerAuth

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigError(
            f"{options.OS_AWS_SIGV4.name} is on but boto3 finds no AWS credentials "
            "(IRSA, instance profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        )
    region = settings.region or session.region_name
    if not region:
        raise ConfigError(f"{options.OS_AWS_SIGV4.name} needs a region: set {options.OS_AWS_REGION.name}")
    return Urllib3AWSV4SignerAuth(credentials, region, settings.service)


def build_opensearch(settings: OpenSearchSettings) -> OpenSearchClient:
    """An :class:`OpenSearchClient`; no request is made here."""
    from opensearchpy import OpenSearch

    auth: Any = None
    if settings.sigv4:
        auth = _sigv4_auth(settings)
    elif settings.username or settings.password:
        auth = (settings.username, settings.password)
    kwargs: dict[str, Any] = {"timeout": 60, "max_retries": 0, "serializer": _serializer(), **settings.kwargs}
    if settings.scheme == "https":
        kwargs.setdefault("use_ssl", True)
    client = OpenSearch(
        hosts=[{"host": settings.host, "port": settings.port, "scheme": settings.scheme}],
        http_auth=auth,
        **kwargs,
    )
    return OpenSearchClient(client, check_product=settings.service != "aoss")


def _serializer() -> Any:
    """JSON decoded with msgspec (as for Elasticsearch): several times faster on big pages."""
    import msgspec
    from opensearchpy.serializer import JSONSerializer

    decode = msgspec.json.decode

    class Json(JSONSerializer):
        def loads(self, s: Any) -> Any:
            return decode(s)

    return Json()
