"""A task that logs for a while, so you can watch its log arrive in S3 while it runs."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from airflow.sdk import DAG, task

log = logging.getLogger("demo")

with DAG("demo_logs", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["demo"]):

    @task
    def log_for_a_while(**context: object) -> None:
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        lines, every = int(conf.get("lines", 30)), float(conf.get("every", 0.5))
        for i in range(lines):
            if i % 3 == 0:
                print(f"demo line {i:03d}: printed to stdout", flush=True)
            else:
                log.info("demo line %03d: logged with logging", i)
            time.sleep(every)

    log_for_a_while()
