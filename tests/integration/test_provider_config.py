"""``airflow config list`` (the real command, a fresh AIRFLOW_HOME) shows ``[platform_logging]``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from airflow_platform_plugins import options

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def airflow(tmp_path: Path, *args: str, **env_overrides: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), **env_overrides)
    result = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_config_list_shows_our_section_with_defaults_and_descriptions(tmp_path: Path) -> None:
    out = airflow(
        tmp_path, "config", "list", "--section", options.SECTION, "--include-descriptions", "--show-values"
    )
    assert f"[{options.SECTION}]" in out
    for option in (options.FLUSH_INTERVAL, options.UPLOAD_CONCURRENCY, options.ES_INSTALL_TEMPLATE):
        assert f"{option.key} = {option.default}" in out
        assert option.description.split(". ")[0] in " ".join(out.split())


def test_airflow_reads_our_defaults_and_the_environment(tmp_path: Path) -> None:
    assert airflow(tmp_path, "config", "get-value", options.SECTION, "flush_interval").strip() == "3"
    overridden = airflow(
        tmp_path,
        "config",
        "get-value",
        options.SECTION,
        "flush_interval",
        **{options.FLUSH_INTERVAL.env_var: "7"},
    )
    assert overridden.strip() == "7"
