from __future__ import annotations

import json
from typing import Any

from airflow_platform_plugins.task_logs.es.documents import (
    DocumentBuilder,
    document_id,
    get_path,
    json_fields,
    parse_line,
    to_json_line,
)
from airflow_platform_plugins.task_logs.es.identity import TryIdentity
from airflow_platform_plugins.task_logs.es.shapes import Normaliser

IDENTITY = TryIdentity("d", "t", "r", -1, 1)


def builder(offset_field: str = "offset", host_field: str = "host", **kwargs: Any) -> DocumentBuilder:
    return DocumentBuilder(
        identity=IDENTITY,
        log_id="d-t-r--1-1",
        host="worker-1",
        offset_field=offset_field,
        host_field=host_field,
        **kwargs,
    )


def test_a_line_becomes_airflows_fields_plus_what_elasticsearch_readers_need() -> None:
    line = json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00.123456Z",
            "level": "info",
            "event": "hello",
            "logger": "task.stdout",
            "chan": "stdout",
        }
    ).encode()

    doc = builder().build(line, 17)

    assert doc == {
        "@timestamp": "2026-01-01T00:00:00.123456Z",
        "level": "info",
        "event": "hello",
        "message": "hello",
        "logger": "task.stdout",
        "chan": "stdout",
        "log_id": "d-t-r--1-1",
        "offset": 17,
        "host": "worker-1",
        "dag_id": "d",
        "task_id": "t",
        "run_id": "r",
        "map_index": -1,
        "try_number": 1,
    }


def test_dotted_fields_become_objects() -> None:
    doc = builder(offset_field="log.offset", host_field="host.name").build(b'{"event": "x"}', 3)
    assert doc["log"] == {"offset": 3}
    assert doc["host"] == {"name": "worker-1"}
    assert get_path(doc, "log.offset") == 3
    assert get_path({"log.offset": 4}, "log.offset") == 4


def test_a_line_that_is_not_json_keeps_its_text() -> None:
    b = builder()
    b.build(b'{"timestamp": "2026-01-01T00:00:00Z", "event": "first"}', 1)
    doc = b.build(b"caf\xe9 not json", 2)
    assert doc["event"] == doc["message"] == "caf\ufffd not json"
    assert doc["unparsed"] is True
    assert doc["@timestamp"] == "2026-01-01T00:00:00Z", "a line without time gets the previous line's"


def test_parse_line_accepts_only_objects() -> None:
    assert parse_line(b"[1, 2]") == {"event": "[1, 2]", "unparsed": True}
    assert parse_line(b'{"event": "x"}\n') == {"event": "x"}


def test_document_ids_are_stable_and_distinct() -> None:
    assert document_id("a", 1) == document_id("a", 1)
    assert len({document_id("a", 1), document_id("a", 2), document_id("b", 1)}) == 3
    assert len(document_id("x" * 1000, 10**18)) < 60


def test_json_lines_are_compact_utf8() -> None:
    assert to_json_line({"event": "Ω", "n": 1}) == '{"event":"Ω","n":1}\n'.encode()


def test_json_format_adds_the_provider_formatters_fields() -> None:
    line = json.dumps({"timestamp": "2026-01-01T00:00:00Z", "level": "info", "event": "x", "lineno": 3})
    plain = builder().build(line.encode(), 1)
    assert "asctime" not in plain
    assert "levelname" not in plain
    doc = builder(json_fields=json_fields("asctime, filename, lineno, levelname, message")).build(
        line.encode(), 1
    )
    assert doc["asctime"] == "2026-01-01T00:00:00Z"
    assert doc["levelname"] == "INFO"
    assert doc["message"] == "x"
    assert doc["lineno"] == 3
    assert Normaliser().line(dict(doc)) == Normaliser().line(dict(plain)), "read back the same line"
