"""The package's shape: small modules (the option registry excepted); import layers are checked in lint."""

from __future__ import annotations

from pathlib import Path

import airflow_platform_plugins

MAX_LINES = 400
EXEMPT = {"options.py"}  # the registry of every option, with its text: long by nature


def test_no_module_is_over_the_size_limit() -> None:
    root = Path(airflow_platform_plugins.__file__).parent
    sizes = {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for path in root.rglob("*.py")
        if path.name not in EXEMPT
    }
    assert len(sizes) > 40
    too_big = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert too_big == {}
