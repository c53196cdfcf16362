"""Benchmark results as JSON: one file per section in benchmarks/results/, read by ``benchmarks.plots``.

Each run of a section replaces that section's file; the other sections' files stay. A file records
when and where it was measured (CPUs, load average before and after) beside the results.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


class Recorder:
    """Collects one section at a time and writes it when the section ends."""

    def __init__(self, folder: Path = RESULTS, args: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.args = args or {}
        self._started: dict[str, tuple[float, tuple[float, float, float]]] = {}

    def start(self, section: str) -> None:
        self._started[section] = (time.time(), os.getloadavg())

    def write(self, section: str, results: Any) -> Path:
        started, load_before = self._started.pop(section, (time.time(), os.getloadavg()))
        document = {
            "section": section,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(time.time() - started, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            },
            "args": self.args,
            "results": _plain(results),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{section}.json"
        path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
        print(f"(results written to {path.relative_to(self.folder.parent.parent)})")
        return path


def _plain(value: Any) -> Any:
    """Dataclasses (and lists and dicts of them) as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)  # JSON has no NaN (a failed contender)
    return value


def load(folder: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every section's last results, by section name."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
