"""One GCS benchmark operation per process: ``python -m benchmarks.gcs_ops CONTENDER OPERATION ...``.

Contenders: ``ours`` (this package's GCSRemoteLogIO), ``provider`` (the google provider's
GCSRemoteLogIO), ``client`` (plain google-cloud-storage: ``upload_from_filename``, ``blob.open``).
All use anonymous credentials against the same fake-gcs-server.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from benchmarks.measure import rss_mb

BUCKET = "bench"


def _client() -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="bench",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": os.environ["BENCH_GCS_ENDPOINT"]},
    )


def ours(base: str, prefix: str) -> Any:
    from airflow_platform_plugins.task_logs.gcs import GCSRemoteLogIO, GCSStore
    from airflow_platform_plugins.task_logs.remote_io import StoreHandle
    from airflow_platform_plugins.task_logs.shipper import ShippingPolicy

    handle = StoreHandle(lambda _: GCSStore(_client, BUCKET, prefix), conn_id="", prefix=prefix)
    return GCSRemoteLogIO(
        store=handle, base_log_folder=base, delete_local_copy=False, policy=ShippingPolicy()
    )


def provider(base: str, prefix: str) -> Any:
    from airflow.providers.google.cloud.log.gcs_task_handler import GCSRemoteLogIO

    io = GCSRemoteLogIO(remote_base=f"gs://{BUCKET}/{prefix}", base_log_folder=base, delete_local_copy=False)
    io.__dict__["client"] = _client()  # the same anonymous client to the same server as the others
    return io


def main(contender: str, operation: str, base: str, rel: str, prefix: str) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if contender == "client":
        blob = _client().bucket(BUCKET).blob(f"{prefix}/{rel}")
        baseline = rss_mb()
        started = time.perf_counter()
        if operation == "upload":
            blob.upload_from_filename(os.path.join(base, rel))
        else:
            size = lines = 0
            with blob.open("rb") as stream:
                while block := stream.read(1 << 20):
                    size += len(block)
                    lines += block.count(b"\n")
            detail = {"bytes": size, "lines": lines}
    else:
        io = ours(base, prefix) if contender == "ours" else provider(base, prefix)
        if contender == "ours":
            io.store()._bucket()
        baseline = rss_mb()
        started = time.perf_counter()
        if operation == "upload":
            io.upload(rel, None)
        elif contender == "ours":
            _, streams = io.stream(rel, None)
            lines = chars = 0
            for stream in streams:
                for line in stream:
                    lines += 1
                    chars += len(line)
            detail = {"lines": lines, "chars": chars}
        else:
            # As for S3: Airflow's FileTaskHandler turns what read() returns into lines.
            from airflow.utils.log.file_task_handler import _get_compatible_log_stream

            _, logs = io.read(rel, None)
            lines = chars = 0
            for line in _get_compatible_log_stream(logs or []):
                lines += 1
                chars += len(line)
            detail = {"lines": lines, "chars": chars}
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "baseline_rss_mb": baseline, **detail}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
