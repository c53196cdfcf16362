"""Every values file in helm-values/ is valid for the official Airflow chart and wires this package."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_platform_plugins.auth import config_keys
from airflow_platform_plugins.auth.settings import load_settings
from tests.harness.helm import merge

ROOT = Path(__file__).parents[2]
CHART = ROOT / "tests" / "data" / "airflow-chart"
AIRFLOW_VALUES = sorted((ROOT / "helm-values").glob("airflow-*.yaml"))
LOG_VALUES = sorted((ROOT / "helm-values").glob("airflow-*-logs.yaml"))
SIGN_ON_VALUES = sorted((ROOT / "helm-values").glob("airflow-*sign-on.yaml"))
METRICS_VALUES = sorted((ROOT / "helm-values").glob("airflow-*-metrics.yaml"))


@pytest.mark.parametrize("path", AIRFLOW_VALUES, ids=lambda p: p.name)
def test_values_validate_against_the_chart_schema(path: Path) -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load(path.read_text())
    unknown = set(values) - set(defaults)
    assert not unknown, f"keys the chart does not have: {unknown}"
    jsonschema.Draft7Validator(schema).validate(merge(defaults, values))


@pytest.mark.parametrize("path", LOG_VALUES, ids=lambda p: p.name)
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
    assert set(values.get("config", {}).get(SECTION, {})) <= ours


def test_there_are_values_files() -> None:
    assert LOG_VALUES
    assert SIGN_ON_VALUES
    assert METRICS_VALUES
    assert set(AIRFLOW_VALUES) == set(LOG_VALUES) | set(SIGN_ON_VALUES) | set(METRICS_VALUES), (
        "a values file no test checks"
    )


def webserver_config_keys(source: str) -> dict[str, Any]:
    """The literal assignments of a webserver_config.py, without running it."""
    tree = ast.parse(source)
    keys: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            keys[name] = node.value.id if isinstance(node.value, ast.Name) else ast.literal_eval(node.value)
    return keys


@pytest.mark.parametrize("path", SIGN_ON_VALUES, ids=lambda p: p.name)
def test_sign_on_values_configure_a_valid_security_manager(path: Path) -> None:
    values = yaml.safe_load(path.read_text())
    assert values["config"]["core"]["auth_manager"].endswith("fab_auth_manager.FabAuthManager")
    source = values["apiServer"]["apiServerConfig"]
    assert "{{" not in source, "the chart renders apiServerConfig as a template"
    module, _, cls = config_keys.SECURITY_MANAGER_CLASS.rpartition(".")
    assert f"from {module} import {cls}" in source
    keys = webserver_config_keys(source)
    assert keys["SECURITY_MANAGER_CLASS"] == cls
    settings = load_settings(keys)  # raises, naming the key, on any invalid value
    annotations = values["ingress"]["apiServer"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-response-headers"] == settings.header_name
    assert annotations["nginx.ingress.kubernetes.io/auth-url"]
