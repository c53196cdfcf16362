"""docs/examples: the Dockerfile's pip line installs with Airflow's constraints, and the combined values
validate against the official chart's schema."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import jsonschema
import yaml

from tests.harness.helm import merge

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
CHART = ROOT / "tests" / "data" / "airflow-chart"
CONSTRAINTS = ROOT / "tests" / "data" / "airflow-constraints"
COMBINED = ("airflow-s3-logs.yaml", "airflow-jwt-sign-on.yaml", "airflow-prometheus-metrics.yaml")


def dockerfile() -> tuple[dict[str, str], str, list[str]]:
    """The Dockerfile's ARG defaults, its FROM image and its pip arguments, with the ARGs filled in."""
    text = (EXAMPLES / "Dockerfile").read_text().replace("\\\n", " ")
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))

    def fill(value: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], value)

    image = fill(re.findall(r"^FROM (\S+)$", text, re.MULTILINE)[0])
    (run,) = re.findall(r"^RUN pip install (.+)$", text, re.MULTILINE)
    return args, image, [fill(word) for word in shlex.split(run)]


def _tested_airflow() -> str:
    match = re.search(r"^airflow = apache-airflow==(\S+)$", (ROOT / "tox.ini").read_text(), re.MULTILINE)
    assert match is not None
    return match[1]


def test_the_dockerfile_builds_on_the_tested_airflow_with_its_constraints() -> None:
    args, image, pip = dockerfile()
    version, python = args["AIRFLOW_VERSION"], args["PYTHON_VERSION"]
    assert version == _tested_airflow()
    assert image == f"apache/airflow:{version}-python{python}"
    assert f"apache-airflow=={version}" in pip
    constraint = pip[pip.index("--constraint") + 1]
    assert constraint == (
        f"https://raw.githubusercontent.com/apache/airflow/constraints-{version}/constraints-{python}.txt"
    )
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{args["PLUGINS_VERSION"]}"' in pyproject
    (ours,) = [word for word in pip if word.startswith("airflow-platform-plugins[")]
    for extra in re.findall(r"\[(.*)\]", ours)[0].split(","):
        assert re.search(rf"^{extra} = ", pyproject, re.MULTILINE), f"no extra {extra!r}"


def stand_in_constraints() -> Path:
    """The vendored stand-in for Airflow's file (see its header), for the Dockerfile's versions."""
    args, _, _ = dockerfile()
    path = CONSTRAINTS / f"constraints-{args['AIRFLOW_VERSION']}-{args['PYTHON_VERSION']}.txt"
    header = path.read_text()
    assert f"# airflow-version: {args['AIRFLOW_VERSION']}\n" in header
    assert f"# python-version: {args['PYTHON_VERSION']}\n" in header
    assert f"\napache-airflow=={args['AIRFLOW_VERSION']}\n" in header
    return path


def test_the_pip_line_installs_in_a_clean_virtualenv_with_the_constraints(tmp_path: Path) -> None:
    args, _, pip = dockerfile()
    assert sys.version_info[:2] == tuple(int(p) for p in args["PYTHON_VERSION"].split("."))
    constraints = stand_in_constraints()
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    # This checkout stands in for the released package of the same version.
    name = "airflow-platform-plugins"
    requirements = [
        f"{name}{word.removeprefix(name).split('==')[0]} @ {ROOT.as_uri()}"
        if word.startswith(f"{name}[")
        else word
        for word in pip
    ]
    requirements[requirements.index("--constraint") + 1] = str(constraints)
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *requirements],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert installed.returncode == 0, installed.stderr[-4000:]
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze"], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    pins = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in constraints.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    versions = {
        line.split("==")[0].lower(): line.split("==")[1] for line in frozen.splitlines() if "==" in line
    }
    changed = {
        name: (pins[name], versions[name])
        for name in pins
        if name in versions and versions[name] != pins[name]
    }
    assert changed == {}, "pip moved a constrained package"
    assert versions["apache-airflow"] == args["AIRFLOW_VERSION"]
    for module in ("boto3", "google.cloud.storage", "elasticsearch", "jwt", "airflow.providers.fab"):
        imported = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, text=True, timeout=300
        )
        assert imported.returncode == 0, imported.stderr[-2000:]
    plugin = subprocess.run(
        [
            python,
            "-c",
            "import airflow_platform_plugins.logging_config, airflow_platform_plugins.auth.middleware",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plugin.returncode == 0, plugin.stderr[-2000:]


def test_the_combined_values_validate_against_the_chart_schema() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    layers = [yaml.safe_load((ROOT / "helm-values" / name).read_text()) for name in COMBINED]
    example = yaml.safe_load((EXAMPLES / "values.yaml").read_text())
    combined = defaults
    for layer in [*layers, example]:
        assert not set(layer) - set(defaults), f"keys the chart does not have: {set(layer) - set(defaults)}"
        combined = merge(combined, layer)
    jsonschema.Draft7Validator(schema).validate(combined)
    version = dockerfile()[0]["AIRFLOW_VERSION"]
    assert combined["images"]["airflow"]["tag"] == combined["defaultAirflowTag"] == version
    assert combined["airflowVersion"] == version
    assert combined["images"]["airflow"]["repository"] == combined["defaultAirflowRepository"]
    # What each layer brings survives the merge: the log settings, the sign-on and the mappings.
    assert combined["config"]["logging"]["logging_config_class"].startswith("airflow_platform_plugins.")
    assert "JwtHeaderSecurityManager" in combined["apiServer"]["apiServerConfig"]
    assert combined["statsd"]["extraMappings"] == layers[2]["statsd"]["extraMappings"]
