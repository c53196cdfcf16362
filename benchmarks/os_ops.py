"""One OpenSearch benchmark operation per process: ``python -m benchmarks.os_ops CONTENDER OPERATION ...``.

As :mod:`benchmarks.es_ops`, against OpenSearch: ``ours`` (this package's OpenSearchRemoteLogIO: the
Elasticsearch core over ``opensearch-py``), ``provider`` (the opensearch provider's
OpensearchTaskHandler / OpensearchRemoteLogIO) and, for reads, ``client`` (the floor: plain
``opensearch-py`` paging with ``search_after`` by offset, ``_source`` only).

The provider's handler looks the try's ``log_id`` up through the dag run in Airflow's database; the
benchmark has no database, so it gives the handler the ``log_id`` directly (the same string).
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import urlsplit

from benchmarks.es_ops import _provider_lines, _ti, floor_pages
from benchmarks.ops import Action, count_lines, measure

LOG_ID_TEMPLATE = "{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}"


def ours(url: str, pattern: str = "_all", index: str = "airflow-logs", base: str = "") -> Any:
    from airflow_platform_plugins.task_logs.es.bulk import BulkSink
    from airflow_platform_plugins.task_logs.es.client import ClientHandle
    from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate
    from airflow_platform_plugins.task_logs.es.os_remote_io import OpenSearchRemoteLogIO
    from airflow_platform_plugins.task_logs.es.os_settings import OpenSearchSettings, build_opensearch
    from airflow_platform_plugins.task_logs.es.reader import LogReader
    from airflow_platform_plugins.task_logs.es.writer import LineWriter

    parts = urlsplit(url)
    settings = OpenSearchSettings(
        host=parts.hostname or "", port=parts.port or 9200, scheme=parts.scheme, kwargs={"timeout": 300}
    )
    client = ClientHandle(settings, build_opensearch)
    template = LogIdTemplate(LOG_ID_TEMPLATE)
    sink = BulkSink(
        client,
        target_index=index,
        display=url,
        latency=3.0,
        max_bytes=2 << 20,
        install_template=False,
        engine="OpenSearch",
    )
    writer = LineWriter(
        [sink], base_log_folder=base or "/nonexistent", log_id_template=template, upload_timeout=600
    )
    reader = LogReader(client, display=url, index_patterns=pattern, engine="OpenSearch")
    io = OpenSearchRemoteLogIO(
        reader=reader, writer=writer, log_id_template=template, base_log_folder=base or "/"
    )
    client()
    return io


def provider(url: str, pattern: str = "_all", index: str = "airflow-logs", base: str = "") -> Any:
    import os

    parts = urlsplit(url)
    os.environ.update(
        {
            "AIRFLOW__OPENSEARCH__HOST": url,
            "AIRFLOW__OPENSEARCH__PORT": str(parts.port),
            "AIRFLOW__OPENSEARCH__INDEX_PATTERNS": pattern,
            "AIRFLOW__OPENSEARCH__TARGET_INDEX": index,
        }
    )
    from airflow.providers.opensearch.log.os_task_handler import OpensearchTaskHandler

    handler = OpensearchTaskHandler(
        base_log_folder=base or "/nonexistent",
        end_of_log_mark="end_of_log",
        write_stdout=False,
        json_format=False,
        json_fields="asctime, filename, lineno, levelname, message",
        host=url,
        port=parts.port,
        username="",
        password="",
        write_to_opensearch=bool(base),
        target_index=index,
        index_patterns=pattern,
        log_id_template=LOG_ID_TEMPLATE,
    )
    handler._render_log_id = lambda ti, try_number: LOG_ID_TEMPLATE.format(  # no database here
        dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index, try_number=try_number
    )
    return handler


def _client_pages(client: Any, pattern: str, log_id: str) -> dict[str, Any]:
    def search(body: dict[str, Any]) -> list[Any]:
        hits = client.search(index=pattern, body=body, filter_path="hits.hits._source,hits.hits.sort")
        return list(hits.get("hits", {}).get("hits", []))

    return floor_pages(search, log_id)


def read(contender: str, url: str, pattern: str, rel: str) -> dict[str, Any]:
    ti = _ti(rel)

    def setup() -> Action:
        if contender == "client":
            from opensearchpy import OpenSearch

            log_id = LOG_ID_TEMPLATE.format(
                **{k: getattr(ti, k) for k in ("dag_id", "task_id", "run_id", "map_index", "try_number")}
            )
            client = OpenSearch(url, timeout=300)
            client.count(index=pattern)  # steady state: the connection is open before the timing
            return lambda: _client_pages(client, pattern, log_id)
        if contender == "ours":
            io = ours(url, pattern)
            return lambda: count_lines(line for stream in io.stream(rel, ti)[1] for line in stream)
        handler = provider(url, pattern)
        return lambda: _provider_lines(handler, ti)

    return measure(setup)


def index(contender: str, url: str, target: str, base: str, rel: str) -> dict[str, Any]:
    import os

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
