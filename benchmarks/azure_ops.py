"""One Azure Blob benchmark operation per process: ``python -m benchmarks.azure_ops CONTENDER OPERATION ...``.

Contenders: ``ours`` (this package's AzureBlobRemoteLogIO), ``provider`` (the microsoft-azure
provider's WasbRemoteLogIO through its WasbHook), ``client`` (plain azure-storage-blob:
``upload_blob`` of the open file, and a streaming ``download_blob().chunks()``), and ``client+lines``
(that streaming read split into lines, the read floor). All use the same
Azurite account key, through an Airflow connection for the two RemoteLogIOs.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from benchmarks.ops import Action, count_bytes, count_lines, measure, remote_io_action, split_floor

CONTAINER = "bench"
CONN_ID = "bench_wasb"


def connection() -> dict[str, Any]:
    """The wasb connection both RemoteLogIOs get: account name, key and the Azurite endpoint."""
    from tests.harness.azurite import ACCOUNT, ACCOUNT_KEY

    return {
        "conn_type": "wasb",
        "login": ACCOUNT,
        "password": ACCOUNT_KEY,
        "host": f"{os.environ['BENCH_AZURE_ENDPOINT']}/{ACCOUNT}",
    }


def _service() -> Any:
    from azure.storage.blob import BlobServiceClient

    from tests.harness.azurite import connection_string

    return BlobServiceClient.from_connection_string(connection_string(os.environ["BENCH_AZURE_ENDPOINT"]))


def ours(base: str, prefix: str) -> Any:
    from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
    from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
    from airflow_platform_plugins.task_logs.objectstore.azure import AzureBlobRemoteLogIO, AzureBlobStore
    from airflow_platform_plugins.task_logs.objectstore.azure_auth import build_service_client
    from airflow_platform_plugins.task_logs.objectstore.remote_io import StoreHandle

    conn = connection()
    fields = ConnectionFields(CONN_ID, login=conn["login"], password=conn["password"], host=conn["host"])
    handle = StoreHandle(
        lambda _: AzureBlobStore(lambda: build_service_client(fields), CONTAINER, prefix),
        conn_id="",
        prefix=prefix,
    )
    return AzureBlobRemoteLogIO(
        store=handle, base_log_folder=base, delete_local_copy=False, policy=ShippingPolicy()
    )


def provider(base: str, prefix: str) -> Any:
    from airflow.providers.microsoft.azure.log.wasb_task_handler import WasbRemoteLogIO

    os.environ["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] = CONN_ID
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(connection())
    io = WasbRemoteLogIO(
        remote_base=prefix, base_log_folder=base, delete_local_copy=False, wasb_container=CONTAINER
    )
    io.hook.get_conn()  # steady state: the client exists before the operation
    return io


def main(contender: str, operation: str, base: str, rel: str, prefix: str) -> dict[str, Any]:
    def setup() -> Action:
        if contender in ("client", "client+lines"):
            blob = _service().get_blob_client(CONTAINER, f"{prefix}/{rel}")
            if operation == "upload":

                def upload() -> dict[str, Any]:
                    with open(os.path.join(base, rel), "rb") as data:
                        blob.upload_blob(data, overwrite=True)
                    return {}

                return upload
            if contender == "client+lines":
                return lambda: count_lines(split_floor(blob.download_blob().chunks()))
            return lambda: count_bytes(blob.download_blob().chunks())
        io = ours(base, prefix) if contender == "ours" else provider(base, prefix)
        if contender == "ours":
            io.store().container()  # steady state: the client exists before the operation
        return remote_io_action(io, operation, rel, streams=contender == "ours")

    return measure(setup)


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
