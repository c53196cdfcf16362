"""The backends every scenario runs against: one list, so a backend that lands joins every scenario.

A backend here is a real server on 127.0.0.1 seen two ways: the writer in a child process (built by
:mod:`tests.reliability.child` from :meth:`EngineBackend.child_spec`) reaches it through a fault
proxy at an endpoint the scenario chooses, and the scenario reads what was stored straight from the
server, independently of the package's readers. To add a backend, add a class and a line to
:data:`ENGINE_BACKENDS`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from airflow_platform_plugins.task_logs.es import template
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, parse_relative_path
from airflow_platform_plugins.task_logs.objectstore import keys
from tests.harness.azurite import connection_string
from tests.harness.httpfaults import AZURE_SERVER_BUSY, ES_TOO_MANY, GCS_TOO_MANY, S3_SLOW_DOWN
from tests.harness.stores import AzureServer, GCSServer, S3Server
from tests.reliability.child import build_store

ES_LOG_ID = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}")
_CHUNK = re.compile(r"^(?P<stream>[A-Za-z0-9._-]+)/(?P<start>\d{16})-(?P<end>\d{16})$")


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    """JSON lines; a line cut short (a full disk) becomes ``{"event": <its text>, "partial": True}``."""
    out = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            out.append(dict(json.loads(line)))
        except ValueError:
            out.append({"event": line.decode("utf-8", "replace"), "partial": True})
    return out


class Stored:
    """What the store holds for one log: the lines of each host, in stored order."""

    def __init__(self) -> None:
        self.by_host: dict[str, list[dict[str, Any]]] = {}
        self.raw: dict[str, bytes] = {}
        """Object stores: the stored bytes of each host's stream, joined."""
        self.gaps = 0
        self.overlap_bytes = 0

    def events(self, host: str) -> list[str]:
        return [str(line.get("event")) for line in self.by_host.get(host, [])]


class EngineBackend(Protocol):
    name: str
    upstream_port: int
    throttle_response: bytes

    def child_spec(self, endpoint: str) -> dict[str, Any]: ...
    def stored(self, rel: str) -> Stored: ...
    def read_back(self, rel: str) -> list[dict[str, Any]]: ...
    def stop(self) -> None: ...


class ObjectStoreBackend:
    """S3 (moto), GCS (fake-gcs-server) or Azure Blob (Azurite), through the e2e harness's servers."""

    def __init__(
        self, server: S3Server | GCSServer | AzureServer, upstream_port: int, throttle_response: bytes
    ) -> None:
        self.server = server
        self.name = server.name
        self.upstream_port = upstream_port
        self.throttle_response = throttle_response
        self.prefix = f"rel-{uuid.uuid4().hex[:8]}"

    def child_spec(self, endpoint: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.name, "prefix": self.prefix}
        if isinstance(self.server, S3Server):
            spec["bucket"] = self.server.bucket
            spec["connection"] = self.server.moto.connection(endpoint=endpoint)
        elif isinstance(self.server, AzureServer):
            spec["bucket"] = self.server.container
            spec["connection_string"] = connection_string(endpoint)
        else:
            spec["bucket"] = self.server.bucket
            spec["endpoint"] = endpoint
        return spec

    def stored(self, rel: str) -> Stored:
        """Each stream's chunks joined in byte order; gaps and overlapping bytes are counted."""
        key = keys.log_key(self.prefix, rel) + "/"
        streams: dict[str, list[tuple[int, int, str]]] = {}
        for name, _ in self.server.objects(key):
            match = _CHUNK.match(name[len(key) :])
            assert match, f"unexpected object {name}"
            streams.setdefault(match["stream"], []).append((int(match["start"]), int(match["end"]), name))
        out = Stored()
        for stream, chunks in streams.items():
            position, data = 0, bytearray()
            for start, end, name in sorted(chunks):
                if start > position:
                    out.gaps += 1
                piece = self.server.read(name)
                if start < position:
                    out.overlap_bytes += position - start
                    data += piece[position - start :]
                else:
                    data += piece
                position = max(position, end)
            host = stream.rsplit("-", 1)[0]
            out.by_host.setdefault(host, []).extend(parse_lines(bytes(data)))
            out.raw[host] = out.raw.get(host, b"") + bytes(data)
        return out

    def read_back(self, rel: str) -> list[dict[str, Any]]:
        """The lines as the package's reader (the api-server's) gives them."""
        from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text

        store = build_store(self.child_spec(direct_endpoint(self)))
        return [json.loads(line) for line in iter_log_text(store, rel) if line.strip()]

    def stop(self) -> None:
        self.server.stop()


