"""DAGs the end-to-end tests run. Each task prints numbered, greppable lines."""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import datetime, timedelta

from airflow.providers.standard.sensors.python import PythonSensor
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import DAG, BaseOperator, task

log = logging.getLogger("e2e")
START = datetime(2024, 1, 1)


def _numbered(prefix: str, count: int, interval: float) -> None:
    for i in range(count):
        if i % 2:
            log.info("%s-%05d via logger", prefix, i)
        else:
            print(f"{prefix}-{i:05d} via print", flush=True)
        time.sleep(interval)


with DAG("chatty", schedule=None, start_date=START, catchup=False, tags=["e2e"]):

    @task
    def talk(**context):
        conf = context["dag_run"].conf or {}
        _numbered(conf.get("prefix", "line"), int(conf.get("lines", 20)), float(conf.get("interval", 0.1)))

    talk()


def _poke(**context) -> bool:
    conf = context["dag_run"].conf
    counter = conf["counter_file"]
    count = 1
    if os.path.exists(counter):
        with open(counter) as f:
            count += int(f.read())
    with open(counter, "w") as f:
        f.write(str(count))
    for k in range(3):
        log.info("poke-%03d line-%d", count, k)
    return count >= int(conf.get("pokes", 20))


with DAG("reschedule_sensor", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    PythonSensor(
        task_id="wait",
        python_callable=_poke,
        mode="reschedule",
        poke_interval=float(os.environ.get("E2E_POKE_INTERVAL", "5")),
        timeout=600,
    )


class DeferTwice(BaseOperator):
    """Logs, defers to the triggerer, logs again on resume."""

    def execute(self, context):
        log.info("before-defer")
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=2)), method_name="resume")

    def resume(self, context, event=None):
        log.info("after-resume")


with DAG("deferring", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    DeferTwice(task_id="defer")


with DAG("big_and_binary", schedule=None, start_date=START, catchup=False, tags=["e2e"]):

    @task
    def big_line():
        print("big-start", flush=True)
        print("B" * (10 * 1024 * 1024), flush=True)
        print("big-end", flush=True)

    @task
    def not_utf8():
        sys.stdout.flush()
        sys.stdout.buffer.write(b"bytes-start caf\xe9 \xff\xfe\xc3\x28 end\n")
        sys.stdout.buffer.flush()
        print("not-utf8-done", flush=True)

    big_line()
    not_utf8()


# Every character Airflow allows in a dag_id / task_id: letters and digits of any script, '_', '.', '-'.
ODD_DAG_ID = "odd.Dag-_Ünïcødé.漢字.Ωμέγα.0"
ODD_TASK_ID = "odd.task-_ß.日本.-0"
with DAG(ODD_DAG_ID, schedule=None, start_date=START, catchup=False, tags=["e2e"]):

    @task(task_id=ODD_TASK_ID)
    def odd(**context):
        print(f"odd-ids run_id={context['run_id']}", flush=True)

    odd()
