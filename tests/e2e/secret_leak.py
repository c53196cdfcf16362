"""The secret-leak scenario, for each store engine's end-to-end module: a real Airflow runs a task that
prints, logs and raises three kinds of secret; the whole stdout of the worker (the scheduler, with
LocalExecutor) and of the triggerer goes through the shipping harness with the semantics of the
shipped values; then no index of the store may hold any of the secrets.

An engine's module calls :func:`run_secret_task` with its deployment (which has ``secret_dags.py``
among its DAGs and ships stdout lines with ``write_stdout``), its client and its node's ``request``.
"""

from __future__ import annotations

import json
import secrets as random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.dags.secret_dags import CONN_ID, VARIABLE, masked_token
from tests.harness.airflow import AirflowDeployment
from tests.harness.leaks import Request, documents, indexed_secrets, secrets_in
from tests.harness.shipping import FLAVOURS, FluentShipper

DAG_ID = "secret_leak"
TASK_ID = "leak"
# the pod that runs each component's stdout in the chart (LocalExecutor: tasks run in the scheduler)
COMPONENTS = {"scheduler": "scheduler", "triggerer": "triggerer"}


@dataclass
class LeakReport:
    secrets: list[str]
    run_id: str
    echoed: list[str]  # secrets on the worker's stdout (Airflow's unmasked echo)
    unfiltered: dict[str, list[str]] = field(default_factory=dict)  # flavour -> secrets without the drop
    task_events: dict[str, list[str]] = field(default_factory=dict)  # flavour -> the try's shipped events
    local_events: list[str] = field(default_factory=list)  # the try's log file, line by line
    indexed: dict[str, list[str]] = field(default_factory=dict)  # secret -> indices holding it


def stdout_task_lines(data: bytes, log_id: str) -> list[dict[str, Any]]:
    """The try's JSON task log lines (``write_stdout``) among a component's stdout."""
    out = []
    for line in data.splitlines():
        if line.startswith(b"{") and log_id.encode() in line:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("log_id") == log_id:
                out.append(doc)
    return out


def run_secret_task(
    deployment: AirflowDeployment,
    client: Any,
    request: Request,
    log_id_of: Callable[[str], str],
    local_log: Callable[[str], Path],
    *,
    prefix: str,
    timeout: float = 120,
) -> LeakReport:
    """Run the task once and ship what the components printed meanwhile, as each flavour would.

    ``log_id_of(run_id)`` is the try's log_id; ``local_log(run_id)`` its local log file; ``prefix``
    names the indices this scenario writes (``{prefix}-{flavour}-…``)."""
    password, variable = "connpw" + random.token_hex(12), "varsecret" + random.token_hex(12)
    deployment.create_connection(
        CONN_ID, {"conn_type": "generic", "host": "db.example.com", "login": "etl", "password": password}
    )
    response = deployment.api("POST", "/variables", json={"key": VARIABLE, "value": variable})
    assert response.status_code in (200, 201), response.text
    stdout = {name: deployment.home / "run" / f"{name}.log" for name in COMPONENTS}
    start = {name: path.stat().st_size for name, path in stdout.items()}

    run_id = deployment.trigger(DAG_ID)
    assert deployment.wait_run(DAG_ID, run_id) == "failed"
    log_id, path = log_id_of(run_id), local_log(run_id)

    def printed() -> dict[str, bytes]:
        out = {}
        for name, file in stdout.items():
            with open(file, "rb") as f:
                f.seek(start[name])
                out[name] = f.read()
        return out

    def local_count() -> int:
        return sum(1 for line in path.read_text().splitlines() if line.strip())

    # The supervisor may still log after the state is final: wait until the stdout holds every line
    # of the try's file, and the file no longer grows.
    deadline = time.monotonic() + timeout
    previous = -1
    while True:
        count = local_count()
        shipped = sum(len(stdout_task_lines(data, log_id)) for data in printed().values())
        if shipped >= count == previous:
            break
        assert time.monotonic() < deadline, f"stdout has {shipped} of the try's {count} lines"
        previous = count
        time.sleep(1)

    data = printed()
    secrets = [password, masked_token(run_id), variable]
    report = LeakReport(secrets, run_id, echoed=secrets_in(b"".join(data.values()), secrets))
    report.local_events = [
        json.loads(line)["event"] for line in path.read_text().splitlines() if line.strip()
    ]
    for flavour in FLAVOURS:
        unfiltered: list[str] = []
        for name, component in COMPONENTS.items():
            lines = data[name].split(b"\n")
            options: dict[str, Any] = {
                "ship_others": True,
                "component": component,
                "pod": f"airflow-{component}-0",
            }
            # What the values without the drop of the Airflow task pods' other lines would index.
            unsafe = FluentShipper(client, flavour, drop_task_pod_lines=False, **options)
            docs = [doc for _, _, doc in unsafe.documents(lines)]
            unfiltered += secrets_in(json.dumps(docs, ensure_ascii=False), secrets)
            shipper = FluentShipper(
                client,
                flavour,
                index_prefix=f"{prefix}-{flavour}-airflow-logs",
                other_prefix=f"{prefix}-{flavour}-logstash",
                **options,
            )
            shipper.ship(lines)
        report.unfiltered[flavour] = sorted(set(unfiltered))
        # (read in full: the index may lack this package's template, so no term query on log_id)
        docs = [
            d for d in documents(request, f"{prefix}-{flavour}-airflow-logs-*") if d.get("log_id") == log_id
        ]
        report.task_events[flavour] = [d["event"] for d in sorted(docs, key=lambda d: int(d["offset"]))]
    report.indexed = indexed_secrets(request, secrets, "*")
    return report
