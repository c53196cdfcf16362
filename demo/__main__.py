"""Run the demo: moto S3 + Airflow (scheduler, dag-processor, triggerer, api-server) on 127.0.0.1."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.airflow import AirflowDeployment, events, log_sources
from tests.harness.moto import MotoServer
from tests.harness.stores import settings

HERE = Path(__file__).parent
BUCKET = "airflow-logs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=30, help="lines the demo task logs (one every 0.5 s)")
    parser.add_argument(
        "--hold", type=float, default=None, help="keep the servers up this many seconds at the end"
    )
    parser.add_argument("--workdir", default=None, help="keep files here instead of a temporary folder")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="airflow-platform-plugins-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"Working folder: {workdir}")
    moto = MotoServer(workdir)
    moto.client().create_bucket(Bucket=BUCKET)
    print(f"S3 (moto server):  {moto.url}   bucket {BUCKET}")
    airflow = AirflowDeployment(
        workdir / "airflow",
        dags=[HERE / "dags" / "demo_logs.py"],
        settings={
            **settings(f"s3://{BUCKET}/logs", moto.connection()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__PLATFORM_LOGGING__FLUSH_INTERVAL": "2",
        },
    )
    try:
        print("Starting Airflow 3 (db migrate, scheduler, dag-processor, triggerer, api-server) ...")
        started = time.monotonic()
        airflow.start()
        password = airflow.login("admin")
        print(f"Airflow is up after {time.monotonic() - started:.0f} s.")
        print(f"\n  UI:       {airflow.url}\n  user:     admin\n  password: {password}\n")
        run = airflow.trigger("demo_logs", conf={"lines": args.lines})
        print(f"Triggered demo_logs, run {run}; the task logs {args.lines} lines, one every 0.5 s.")
        airflow.wait_task_state("demo_logs", run, "log_for_a_while", ["running"])
        time.sleep(6)
        entries = airflow.read_log("demo_logs", run, "log_for_a_while")
        shown = [e for e in events(entries) if e.startswith("demo line")]
        objects = moto.client().list_objects_v2(Bucket=BUCKET).get("Contents", [])
        print(
            f"\nWhile the task runs: {len(objects)} chunk objects in S3 so far; "
            f"the api-server shows {len(shown)} lines:"
        )
        for line in shown[-3:]:
            print(f"  {line}")
        state = airflow.wait_run("demo_logs", run)
        shutil.rmtree(airflow.log_folder / "dag_id=demo_logs")
        entries = airflow.read_log("demo_logs", run, "log_for_a_while")
        print(f"\nRun finished ({state}); local log folder deleted. The api-server reads it back from:")
        for source in log_sources(entries):
            print(f"  {source}")
        lines = [e for e in events(entries) if e.startswith("demo line")]
        print(f"{len(lines)} demo lines, first and last:\n  {lines[0]}\n  {lines[-1]}")
        log_url = f"{airflow.url}/dags/demo_logs/runs/{run}/tasks/log_for_a_while"
        print(f"\nSee it in the UI: {log_url}")
        if args.hold is None and sys.stdin.isatty():
            input("Press Enter to stop the demo ...")
        elif args.hold:
            print(f"Keeping the servers up for {args.hold:.0f} s ...")
            time.sleep(args.hold)
        ok = state == "success" and len(lines) == args.lines
        return 0 if ok else 1
    finally:
        airflow.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
