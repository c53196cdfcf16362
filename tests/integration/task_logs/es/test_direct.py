"""``write_to_es``/``write_to_os`` against real Elasticsearch and OpenSearch nodes.

Idempotent, survives an outage, keeps refused fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from airflow_platform_plugins.task_logs.es import template
from airflow_platform_plugins.task_logs.es.bulk import BulkSink
from airflow_platform_plugins.task_logs.es.client import ClientHandle
from airflow_platform_plugins.task_logs.es.documents import OVERFLOW_FIELD
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate
from airflow_platform_plugins.task_logs.es.reader import LogReader
from airflow_platform_plugins.task_logs.es.writer import LineWriter
from tests.harness.elasticsearch import SearchNode
from tests.harness.faultproxy import FaultProxy
from tests.harness.tasklog import TaskLog, wait_for

REL = "dag_id=direct/run_id=r1/task_id=t/attempt=1.log"
LOG_ID = "direct-t-r1--1-1"
TEMPLATE = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}")


@pytest.fixture
def proxy(es: SearchNode) -> Iterator[FaultProxy]:
    proxy = FaultProxy(es.port)
    try:
        yield proxy
    finally:
        proxy.close()


def make_writer(es: SearchNode, url: str, base: Path, index: str, **kwargs: Any) -> LineWriter:
    client = ClientHandle(es.settings(url, timeout=30), es.build)
    sink = BulkSink(
        client,
        target_index=index,
        display=url,
        latency=0.2,
        max_bytes=64 << 10,
        engine=es.engine.name,
        **kwargs,
    )
    return LineWriter(
        [sink], base_log_folder=str(base), log_id_template=TEMPLATE, upload_timeout=3, retry_max_delay=0.5
    )


def stored(client: Any, index: str) -> list[dict[str, Any]]:
    """The documents of the log, by offset ([] while the index does not exist yet)."""
    # A just-created index answers searches with 503 until its shard is active.
    client.options(ignore_status=[404, 408]).cluster.health(
        index=index, wait_for_status="yellow", timeout="10s"
    )
    client.options(ignore_status=404).indices.refresh(index=index)
    hits = client.options(ignore_status=404).search(
        index=index, query={"term": {"log_id": LOG_ID}}, sort=[{"offset": "asc"}], size=10000
    )
    return [hit["_source"] for hit in hits.body.get("hits", {}).get("hits", [])]


def test_lines_are_indexed_while_the_try_runs_and_never_twice(
    es: SearchNode, client: Any, prefix: str, tmp_path: Path
) -> None:
    index = f"{prefix}-direct"
    writer = make_writer(es, es.url, tmp_path, index)
    log = TaskLog(tmp_path, REL)
    log.lines(ShippingProcessor(writer), 2000)

    wait_for(lambda: len(stored(client, index)) >= 2000, timeout=30, what="indexed before the try ended")
    extra = [d["event"] for d in stored(client, index) if not d["event"].startswith("line ")]
    assert len(stored(client, index)) == 2000, extra[:1]
    assert writer.finish(str(log.path))
    again = make_writer(es, es.url, tmp_path, index)  # a retried upload sends the whole file again
    assert again.finish(str(log.path))

    docs = stored(client, index)
    offsets = [d["offset"] for d in docs]
    assert [d["event"] for d in docs][:2000] == [f"line {i}" for i in range(2000)]
    assert offsets[:2000] == list(range(offsets[0], offsets[0] + 2000))
    assert len(docs) == 4000, "the retried upload is a later segment, written once"


def test_an_outage_loses_and_duplicates_nothing(
    es: SearchNode, client: Any, prefix: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    index = f"{prefix}-outage"
    writer = make_writer(es, proxy.url, tmp_path, index)
    log = TaskLog(tmp_path, REL)
    processor = ShippingProcessor(writer)
    log.lines(processor, 300, "before")
    wait_for(lambda: len(stored(client, index)) >= 300, timeout=30)
    proxy.down()
    log.lines(processor, 300, "during")
    assert writer.finish(str(log.path)) is False, "gave up waiting; still trying in the background"
    proxy.up()

    wait_for(lambda: not writer.pending(), timeout=30)
    docs = stored(client, index)
    local = [json.loads(line)["event"] for line in log.path.read_text().splitlines()]
    assert [d["event"] for d in docs] == local, "every line of the file, once, in order"
    assert len([e for e in local if e.startswith("Remote task log store unavailable")]) == 1
    assert len([e for e in local if "recovered" in e]) == 1


def test_a_field_the_mapping_refuses_is_kept_as_text_and_read_back(
    es: SearchNode, client: Any, prefix: str, tmp_path: Path, reader: Callable[..., LogReader]
) -> None:
    index = f"{prefix}-refused"
    client.indices.create(index=index, mappings={"properties": {"chan": {"type": "long"}}})
    writer = make_writer(es, es.url, tmp_path, index)
    log = TaskLog(tmp_path, REL)
    log.lines(ShippingProcessor(writer), 5, chan="stdout")

    assert writer.finish(str(log.path))

    docs = stored(client, index)
    assert len(docs) == 5
    assert all(json.loads(d[OVERFLOW_FIELD]) == {"chan": "stdout"} for d in docs)
    lines = [json.loads(line) for line in reader(index).iter_lines(LOG_ID)]
    assert [(line["event"], line["chan"]) for line in lines] == [(f"line {i}", "stdout") for i in range(5)]


def test_a_template_of_that_name_for_other_indices_does_not_leave_ours_unmapped(
    es: SearchNode, tmp_path: Path
) -> None:
    # Two deployments share the cluster: the other one's template, under the default name, covers
    # only its own indices. Ours goes in beside it, so log_id stays an exact keyword here too.
    client = es.client()
    index = "beside-logs"
    template.install(client, template.index_template(["someone-else-*"], settings={"number_of_replicas": 0}))
    try:
        writer = make_writer(es, es.url, tmp_path, index)
        log = TaskLog(tmp_path, REL)
        log.lines(ShippingProcessor(writer), 5)
        assert writer.finish(str(log.path))

        mapping = client.indices.get_mapping(index=index)
        assert mapping[index]["mappings"]["properties"]["log_id"] == {"type": "keyword"}
        assert template.installed_patterns(client, template.NAME) == ["someone-else-*"]
        assert template.installed_patterns(client, f"{template.NAME}-beside-logs") == ["beside-logs*"]
    finally:
        es.delete_indices(f"{index}*")
        for name in (template.NAME, f"{template.NAME}-beside-logs"):
            client.options(ignore_status=404).indices.delete_index_template(name=name)
        client.close()
