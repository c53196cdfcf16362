"""DAGs for the Elasticsearch end-to-end tests: retried tries and mapped task instances."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

START = datetime(2024, 1, 1)

with DAG("es_retry", schedule=None, start_date=START, catchup=False, tags=["e2e"]):

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def flaky(**context):
        attempt = context["ti"].try_number
        for k in range(5):
            print(f"try-{attempt} line-{k}", flush=True)
        if attempt == 1:
            raise RuntimeError("first try fails on purpose")

    flaky()


with DAG("es_mapped", schedule=None, start_date=START, catchup=False, tags=["e2e"]):

    @task
    def each(item: int):
        for k in range(5):
            print(f"map-{item} line-{k}", flush=True)

    each.expand(item=[0, 1, 2])
