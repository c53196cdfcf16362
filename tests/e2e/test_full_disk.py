"""A full disk under the local log folder, on real Airflow: the task goes on, and what reached the
disk is stored.

Airflow 3.3.2's supervisor fails the task when a log write raises ``ENOSPC`` (docs/operations.md);
with this package's logging the line is dropped instead, reported once on the worker's stderr with
the folder named, and the try and the next task succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_platform_plugins.task_logs.objectstore import keys
from tests.e2e.conftest import FLUSH_INTERVAL
from tests.harness.airflow import AirflowDeployment
from tests.harness.stores import CONN_ID, S3Server, stored_stream_bytes
from tests.harness.tasklog import wait_for
from tests.harness.tmpfs import small_tmpfs

pytestmark = pytest.mark.airflow

DAGS = Path(__file__).parent / "dags"
REL = "dag_id=disk_filler/run_id={run}/task_id=talk/attempt=1.log"


@pytest.fixture
def full_disk_airflow(tmp_path: Path) -> Iterator[tuple[AirflowDeployment, S3Server]]:
    """Airflow whose log folder is a 256 KiB tmpfs, shipping to S3."""
    with small_tmpfs(tmp_path / "home" / "logs", "256k"):
        store = S3Server(tmp_path / "s3")
        deployment = AirflowDeployment(
            tmp_path / "home",
            dags=[DAGS / "full_disk_dags.py"],
            settings={
                **store.settings(),
                "AIRFLOW__PLATFORM_LOGGING__FLUSH_INTERVAL": str(FLUSH_INTERVAL),
                "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(tmp_path / "dp-logs"),
            },
        )
        try:
            deployment.start()
            deployment.create_connection(CONN_ID, store.connection())
            yield deployment, store
        finally:
            deployment.stop()
            store.stop()


def test_a_full_log_disk_keeps_the_task_and_ships_what_was_written(
    full_disk_airflow: tuple[AirflowDeployment, S3Server],
) -> None:
    airflow, store = full_disk_airflow
    airflow.wait_dag("disk_filler")
    run = airflow.trigger("disk_filler")
    assert airflow.wait_run("disk_filler", run, timeout=240) == "success"
    assert airflow.task_instance("disk_filler", run, "after")["state"] == "success"

    local = airflow.log_folder / REL.format(run=run)
    written = local.read_bytes()
    assert 0 < len(written) < 3000 * 300, "the disk did not fill up"
    prefix = keys.log_key(store.prefix, REL.format(run=run))

    def stored() -> bytes:
        streams = stored_stream_bytes(store, prefix)
        return next(iter(streams.values()), b"")

    wait_for(lambda: stored() == written, timeout=60, what="every byte that reached the disk is stored")
    worker = airflow.processes["scheduler"].log_text()  # the LocalExecutor's supervisors print here
    assert f"cannot write the task log {local}" in worker, worker[-3000:]
    assert f"in the log folder {local.parent}" in worker
