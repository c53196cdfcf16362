"""The shipped mappings in a real statsd_exporter: every metric the package sends comes out labelled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import statsd

from tests.harness.metric_names import emitted, mapped, mappings
from tests.harness.statsd_exporter import StatsdExporter, parse_samples
from tests.harness.tasklog import wait_for


@pytest.fixture(scope="module")
def exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StatsdExporter]:
    server = StatsdExporter(tmp_path_factory.mktemp("statsd-exporter"), mappings())
    try:
        yield server
    finally:
        server.stop()


def test_every_metric_comes_out_as_its_labelled_series(exporter: StatsdExporter) -> None:
    # Sent the way Airflow's StatsD logger sends them: the `statsd` client, timers as timedelta.
    client = statsd.StatsClient("127.0.0.1", exporter.statsd_port)
    names = emitted()
    for name, kind in names.items():
        if kind == "incr":
            client.incr(name, 3)
        else:
            client.timing(name, timedelta(milliseconds=250))

    def series_of_every_name() -> bool:
        samples = exporter.samples()
        return all(_found(samples, name, kind) for name, kind in names.items())

    wait_for(series_of_every_name, timeout=30, what="every mapped series on /metrics")
    assert "inconsistent" not in exporter.log_text().lower(), exporter.log_text()[-2000:]


def _found(samples: list[tuple[str, dict[str, str], float]], name: str, kind: str) -> bool:
    result = mapped(name)
    assert result is not None
    prometheus_name, labels = result

    def value(wanted: str) -> float | None:
        found = [v for n, have, v in samples if n == wanted and have == labels]
        return found[0] if len(found) == 1 else None

    if kind == "incr":
        return value(prometheus_name) == 3
    # Timers arrive in milliseconds and come out in seconds.
    count, total = value(f"{prometheus_name}_count"), value(f"{prometheus_name}_sum")
    return count is not None and total is not None and count >= 1 and abs(total / count - 0.25) < 1e-9


def test_parse_samples() -> None:
    text = '# HELP x y\nx_total{a="1",b="q\\"r"} 3\nplain 1.5e+00\n'
    assert parse_samples(text) == [("x_total", {"a": "1", "b": 'q\\"r'}, 3.0), ("plain", {}, 1.5)]


def test_the_mapping_file_is_the_shipped_one(exporter: StatsdExporter) -> None:
    import yaml

    assert yaml.safe_load(Path(exporter.mapping_file).read_text())["mappings"] == mappings()
