"""The package's Airflow plugin, as Airflow loads it from the entry point in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json
from airflow import plugins_manager
apps, middlewares = plugins_manager.get_fastapi_plugins()
names = [p.name for p in plugins_manager._get_plugins()[0]]
print(json.dumps({
    "plugins": names,
    "middlewares": [f"{m['middleware'].__module__}.{m['middleware'].__name__}" for m in middlewares],
}))
"""


def test_the_entry_point_registers_the_sign_on_middleware(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__PLUGINS_FOLDER=str(tmp_path / "plugins"))
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert "airflow_platform_plugins" in found["plugins"]
    assert found["middlewares"] == ["airflow_platform_plugins.auth.middleware.JwtHeaderMiddleware"]


def test_importing_the_plugin_stays_light() -> None:
    probe = (
        "import sys\nimport airflow_platform_plugins.auth.middleware\n"
        "print(sorted(m for m in ('jwt', 'flask', 'flask_appbuilder', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
