"""One S3 benchmark operation per process: ``python -m benchmarks.s3_ops CONTENDER OPERATION ...``.

Contenders: ``ours`` (this package's S3RemoteLogIO), ``provider`` (the amazon provider's
S3RemoteLogIO), ``boto3`` (plain ``upload_file`` and a streaming ``get_object``, bytes only) and
``boto3+lines`` (read only: the same streaming ``get_object`` split into lines the plain way).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from benchmarks.ops import Action, count_bytes, count_lines, measure, remote_io_action, split_floor

BUCKET = "bench"


def _endpoint() -> str:
    return os.environ["BENCH_S3_ENDPOINT"]


def ours(base: str, prefix: str) -> Any:
    from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
    from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
    from airflow_platform_plugins.task_logs.objectstore.remote_io import StoreHandle
    from airflow_platform_plugins.task_logs.objectstore.s3 import S3RemoteLogIO, S3Store, build_client

    fields = ConnectionFields(
        "bench",
        login="bench",
        password="bench",
        extra={"endpoint_url": _endpoint(), "region_name": "us-east-1"},
    )
    handle = StoreHandle(lambda _: S3Store(build_client(fields), BUCKET, prefix), conn_id="", prefix=prefix)
    return S3RemoteLogIO(store=handle, base_log_folder=base, delete_local_copy=False, policy=ShippingPolicy())


def provider(base: str, prefix: str) -> Any:
    os.environ["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] = "bench"
    os.environ["AIRFLOW_CONN_BENCH"] = json.dumps(
        {
            "conn_type": "aws",
            "login": "bench",
            "password": "bench",
            "extra": {"endpoint_url": _endpoint(), "region_name": "us-east-1"},
        }
    )
    from airflow.providers.amazon.aws.log.s3_task_handler import S3RemoteLogIO

    return S3RemoteLogIO(remote_base=f"s3://{BUCKET}/{prefix}", base_log_folder=base, delete_local_copy=False)


def client() -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=_endpoint(),
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def main(contender: str, operation: str, base: str, rel: str, prefix: str) -> dict[str, Any]:
    def setup() -> Action:
        if contender in ("boto3", "boto3+lines"):
            s3, key = client(), f"{prefix}/{rel}"
            if operation == "upload":
                return lambda: s3.upload_file(os.path.join(base, rel), BUCKET, key) or {}
            if contender == "boto3+lines":
                body = lambda: s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(1 << 20)  # noqa: E731
                return lambda: count_lines(split_floor(body()))
            return lambda: count_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(1 << 20))
        io = ours(base, prefix) if contender == "ours" else provider(base, prefix)
        # Steady state, as in a running worker or api-server: the client exists before the operation.
        io.store() if contender == "ours" else io.hook.get_conn()
        return remote_io_action(io, operation, rel, streams=contender == "ours")

    return measure(setup)


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
