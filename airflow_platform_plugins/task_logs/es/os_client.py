"""The ``opensearch-py`` client behind the Elasticsearch core (thin adapter).

The shared reader, bulk sink and index template call a small part of the ``elasticsearch`` client's
API (``search``, ``msearch``, ``bulk``, point in time, index templates, ``options(ignore_status=)``).
:class:`OpenSearchClient` offers that part over ``opensearch-py``'s public transport, so the core
runs unchanged against OpenSearch. Its settings are read in :mod:`.os_settings`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

from airflow_platform_plugins import options
from airflow_platform_plugins.task_logs.es.client import ServerAnswered, ServerUnreachable, WrongProduct

ENGINE = "OpenSearch"
_CREDENTIALS = (
    f"{options.OS_USERNAME.name}/{options.OS_PASSWORD.name}, or the AWS credentials and "
    f"{options.OS_AWS_REGION.name} with {options.OS_AWS_SIGV4.name}"
)
_NDJSON = {"content-type": "application/x-ndjson"}  # lower case: replaces the default
# Elasticsearch after 7.10 is not open source, and OpenSearch forked from 7.10: a server that says it
# is a newer Elasticsearch is not OpenSearch (nor an Amazon OpenSearch Service "Elasticsearch 7.10").
_LAST_OPEN_ELASTICSEARCH = (7, 10)


def _translate(exc: Exception) -> Exception:
    """An ``opensearchpy`` exception as the engine-neutral exceptions the core translates."""
    import opensearchpy

    if isinstance(exc, opensearchpy.ConnectionError):  # includes timeouts
        return ServerUnreachable(str(getattr(exc, "error", "") or exc))
    if isinstance(exc, opensearchpy.TransportError) and isinstance(exc.status_code, int):
        return ServerAnswered(
            exc.status_code,
            _reason(exc.info, exc.error),
            credentials=_CREDENTIALS,
            index_setting=options.OS_TARGET_INDEX.name,
        )
    return exc


def _reason(info: Any, error: Any) -> str:
    if isinstance(info, dict):
        inner = info.get("error")
        if isinstance(inner, dict):
            return f"{inner.get('type', '')}: {inner.get('reason', '')}".strip(": ")
        if inner:
            return str(inner)
        if info.get("message"):  # Amazon's signature and permission errors
            return str(info["message"])
    return str(info or error)[:300]


class _Meta:
    def __init__(self, status: int) -> None:
        self.status = status


class Response(dict[str, Any]):
    """A JSON answer shaped as the ``elasticsearch`` client's: ``.body`` and ``.meta.status``."""

    def __init__(self, body: Any, status: int = 200) -> None:
        super().__init__(body if isinstance(body, dict) else {})
        self.meta = _Meta(status)

    @property
    def body(self) -> dict[str, Any]:
        """The decoded JSON."""
        return self


