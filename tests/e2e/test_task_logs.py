"""Task logs on a real Airflow 3 with a real store server: every acceptance point, once per backend."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text
from tests.e2e.conftest import FLUSH_INTERVAL
from tests.e2e.dags import log_dags
from tests.harness import metric_names
from tests.harness.airflow import AirflowDeployment, display_order, events, log_sources
from tests.harness.statsd import StatsdListener
from tests.harness.statsd_exporter import StatsdExporter
from tests.harness.stores import StoreServer, stored_stream_bytes
from tests.harness.tasklog import assert_every_line_once_in_order, numbered, wait_for

pytestmark = pytest.mark.airflow


def relative_path(dag_id: str, run_id: str, task_id: str, attempt: int = 1, map_index: int = -1) -> str:
    mapped = f"map_index={map_index}/" if map_index >= 0 else ""
    return f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/{mapped}attempt={attempt}.log"


def log_prefix(store: StoreServer, rel: str) -> str:
    return keys.log_key(store.prefix, rel)


def the_stream(store: StoreServer, rel: str) -> bytes:
    streams = stored_stream_bytes(store, log_prefix(store, rel))
    assert len(streams) == 1, f"expected one stream, found {sorted(streams)}"
    return next(iter(streams.values()))


def wait_stored(deployment: AirflowDeployment, store: StoreServer, rel: str, timeout: float = 30) -> bytes:
    """Wait until the store holds the whole local log and its triggerer logs; return the local bytes.

    Airflow marks a try successful before its supervisor uploads the log, so a test that reads the
    store, or deletes local files, right after the run succeeded would race the final upload.
    """
    local = deployment.log_folder / rel
    deadline = time.monotonic() + timeout
    while True:
        parts = [
            rel,
            *(rel + f.name[len(local.name) :] for f in local.parent.glob(local.name + ".trigger.*.log")),
        ]
        pending = [p for p in parts if not _stream_equals(store, p, (deployment.log_folder / p).read_bytes())]
        if not pending:
            return local.read_bytes()
        if time.monotonic() > deadline:
            raise AssertionError(f"the store does not hold all of {pending} after {timeout}s")
        time.sleep(0.5)


def _stream_equals(store: StoreServer, rel: str, data: bytes) -> bool:
    streams = stored_stream_bytes(store, log_prefix(store, rel))
    return len(streams) == 1 and next(iter(streams.values())) == data


def shown(data: bytes, prefix: str, count: int | None = None) -> list[str]:
    """The first ``count`` ``prefix-`` lines of a local log, in the order Airflow shows them."""
    return display_order([line for line in data.splitlines() if f'"{prefix}' in line.decode()][:count])


def assert_only_store_sources(store: StoreServer, entries: list[dict[str, object]]) -> None:
    sources = log_sources(entries)
    remote = [s for s in sources if s.startswith(f"{store.remote_base.split('://')[0]}://")]
    assert remote, sources
    local = [s for s in sources if s.startswith("/")]
    assert not local, f"the api-server read local files: {local}"
    served = [s for s in sources if s.startswith("http")]
    assert not served, f"the api-server read the worker's log server: {served}"


def test_log_is_read_back_from_store_after_local_folder_is_deleted(
    logs_airflow: AirflowDeployment, store_server: StoreServer
) -> None:
    run = logs_airflow.trigger("chatty", conf={"lines": 50, "interval": 0.01, "prefix": "gone"})
    assert logs_airflow.wait_run("chatty", run) == "success"
    local = wait_stored(logs_airflow, store_server, relative_path("chatty", run, "talk"))
    shutil.rmtree(logs_airflow.log_folder / "dag_id=chatty" / f"run_id={run}")

    entries = logs_airflow.read_log("chatty", run, "talk")

    assert_only_store_sources(store_server, entries)
    read_back = [e for e in events(entries) if e.startswith("gone-")]
    assert read_back == shown(local, "gone-")
    assert sorted(read_back) == numbered("gone", 50)


def test_shipping_metrics_reach_airflows_statsd(
    logs_airflow: AirflowDeployment, store_server: StoreServer, statsd: StatsdListener
) -> None:
    # Only the scheduler (its LocalExecutor workers ship) sends metrics, and only for this test: with
    # statsd on, Airflow 3.3.2 cannot schedule DAGs whose id is not ASCII (InvalidStatsNameException).
    statsd_settings = {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }
    shipped = "airflow.remote_task_log.bytes_shipped"
    logs_airflow.restart_component("scheduler", statsd_settings)
    try:
        completed = "airflow.remote_task_log.uploads_completed"
        before = statsd.counter(shipped)
        completed_before = statsd.counter(completed)
        run = logs_airflow.trigger("chatty", conf={"lines": 20, "interval": 0.05, "prefix": "metrics"})
        assert logs_airflow.wait_run("chatty", run) == "success"
        size = len((logs_airflow.log_folder / relative_path("chatty", run, "talk")).read_bytes())
        # The upload's outcome is counted after its bytes: wait for both.
        wait_for(
            lambda: statsd.counter(shipped) - before >= size and statsd.counter(completed) > completed_before,
            timeout=30,
            what="bytes_shipped and uploads_completed",
        )
    finally:
        logs_airflow.restart_component("scheduler", {})
    assert statsd.counter("airflow.remote_task_log.chunks_shipped") >= 1


def test_shipping_metrics_reach_prometheus_through_the_charts_statsd_exporter(
    logs_airflow: AirflowDeployment, store_server: StoreServer, tmp_path: Path
) -> None:
    # The statsd_exporter the official chart runs, with the mappings of
    # helm-values/airflow-prometheus-metrics.yaml; a real task's shipping metrics come out labelled.
    exporter = StatsdExporter(tmp_path / "statsd-exporter", metric_names.mappings())
    statsd_settings = {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(exporter.statsd_port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }
    shipped = ("airflow_task_log_bytes_shipped_total", {"backend": "object_store"})
    logs_airflow.restart_component("scheduler", statsd_settings)
    try:
        run = logs_airflow.trigger("chatty", conf={"lines": 20, "interval": 0.05, "prefix": "prometheus"})
        assert logs_airflow.wait_run("chatty", run) == "success"
        size = len((logs_airflow.log_folder / relative_path("chatty", run, "talk")).read_bytes())
        wait_for(lambda: exporter.value(shipped[0], **shipped[1]) >= size, timeout=30, what="bytes_shipped")
        # The upload's outcome is counted after its bytes (when the supervisor's upload returns): wait for
        # it too rather than read the exporter at the first moment the bytes add up.
        completed = ("airflow_task_log_uploads_total", {"backend": "object_store", "outcome": "completed"})
        wait_for(
            lambda: exporter.value(completed[0], **completed[1]) >= 1, timeout=30, what="uploads completed"
        )
        samples = exporter.samples()
    finally:
        logs_airflow.restart_component("scheduler", {})
        exporter.stop()

    def labelled(name: str) -> list[dict[str, str]]:
        return [labels for n, labels, _ in samples if n == name]

    assert completed[1] in labelled(completed[0])
    assert labelled("airflow_task_log_chunks_shipped_total") == [{"backend": "object_store"}]
    assert {"backend": "object_store"} in labelled("airflow_task_log_write_duration_seconds_count")
    # Nothing of ours came out under a name of its own (an unmapped StatsD name).
    assert [n for n, _, _ in samples if n.startswith("airflow_remote_task_log")] == []


def test_running_task_log_is_read_from_store(
    logs_airflow: AirflowDeployment, store_server: StoreServer
) -> None:
    run = logs_airflow.trigger("chatty", conf={"lines": 80, "interval": 0.25, "prefix": "live"})
    logs_airflow.wait_task_state("chatty", run, "talk", ["running"])

    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(seen) < 12:
        time.sleep(1)
        entries = logs_airflow.read_log("chatty", run, "talk")
        seen = [e for e in events(entries) if e.startswith("live-")]
    state = logs_airflow.task_instance("chatty", run, "talk")["state"]

    assert state == "running", "the task ended before the test could read its live log"
    assert len(seen) >= 12
    local = (logs_airflow.log_folder / relative_path("chatty", run, "talk")).read_bytes()
    assert seen == shown(local, "live-", len(seen))
    assert_only_store_sources(store_server, entries)
    assert not list((logs_airflow.home / "api-server-logs").rglob("*.log"))
    assert logs_airflow.wait_run("chatty", run) == "success"


def _task_processes(ti_id: str) -> tuple[int, int]:
    """(supervisor pid, task process pid) of a running task instance, found by process title."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if cmdline.strip() == f"airflow worker -- {ti_id}":
                stat = Path(entry.path, "stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                return parent, int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no task process for {ti_id}")


