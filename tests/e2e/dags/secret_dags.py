"""A task that prints, logs and raises three kinds of secret: a connection's password (and its URI),
a value registered with ``mask_secret``, and a Variable whose name makes it sensitive."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from airflow.sdk import DAG, BaseHook, Variable, task

CONN_ID = "shipping_secret_conn"
VARIABLE = "shipping_api_secret"  # "secret" in the name: Airflow masks its value


def masked_token(run_id: str) -> str:
    """The value the task registers with ``mask_secret`` (the test computes it too)."""
    return "tok" + hashlib.sha256(run_id.encode()).hexdigest()[:24]


with DAG("secret_leak", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["e2e"]):

    @task(retries=0)
    def leak(**context):
        from airflow.sdk.log import mask_secret

        connection = BaseHook.get_connection(CONN_ID)
        variable = Variable.get(VARIABLE)
        token = masked_token(context["run_id"])
        mask_secret(token)
        print(f"print: {connection.password} {token} {variable}", flush=True)
        print(f"uri: {connection.get_uri()}", flush=True)
        logging.getLogger("airflow.task").info("logged: %s %s %s", connection.password, token, variable)
        raise RuntimeError(f"raised: {connection.password} {token} {variable}")

    leak()
