"""A chatty try's shipper in its own process, for SIGKILL tests: ``python -m tests.harness.longtask_child``.

Arguments: ``s3|gcs|azure ENDPOINT BUCKET BASE_LOG_FOLDER run|finish`` (for Azure, ENDPOINT is
Azurite's address and BUCKET the container). ``run`` ships until killed, printing
``merge`` just before each merge writes (so the test can kill in the middle of one); ``finish`` ships
a few more intervals, finishes the try and exits.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airflow_platform_plugins.task_logs.objectstore.compaction import Merge
from airflow_platform_plugins.task_logs.objectstore.merger import Merger, MergeState
from airflow_platform_plugins.task_logs.objectstore.store import ObjectStore
from tests.harness.longtask import Simulation


class AnnouncingMerger(Merger):
    """Merges often (small fan-in) and says when a merge starts."""

    def _merge(
        self, store: ObjectStore, state: MergeState, merge: Merge, where: tuple[str, str, str], now: float
    ) -> bool:
        sys.stdout.write("merge\n")
        sys.stdout.flush()
        return super()._merge(store, state, merge, where, now)


def build_store(kind: str, endpoint: str, bucket: str) -> Any:
    if kind == "s3":
        from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
        from airflow_platform_plugins.task_logs.objectstore.s3 import S3Store, build_client
        from tests.harness.moto import ACCESS_KEY, REGION, SECRET_KEY

        extra = {"endpoint_url": endpoint, "region_name": REGION}
        fields = ConnectionFields("c", login=ACCESS_KEY, password=SECRET_KEY, extra=extra)
        return S3Store(build_client(fields), bucket, "logs")
    if kind == "azure":
        from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
        from airflow_platform_plugins.task_logs.objectstore.azure import AzureBlobStore
        from airflow_platform_plugins.task_logs.objectstore.azure_auth import build_service_client
        from tests.harness.azurite import connection_string

        azure = ConnectionFields("c", extra={"connection_string": connection_string(endpoint)})
        return AzureBlobStore(lambda: build_service_client(azure), bucket, "logs")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from airflow_platform_plugins.task_logs.objectstore.gcs import GCSStore

    def client() -> Any:
        return storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
        )

    return GCSStore(client, bucket, "logs")


def main(kind: str, endpoint: str, bucket: str, base: str, mode: str) -> int:
    sim = Simulation(
        Path(base), build_store(kind, endpoint, bucket), merger=AnnouncingMerger(fan_in=3, grace=6)
    )
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if mode == "finish":
        for _ in range(5):
            sim.interval()
        return 0 if sim.finish() else 1
    for _ in range(100_000):  # bounded: the test kills it long before
        sim.interval()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
