"""End-to-end fixtures: a real Airflow deployment writing task logs to a real store server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.airflow import AirflowDeployment
from tests.harness.processes import free_port
from tests.harness.statsd import StatsdListener
from tests.harness.stores import CONN_ID, AzureServer, GCSServer, S3Server, StoreServer

DAGS = Path(__file__).parent / "dags"
FLUSH_INTERVAL = 1.0
STORE_SERVERS: dict[str, type[S3Server] | type[GCSServer] | type[AzureServer]] = {
    "s3": S3Server,
    "gcs": GCSServer,
    "azure": AzureServer,
}


@pytest.fixture(scope="module", params=sorted(STORE_SERVERS))
def store_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreServer]:
    server = STORE_SERVERS[request.param](tmp_path_factory.mktemp(f"{request.param}-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def statsd() -> Iterator[StatsdListener]:
    listener = StatsdListener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="module")
def logs_airflow(
    store_server: StoreServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowDeployment]:
    """Airflow that reaches the store through a cuttable proxy, with the store's connection in its
    database. Its api-server has its own empty log folder and no route to the worker's log server,
    so every line it shows comes from the store."""
    home = tmp_path_factory.mktemp(f"airflow-{store_server.name}")
    closed_port = str(free_port())
    deployment = AirflowDeployment(
        home,
        dags=[DAGS / "log_dags.py"],
        settings={
            **store_server.settings(),
            "AIRFLOW__PLATFORM_LOGGING__FLUSH_INTERVAL": str(FLUSH_INTERVAL),
            "AIRFLOW__PLATFORM_LOGGING__UPLOAD_TIMEOUT": "5",
            "AIRFLOW__PLATFORM_LOGGING__RETRY_MAX_DELAY": "2",
            "AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN": r"^[^\x00-\x1f]+$",
        },
        component_settings={
            "api-server": {
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "api-server-logs"),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": closed_port,
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": closed_port,
            }
        },
    )
    try:
        deployment.start()
        # In the metadata database, as most users keep it: the task supervisor then exposes it to
        # the shipper only while it sets up logging and uploads.
        connection = store_server.connection()
        if connection:
            deployment.create_connection(CONN_ID, connection)
        yield deployment
    finally:
        deployment.stop()
