"""The ``elasticsearch`` client, configured as the elasticsearch provider configures it (thin adapter)."""

from __future__ import annotations

import inspect
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins import options
from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.es._transport import rewrite_headers

CONFIGS_SECTION = "elasticsearch_configs"
_COMPAT_RE = re.compile(r"compatible-with=\d+")
_CREDENTIALS = f"{options.ES_HOST.name} (credentials) or [{CONFIGS_SECTION}]"


@dataclass(frozen=True)
class ClientSettings:
    """Where the cluster is and how to talk to it."""

    hosts: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    compat_with: str = ""

    @property
    def display(self) -> str:
        """The hosts without credentials, for messages and log sources."""
        return ",".join(display_host(host) for host in self.hosts)


def display_host(url: str) -> str:
    """``url`` without ``user:password@``."""
    parts = urlsplit(url)
    if not parts.hostname or not (parts.username or parts.password):
        return url
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def _hosts(raw: str) -> tuple[str, ...]:
    hosts = []
    for host in (h.strip() for h in raw.split(",")):
        if not host:
            continue
        if urlsplit(host).scheme not in ("http", "https"):
            host = f"http://{host}"
        if not urlsplit(host).netloc:
            raise ConfigError(f"{options.ES_HOST.name} = {raw!r} is not a URL")
        hosts.append(host)
    if not hosts:
        raise ConfigError(f"{options.ES_HOST.name} must be set")
    return tuple(hosts)


def _value(raw: Any) -> Any:
    """``[elasticsearch_configs]`` values are strings; the client wants booleans and numbers."""
    if not isinstance(raw, str):
        return raw
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw


def client_settings(conf: Any, *, host: str | None = None) -> ClientSettings:
    """Read ``[elasticsearch] host``, ``es_compat_with`` and ``[elasticsearch_configs]``."""
    from elasticsearch import Elasticsearch

    raw_host = host or (options.ES_HOST.get(conf) if conf is not None else "")
    accepted = set(inspect.signature(Elasticsearch.__init__).parameters) - {"self", "hosts"}
    section: dict[str, Any] = {}
    if conf is not None and conf.has_section(CONFIGS_SECTION):
        section = dict(conf.getsection(CONFIGS_SECTION) or {})
    kwargs = {key: _value(value) for key, value in section.items() if key in accepted}
    # The Airflow chart's names: ``timeout`` and ``retry_timeout`` (as the provider reads them).
    if "timeout" in section and "request_timeout" not in kwargs:
        kwargs["request_timeout"] = _value(section["timeout"])
    if "retry_timeout" in section and "retry_on_timeout" not in kwargs:
        kwargs["retry_on_timeout"] = _value(section["retry_timeout"])
    compat = options.ES_COMPAT_WITH.get(conf) if conf is not None else ""
    if compat and not compat.isdigit():
        raise ConfigError(f"{options.ES_COMPAT_WITH.name} must be a major version such as 8, got {compat!r}")
    return ClientSettings(_hosts(raw_host), kwargs, compat)


def _serializers() -> dict[str, Any]:
    """JSON responses decoded with msgspec (an Airflow dependency): several times faster on big pages."""
    import msgspec
    from elasticsearch.serializer import CompatibilityModeJsonSerializer, JsonSerializer

    decode = msgspec.json.decode

    class Json(JsonSerializer):
        def loads(self, data: bytes) -> Any:
            return decode(data)

    class CompatibilityJson(CompatibilityModeJsonSerializer):
        def loads(self, data: bytes) -> Any:
            return decode(data)

    return {Json.mimetype: Json(), CompatibilityJson.mimetype: CompatibilityJson()}


def build_client(settings: ClientSettings) -> Any:
    """An ``Elasticsearch`` client; no request is made here."""
    from elasticsearch import Elasticsearch

    kwargs = {"request_timeout": 60, "max_retries": 0, "serializers": _serializers(), **settings.kwargs}
    client = Elasticsearch(list(settings.hosts), **kwargs)
    if settings.compat_with:
        _pin_compatibility(client, settings.compat_with)
    return client


def _pin_compatibility(client: Any, major: str) -> None:
    """Ask for ``compatible-with=<major>`` (a 9 client talking to an 8 cluster), as the provider does."""

    def rewrite(headers: dict[str, str]) -> dict[str, str]:
        for key in list(headers):
            if key.lower() in ("accept", "content-type") and headers[key]:
                headers[key] = _COMPAT_RE.sub(f"compatible-with={major}", headers[key])
        return headers

    rewrite_headers(client, rewrite)


