"""The metric names this package sends, found in its source, and the shipped Prometheus mappings."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import yaml

from airflow_platform_plugins.auth import metrics as auth_metrics
from airflow_platform_plugins.task_logs.common import metrics as log_metrics

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "airflow_platform_plugins"
METRICS_VALUES = ROOT / "helm-values" / "airflow-prometheus-metrics.yaml"
STATSD_PREFIX = "airflow"

# What the placeholders of f-string metric names take. A new placeholder fails the unit test until it
# is listed here (and so until the mappings are checked for its values).
REFUSAL_REASONS = (
    *(name for _, name in auth_metrics._REASONS),
    "unavailable",
    "forbidden",
    "claims",
    "malformed",
    "invalid",
)
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "metrics.refusal_reason(exc)": REFUSAL_REASONS,
    "sink.name": ("stdout", "elasticsearch"),
}
_CALL = re.compile(r"metrics\.(?P<kind>incr|timing)\(\s*(?P<f>f?)\"(?P<name>[^\"]+)\"")
_PREFIXES = {"auth": auth_metrics.PREFIX, "task_logs": log_metrics.PREFIX}


def emitted() -> dict[str, str]:
    """Every full StatsD name the package sends (``airflow.<prefix>.<name>``) -> ``incr`` or ``timing``."""
    names: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0]
        if part not in _PREFIXES:
            continue
        for call in _CALL.finditer(path.read_text(encoding="utf-8")):
            pieces = re.split(r"\{([^}]*)\}", call["name"]) if call["f"] else [call["name"]]
            choices = [
                (piece,) if i % 2 == 0 else PLACEHOLDERS[piece]  # KeyError: list the new placeholder above
                for i, piece in enumerate(pieces)
            ]
            for combination in itertools.product(*choices):
                names[f"{STATSD_PREFIX}.{_PREFIXES[part]}.{''.join(combination)}"] = call["kind"]
    return names


def mappings() -> list[dict[str, Any]]:
    """The chart's ``statsd.extraMappings`` as shipped."""
    return list(yaml.safe_load(METRICS_VALUES.read_text(encoding="utf-8"))["statsd"]["extraMappings"])


def mapped(name: str) -> tuple[str, dict[str, str]] | None:
    """What the first matching mapping makes of ``name``: the Prometheus name and labels."""
    for rule in mappings():
        assert rule.get("match_type") == "regex", rule
        match = re.match(rule["match"], name)
        if match is not None:
            labels = {
                key: match.expand(str(value).replace("$", "\\"))
                for key, value in rule.get("labels", {}).items()
            }
            return rule["name"], labels
    return None