def _timestamps(data: bytes) -> list[tuple[datetime, bytes]]:
    out = []
    for line in data.splitlines(keepends=True):
        timestamp = json.loads(line)["timestamp"]
        out.append((datetime.fromisoformat(timestamp.replace("Z", "+00:00")), line))
    return out


def test_killed_task_loses_at_most_one_flush_interval(
    logs_airflow: AirflowDeployment, store_server: StoreServer
) -> None:
    run = logs_airflow.trigger("chatty", conf={"lines": 600, "interval": 0.05, "prefix": "kill"})
    ti = logs_airflow.wait_task_state("chatty", run, "talk", ["running"])
    time.sleep(6)
    supervisor, task = _task_processes(ti["id"])

    try:
        os.kill(supervisor, signal.SIGKILL)
        os.kill(task, signal.SIGKILL)
        killed_at = datetime.now().astimezone()
        time.sleep(1)
    finally:
        # A SIGKILLed LocalExecutor worker can leave the executor's queues unusable; like Kubernetes
        # replacing a killed pod, start a fresh scheduler for the tests that follow.
        logs_airflow.restart_component("scheduler", {})

    rel = relative_path("chatty", run, "talk")
    local = (logs_airflow.log_folder / rel).read_bytes()
    stored = the_stream(store_server, rel)
    assert local.startswith(stored), "the store must hold an exact prefix of the local log"
    older = [
        line for stamp, line in _timestamps(local) if (killed_at - stamp).total_seconds() > FLUSH_INTERVAL
    ]
    assert len(older) > 50
    missing = [line for line in older if line not in stored]
    assert not missing, f"{len(missing)} lines older than one flush interval are not in the store"