class ServerAnswered(Exception):
    """An HTTP error answer, from a client adapter that is not ``elasticsearch`` (engine-neutral)."""

    def __init__(self, status: int, reason: str, *, credentials: str, index_setting: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.credentials = credentials
        self.index_setting = index_setting


class ServerUnreachable(Exception):
    """No answer (refused connection, timeout), from a client adapter that is not ``elasticsearch``."""


class WrongProduct(Exception):
    """The server is not the engine the configuration names (OpenSearch for Elasticsearch, or the reverse)."""

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


def translate_error(exc: Exception, where: str) -> RemoteLogError:
    """A client exception as a :class:`RemoteLogError` that says what to check."""
    if isinstance(exc, RemoteLogError):
        return exc
    if isinstance(exc, WrongProduct):
        return RemoteLogError(f"{where}: {exc}", permanent=True, setting=exc.setting)
    if isinstance(exc, ServerAnswered):
        return _status_error(exc.status, exc.reason, where, exc.credentials, exc.index_setting)
    if isinstance(exc, ServerUnreachable):
        return RemoteLogError(f"cannot reach {where}: {exc}")
    if "elasticsearch" not in sys.modules:  # then it cannot be one of its exceptions
        return RemoteLogError(f"{where}: unexpected error {exc!r}")
    import elastic_transport
    import elasticsearch

    if isinstance(exc, elasticsearch.UnsupportedProductError):
        return RemoteLogError(
            f"{where} is not Elasticsearch (an OpenSearch server?): for OpenSearch set "
            f"{options.OS_HOST.name} and leave {options.ES_HOST.name} empty",
            permanent=True,
            setting=options.ES_HOST.name,
        )
    if (
        isinstance(exc, elasticsearch.ApiError)
        and exc.meta.status == 406
        and "vnd.elasticsearch" in _reason(exc)
    ):
        return RemoteLogError(
            f"{where} refuses Elasticsearch's media type ({_reason(exc)}): it is not Elasticsearch (an "
            f"OpenSearch server? then set {options.OS_HOST.name} and leave {options.ES_HOST.name} empty), "
            f"or an older Elasticsearch (then set {options.ES_COMPAT_WITH.name})",
            permanent=True,
            setting=options.ES_HOST.name,
        )
    if isinstance(exc, elasticsearch.ApiError):
        return _status_error(exc.meta.status, _reason(exc), where, _CREDENTIALS, options.ES_TARGET_INDEX.name)
    if isinstance(exc, elastic_transport.TransportError | elasticsearch.TransportError):
        return RemoteLogError(f"cannot reach {where}: {exc.message if hasattr(exc, 'message') else exc}")
    return RemoteLogError(f"{where}: unexpected error {exc!r}")


def _status_error(
    status: int, reason: str, where: str, credentials: str, index_setting: str
) -> RemoteLogError:
    if status in (401, 403):
        return RemoteLogError(
            f"{where} refused the credentials: {status} {reason}", permanent=True, setting=credentials
        )
    if status == 404:
        return RemoteLogError(f"{where}: {reason}", permanent=True, setting=index_setting)
    if status in (400, 405, 406, 413):
        return RemoteLogError(f"{where} rejected the request: {status} {reason}", permanent=True)
    return RemoteLogError(f"{where} answered {status}: {reason}")


def _reason(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return f"{error.get('type', '')}: {error.get('reason', '')}".strip(": ")
        if error:
            return str(error)
    return str(getattr(exc, "message", exc))[:300]


class ClientHandle:
    """The client of this process, built on first use (and again in a forked child)."""

    def __init__(self, settings: Any, build: Callable[[Any], Any] = build_client) -> None:
        self.settings = settings
        self._build = build
        self._lock = threading.Lock()
        self._state: tuple[int, Any] | None = None
        if build is build_client:
            # Load the client library now, while Airflow sets up logging, not when the first lines
            # are due: on a busy node the import takes seconds, which a killed pod would lose.
            import elasticsearch  # noqa: F401

    def __call__(self) -> Any:
        """The client."""
        state = self._state
        if state is not None and state[0] == os.getpid():
            return state[1]
        with self._lock:
            state = self._state
            if state is None or state[0] != os.getpid():
                state = (os.getpid(), self._build(self.settings))
                self._state = state
            return state[1]
