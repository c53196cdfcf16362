"""One GCS benchmark operation per process: ``python -m benchmarks.gcs_ops CONTENDER OPERATION ...``.

Contenders: ``ours`` (this package's GCSRemoteLogIO), ``provider`` (the google provider's
GCSRemoteLogIO), ``client`` (plain google-cloud-storage: ``upload_from_filename``, ``blob.open``).
All use anonymous credentials against the same fake-gcs-server.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from benchmarks.ops import Action, count_bytes, count_lines, measure, remote_io_action, split_floor

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
    from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
    from airflow_platform_plugins.task_logs.objectstore.gcs import GCSRemoteLogIO, GCSStore
    from airflow_platform_plugins.task_logs.objectstore.remote_io import StoreHandle

    handle = StoreHandle(lambda _: GCSStore(_client, BUCKET, prefix), conn_id="", prefix=prefix)
    return GCSRemoteLogIO(
        store=handle, base_log_folder=base, delete_local_copy=False, policy=ShippingPolicy()
    )


def provider(base: str, prefix: str) -> Any:
    from airflow.providers.google.cloud.log.gcs_task_handler import GCSRemoteLogIO

    client = _client()

    class ProviderIO(GCSRemoteLogIO):  # type: ignore[misc]
        """The provider's class, given the same anonymous client to the same server as the others."""

        @property
        def client(self) -> Any:
            return client

        @staticmethod
        def no_log_found(exc: Exception) -> bool:
            # The provider recognises "no old log yet" by GCS's message text ("No such object"); the
            # test server words its 404 differently, and the provider would then refuse to write.
            from google.api_core.exceptions import NotFound

            return isinstance(exc, NotFound) or bool(GCSRemoteLogIO.no_log_found(exc))

    return ProviderIO(remote_base=f"gs://{BUCKET}/{prefix}", base_log_folder=base, delete_local_copy=False)


def main(contender: str, operation: str, base: str, rel: str, prefix: str) -> dict[str, Any]:
    def setup() -> Action:
        if contender in ("client", "client+lines"):
            blob = _client().bucket(BUCKET).blob(f"{prefix}/{rel}")
            if operation == "upload":
                return lambda: blob.upload_from_filename(os.path.join(base, rel)) or {}

            def stream_read() -> dict[str, Any]:
                with blob.open("rb") as stream:
                    blocks = iter(lambda: stream.read(1 << 20), b"")
                    if contender == "client+lines":
                        return count_lines(split_floor(blocks))
                    return count_bytes(blocks)

            return stream_read
        io = ours(base, prefix) if contender == "ours" else provider(base, prefix)
        if contender == "ours":
            io.store()._bucket()  # steady state: the client exists before the operation
        return remote_io_action(io, operation, rel, streams=contender == "ours")

    return measure(setup)


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
