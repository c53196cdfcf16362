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


@pytest.mark.parametrize(
    ("theirs", "ours", "covered"),
    [
        (["airflow-logs*"], ["airflow-logs*"], True),
        (["airflow-*"], ["airflow-logs*"], True),
        (["*"], ["signed-logs*"], True),
        (["other-*"], ["signed-logs*"], False),
        (["airflow-logs-2026*"], ["airflow-logs*"], False),
        (["a*", "signed-*"], ["signed-logs*"], True),
    ],
)
def test_covers_asks_whether_their_patterns_match_every_index_of_ours(
    theirs: list[str], ours: list[str], covered: bool
) -> None:
    assert template.covers(theirs, ours) is covered


def test_a_template_of_its_own_is_named_after_the_patterns() -> None:
    assert template.name_for(["signed-logs*"]) == "airflow-task-logs-signed-logs"
    assert template.name_for(["Team A/logs*"]) == "airflow-task-logs-team-a-logs"
    assert template.name_for(["*"]) == "airflow-task-logs"


class _Templates:
    """The index-template calls of the ``elasticsearch`` client, over a dict of name -> patterns."""

    def __init__(self, stored: dict[str, list[str]]) -> None:
        self.stored = stored
        self.indices = self

    def options(self, *, ignore_status: int) -> _Templates:
        assert ignore_status == 404
        return self

    def get_index_template(self, *, name: str) -> dict[str, object]:
        if name not in self.stored:
            return {"error": {"type": "resource_not_found_exception"}, "status": 404}
        patterns = self.stored[name]
        return {"index_templates": [{"name": name, "index_template": {"index_patterns": patterns}}]}

    def exists_index_template(self, *, name: str) -> bool:
        return name in self.stored

    def put_index_template(self, *, name: str, index_patterns: list[str], **_: object) -> None:
        self.stored[name] = index_patterns


def test_ensure_installs_the_template_on_a_cluster_that_has_none() -> None:
    client = _Templates({})
    assert template.ensure(client, template.index_template(["airflow-logs*"])) == "airflow-task-logs"
    assert client.stored == {"airflow-task-logs": ["airflow-logs*"]}


def test_ensure_keeps_a_template_that_already_covers_the_indices() -> None:
    client = _Templates({"airflow-task-logs": ["airflow-*"]})
    assert template.ensure(client, template.index_template(["airflow-logs*"])) is None
    assert client.stored == {"airflow-task-logs": ["airflow-*"]}


def test_ensure_adds_a_template_beside_one_that_covers_other_indices() -> None:
    # Two deployments sharing a cluster, each with its own target index: the second one's indices
    # must not be created with dynamic mappings.
    client = _Templates({"airflow-task-logs": ["team-a-logs*"]})
    name = template.ensure(client, template.index_template(["team-b-logs*"]))
    assert name == "airflow-task-logs-team-b-logs"
    assert client.stored == {"airflow-task-logs": ["team-a-logs*"], name: ["team-b-logs*"]}
    assert template.ensure(client, template.index_template(["team-b-logs*"])) is None
