"""A DAG for the sign-on tests: something to list, open and trigger."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

with DAG("sign_on_demo", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["sign-on"]):

    @task
    def hello() -> str:
        return "hello"

    hello()
