"""Write a realistic Airflow task log (JSON lines like the supervisor writes) of a given size."""

from __future__ import annotations

import json
import random
from pathlib import Path

_WORDS = (
    "airflow",
    "task",
    "log",
    "line",
    "processing",
    "records",
    "batch",
    "upload",
    "retry",
    "sensor",
    "poke",
)


def _timestamp(n: int) -> str:
    seconds = n // 1000
    hours, minutes = seconds // 3600 % 24, seconds // 60 % 60
    return f"2026-01-01T{hours:02d}:{minutes:02d}:{seconds % 60:02d}.{n % 1000:03d}000Z"


def write_log(path: Path, size: int, seed: int = 7) -> None:
    """Write at least ``size`` bytes of JSON log lines to ``path``; lines vary in length and content."""
    rng = random.Random(seed)
    templates = []
    for i in range(4096):
        event = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 30)))
        level = rng.choice(["info", "info", "info", "warning"])
        logger = rng.choice(["task.stdout", "airflow.task", "e2e"])
        templates.append({"level": level, "event": f"{event} #{i}", "logger": logger})
    path.parent.mkdir(parents=True, exist_ok=True)
    written = n = 0
    with open(path, "wb", buffering=1 << 20) as f:
        while written < size:
            line = json.dumps({"timestamp": _timestamp(n), **templates[n % len(templates)]}).encode() + b"\n"
            f.write(line)
            written += len(line)
            n += 1