def test_reschedule_sensor_appends_each_poke_once(
    logs_airflow: AirflowDeployment, store_server: StoreServer, tmp_path: Path
) -> None:
    run = logs_airflow.trigger(
        "reschedule_sensor", conf={"counter_file": str(tmp_path / "pokes"), "pokes": 10}
    )
    assert logs_airflow.wait_run("reschedule_sensor", run, timeout=400) == "success"
    rel = relative_path("reschedule_sensor", run, "wait")
    local = wait_stored(logs_airflow, store_server, rel)

    entries = logs_airflow.read_log("reschedule_sensor", run, "wait")
    pokes = [e for e in events(entries) if e.startswith("poke-")]
    expected = [f"poke-{n:03d} line-{k}" for n in range(1, 11) for k in range(3)]
    assert pokes == expected, (
        f"missing {sorted(set(expected) - set(pokes))}, "
        f"repeated {sorted({p for p in pokes if pokes.count(p) > 1})}, sources {log_sources(entries)}"
    )

    written = store_server.bytes_written(log_prefix(store_server, rel))
    assert written <= 1.1 * len(local), f"wrote {written} bytes for a {len(local)}-byte log"


def test_deferred_task_logs_from_worker_and_triggerer(
    logs_airflow: AirflowDeployment, store_server: StoreServer
) -> None:
    run = logs_airflow.trigger("deferring")
    assert logs_airflow.wait_run("deferring", run) == "success"
    rel = relative_path("deferring", run, "defer")
    wait_stored(logs_airflow, store_server, rel)
    shutil.rmtree(logs_airflow.log_folder / "dag_id=deferring" / f"run_id={run}")

    texts = events(logs_airflow.read_log("deferring", run, "defer"))

    assert texts.index("before-defer") < texts.index("after-resume")
    assert texts.count("before-defer") == texts.count("after-resume") == 1
    assert any("trigger" in key for key, _ in store_server.objects(log_prefix(store_server, rel))), (
        "the triggerer's log was not shipped"
    )


