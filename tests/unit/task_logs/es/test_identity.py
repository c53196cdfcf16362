from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.es.identity import (
    LogIdTemplate,
    TryIdentity,
    identity_of,
    parse_relative_path,
)

DEFAULT = "{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "dag_id=d/run_id=manual__2026-01-01T00:00:00+00:00/task_id=t/attempt=2.log",
            TryIdentity("d", "t", "manual__2026-01-01T00:00:00+00:00", -1, 2),
        ),
        ("dag_id=d/run_id=r/task_id=t/map_index=7/attempt=1.log", TryIdentity("d", "t", "r", 7, 1)),
        ("dag_id=d/run_id=r/task_id=t/attempt=3.log.trigger.42.log", TryIdentity("d", "t", "r", -1, 3)),
        (
            "dag_id=d/run_id=run/with/slash/task_id=t/attempt=1.log",
            TryIdentity("d", "t", "run/with/slash", -1, 1),
        ),
        ("dag_id=漢字.Ω/run_id=rün/task_id=ß.-0/attempt=1.log", TryIdentity("漢字.Ω", "ß.-0", "rün", -1, 1)),
    ],
)
def test_the_try_comes_from_airflows_path(path: str, expected: TryIdentity) -> None:
    assert parse_relative_path(path) == expected


@pytest.mark.parametrize(
    "path", ["dag_processor/x.log", "d/r/t/1.log", "dag_id=d/run_id=r/task_id=t/attempt=x.log", ""]
)
def test_other_layouts_are_not_guessed(path: str) -> None:
    assert parse_relative_path(path) is None


def test_log_id_is_rendered_as_the_provider_renders_it() -> None:
    template = LogIdTemplate(DEFAULT)
    assert template.render(TryIdentity("d", "t", "r", -1, 1)) == "d-t-r--1-1"
    assert template.render(TryIdentity("d", "t", "r", 3, 2)) == "d-t-r-3-2"


def test_identity_of_a_task_instance_uses_the_asked_try() -> None:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=None, try_number=5)
    assert identity_of(ti, 2) == TryIdentity("d", "t", "r", -1, 2)
    assert identity_of(ti) == TryIdentity("d", "t", "r", -1, 5)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{dag_id}-{execution_date}", "unknown: execution_date"),
        ("static", "may use only"),
        ("{dag_id", "is not a format string"),
    ],
)
def test_a_bad_template_names_the_setting(template: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        LogIdTemplate(template)
    assert "[elasticsearch] log_id_template" in str(error.value)
    assert message in str(error.value)
