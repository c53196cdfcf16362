"""Every values file in helm-values/ is valid for the official Airflow chart and wires this package."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parents[2]
CHART = ROOT / "tests" / "data" / "airflow-chart"
AIRFLOW_VALUES = sorted((ROOT / "helm-values").glob("airflow-*.yaml"))


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("path", AIRFLOW_VALUES, ids=lambda p: p.name)
def test_values_validate_against_the_chart_schema(path: Path) -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load(path.read_text())
    unknown = set(values) - set(defaults)
    assert not unknown, f"keys the chart does not have: {unknown}"
    jsonschema.Draft7Validator(schema).validate(merge(defaults, values))


@pytest.mark.parametrize("path", AIRFLOW_VALUES, ids=lambda p: p.name)
def test_values_use_the_logging_config_class(path: Path) -> None:
    values = yaml.safe_load(path.read_text())
    logging = values["config"]["logging"]
    assert logging["logging_config_class"] == "airflow_platform_plugins.logging_config.LOGGING_CONFIG"
    assert logging["remote_logging"] == "True"


@pytest.mark.parametrize("path", AIRFLOW_VALUES, ids=lambda p: p.name)
def test_values_use_only_options_this_package_defines(path: Path) -> None:
    from airflow_platform_plugins.options import ELASTICSEARCH_OPTIONS, LOGGING_OPTIONS, SECTION

    ours = {o.key for o in (*LOGGING_OPTIONS, *ELASTICSEARCH_OPTIONS) if o.section == SECTION}
    values = yaml.safe_load(path.read_text())
    assert set(values["config"].get(SECTION, {})) <= ours


def test_there_are_values_files() -> None:
    assert AIRFLOW_VALUES
