"""Every document shape users have is read back as the Airflow line it stores."""

from __future__ import annotations

import json

import pytest

from airflow_platform_plugins.task_logs.es.documents import DocumentBuilder
from airflow_platform_plugins.task_logs.es.identity import TryIdentity
from airflow_platform_plugins.task_logs.es.shapes import (
    Normaliser,
    OrderedLines,
    iso_timestamp,
    plain_line,
    text_line,
)

AIRFLOW_LINE = {
    "timestamp": "2026-01-01T00:00:00.123456Z",
    "level": "warning",
    "event": "disk almost full",
    "logger": "airflow.task",
    "chan": "stderr",
    "error_detail": [{"exc_type": "OSError", "frames": []}],
}


def ours(offset_field: str = "offset", host_field: str = "host") -> dict[str, object]:
    builder = DocumentBuilder(
        identity=TryIdentity("d", "t", "r", -1, 1),
        log_id="d-t-r--1-1",
        host="w",
        offset_field=offset_field,
        host_field=host_field,
    )
    return builder.build(json.dumps(AIRFLOW_LINE).encode(), 5)


def fluent_bit(doc: dict[str, object]) -> dict[str, object]:
    return {
        **doc,
        "stream": "stdout",
        "ingest_time": "2026-01-01T00:00:00.2Z",
        "kubernetes": {"pod_name": "p", "host": "node"},
    }


def fluentd(doc: dict[str, object]) -> dict[str, object]:
    return {**doc, "stream": "stdout", "docker": {"container_id": "c"}, "kubernetes": {"pod_name": "p"}}


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        pytest.param(ours(), {}, id="ours-direct"),
        pytest.param(fluent_bit(ours()), {}, id="fluent-bit"),
        pytest.param(fluentd(ours()), {}, id="fluentd"),
        pytest.param(
            ours(offset_field="log.offset", host_field="host.name"),
            {"offset_field": "log.offset", "host_field": "host.name"},
            id="ours-dotted-fields",
        ),
        pytest.param({**AIRFLOW_LINE, "log_id": "d-t-r--1-1", "offset": 3}, {}, id="provider-write-stdout"),
    ],
)
def test_documents_of_airflow_3_lines_read_back_exactly(
    source: dict[str, object], fields: dict[str, str]
) -> None:
    assert Normaliser(**fields).line(dict(source)) == AIRFLOW_LINE


def test_airflow_2_json_format_documents() -> None:
    source = {
        "asctime": "2024-01-01T00:00:00.123+0000",
        "filename": "taskinstance.py",
        "lineno": 1234,
        "levelname": "INFO",
        "message": "Marking task as SUCCESS",
        "offset": 1704067200123456789,
        "log_id": "d-t-2024-01-01T00:00:00+00:00-1",
        "dag_id": "d",
        "task_id": "t",
        "execution_date": "2024_01_01T00_00_00_000000",
        "try_number": "1",
    }
    assert Normaliser().line(source) == {
        "timestamp": "2024-01-01T00:00:00.123+00:00",
        "level": "info",
        "event": "Marking task as SUCCESS",
        "filename": "taskinstance.py",
        "lineno": 1234,
    }


def test_provider_unparsed_line() -> None:
    source = {"message": "plain text", "unparsed": True, "log_id": "x", "offset": 2}
    assert Normaliser().line(source) == {"event": "plain text"}


def test_a_document_with_only_the_raw_text() -> None:
    assert Normaliser().line({"log": "raw\n", "@timestamp": "2026-01-01T00:00:00Z"}) == {
        "timestamp": "2026-01-01T00:00:00Z",
        "event": "raw",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01 00:00:00,123", "2024-01-01T00:00:00.123"),
        ("2024-01-01T00:00:00.123+0000", "2024-01-01T00:00:00.123+00:00"),
        ("2024-01-01T00:00:00.123456Z", "2024-01-01T00:00:00.123456Z"),
        (1704067200, 1704067200),
    ],
)
def test_timestamps_become_iso(value: object, expected: object) -> None:
    assert iso_timestamp(value) == expected


def test_ordered_lines_show_a_repeated_document_once_and_count_shared_offsets() -> None:
    lines = OrderedLines(Normaliser(), "L", check=True)
    doc = {"@timestamp": "t", "level": "info", "event": "a", "message": "a", "logger": "x", "log_id": "L"}
    first = lines.text({"_source": dict(doc), "sort": [1]})
    assert first is not None
    assert json.loads(first)["event"] == "a"
    assert lines.text({"_source": dict(doc), "sort": [1]}) is None
    assert lines.text({"_source": {**doc, "event": "b"}, "sort": [1]}) is not None
    assert lines.text({"_source": {**doc, "log_id": "other"}, "sort": [2]}) is None
    assert lines.identical == 1
    assert lines.shared == 1
    assert [n.split()[0] for n in lines.notices()] == ["1", "1"]


def test_a_text_only_document_is_parsed_back_when_it_is_this_logs_line() -> None:
    raw = json.dumps({"log_id": "L", "event": "hello", "level": "info"})
    assert text_line(Normaliser(), {"log": raw, "@timestamp": "t"}, "L") == {
        "timestamp": "t",
        "level": "info",
        "event": "hello",
    }
    assert text_line(Normaliser(), {"log": "L plain words\n", "time": "t"}, "L") == {
        "timestamp": "t",
        "event": "L plain words",
    }
    assert text_line(Normaliser(), {"log": json.dumps({"log_id": "M", "event": "L"})}, "L") is None


def test_fields_kept_as_text_are_merged_back() -> None:
    source = {"event": "x", "airflow_fields": json.dumps({"extra": 1, "event": "ignored"})}
    assert plain_line(Normaliser(), source, "L") == {"event": "x", "extra": 1}
    assert plain_line(Normaliser(), {"log_id": "M", "event": "x"}, "L") is None
