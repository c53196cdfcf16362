"""Task logs in a real Elasticsearch and a real OpenSearch, from a real Airflow 3: the worker's stdout is
shipped the way Fluent Bit and Fluentd ship it (their ``es``/``opensearch`` outputs and plugins write the
same documents), and the api-server reads the lines back from the cluster only. Every test runs on both
engines: one shared core, only the client differs."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.es import template
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, parse_relative_path
from tests.e2e import secret_leak
from tests.e2e.dags import log_dags
from tests.harness.airflow import AirflowDeployment, display_order, events, log_sources
from tests.harness.elasticsearch import SearchNode
from tests.harness.faultproxy import FaultProxy
from tests.harness.processes import free_port
from tests.harness.shipping import FLAVOURS, FluentShipper, StdoutFollower
from tests.harness.tasklog import assert_every_line_once_in_order, numbered

pytestmark = pytest.mark.airflow

DAGS = Path(__file__).parent / "dags"
SHIPPED_PREFIX = "airflow-logs"
DIRECT_INDEX = "direct-logs"
FRONTEND = "kibana.example.com/app/discover#/?_a=(query:(query:'log_id:\"{log_id}\"'))"
LOG_ID = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}")
# engine -> (Airflow config section, the direct-write option)
ENGINES = {"elasticsearch": ("ELASTICSEARCH", "WRITE_TO_ES"), "opensearch": ("OPENSEARCH", "WRITE_TO_OS")}


@dataclass
class EsAirflow:
    deployment: AirflowDeployment
    node: SearchNode
    proxy: FaultProxy
    client: Any
    section: str
    direct: str

    @property
    def engine(self) -> str:
        """``Elasticsearch`` or ``OpenSearch``, as sources and the link name it."""
        return self.node.engine.name

    @contextlib.contextmanager
    def shipping(self, flavour: str = "fluent-bit") -> Iterator[FluentShipper]:
        """Ship what the worker (scheduler) and the triggerer print, from now on, as ``flavour`` does."""
        shipper = FluentShipper(self.client, flavour, index_prefix=SHIPPED_PREFIX)
        run = self.deployment.home / "run"
        followers = [StdoutFollower(shipper, run / f"{name}.log") for name in ("scheduler", "triggerer")]
        try:
            yield shipper
        finally:
            for follower in followers:
                follower.stop()

    def stored(self, log_id: str, index: str = f"{SHIPPED_PREFIX}-*") -> list[dict[str, Any]]:
        """The documents of ``log_id``, by offset (read directly, not through the package's reader)."""
        self.client.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
        response = self.client.search(
            index=index,
            query={"term": {"log_id": log_id}},
            sort=[{"offset": "asc"}],
            size=10000,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        return [hit["_source"] for hit in response["hits"]["hits"]]


@pytest.fixture(scope="module", params=list(ENGINES))
def es_airflow(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EsAirflow]:
    """Airflow writing task logs to its stdout (``write_stdout``); the api-server has its own empty log
    folder and no route to the worker's log server, so what it shows comes from the cluster. Workers
    reach the cluster through a cuttable proxy (for ``write_to_es``/``write_to_os``)."""
    elasticsearch_node: SearchNode = request.getfixturevalue(f"{request.param}_node")
    section, direct = ENGINES[request.param]
    client = elasticsearch_node.client()
    body = template.index_template(
        [f"{SHIPPED_PREFIX}-*", f"{DIRECT_INDEX}*"], settings={"number_of_replicas": 0}
    )
    template.install(client, body)
    proxy = FaultProxy(elasticsearch_node.port)
    home = tmp_path_factory.mktemp(f"airflow-{request.param}")
    closed_port = str(free_port())
    deployment = AirflowDeployment(
        home,
        dags=[DAGS / "log_dags.py", DAGS / "es_dags.py", DAGS / "secret_dags.py"],
        settings={
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            f"AIRFLOW__{section}__HOST": proxy.url,
            f"AIRFLOW__{section}__WRITE_STDOUT": "True",
            f"AIRFLOW__{section}__INDEX_PATTERNS": f"{SHIPPED_PREFIX}-*,{DIRECT_INDEX}*",
            f"AIRFLOW__{section}__FRONTEND": FRONTEND,
            f"AIRFLOW__{section}__TARGET_INDEX": DIRECT_INDEX,
            "AIRFLOW__PLATFORM_LOGGING__FLUSH_INTERVAL": "1",
            "AIRFLOW__PLATFORM_LOGGING__UPLOAD_TIMEOUT": "5",
            "AIRFLOW__PLATFORM_LOGGING__RETRY_MAX_DELAY": "2",
            "AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN": r"^[^\x00-\x1f]+$",
        },
        component_settings={
            "api-server": {
                f"AIRFLOW__{section}__HOST": elasticsearch_node.url,
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "api-server-logs"),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": closed_port,
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": closed_port,
            }
        },
    )
    try:
        deployment.start()
        yield EsAirflow(deployment, elasticsearch_node, proxy, client, section, direct)
    finally:
        deployment.stop()
        proxy.close()
        elasticsearch_node.delete_indices(f"{SHIPPED_PREFIX}-*")
        elasticsearch_node.delete_indices(f"{DIRECT_INDEX}*")
        client.options(ignore_status=404).indices.delete_index_template(name=template.NAME)
        client.close()


def relative_path(dag_id: str, run_id: str, task_id: str, attempt: int = 1, map_index: int = -1) -> str:
    mapped = f"map_index={map_index}/" if map_index >= 0 else ""
    return f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/{mapped}attempt={attempt}.log"


def log_id_of(rel: str) -> str:
    identity = parse_relative_path(rel)
    assert identity is not None
    return LOG_ID.render(identity)


def shown(path: Path, count: int | None = None) -> list[str]:
    """The first ``count`` ``live-`` lines of a local log, in the order Airflow shows them."""
    return display_order([line for line in path.read_text().splitlines() if '"live-' in line][:count])


def local_events(path: Path) -> list[str]:
    return [json.loads(line)["event"] for line in path.read_text().splitlines() if line.strip()]


def wait_until(condition: Callable[[], Any], timeout: float = 60, interval: float = 1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def has_all_lines(es_airflow: EsAirflow, rel: str) -> bool:
    """Whether Elasticsearch holds as many documents of the try as its local file has lines."""
    local = local_events(es_airflow.deployment.log_folder / rel)
    return len(es_airflow.stored(log_id_of(rel))) >= len(local)


def settled(
    es_airflow: EsAirflow, rel: str, index: str = f"{SHIPPED_PREFIX}-*", timeout: float = 60
) -> tuple[list[dict[str, Any]], list[str]]:
    """The try's documents and its local lines (all its files: the triggerer's too) once Elasticsearch
    holds as many documents as the files have lines; the supervisor may still log after the state is
    final, so both are read again until they agree."""
    path = es_airflow.deployment.log_folder / rel

    def lines() -> list[str]:
        return [e for part in sorted(path.parent.glob(path.name + "*")) for e in local_events(part)]

    docs: list[dict[str, Any]] = []
    local: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        local = lines()
        docs = es_airflow.stored(log_id_of(rel), index)
        if len(docs) >= len(local):
            time.sleep(1)  # anything still arriving?
            if lines() == local:
                return es_airflow.stored(log_id_of(rel), index), local
        time.sleep(1)
    return docs, local


def assert_only_cluster_sources(es_airflow: EsAirflow, entries: list[dict[str, Any]]) -> None:
    sources = log_sources(entries)
    assert any(s.startswith(f"{es_airflow.engine} ") for s in sources), sources
    assert not [s for s in sources if s.startswith("/")], f"the api-server read local files: {sources}"
    assert not [s for s in sources if s.startswith("http")], f"the api-server read the worker: {sources}"


def assert_offsets_in_order(docs: list[dict[str, Any]]) -> None:
    offsets = [doc["offset"] for doc in docs]
    assert offsets == sorted(set(offsets)), "offsets repeat or are out of order"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_running_and_finished_try_are_read_from_elasticsearch(es_airflow: EsAirflow, flavour: str) -> None:
    airflow = es_airflow.deployment
    with es_airflow.shipping(flavour):
        run = airflow.trigger("chatty", conf={"lines": 80, "interval": 0.25, "prefix": "live"})
        airflow.wait_task_state("chatty", run, "talk", ["running"])

        def live() -> list[str]:
            return [e for e in events(airflow.read_log("chatty", run, "talk")) if e.startswith("live-")]

        seen = wait_until(lambda: len(live()) >= 12 and live(), timeout=30)
        state = airflow.task_instance("chatty", run, "talk")["state"]
        entries = airflow.read_log("chatty", run, "talk")

        assert state == "running", "the task ended before the test could read its live log"
        assert seen == shown(airflow.log_folder / relative_path("chatty", run, "talk"), len(seen))
        assert_only_cluster_sources(es_airflow, entries)
        assert not list((airflow.home / "api-server-logs").rglob("*.log"))

        assert airflow.wait_run("chatty", run) == "success"
        rel = relative_path("chatty", run, "talk")
        docs, local = settled(es_airflow, rel)

    entries = airflow.read_log("chatty", run, "talk")
    read_back = [e for e in events(entries) if e.startswith("live-")]
    assert read_back == shown(airflow.log_folder / rel)
    assert sorted(read_back) == numbered("live", 80)
    assert_only_cluster_sources(es_airflow, entries)
    assert [doc["event"] for doc in docs] == local, "every line of the try, once, in the file's order"
    assert_offsets_in_order(docs)
    offsets = [doc["offset"] for doc in docs]
    assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), "one segment: no gaps"
    assert {doc["kubernetes"]["pod_name"] for doc in docs} == {"airflow-worker-0"}


def test_two_tries_and_mapped_task_instances_keep_separate_logs(es_airflow: EsAirflow) -> None:
    airflow = es_airflow.deployment
    with es_airflow.shipping("fluentd"):
        retry_run = airflow.trigger("es_retry")
        mapped_run = airflow.trigger("es_mapped")
        assert airflow.wait_run("es_retry", retry_run) == "success"
        assert airflow.wait_run("es_mapped", mapped_run) == "success"
        expected = {
            ("es_retry", retry_run, "flaky", 1, -1): [f"try-1 line-{k}" for k in range(5)],
            ("es_retry", retry_run, "flaky", 2, -1): [f"try-2 line-{k}" for k in range(5)],
            **{
                ("es_mapped", mapped_run, "each", 1, i): [f"map-{i} line-{k}" for k in range(5)]
                for i in range(3)
            },
        }
        for dag_id, run, task_id, attempt, map_index in expected:
            rel = relative_path(dag_id, run, task_id, attempt, map_index)
            wait_until(partial(has_all_lines, es_airflow, rel), timeout=30)

    for (dag_id, run, task_id, attempt, map_index), lines in expected.items():
        entries = airflow.read_log(dag_id, run, task_id, try_number=attempt, map_index=map_index)
        shown = [e for e in events(entries) if e.startswith(("try-", "map-"))]
        assert shown == lines, (dag_id, attempt, map_index)
        assert_only_cluster_sources(es_airflow, entries)
    failed_try = airflow.read_log("es_retry", retry_run, "flaky", try_number=1)
    details = [d for entry in failed_try for d in entry.get("error_detail") or []]
    assert any(d.get("exc_value") == "first try fails on purpose" for d in details), (
        "the traceback, structured"
    )


def test_deferral_and_reschedule_keep_one_ordered_log(es_airflow: EsAirflow, tmp_path: Path) -> None:
    """The part before deferral, the triggerer's part and the part after resuming are three writers;
    so are the pokes of a reschedule sensor. Offsets keep increasing across all of them."""
    airflow = es_airflow.deployment
    with es_airflow.shipping("fluent-bit"):
        deferred = airflow.trigger("deferring")
        sensed = airflow.trigger(
            "reschedule_sensor", conf={"counter_file": str(tmp_path / "pokes"), "pokes": 4}
        )
        assert airflow.wait_run("deferring", deferred) == "success"
        assert airflow.wait_run("reschedule_sensor", sensed, timeout=300) == "success"
        defer_rel = relative_path("deferring", deferred, "defer")
        sensor_rel = relative_path("reschedule_sensor", sensed, "wait")
        trigger_files = list((airflow.log_folder / defer_rel).parent.glob("attempt=1.log.trigger.*.log"))
        assert trigger_files, "the triggerer wrote its part"
        defer_docs, defer_lines = settled(es_airflow, defer_rel)
        sensor_docs, sensor_lines = settled(es_airflow, sensor_rel)

    assert sorted(doc["event"] for doc in defer_docs) == sorted(defer_lines), "each line of each part, once"
    assert_offsets_in_order(defer_docs)
    texts = [doc["event"] for doc in defer_docs]
    assert texts.index("before-defer") < texts.index("after-resume")
    trigger_events = set(local_events(trigger_files[0]))
    trigger_positions = [i for i, text in enumerate(texts) if text in trigger_events]
    assert texts.index("before-defer") < min(trigger_positions)
    assert max(trigger_positions) < texts.index("after-resume"), "the triggerer's part sits between"
    shown = events(airflow.read_log("deferring", deferred, "defer"))
    assert shown.count("before-defer") == shown.count("after-resume") == 1

    assert [doc["event"] for doc in sensor_docs] == sensor_lines
    assert_offsets_in_order(sensor_docs)
    pokes = [
        e for e in events(airflow.read_log("reschedule_sensor", sensed, "wait")) if e.startswith("poke-")
    ]
    assert pokes == [f"poke-{n:03d} line-{k}" for n in range(1, 5) for k in range(3)]


def test_direct_mode_loses_and_duplicates_nothing_when_the_cluster_is_down(es_airflow: EsAirflow) -> None:
    airflow = es_airflow.deployment
    airflow.restart_component(
        "scheduler",
        {
            f"AIRFLOW__{es_airflow.section}__WRITE_STDOUT": "False",
            f"AIRFLOW__{es_airflow.section}__{es_airflow.direct}": "True",
        },
    )
    try:
        es_airflow.proxy.down()
        try:
            run = airflow.trigger("chatty", conf={"lines": 30, "interval": 0.05, "prefix": "outage"})
            assert airflow.wait_run("chatty", run) == "success"
            rel = relative_path("chatty", run, "talk")
            assert es_airflow.stored(log_id_of(rel), f"{DIRECT_INDEX}*") == []
        finally:
            es_airflow.proxy.up()
        stored, local = settled(es_airflow, rel, f"{DIRECT_INDEX}*", timeout=90)
    finally:
        airflow.restart_component("scheduler", {})

    assert [doc["event"] for doc in stored] == local, "every line once, in order"
    assert_offsets_in_order(stored)
    assert len([e for e in local if e.startswith("Remote task log store unavailable")]) == 1
    assert len([e for e in local if "recovered" in e]) == 1
    entries = airflow.read_log("chatty", run, "talk")
    assert_every_line_once_in_order(events(entries), "outage", 30)


def test_the_ui_links_each_try_to_kibana(es_airflow: EsAirflow) -> None:
    airflow = es_airflow.deployment
    run = airflow.trigger(log_dags.ODD_DAG_ID, run_id="rün-ünïcødé-漢字")
    assert airflow.wait_run(log_dags.ODD_DAG_ID, run) == "success"
    path = (
        f"/dags/{urllib.parse.quote(log_dags.ODD_DAG_ID, safe='')}/dagRuns/{urllib.parse.quote(run, safe='')}"
        f"/taskInstances/{urllib.parse.quote(log_dags.ODD_TASK_ID, safe='')}/externalLogUrl/1"
    )
    response = airflow.api("GET", path)
    assert response.status_code == 200, response.text
    log_id = log_id_of(relative_path(log_dags.ODD_DAG_ID, run, log_dags.ODD_TASK_ID))
    assert response.json()["url"] == "https://" + FRONTEND.format(log_id=urllib.parse.quote(log_id))
    config = airflow.client.get("/ui/config").json()
    assert config["show_external_log_redirect"] is True
    assert config["external_log_name"] == es_airflow.engine


def test_no_secret_reaches_any_index_through_the_shipped_values(es_airflow: EsAirflow) -> None:
    """A task prints, logs and raises a connection password, a ``mask_secret`` value and a sensitive
    Variable. Airflow echoes them unmasked on the worker's stdout (docs/security.md); the shipped
    values drop those lines, so after the whole stdout went through the shipping harness no index holds
    a secret, and the try's own log is there, masked."""
    airflow = es_airflow.deployment

    def rel(run_id: str) -> str:
        return relative_path(secret_leak.DAG_ID, run_id, secret_leak.TASK_ID)

    report = secret_leak.run_secret_task(
        airflow,
        es_airflow.client,
        es_airflow.node.request,
        lambda run_id: log_id_of(rel(run_id)),
        lambda run_id: airflow.log_folder / rel(run_id),
        prefix="secrets",
    )
    try:
        assert report.indexed == {}, "secrets in the store"
        assert report.echoed == report.secrets, "Airflow's echo changed: update docs/security.md"
        for flavour, events in report.task_events.items():
            assert report.unfiltered[flavour] == sorted(report.secrets), "the drop is what keeps them out"
            assert events == report.local_events, "the try's own log: every line, once, in order"
            assert any(e.startswith("print: ***") for e in events), (flavour, events)
            assert any(e.startswith("logged: ***") for e in events), (flavour, events)
    finally:
        es_airflow.node.delete_indices("secrets-*")