def _params(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        out[key] = str(value)
    return out


def _path(*parts: str | Iterable[str]) -> str:
    out = []
    for part in parts:
        text = part if isinstance(part, str) else ",".join(part)
        out.append(quote(text, safe=",*-_.<>{}/+:"))
    return "/" + "/".join(out)


class OpenSearchClient:
    """The part of the ``elasticsearch`` client API the shared core uses, over ``opensearch-py``."""

    def __init__(self, client: Any, *, check_product: bool = True, ignore: tuple[int, ...] = ()) -> None:
        self.client = client
        self._ignore = ignore
        self._checked = not check_product
        self._check_lock = threading.Lock()
        self.indices: Any = _Indices(self)

    # -- plumbing ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One request; opensearchpy errors come out as the core's engine-neutral exceptions."""
        self._check_product()
        return self._send(method, path, params=params, body=body, headers=headers)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        query = _params(params or {})
        if query:  # in the path: opensearch-py would take ``timeout`` as its own
            path += "?" + urlencode(query)
        try:
            return self.client.transport.perform_request(
                method,
                path,
                params={"ignore": self._ignore} if self._ignore else None,
                body=body,
                headers=headers,
            )
        except Exception as exc:
            translated = _translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    def _check_product(self) -> None:
        """Refuse, once, a server that is Elasticsearch: the ``[elasticsearch]`` backend is for it."""
        if self._checked:
            return
        with self._check_lock:
            if self._checked:
                return
            advice = f"for Elasticsearch set {options.ES_HOST.name} and leave {options.OS_HOST.name} empty"
            try:
                info = self._send("GET", "/")
            except ServerAnswered as exc:
                if exc.status in (401, 403):
                    raise
                # Elasticsearch 9 refuses opensearch-py's plain ``GET /`` (405).
                raise WrongProduct(
                    f"the server does not answer GET / as OpenSearch does ({exc.status} {exc.reason}); "
                    f"is it Elasticsearch? {advice}",
                    setting=options.OS_HOST.name,
                ) from exc
            version = (info or {}).get("version", {}) if isinstance(info, dict) else {}
            if version.get("distribution") != "opensearch" and _newer_elasticsearch(version.get("number")):
                raise WrongProduct(
                    f"the server is Elasticsearch {version.get('number')}, not OpenSearch: {advice}",
                    setting=options.OS_HOST.name,
                )
            self._checked = True

    def options(self, *, ignore_status: int | Iterable[int] = ()) -> OpenSearchClient:
        """A view of this client whose requests return these error statuses instead of raising."""
        statuses = (ignore_status,) if isinstance(ignore_status, int) else tuple(ignore_status)
        view = OpenSearchClient(self.client, ignore=statuses)
        view._checked = True
        self._check_product()
        return view

    def _answer(self, body: Any) -> Response:
        status = 200
        if isinstance(body, dict) and "error" in body and isinstance(body.get("status"), int):
            status = body["status"]
        return Response(body, status)

    # -- the API the core uses --------------------------------------------------------------------

    def info(self) -> Response:
        """``GET /``."""
        return self._answer(self.request("GET", "/"))

    def bulk(
        self, *, operations: bytes | list[Any], filter_path: str | None = None, refresh: Any = None
    ) -> Response:
        """``POST /_bulk``: NDJSON bytes, or a list of actions and documents."""
        params = {"filter_path": filter_path, "refresh": refresh}
        return self._answer(
            self.request("POST", "/_bulk", params=params, body=_ndjson(operations), headers=_NDJSON)
        )

    def msearch(self, *, searches: list[dict[str, Any]]) -> Response:
        """``POST /_msearch``: header and body pairs."""
        return self._answer(self.request("POST", "/_msearch", body=_ndjson(searches), headers=_NDJSON))

    def search(
        self,
        *,
        index: str | None = None,
        filter_path: Any = None,
        ignore_unavailable: bool | None = None,
        allow_no_indices: bool | None = None,
        **body: Any,
    ) -> Response:
        """``POST /<index>/_search`` (``/_search`` with a point in time)."""
        path = _path(index, "_search") if index else "/_search"
        params = {
            "filter_path": filter_path,
            "ignore_unavailable": ignore_unavailable,
            "allow_no_indices": allow_no_indices,
        }
        return self._answer(self.request("POST", path, params=params, body=body))

    def open_point_in_time(
        self, *, index: str, keep_alive: str, ignore_unavailable: bool | None = None
    ) -> Response:
        """OpenSearch's ``POST /<index>/_search/point_in_time``, answered as Elasticsearch's (``id``)."""
        del ignore_unavailable  # OpenSearch's point in time has no such parameter
        answer = self.request(
            "POST", _path(index, "_search", "point_in_time"), params={"keep_alive": keep_alive}
        )
        return Response({"id": answer["pit_id"]})

    def close_point_in_time(self, *, id: str) -> Response:  # the elasticsearch client names it id
        """``DELETE /_search/point_in_time``."""
        return self._answer(self.request("DELETE", "/_search/point_in_time", body={"pit_id": [id]}))

    def close(self) -> None:
        """Close the connections."""
        self.client.close()


class _Indices:
    def __init__(self, owner: OpenSearchClient) -> None:
        self._owner = owner

    def get_field_mapping(self, *, index: str, fields: list[str], **params: Any) -> Response:
        owner = self._owner
        return owner._answer(owner.request("GET", _path(index, "_mapping", "field", fields), params=params))

    def exists_index_template(self, *, name: str) -> bool:
        owner = self._owner
        view = owner if 404 in owner._ignore else owner.options(ignore_status=404)
        return bool(view.request("HEAD", _path("_index_template", name)))

    def get_index_template(self, *, name: str) -> Response:
        owner = self._owner
        return owner._answer(owner.request("GET", _path("_index_template", name)))

    def put_index_template(self, *, name: str, **body: Any) -> Response:
        owner = self._owner
        return owner._answer(owner.request("PUT", _path("_index_template", name), body=body))


def _ndjson(items: bytes | str | list[Any]) -> bytes:
    """One JSON document a line, ending with a newline (as the ``elasticsearch`` client sends it)."""
    if isinstance(items, list):
        return b"".join(
            (item if isinstance(item, bytes) else json.dumps(item).encode()) + b"\n" for item in items
        )
    data = items.encode() if isinstance(items, str) else items
    return data if data.endswith(b"\n") else data + b"\n"


def _newer_elasticsearch(number: Any) -> bool:
    try:
        major, minor = (int(part) for part in str(number).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) > _LAST_OPEN_ELASTICSEARCH
