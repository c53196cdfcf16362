"""The task-log demo: a task's log in the store while it runs, and read back after the local file is gone."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from demo.stores import STORES
from tests.harness.airflow import AirflowDeployment, events, log_sources

HERE = Path(__file__).parent
DAG_ID, TASK_ID = "demo_logs", "log_for_a_while"


def run(backend: str, workdir: Path, lines: int, hold: float | None) -> bool:
    """Run the demo against ``backend`` (s3, gcs, es); ``True`` when every line was read back."""
    store = STORES[backend](workdir)
    print(store.where)
    airflow = AirflowDeployment(
        workdir / "airflow",
        dags=[HERE / "dags" / "demo_logs.py"],
        settings={
            **store.settings(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__PLATFORM_LOGGING__FLUSH_INTERVAL": "2",
        },
    )
    try:
        print("Starting Airflow 3 (db migrate, scheduler, dag-processor, triggerer, api-server) ...")
        started = time.monotonic()
        airflow.start()
        store.started(airflow.home / "run")
        password = airflow.login("admin")
        print(f"Airflow is up after {time.monotonic() - started:.0f} s.")
        print(f"\n  UI:       {airflow.url}\n  user:     admin\n  password: {password}\n")
        run_id = airflow.trigger(DAG_ID, conf={"lines": lines})
        print(f"Triggered {DAG_ID}, run {run_id}; the task logs {lines} lines, one every 0.5 s.")
        airflow.wait_task_state(DAG_ID, run_id, TASK_ID, ["running"])

        def demo_lines() -> list[str]:
            entries = airflow.read_log(DAG_ID, run_id, TASK_ID)
            return [e for e in events(entries) if e.startswith("demo line")]

        live = demo_lines()
        deadline = time.monotonic() + 60
        while len(live) < min(3, lines) and time.monotonic() < deadline:
            time.sleep(0.5)  # the api-server reads the store on each call: poll gently
            live = demo_lines()
        state_now = airflow.task_instance(DAG_ID, run_id, TASK_ID)["state"]
        print(
            f"\nWhile the task is {state_now}: {store.holds()} so far; "
            f"the api-server shows {len(live)} lines:"
        )
        for line in live[-3:]:
            print(f"  {line}")
        state = airflow.wait_run(DAG_ID, run_id)
        # A slow store on a loaded machine may still be taking the last lines: wait for them (bounded).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            stored = store.stored_lines("demo line")
            if stored is None or stored >= lines:
                break
            time.sleep(1)
        shutil.rmtree(airflow.log_folder / f"dag_id={DAG_ID}")
        entries = airflow.read_log(DAG_ID, run_id, TASK_ID)
        print(f"\nRun finished ({state}); local log folder deleted. The api-server reads it back from:")
        for source in log_sources(entries):
            print(f"  {source}")
        shown = [e for e in events(entries) if e.startswith("demo line")]
        print(f"{store.holds()}; {len(shown)} demo lines, first and last:")
        for line in shown[:1] + shown[-1:]:
            print(f"  {line}")
        print(f"\nSee it in the UI: {airflow.url}/dags/{DAG_ID}/runs/{run_id}/tasks/{TASK_ID}")
        hold_servers(hold)
        return state == "success" and len(shown) == lines
    finally:
        airflow.stop()
        store.stop()


def hold_servers(hold: float | None) -> None:
    """Keep the servers up: until Enter on a terminal, for ``hold`` seconds if given, else not at all."""
    import sys

    if hold is None and sys.stdin.isatty():
        input("Press Enter to stop the demo ...")
    elif hold:
        print(f"Keeping the servers up for {hold:.0f} s ...")
        time.sleep(hold)
