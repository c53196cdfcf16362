"""The reader against a real Elasticsearch: shipped documents in every shape, and bad ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.es.documents import DocumentBuilder, to_json_line
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, TryIdentity
from airflow_platform_plugins.task_logs.es.reader import LogReader
from tests.harness.shipping import FLAVOURS, FluentShipper

TEMPLATE = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}")
START = datetime(2026, 11, 24, 23, 59, 58, tzinfo=timezone.utc)


def airflow_line(text: str, at: datetime) -> bytes:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"timestamp": stamp, "level": "info", "event": text, "logger": "task.stdout"}).encode()


def stdout_lines(
    texts: list[str], identity: TryIdentity, *, base: int = 1_000, start: datetime = START, step: float = 0.01
) -> list[bytes]:
    """What the writer prints for these lines of a try (one segment)."""
    builder = DocumentBuilder(
        identity=identity,
        log_id=TEMPLATE.render(identity),
        host="worker-0",
        offset_field="offset",
        host_field="host",
    )
    return [
        to_json_line(
            builder.build(airflow_line(text, start + timedelta(seconds=i * step)), base + i + 1)
        ).rstrip()
        for i, text in enumerate(texts)
    ]


def read(reader: LogReader, log_id: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in reader.iter_lines(log_id)]


def events(lines: list[dict[str, Any]]) -> list[str]:
    return [line["event"] for line in lines if line.get("logger") != "airflow_platform_plugins.task_logs"]


def reports(lines: list[dict[str, Any]]) -> list[str]:
    return [line["event"] for line in lines if line.get("logger") == "airflow_platform_plugins.task_logs"]


TRY = TryIdentity("etl", "load", "manual__2026-11-24T23:59:00+00:00", -1, 1)
LOG_ID = TEMPLATE.render(TRY)
TEXTS = [f"line {i:04d}" for i in range(300)]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_shipped_lines_are_read_in_order_across_daily_indices(
    shipper: Callable[..., FluentShipper], reader: Callable[..., LogReader], client: Any, flavour: str
) -> None:
    fluent = shipper(flavour)
    # The shipper sees the lines at the time they are printed: the log crosses midnight UTC.
    lines = stdout_lines(TEXTS, TRY, step=0.02)
    for i, line in enumerate(lines):
        fluent.ship([line], when=START + timedelta(seconds=i * 0.02), refresh=False)
    client.indices.refresh(index=f"{fluent.index_prefix}-*")
    indices = sorted(client.indices.get(index=f"{fluent.index_prefix}-*").body)
    assert indices == [f"{fluent.index_prefix}-2026.11.24", f"{fluent.index_prefix}-2026.11.25"]

    got = read(reader(f"{fluent.index_prefix}-*", page_size=100), LOG_ID)

    assert events(got) == TEXTS
    assert reports(got) == []
    assert got[0] == {
        "timestamp": "2026-11-24T23:59:58.000000Z",
        "level": "info",
        "event": "line 0000",
        "logger": "task.stdout",
    }, "exactly Airflow's line: nothing the writer or the shipper added"


def test_other_tries_and_map_indices_are_not_mixed_in(
    shipper: Callable[..., FluentShipper], reader: Callable[..., LogReader]
) -> None:
    fluent = shipper()
    tries = {
        TRY: "first try",
        TryIdentity(TRY.dag_id, TRY.task_id, TRY.run_id, -1, 2): "second try",
        TryIdentity(TRY.dag_id, TRY.task_id, TRY.run_id, 0, 1): "map 0",
        TryIdentity(TRY.dag_id, TRY.task_id, TRY.run_id, 1, 1): "map 1",
        TryIdentity(TRY.dag_id, "load.extra", TRY.run_id, -1, 1): "another task",
    }
    for identity, text in tries.items():
        fluent.ship(stdout_lines([f"{text} {i}" for i in range(5)], identity), when=START)

    for identity, text in tries.items():
        assert events(read(reader(), TEMPLATE.render(identity))) == [f"{text} {i}" for i in range(5)]


def test_every_shape_users_have_is_read(
    shipper: Callable[..., FluentShipper], reader: Callable[..., LogReader], client: Any, prefix: str
) -> None:
    """Fluentd, Fluent Bit, the provider's write_stdout and write_to_es, Airflow 2's json_format."""
    expected = [f"shape line {i}" for i in range(20)]
    shapes: dict[str, str] = {}
    # Fluent Bit and Fluentd shipping this package's stdout lines.
    for flavour in FLAVOURS:
        identity = TryIdentity("shapes", flavour, "r", -1, 1)
        shipper(flavour).ship(stdout_lines(expected, identity), when=START)
        shapes[flavour] = TEMPLATE.render(identity)
    # The provider's write_stdout (Airflow 3): Airflow's line + log_id + offset 1..n, shipped by Fluentd.
    identity = TryIdentity("shapes", "provider-stdout", "r", -1, 1)
    provider_lines = []
    for i, text in enumerate(expected):
        line = json.loads(airflow_line(text, START + timedelta(seconds=i)))
        provider_lines.append(
            json.dumps({**line, "log_id": TEMPLATE.render(identity), "offset": i + 1}).encode()
        )
    shipper("fluentd").ship(provider_lines, when=START)
    shapes["provider write_stdout"] = TEMPLATE.render(identity)
    # The provider's write_to_es (and the opensearch provider's write_to_os, which writes the same
    # documents): bulk-indexed by the provider with random ids.
    identity = TryIdentity("shapes", "provider-es", "r", -1, 1)
    body = []
    for i, text in enumerate(expected):
        line = json.loads(airflow_line(text, START + timedelta(seconds=i)))
        body += [
            {"index": {"_index": f"{prefix}-provider"}},
            {**line, "log_id": TEMPLATE.render(identity), "offset": i + 1},
        ]
    client.bulk(operations=body, refresh=True)
    shapes["provider write_to_es"] = TEMPLATE.render(identity)
    # Airflow 2 json_format through Filebeat/Logstash: asctime, levelname, message, nanosecond offsets.
    log_id = "shapes-airflow2-2024-01-01T00:00:00+00:00-1"
    body = []
    for i, text in enumerate(expected):
        body += [
            {"index": {"_index": f"{prefix}-airflow2"}},
            {
                "asctime": f"2024-01-01T00:00:{i:02d}.000+0000",
                "filename": "taskinstance.py",
                "lineno": 100 + i,
                "levelname": "INFO",
                "message": text,
                "offset": 1704067200000000000 + i * 1000,
                "log_id": log_id,
                "dag_id": "shapes",
                "task_id": "airflow2",
                "execution_date": "2024_01_01T00_00_00_000000",
                "try_number": "1",
                "@timestamp": f"2024-01-01T00:00:{i:02d}.000Z",
            },
        ]
    client.bulk(operations=body, refresh=True)
    shapes["Airflow 2 json_format"] = log_id

    for shape, shape_log_id in shapes.items():
        got = read(reader(), shape_log_id)
        assert events(got) == expected, shape
        assert reports(got) == [], shape
        assert all(line.get("timestamp") for line in got), shape
    airflow2 = read(reader(), log_id)
    assert airflow2[3] == {
        "timestamp": "2024-01-01T00:00:03.000Z",
        "level": "info",
        "event": "shape line 3",
        "filename": "taskinstance.py",
        "lineno": 103,
    }


def index_docs(client: Any, index: str, docs: list[dict[str, Any]]) -> None:
    body: list[dict[str, Any]] = []
    for doc in docs:
        body += [{"index": {"_index": index}}, doc]
    response = client.bulk(operations=body, refresh=True)
    assert not response["errors"], response["items"][:2]


def doc(i: int, offset: Any = None, log_id: str = LOG_ID, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(airflow_line(text or f"line {i:04d}", START + timedelta(seconds=i)))
    out["log_id"] = log_id
    if offset is not None:
        out["offset"] = offset
    return out


def test_missing_and_non_numeric_offsets_are_reported_once_and_shown(
    client: Any, prefix: str, reader: Callable[..., LogReader]
) -> None:
    docs = [doc(i, offset=i + 1) for i in range(10)]
    docs[3] = doc(3)  # no offset
    docs[6] = doc(6, offset="not-a-number")  # kept by the template's ignore_malformed
    index_docs(client, f"{prefix}-bad", docs)

    got = read(reader(), LOG_ID)

    assert sorted(events(got)) == [f"line {i:04d}" for i in range(10)], "no line lost"
    assert events(got)[:8] == [f"line {i:04d}" for i in range(10) if i not in (3, 6)], (
        "the ordered ones first"
    )
    (report,) = reports(got)
    assert report.startswith("2 documents of this log have no numeric offset")


def test_duplicate_offsets_are_reported_once_and_nothing_is_skipped(
    client: Any, prefix: str, reader: Callable[..., LogReader]
) -> None:
    docs = [doc(i, offset=i + 1) for i in range(250)]
    docs += [doc(i, offset=i + 1) for i in range(90, 110)]  # a shipper resent a batch: identical
    docs += [doc(1000 + i, offset=i + 1, text=f"other writer {i}") for i in range(95, 105)]  # same offsets
    index_docs(client, f"{prefix}-dup", docs)

    got = read(reader(page_size=100), LOG_ID)  # duplicates straddle the page boundaries

    texts = events(got)
    assert [t for t in texts if t.startswith("line")] == [f"line {i:04d}" for i in range(250)]
    assert sorted(t for t in texts if t.startswith("other")) == sorted(
        f"other writer {i}" for i in range(95, 105)
    )
    assert len(texts) == 260
    assert sorted(reports(got)) == [
        "10 documents share their offset with a different document of this log (two writers used the same "
        "offsets); all are shown, in the order Elasticsearch returned them",
        "20 documents repeated another document of this log (same offset and content, a shipper sent them "
        "twice); each line is shown once",
    ]


def test_documents_without_log_id_are_found_reported_once_and_shown(
    shipper: Callable[..., FluentShipper], reader: Callable[..., LogReader]
) -> None:
    """A shipper without the JSON-parse step stores the whole line as text in ``log``."""
    unparsed = shipper("fluentd", parse_json=False)
    unparsed.ship(stdout_lines([f"line {i:04d}" for i in range(30)], TRY), when=START)
    other = TryIdentity(TRY.dag_id, TRY.task_id, TRY.run_id, -1, 2)
    unparsed.ship(stdout_lines(["another try"], other), when=START)

    got = read(reader(), LOG_ID)

    assert events(got) == [f"line {i:04d}" for i in range(30)]
    (report,) = reports(got)
    assert report.startswith("30 documents hold lines of this log only as text in `log` or `message`")


@pytest.mark.parametrize("mapping", ["dynamic", "text-only"])
def test_log_id_mapped_as_analysed_text_is_reported_once_and_matched_exactly(
    client: Any, es: Any, reader: Callable[..., LogReader], mapping: str, prefix: str
) -> None:
    index = f"legacy-{prefix}"  # not covered by this package's template
    if mapping == "text-only":
        client.indices.create(
            index=index,
            mappings={"properties": {"log_id": {"type": "text"}, "offset": {"type": "long"}}},
            settings={"number_of_replicas": 0},
        )
    try:
        # Tokens of one log_id are a phrase inside another's: an analysed match would mix them.
        decoy = f"daily-{LOG_ID}"
        index_docs(
            client,
            index,
            [doc(i, offset=i + 1) for i in range(40)]
            + [doc(i, offset=i + 1, log_id=decoy, text="decoy") for i in range(5)],
        )
        assert (
            client.indices.get_mapping(index=index).body[index]["mappings"]["properties"]["log_id"]["type"]
            == "text"
        )

        got = read(reader(index, page_size=100), LOG_ID)

        assert events(got) == [f"line {i:04d}" for i in range(40)]
        (report,) = reports(got)
        assert report.startswith(f"log_id is mapped as analysed text in {index}")
    finally:
        es.delete_indices(index)


def test_offset_mapped_as_text_is_reported_once_and_shown(
    client: Any, es: Any, reader: Callable[..., LogReader], prefix: str
) -> None:
    index = f"legacy-{prefix}"
    client.indices.create(
        index=index,
        mappings={"properties": {"log_id": {"type": "keyword"}, "offset": {"type": "text"}}},
        settings={"number_of_replicas": 0},
    )
    try:
        index_docs(client, index, [doc(i, offset=str(i + 1)) for i in range(12)])

        got = read(reader(f"{prefix}*,{index}"), LOG_ID)

        assert events(got) == [f"line {i:04d}" for i in range(12)]
        (report,) = reports(got)
        assert f"offset is mapped as text in {index}" in report
    finally:
        es.delete_indices(index)


def test_a_log_that_is_not_there_gives_no_stream(reader: Callable[..., LogReader]) -> None:
    sources, streams = reader().open("no-such-log")
    assert streams == []
    assert sources[0].endswith("log_id=no-such-log: no documents")


def test_an_unreachable_cluster_is_one_line_not_an_error() -> None:
    from airflow_platform_plugins.task_logs.es.client import ClientSettings, build_client

    client = build_client(ClientSettings(("http://127.0.0.1:9",), {"request_timeout": 2}))
    sources, streams = LogReader(lambda: client, display="http://127.0.0.1:9").open(LOG_ID)
    assert streams == []
    assert "could not read: cannot reach Elasticsearch http://127.0.0.1:9" in sources[0]