def test_provider_written_logs_are_read(logs_airflow: AirflowDeployment, store_server: StoreServer) -> None:
    run = logs_airflow.trigger("chatty", conf={"lines": 5, "interval": 0.05, "prefix": "legacy"})
    assert logs_airflow.wait_run("chatty", run) == "success"
    rel = relative_path("chatty", run, "talk")
    content = wait_stored(logs_airflow, store_server, rel)
    key = log_prefix(store_server, rel)
    # What the providers' handlers leave behind: the whole file at {prefix}/{relative path}, and
    # triggerer logs next to it.
    store_server.delete_prefix(key)
    store_server.put(key, content)
    trigger_line = {"timestamp": "2024-01-01T00:00:00Z", "level": "info", "event": "provider-trigger-line"}
    store_server.put(f"{key}.trigger.7.log", json.dumps(trigger_line).encode() + b"\n")
    (logs_airflow.log_folder / rel).unlink()

    entries = logs_airflow.read_log("chatty", run, "talk")

    assert_every_line_once_in_order(events(entries), "legacy", 5)
    assert "provider-trigger-line" in events(entries)
    assert sorted(log_sources(entries)) == [store_server.url(key), store_server.url(f"{key}.trigger.7.log")]


def test_store_outage_for_a_whole_try_loses_nothing(
    logs_airflow: AirflowDeployment, store_server: StoreServer
) -> None:
    with store_server.outage():
        run = logs_airflow.trigger("chatty", conf={"lines": 30, "interval": 0.05, "prefix": "outage"})
        assert logs_airflow.wait_run("chatty", run) == "success"
        rel = relative_path("chatty", run, "talk")
        assert not store_server.objects(log_prefix(store_server, rel))

    following = logs_airflow.trigger("chatty", conf={"lines": 2, "interval": 0.05, "prefix": "following"})
    assert logs_airflow.wait_run("chatty", following) == "success"

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not store_server.objects(log_prefix(store_server, rel)):
        time.sleep(1)
    while (
        time.monotonic() < deadline
        and the_stream(store_server, rel) != (logs_airflow.log_folder / rel).read_bytes()
    ):
        time.sleep(1)
    local = (logs_airflow.log_folder / rel).read_bytes()
    assert the_stream(store_server, rel) == local
    entries = logs_airflow.read_log("chatty", run, "talk")
    assert_every_line_once_in_order(events(entries), "outage", 30)
    warnings = [e for e in events(entries) if e.startswith("Remote task log store unavailable")]
    assert len(warnings) == 1, warnings
    assert "Traceback" not in local.decode()


@pytest.mark.parametrize("run_id", ["run:with+plus", "rün-ünïcødé-漢字-Ωμέγα"])
def test_odd_ids_round_trip(logs_airflow: AirflowDeployment, store_server: StoreServer, run_id: str) -> None:
    run = logs_airflow.trigger(log_dags.ODD_DAG_ID, run_id=run_id)
    assert logs_airflow.wait_run(log_dags.ODD_DAG_ID, run) == "success"
    rel = relative_path(log_dags.ODD_DAG_ID, run_id, log_dags.ODD_TASK_ID)
    wait_stored(logs_airflow, store_server, rel)
    (logs_airflow.log_folder / rel).unlink()

    entries = logs_airflow.read_log(log_dags.ODD_DAG_ID, run_id, log_dags.ODD_TASK_ID)

    assert f"odd-ids run_id={run_id}" in events(entries)
    assert_only_store_sources(store_server, entries)


def test_run_id_with_slash_round_trips(logs_airflow: AirflowDeployment, store_server: StoreServer) -> None:
    """Airflow runs such a DAG run, but its REST API cannot address it (``%2F`` in the path gives 404),
    so the log is read back with the reader the api-server uses, configured the same way."""
    run_id = "run/with/slash"
    assert logs_airflow.trigger(log_dags.ODD_DAG_ID, run_id=run_id) == run_id
    rel = relative_path(log_dags.ODD_DAG_ID, run_id, log_dags.ODD_TASK_ID)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _run_state(logs_airflow, log_dags.ODD_DAG_ID, run_id) != "success":
        time.sleep(1)
    local = (logs_airflow.log_folder / rel).read_bytes()
    while (
        time.monotonic() < deadline and stored_stream_bytes(store_server, log_prefix(store_server, rel)) != {}
    ):
        if the_stream(store_server, rel) == local:
            break
        time.sleep(1)

    assert the_stream(store_server, rel) == local
    lines = list(iter_log_text(store_server.package_store(), rel))
    assert lines == local.decode().splitlines()
    assert any(f"odd-ids run_id={run_id}" in line for line in lines)


