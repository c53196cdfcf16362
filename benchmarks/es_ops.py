"""One Elasticsearch benchmark operation per process: ``python -m benchmarks.es_ops CONTENDER OPERATION ...``.

Contenders: ``ours`` (this package's ElasticsearchRemoteLogIO), ``provider`` (the elasticsearch
provider's ElasticsearchTaskHandler / ElasticsearchRemoteLogIO) and, for reads, ``client`` (the floor:
the plain ``elasticsearch`` client paging with ``search_after`` by offset, ``_source`` only, no
processing).

- ``read URL PATTERN REL``: every line of one try's log, turned into the JSON line the api-server
  sends. Ours: iterating ``stream()`` (its lines already are those JSON lines). The provider: its
  handler's ``read`` called page after page with its offset metadata, as Airflow's log reader calls it
  for the provider, each message dumped to JSON.
- ``index URL INDEX BASE REL``: ``write_to_es`` of a finished try's local log (``upload``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from benchmarks.ops import Action, count_lines, measure


def _ti(rel: str, state: str = "success") -> Any:
    from airflow_platform_plugins.task_logs.es.identity import parse_relative_path

    identity = parse_relative_path(rel)
    assert identity is not None
    return SimpleNamespace(**identity.fields(), state=state)


def ours(url: str, pattern: str = "_all", index: str = "airflow-logs", base: str = "") -> Any:
    from airflow_platform_plugins.task_logs.es.bulk import BulkSink
    from airflow_platform_plugins.task_logs.es.client import ClientHandle, ClientSettings
    from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate
    from airflow_platform_plugins.task_logs.es.reader import LogReader
    from airflow_platform_plugins.task_logs.es.remote_io import ElasticsearchRemoteLogIO
    from airflow_platform_plugins.task_logs.es.writer import LineWriter

    client = ClientHandle(ClientSettings((url,), {"request_timeout": 300}))
    template = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}")
    sink = BulkSink(
        client, target_index=index, display=url, latency=3.0, max_bytes=2 << 20, install_template=False
    )
    writer = LineWriter(
        [sink], base_log_folder=base or "/nonexistent", log_id_template=template, upload_timeout=600
    )
    reader = LogReader(client, display=url, index_patterns=pattern)
    io = ElasticsearchRemoteLogIO(
        reader=reader, writer=writer, log_id_template=template, base_log_folder=base or "/"
    )
    client()
    return io


def provider(url: str, pattern: str = "_all", index: str = "airflow-logs", base: str = "") -> Any:
    os.environ.update(
        {
            "AIRFLOW__ELASTICSEARCH__HOST": url,
            "AIRFLOW__ELASTICSEARCH__INDEX_PATTERNS": pattern,
            "AIRFLOW__ELASTICSEARCH__TARGET_INDEX": index,
        }
    )
    from airflow.providers.elasticsearch.log.es_task_handler import ElasticsearchTaskHandler

    return ElasticsearchTaskHandler(
        base_log_folder=base or "/nonexistent",
        end_of_log_mark="end_of_log",
        write_stdout=False,
        write_to_es=bool(base),
        target_index=index,
        json_fields="asctime, filename, lineno, levelname, message",
        host=url,
        frontend="",
    )


def _provider_lines(handler: Any, ti: Any) -> dict[str, Any]:
    """Page through the provider's handler as Airflow's log reader does, each message as JSON."""
    lines = chars = 0
    metadata: dict[str, Any] = {}
    while True:
        messages, metadata = handler.read(ti, ti.try_number, metadata)
        got = 0
        in_group = False
        for message in messages:
            text = message.model_dump_json()  # the api-server sends every message, headers too
            got += 1
            # Each page starts with a "Log message source details" group naming the hosts.
            if message.event == "::group::Log message source details":
                in_group = True
            elif in_group:
                in_group = message.event != "::endgroup::"
            else:
                lines += 1
                chars += len(text)
        if metadata.get("end_of_log") or not got:
            return {"lines": lines, "chars": chars}


def floor_pages(
    search: Callable[[dict[str, Any]], list[Any]], log_id: str, page_size: int = 5000
) -> dict[str, Any]:
    """The floor: every document of the log by offset, ``search_after``, ``_source`` only, no processing.

    ``search`` sends one search body with the engine's own client and returns the page's hits.
    """
    lines = 0
    after = None
    while True:
        body: dict[str, Any] = {
            "query": {"term": {"log_id": log_id}},
            "sort": [{"offset": "asc"}],
            "size": page_size,
            "track_total_hits": False,
        }
        if after is not None:
            body["search_after"] = after
        page = search(body)
        lines += len(page)
        if len(page) < page_size:
            return {"lines": lines}
        after = page[-1]["sort"]


def _client_pages(client: Any, pattern: str, log_id: str) -> dict[str, Any]:
    def search(body: dict[str, Any]) -> list[Any]:
        hits = client.search(index=pattern, filter_path=["hits.hits._source", "hits.hits.sort"], **body)
        return list(hits.body.get("hits", {}).get("hits", []))

    return floor_pages(search, log_id)


def read(contender: str, url: str, pattern: str, rel: str) -> dict[str, Any]:
    ti = _ti(rel)

    def setup() -> Action:
        if contender == "client":
            from elasticsearch import Elasticsearch

            from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, parse_relative_path

            identity = parse_relative_path(rel)
            assert identity is not None
            log_id = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}").render(identity)
            client = Elasticsearch(url, request_timeout=300)
            client.count(index=pattern)  # steady state: the connection is open before the timing
            return lambda: _client_pages(client, pattern, log_id)
        if contender == "ours":
            io = ours(url, pattern)
            return lambda: count_lines(line for stream in io.stream(rel, ti)[1] for line in stream)
        handler = provider(url, pattern)
        return lambda: _provider_lines(handler, ti)

    return measure(setup)


def index(contender: str, url: str, target: str, base: str, rel: str) -> dict[str, Any]:
    ti = _ti(rel)
    path = os.path.join(base, rel)

    def setup() -> Action:
        with open(path, "rb") as f:
            lines = sum(1 for line in f if line.strip())
        io = (
            ours(url, index=target, base=base)
            if contender == "ours"
            else provider(url, index=target, base=base).io
        )

        def upload() -> dict[str, Any]:
            io.upload(path, ti)
            return {"lines": lines}

        return upload

    return measure(setup)


def main(contender: str, operation: str, *args: str) -> dict[str, Any]:
    if operation == "read":
        return read(contender, *args)
    if operation == "index":
        return index(contender, *args)
    raise SystemExit(f"unknown operation {operation}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
