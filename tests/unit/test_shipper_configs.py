"""The Fluent Bit and Fluentd values in helm-values/ fit their charts, contain every configuration line
the shipping harness stands for, and agree with the Airflow values on index names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.helm import merge
from tests.harness.shipping import FLAVOURS, FLUENT_BIT, FLUENTD, INDEX_PREFIX, STEPS

ROOT = Path(__file__).parents[2]
CHARTS = ROOT / "tests" / "data" / "fluent-charts"
VALUES = {
    FLUENT_BIT: ROOT / "helm-values" / "fluent-bit-airflow-logs.yaml",
    FLUENTD: ROOT / "helm-values" / "fluentd-airflow-logs.yaml",
}
FREE_FORM = {("fileConfigs",), ("config", "extraFiles")}  # maps of file names to contents


def defaults(flavour: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CHARTS / flavour / "values.yaml").read_text()))


def values(flavour: str) -> dict[str, Any]:
    return dict(yaml.safe_load(VALUES[flavour].read_text()))


def unknown_keys(chart: dict[str, Any], ours: dict[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    out = []
    for key, value in ours.items():
        here = (*path, key)
        if here[:-1] in FREE_FORM:
            continue
        if key not in chart:
            out.append(".".join(here))
        elif isinstance(value, dict) and isinstance(chart[key], dict):
            out += unknown_keys(chart[key], value, here)
    return out


def config_text(flavour: str) -> str:
    merged = merge(defaults(flavour), values(flavour))
    parts = merged["config"].values() if flavour == FLUENT_BIT else merged["fileConfigs"].values()
    return "\n".join(p for p in parts if isinstance(p, str))


def lines(text: str) -> list[str]:
    return [
        " ".join(line.split())
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_values_only_use_keys_the_chart_has(flavour: str) -> None:
    assert unknown_keys(defaults(flavour), values(flavour)) == []


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_configs_contain_every_line_the_harness_stands_for(flavour: str) -> None:
    configured = set(lines(config_text(flavour)))
    missing = [line for step in STEPS.values() for line in step[flavour] if line not in configured]
    assert missing == []


def fluent_bit_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for line in lines(text):
        if line.startswith("["):
            sections.append((line.strip("[]"), {}))
        elif sections:
            key, _, value = line.partition(" ")
            sections[-1][1][key] = value
    return sections


def test_fluent_bit_tags_airflow_lines_after_merging_them_and_sends_them_to_the_daily_indices() -> None:
    sections = fluent_bit_sections(config_text(FLUENT_BIT))
    filters = [body for kind, body in sections if kind == "FILTER"]
    names = [body["Name"] for body in filters]
    assert names.index("kubernetes") < names.index("rewrite_tag"), "log_id exists only after Merge_Log"
    (airflow,) = [body for kind, body in sections if kind == "OUTPUT" and body.get("Match") == "airflow.*"]
    assert airflow["Name"] == "es"
    assert airflow["Logstash_Prefix"] == INDEX_PREFIX
    other_outputs = [body["Match"] for kind, body in sections if kind == "OUTPUT" and body is not airflow]
    assert "kube.*" in other_outputs, "the cluster's other container logs still go where they went"


def test_fluentd_parses_and_filters_airflow_lines_in_order() -> None:
    text = config_text(FLUENTD)
    label = re.search(r"<label @AIRFLOW>(.*?)\n</label>", text, re.S)
    assert label, "the @AIRFLOW label"
    steps = [
        'pattern /"log_id":/',
        "@type parser",
        "key log_id",
        "@type elasticsearch_genid",
        "@type elasticsearch",
    ]
    body = lines(label.group(1))
    positions = [body.index(step) for step in steps]
    assert positions == sorted(positions)
    kubernetes = re.search(r"<label @KUBERNETES>(.*?)\n</label>", text, re.S)
    assert kubernetes
    k8s = lines(kubernetes.group(1))
    assert k8s.index("@type kubernetes_metadata") < k8s.index("@label @AIRFLOW"), "metadata first"


def test_the_airflow_values_read_the_indices_the_shippers_write() -> None:
    airflow = yaml.safe_load((ROOT / "helm-values" / "airflow-elasticsearch-logs.yaml").read_text())
    es = airflow["config"]["elasticsearch"]
    assert es["index_patterns"] == f"{INDEX_PREFIX}-*"
    assert es["write_stdout"] == "True"
    assert airflow["elasticsearch"]["enabled"] is True