class ElasticsearchBackend:
    """Direct indexing (``write_to_es`` / ``write_to_os``) into a real Elasticsearch or OpenSearch
    node, one index per backend; the same engine and sink, with the engine's client."""

    throttle_response = ES_TOO_MANY

    def __init__(self, node: Any, name: str = "elasticsearch") -> None:
        self.name = name
        self.node = node
        self.upstream_port = node.port
        self.index = f"rel-{uuid.uuid4().hex[:8]}"
        self.client = node.client()
        # The package's mapping for this index whatever template another test installed first.
        body = template.index_template([f"{self.index}*"], settings={"number_of_replicas": 0})
        template.install(self.client, body, name=self.index)

    def child_spec(self, endpoint: str) -> dict[str, Any]:
        return {"kind": self.name, "endpoint": endpoint, "index": self.index}

    def stored(self, rel: str) -> Stored:
        identity = parse_relative_path(rel)
        assert identity is not None, rel
        log_id = ES_LOG_ID.render(identity)
        client = self.client.options(ignore_status=[404])
        client.indices.refresh(index=self.index)
        out = Stored()
        after: list[Any] | None = None
        while True:
            extra = {"search_after": after} if after else {}
            hits = client.search(
                index=self.index,
                query={"term": {"log_id": log_id}},
                sort=[{"offset": "asc"}],
                size=5000,
                **extra,
            ).body.get("hits", {"hits": []})["hits"]
            for hit in hits:
                source = hit["_source"]
                out.by_host.setdefault(str(source.get("host")), []).append(source)
            if len(hits) < 5000:
                return out
            after = hits[-1]["sort"]

    def read_back(self, rel: str) -> list[dict[str, Any]]:
        """The lines as the package's reader (the api-server's) gives them."""
        from airflow_platform_plugins.task_logs.es.reader import LogReader

        identity = parse_relative_path(rel)
        assert identity is not None, rel
        client = self.node.build(self.node.settings())
        reader = LogReader(lambda: client, display=self.node.url, index_patterns=self.index)
        return [json.loads(line) for line in reader.iter_lines(ES_LOG_ID.render(identity)) if line.strip()]

    def stop(self) -> None:
        self.node.delete_indices(f"{self.index}*")
        self.client.indices.delete_index_template(name=self.index)
        self.client.close()


def _s3(workdir: Path, request: pytest.FixtureRequest) -> EngineBackend:
    server = S3Server(workdir)
    return ObjectStoreBackend(server, server.moto.port, S3_SLOW_DOWN)


def _gcs(workdir: Path, request: pytest.FixtureRequest) -> EngineBackend:
    server = GCSServer(workdir)
    return ObjectStoreBackend(server, server.proxy.target_port, GCS_TOO_MANY)


def _azure(workdir: Path, request: pytest.FixtureRequest) -> EngineBackend:
    server = AzureServer(workdir)
    return ObjectStoreBackend(server, server.server.port, AZURE_SERVER_BUSY)


def _elasticsearch(workdir: Path, request: pytest.FixtureRequest) -> EngineBackend:
    return ElasticsearchBackend(request.getfixturevalue("elasticsearch_node"))


def _opensearch(workdir: Path, request: pytest.FixtureRequest) -> EngineBackend:
    return ElasticsearchBackend(request.getfixturevalue("opensearch_node"), "opensearch")


def direct_endpoint(backend: EngineBackend) -> str:
    """The backend's server itself, bypassing any fault proxy."""
    return f"http://127.0.0.1:{backend.upstream_port}"


ENGINE_BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], EngineBackend]] = {
    "s3": _s3,
    "gcs": _gcs,
    "azure": _azure,
    "elasticsearch": _elasticsearch,
    "opensearch": _opensearch,
}
"""Every backend the scenarios run against."""
BULK_BACKENDS = {"elasticsearch", "opensearch"}
"""Backends whose writes can fail in part (a ``_bulk`` with some items rejected)."""
