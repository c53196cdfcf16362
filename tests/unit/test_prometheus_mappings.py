"""The shipped statsd-exporter mappings cover every metric the package sends, with consistent labels."""

from __future__ import annotations

import pytest

from tests.harness.metric_names import REFUSAL_REASONS, emitted, mapped, mappings

EMITTED = emitted()


def test_the_source_scan_finds_the_metrics() -> None:
    assert "airflow.remote_task_log.bytes_shipped" in EMITTED
    assert "airflow.remote_task_log.es_elasticsearch_duration" in EMITTED
    assert "airflow.platform_auth.refused.expired" in EMITTED
    assert EMITTED["airflow.platform_auth.verify_duration"] == "timing"


@pytest.mark.parametrize("name", sorted(EMITTED))
def test_every_metric_is_mapped_to_a_labelled_series(name: str) -> None:
    result = mapped(name)
    assert result is not None, f"{name} has no mapping in helm-values/airflow-prometheus-metrics.yaml"
    prometheus_name, labels = result
    assert prometheus_name.startswith(("airflow_task_log_", "airflow_sign_on_"))
    if EMITTED[name] == "timing":
        assert prometheus_name.endswith("_seconds")
    else:
        assert prometheus_name.endswith("_total")
    assert all(value and "$" not in value for value in labels.values()), labels


def test_one_prometheus_name_has_one_label_set() -> None:
    # statsd_exporter drops a sample whose label names differ from the first one of its metric.
    label_names: dict[str, set[frozenset[str]]] = {}
    for rule in mappings():
        label_names.setdefault(rule["name"], set()).add(frozenset(rule.get("labels", {})))
    assert {name: sets for name, sets in label_names.items() if len(sets) > 1} == {}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "airflow.remote_task_log.uploads_left_pending",
            {"backend": "object_store", "outcome": "left_pending"},
        ),
        ("airflow.remote_task_log.es_stdout_documents", {"backend": "elasticsearch_stdout"}),
        ("airflow.platform_auth.refused.unknown_key", {"outcome": "refused", "reason": "unknown_key"}),
        ("airflow.platform_auth.admitted", {"outcome": "admitted", "reason": "none"}),
    ],
)
def test_labels(name: str, expected: dict[str, str]) -> None:
    result = mapped(name)
    assert result is not None
    assert result[1] == expected


def test_every_refusal_reason_is_a_label_value() -> None:
    for reason in REFUSAL_REASONS:
        assert mapped(f"airflow.platform_auth.refused.{reason}") == (
            "airflow_sign_on_requests_total",
            {"outcome": "refused", "reason": reason},
        )


def test_other_names_are_left_to_the_charts_defaults() -> None:
    assert mapped("airflow.dag.example.task.duration") is None
    assert mapped("airflow.remote_task_log.bytes_shipped_extra") is None


def test_the_grafana_dashboard_queries_only_mapped_series() -> None:
    import json
    import re

    from tests.harness.metric_names import ROOT

    dashboard = json.loads((ROOT / "docs" / "examples" / "grafana-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for query in queries for name in re.findall(r"\b(airflow_[a-z_]+)", query)}
    produced = {rule["name"] for rule in mappings()}
    histograms = {rule["name"] for rule in mappings() if rule.get("observer_type") == "histogram"}
    allowed = produced | {f"{name}_{part}" for name in histograms for part in ("bucket", "sum", "count")}
    assert used
    assert used <= allowed
    assert {re.sub(r"_(bucket|sum|count)$", "", name) for name in used} >= produced, (
        "a mapped series no panel shows"
    )
