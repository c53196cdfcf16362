"""Prometheus's statsd_exporter (built from the Go module proxy) on 127.0.0.1, as the chart runs it."""

from __future__ import annotations

import re
import signal
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.harness.prerequisites import go_binary, require
from tests.harness.processes import ManagedProcess, free_port, wait_http

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def parse_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition: (name, labels, value)."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        labels = {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}
        samples.append((match["name"], labels, float(match["value"])))
    return samples


class StatsdExporter:
    """One statsd_exporter process with ``mappings`` (the chart's ``statsd.extraMappings`` list)."""

    def __init__(self, home: Path, mappings: Sequence[Mapping[str, Any]]) -> None:
        require("statsd_exporter")
        home.mkdir(parents=True, exist_ok=True)
        self.statsd_port = free_port()  # UDP; a TCP-free port is free for UDP in practice, checked below
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.mapping_file = home / "mappings.yml"
        self.mapping_file.write_text(yaml.safe_dump({"mappings": list(mappings)}, sort_keys=False))
        self.process = ManagedProcess(
            [
                str(go_binary("statsd_exporter")),
                f"--statsd.mapping-config={self.mapping_file}",
                f"--statsd.listen-udp=127.0.0.1:{self.statsd_port}",
                "--statsd.listen-tcp=",
                f"--web.listen-address=127.0.0.1:{self.web_port}",
            ],
            home / "statsd_exporter.log",
        )
        wait_http(f"{self.url}/metrics", proc=self.process, timeout=60, ok=lambda status: status == 200)

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        """Every sample on ``/metrics`` now."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            return parse_samples(response.read().decode())

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples named ``name`` whose labels include ``labels`` (0 if there is none)."""
        return sum(
            value
            for sample, have, value in self.samples()
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    def log_text(self) -> str:
        return self.process.log_text()

    def stop(self) -> None:
        self.process.stop(signal.SIGTERM, timeout=10)
