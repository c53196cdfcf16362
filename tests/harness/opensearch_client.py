"""This package's ``opensearch-py`` adapter, plus the few index calls the fixtures make (tests only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins.task_logs.es.os_client import OpenSearchClient, Response, _path
from airflow_platform_plugins.task_logs.es.os_settings import OpenSearchSettings, build_opensearch


class TestClient(OpenSearchClient):
    """The adapter with ``count``, index creation, refresh, deletion and health, as fixtures use them."""

    __test__ = False

    @classmethod
    def connect(cls, url: str, **kwargs: Any) -> TestClient:
        parts = urlsplit(url)
        settings = OpenSearchSettings(
            host=parts.hostname or "", port=parts.port or 9200, scheme=parts.scheme, kwargs={"timeout": 120}
        )
        adapter = build_opensearch(settings)
        return cls(adapter.client, **kwargs)

    def __init__(self, client: Any, *, check_product: bool = True, ignore: tuple[int, ...] = ()) -> None:
        super().__init__(client, check_product=check_product, ignore=ignore)
        self.indices: Any = _TestIndices(self)
        self.cluster = _Cluster(self)

    def options(self, *, ignore_status: int | Iterable[int] = ()) -> TestClient:
        statuses = (ignore_status,) if isinstance(ignore_status, int) else tuple(ignore_status)
        return TestClient(self.client, check_product=False, ignore=statuses)

    def count(self, *, index: str, **body: Any) -> Response:
        return self._answer(self.request("POST", _path(index, "_count"), body=body or None))


class _TestIndices:
    def __init__(self, owner: TestClient) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        from airflow_platform_plugins.task_logs.es.os_client import _Indices

        return getattr(_Indices(self._owner), name)

    def _call(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> Response:
        return self._owner._answer(self._owner.request(method, path, params=params, body=body))

    def create(self, *, index: str, mappings: Any = None, settings: Any = None) -> Response:
        body = {k: v for k, v in (("mappings", mappings), ("settings", settings)) if v is not None}
        return self._call("PUT", _path(index), body=body)

    def refresh(self, *, index: str, **params: Any) -> Response:
        return self._call("POST", _path(index, "_refresh"), params)

    def get(self, *, index: str) -> Response:
        return self._call("GET", _path(index))

    def get_mapping(self, *, index: str) -> Response:
        return self._call("GET", _path(index, "_mapping"))

    def forcemerge(self, *, index: str, **params: Any) -> Response:
        return self._call("POST", _path(index, "_forcemerge"), params)

    def delete(self, *, index: str, **params: Any) -> Response:
        return self._call("DELETE", _path(index), params)

    def delete_index_template(self, *, name: str) -> Response:
        return self._call("DELETE", _path("_index_template", name))


class _Cluster:
    def __init__(self, owner: TestClient) -> None:
        self._owner = owner

    def health(self, *, index: str | None = None, **params: Any) -> Response:
        path = _path("_cluster", "health", index) if index else "/_cluster/health"
        return self._owner._answer(self._owner.request("GET", path, params=params))
