"""Live latency: how long after a task logs a line it is visible through ``/api/v2``.

For S3 (moto server), GCS (fake-gcs-server) and Elasticsearch (a real node; ``write_stdout`` with the
Fluent Bit steps of tests/harness/shipping.py polling the worker's stdout every second, as the
shipped values flush, and ``write_to_es``): a real Airflow runs a task that logs a line every
``interval`` seconds, and a client polls the task's log through the api-server, which has no access
to the worker's files or log server. A line's latency is the time the client first saw it minus the
timestamp Airflow gave it. The package's default ``flush_interval`` (3 s) applies.

The providers' handlers ship a try's log when the try ends, so for them a line is visible at the
earliest at the try's end: ``provider_seconds`` is the median, over the same lines, of the try's end
minus the line's timestamp (derived from this run, not a run of the providers).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.harness.airflow import AirflowDeployment
from tests.harness.processes import free_port
from tests.harness.stores import settings

DAGS = Path(__file__).resolve().parents[1] / "tests" / "e2e" / "dags"
BUCKET = "airflow-logs"
SHIPPED_PREFIX = "airflow-logs"
DIRECT_INDEX = "direct-logs"


@dataclass
class LiveResult:
    backend: str
    lines: int
    seen_while_running: int
    p50: float
    p95: float
    max: float
    provider_seconds: float
    provider_max: float
    poll_interval: float


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _timestamp(value: Any) -> float:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def measure(airflow: AirflowDeployment, backend: str, lines: int, interval: float, poll: float) -> LiveResult:
    """Run the task once and poll its log until every line was seen (or a deadline passes)."""
    prefix = f"live{backend.replace('_', '')}"
    run = airflow.trigger("chatty", conf={"lines": lines, "interval": interval, "prefix": prefix})
    airflow.wait_task_state("chatty", run, "talk", ["running"], timeout=300)
    seen: dict[str, float] = {}
    stamps: dict[str, float] = {}
    running_at_sight: dict[str, bool] = {}
    deadline = time.monotonic() + lines * interval + 180
    state = "running"
    while len(seen) < lines and time.monotonic() < deadline:
        entries = airflow.read_log("chatty", run, "talk")
        now = time.time()
        for entry in entries:
            event = str(entry.get("event", ""))
            if event.startswith(f"{prefix}-") and event not in seen and entry.get("timestamp"):
                seen[event], stamps[event] = now, _timestamp(entry["timestamp"])
                running_at_sight[event] = state == "running"
        state = airflow.task_instance("chatty", run, "talk")["state"]
        time.sleep(poll)
    airflow.wait_run("chatty", run)
    end = _timestamp(airflow.task_instance("chatty", run, "talk")["end_date"])
    if len(seen) < lines:
        raise RuntimeError(f"{backend}: saw {len(seen)} of {lines} lines")
    latencies = [seen[e] - stamps[e] for e in seen]
    provider = [max(0.0, end - stamps[e]) for e in seen]
    return LiveResult(
        backend=backend,
        lines=lines,
        seen_while_running=sum(running_at_sight.values()),
        p50=statistics.median(latencies),
        p95=_percentile(latencies, 0.95),
        max=max(latencies),
        provider_seconds=statistics.median(provider),
        provider_max=max(provider),
        poll_interval=poll,
    )


@contextmanager
def _deployment(home: Path, backend_settings: dict[str, str]) -> Iterator[AirflowDeployment]:
    closed = str(free_port())
    airflow = AirflowDeployment(
        home,
        dags=[DAGS / "log_dags.py"],
        settings={**backend_settings, "AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN": r"^[^\x00-\x1f]+$"},
        component_settings={
            # The api-server sees only the store: its own empty log folder, no route to the worker.
            "api-server": {
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "api-server-logs"),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": closed,
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": closed,
            }
        },
    )
    try:
        airflow.start()
        yield airflow
    finally:
        airflow.stop()


def _object_store(backend: str, workdir: Path) -> AbstractContextManager[dict[str, str]]:
    @contextmanager
    def store() -> Iterator[dict[str, str]]:
        if backend == "s3":
            from tests.harness.moto import MotoServer

            moto = MotoServer(workdir)
            moto.client().create_bucket(Bucket=BUCKET)
            try:
                yield settings(f"s3://{BUCKET}/logs", moto.connection())
            finally:
                moto.stop()
        else:
            from tests.harness.gcs import FakeGCSServer

            server = FakeGCSServer(workdir)
            server.client().create_bucket(BUCKET)
            try:
                yield {**settings(f"gs://{BUCKET}/logs", conn_id=""), "STORAGE_EMULATOR_HOST": server.url}
            finally:
                server.stop()

    return store()


def live_section(
    workdir: Path, backends: list[str], lines: int, interval: float, poll: float
) -> list[LiveResult]:
    """Measure each backend in turn (one Airflow each); the Elasticsearch ones share one node."""
    results: list[LiveResult] = []
    for backend in (b for b in backends if b in ("s3", "gcs")):
        with (
            _object_store(backend, workdir / backend) as store_settings,
            _deployment(workdir / f"airflow-{backend}", store_settings) as airflow,
        ):
            results.append(measure(airflow, backend, lines, interval, poll))
    es_backends = [b for b in backends if b.startswith("es_")]
    if es_backends:
        results += _es_backends(workdir, es_backends, lines, interval, poll)
    return results


def _es_backends(
    workdir: Path, backends: list[str], lines: int, interval: float, poll: float
) -> list[LiveResult]:
    from airflow_platform_plugins.task_logs.es import template
    from tests.harness.elasticsearch import ElasticsearchNode
    from tests.harness.shipping import FLUENT_BIT, FluentShipper, StdoutFollower

    node = ElasticsearchNode(heap="512m")
    client = node.client()
    results: list[LiveResult] = []
    try:
        body = template.index_template(
            [f"{SHIPPED_PREFIX}-*", f"{DIRECT_INDEX}*"], settings={"number_of_replicas": 0}
        )
        template.install(client, body)
        common = {
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__ELASTICSEARCH__HOST": node.url,
            "AIRFLOW__ELASTICSEARCH__INDEX_PATTERNS": f"{SHIPPED_PREFIX}-*,{DIRECT_INDEX}*",
            "AIRFLOW__ELASTICSEARCH__TARGET_INDEX": DIRECT_INDEX,
        }
        modes = {
            "es_stdout": {"AIRFLOW__ELASTICSEARCH__WRITE_STDOUT": "True"},
            "es_direct": {
                "AIRFLOW__ELASTICSEARCH__WRITE_STDOUT": "False",
                "AIRFLOW__ELASTICSEARCH__WRITE_TO_ES": "True",
            },
        }
        for backend in backends:
            with _deployment(workdir / f"airflow-{backend}", {**common, **modes[backend]}) as airflow:
                followers: list[StdoutFollower] = []
                if backend == "es_stdout":
                    shipper = FluentShipper(client, FLUENT_BIT, index_prefix=SHIPPED_PREFIX)
                    run = airflow.home / "run"
                    # Fluent Bit flushes every second in helm-values/fluent-bit-airflow-logs.yaml.
                    followers = [
                        StdoutFollower(shipper, run / f"{n}.log", interval=1.0)
                        for n in ("scheduler", "triggerer")
                    ]
                try:
                    results.append(measure(airflow, backend, lines, interval, poll))
                finally:
                    for follower in followers:
                        follower.stop()
    finally:
        client.close()
        node.stop()
    return results


def print_live_table(results: list[LiveResult]) -> None:
    print("\n## Live latency: line logged -> visible through /api/v2\n")
    print(
        "| backend | lines | seen while running | p50 s | p95 s | max s "
        "| provider (try's end), median s | provider max s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.backend} | {r.lines} | {r.seen_while_running} | {r.p50:.2f} | {r.p95:.2f} | {r.max:.2f} "
            f"| {r.provider_seconds:.2f} | {r.provider_max:.2f} |"
        )
    print()