def _run_state(deployment: AirflowDeployment, dag_id: str, run_id: str) -> str | None:
    """State of a run found by listing (a run_id with '/' cannot be fetched by its URL)."""
    from tests.harness.airflow import _q

    runs = deployment.api("GET", f"/dags/{_q(dag_id)}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    return next((r["state"] for r in runs if r["dag_run_id"] == run_id), None)


def test_ten_mib_line_round_trips(logs_airflow: AirflowDeployment, store_server: StoreServer) -> None:
    run = logs_airflow.trigger("big_and_binary")
    assert logs_airflow.wait_run("big_and_binary", run) == "success"
    rel = relative_path("big_and_binary", run, "big_line")
    wait_stored(logs_airflow, store_server, rel)
    (logs_airflow.log_folder / rel).unlink()

    entries = logs_airflow.read_log("big_and_binary", run, "big_line")

    texts = events(entries)
    assert texts.count("B" * (10 * 1024 * 1024)) == 1
    assert texts.index("big-start") < texts.index("B" * (10 * 1024 * 1024)) < texts.index("big-end")


def test_bytes_that_are_not_utf8_round_trip(
    logs_airflow: AirflowDeployment, store_server: StoreServer
) -> None:
    run = logs_airflow.trigger("big_and_binary")
    assert logs_airflow.wait_run("big_and_binary", run) == "success"
    rel = relative_path("big_and_binary", run, "not_utf8")
    local_path = logs_airflow.log_folder / rel
    wait_stored(logs_airflow, store_server, rel)
    from_local = [
        e for e in events(logs_airflow.read_log("big_and_binary", run, "not_utf8")) if "bytes-start" in e
    ]
    local_path.unlink()

    from_store = [
        e for e in events(logs_airflow.read_log("big_and_binary", run, "not_utf8")) if "bytes-start" in e
    ]

    assert from_store == from_local
    assert len(from_store) == 1
    assert "\ufffd" in from_store[0]


@pytest.mark.parametrize(
    ("settings_name", "setting"),
    [
        ("missing_bucket_settings", "[logging] remote_base_log_folder"),
        ("bad_credentials_settings", "[logging] remote_log_conn_id"),
    ],
)
def test_bad_store_configuration_gives_one_clear_error(
    logs_airflow: AirflowDeployment, store_server: StoreServer, settings_name: str, setting: str
) -> None:
    overrides = getattr(store_server, settings_name)()
    if settings_name == "missing_bucket_settings":
        setting = store_server.missing_bucket_setting  # the container, for Azure
    scheduler_log_before = logs_airflow.processes["scheduler"].log_text()
    logs_airflow.restart_component("scheduler", overrides)
    try:
        run = logs_airflow.trigger("chatty", conf={"lines": 5, "interval": 0.2, "prefix": "badconf"})
        assert logs_airflow.wait_run("chatty", run) == "success"
        ti = logs_airflow.wait_task_state("chatty", run, "talk", ["success"])
        # The state is reported before the supervisor's final upload; its last line comes after it.
        wait_for(
            lambda: f"workload_id={ti['id']}" in logs_airflow.processes["scheduler"].log_text(),
            timeout=60,
            what="the try's supervisor to finish",
        )
        local = (logs_airflow.log_folder / relative_path("chatty", run, "talk")).read_text()
        scheduler_log = logs_airflow.processes["scheduler"].log_text()[len(scheduler_log_before) :]
    finally:
        logs_airflow.restart_component("scheduler", {})

    ours = [json.loads(line) for line in local.splitlines() if "airflow_platform_plugins" in line]
    assert len(ours) == 1, ours
    assert ours[0]["level"] == "error"
    assert ours[0]["event"].startswith("Remote task log configuration error")
    assert setting in ours[0]["event"]
    assert "Traceback" not in local
    worker_lines = [
        line
        for line in scheduler_log.splitlines()
        if "Remote task log configuration error" in line and f"run_id={run}/" in line
    ]
    assert len(worker_lines) == 1, worker_lines
    assert "airflow_platform_plugins" not in "".join(
        line
        for line in scheduler_log.splitlines()
        if line.startswith("Traceback") or line.startswith("  File")
    )
