from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins import options, reference

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


class Conf:
    def __init__(self, **values: str) -> None:
        self.values = values

    def get(self, section: str, key: str, fallback: Any = None) -> Any:
        return self.values.get(key, fallback)


def test_defaults_apply_when_unset() -> None:
    assert options.FLUSH_INTERVAL.get(Conf()) == 3.0
    assert options.DELETE_LOCAL_LOGS.get(Conf()) is False


@pytest.mark.parametrize(
    ("option", "raw", "message"),
    [
        (
            options.FLUSH_INTERVAL,
            "soon",
            "[platform_logging] flush_interval must be a number of seconds, got 'soon'",
        ),
        (options.FLUSH_INTERVAL, "0", "[platform_logging] flush_interval must be at least 0.1, got '0'"),
        (
            options.DELETE_LOCAL_LOGS,
            "maybe",
            "[logging] delete_local_logs must be true or false, got 'maybe'",
        ),
        (options.FLUSH_BYTES, "1MB", "[platform_logging] flush_bytes must be a number of bytes, got '1MB'"),
    ],
)
def test_bad_values_name_the_setting(option: options.Option, raw: str, message: str) -> None:
    with pytest.raises(options.ConfigError) as error:
        option.get(Conf(**{option.key: raw}))
    assert str(error.value) == message


def test_env_var_names_follow_airflow() -> None:
    assert options.FLUSH_INTERVAL.env_var == "AIRFLOW__PLATFORM_LOGGING__FLUSH_INTERVAL"
    assert options.REMOTE_BASE_LOG_FOLDER.env_var == "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"


def test_configuration_reference_is_generated_from_the_code() -> None:
    assert DOCS.read_text() == reference.configuration_markdown(), (
        "docs/configuration.md is stale: python -m airflow_platform_plugins.reference > docs/configuration.md"
    )


@pytest.mark.parametrize(
    "raw", ["True", "t", "1", "FALSE", "f", "0", "True # on", " false ", "yes", "on", "no", ""]
)
def test_airflow_booleans_parse_exactly_as_airflows_getboolean(raw: str) -> None:
    from airflow.configuration import AirflowConfigParser

    parser = AirflowConfigParser()
    parser.read_string(f"[elasticsearch]\nwrite_stdout = {raw}\n")
    try:
        expected: bool | None = parser.getboolean("elasticsearch", "write_stdout")
    except Exception:
        expected = None
    try:
        ours: bool | None = options.ES_WRITE_STDOUT.get(Conf(write_stdout=raw))
    except options.ConfigError:
        ours = None
    assert ours == expected


def test_our_own_booleans_stay_lenient() -> None:
    assert options.ES_INSTALL_TEMPLATE.get(Conf(install_template="yes")) is True
