from __future__ import annotations

import json

import pytest

from airflow_platform_plugins.task_logs.es import template


def test_log_id_is_a_keyword_and_offset_a_long_that_tolerates_bad_values() -> None:
    properties = template.mappings()["properties"]
    assert properties["log_id"] == {"type": "keyword"}
    assert properties["offset"] == {"type": "long", "ignore_malformed": True}
    assert properties["host"]["type"] == "keyword"
    assert properties["error_detail"] == {"type": "object", "enabled": False}


def test_dotted_fields_are_nested_properties() -> None:
    properties = template.mappings(host_field="host.name", offset_field="log.offset")["properties"]
    assert properties["log"]["properties"]["offset"]["type"] == "long"
    assert properties["host"]["properties"]["name"]["type"] == "keyword"


def test_the_template_covers_the_patterns() -> None:
    body = template.index_template(["airflow-logs-*"], settings={"number_of_replicas": 0})
    assert body["index_patterns"] == ["airflow-logs-*"]
    assert body["template"]["settings"] == {
        "index.sort.field": ["log_id", "offset"],
        "index.sort.order": ["asc", "asc"],
        "number_of_replicas": 0,
    }
    assert "settings" not in template.index_template(["x"], sort=False)["template"]
    json.dumps(body)


@pytest.mark.parametrize(
    ("target", "patterns"),
    [
        ("airflow-logs", ["airflow-logs*"]),
        ("<airflow-logs-{now/d}>", ["airflow-logs*"]),
        ("logs-*", ["logs*"]),
    ],
)
def test_patterns_for_write_to_es_cover_date_math(target: str, patterns: list[str]) -> None:
    assert template.template_patterns(target) == patterns


def test_the_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        template.main(
            ["--index-pattern", "airflow-logs-*", "--host-field", "host", "--offset-field", "offset"]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["index_patterns"] == ["airflow-logs-*"]
