"""The demo's log stores on 127.0.0.1: moto (S3), fake-gcs-server (GCS), an Elasticsearch node."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from tests.harness.stores import settings

BUCKET = "airflow-logs"


class DemoStore(Protocol):
    name: str
    where: str
    """One line: what the store is and where it listens."""

    def settings(self) -> dict[str, str]: ...
    def holds(self) -> str: ...
    def stored_lines(self, prefix: str) -> int | None:
        """Lines starting with ``prefix`` the store holds (``None``: the end of the try settles it)."""

    def started(self, run_folder: Path) -> None:
        """Airflow is up; its components print to files in ``run_folder``."""

    def stop(self) -> None: ...


def numbered_lines(prefix: str, bodies: Any) -> int:
    """Distinct ``<prefix> <n>`` lines in the stored objects (chunks of one log never repeat a line)."""
    pattern = re.compile(re.escape(prefix.encode()) + rb" \d+")
    found: set[bytes] = set()
    for body in bodies:
        found.update(pattern.findall(body))
    return len(found)


class S3Store:
    name = "S3"

    def __init__(self, workdir: Path) -> None:
        from tests.harness.moto import MotoServer

        self.moto = MotoServer(workdir)
        self.client = self.moto.client()
        self.client.create_bucket(Bucket=BUCKET)
        self.where = f"S3 (moto server):  {self.moto.url}   bucket {BUCKET}"

    def settings(self) -> dict[str, str]:
        return settings(f"s3://{BUCKET}/logs", self.moto.connection())

    def holds(self) -> str:
        objects = self.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return f"{len(objects)} chunk object(s) in S3"

    def stored_lines(self, prefix: str) -> int | None:
        # The run is marked a success before the supervisor's last upload ends: count what S3 holds.
        bodies = (
            self.client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            for item in self.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        )
        return numbered_lines(prefix, bodies)

    def started(self, run_folder: Path) -> None:
        pass

    def stop(self) -> None:
        self.moto.stop()


class GCSStore:
    name = "GCS"

    def __init__(self, workdir: Path) -> None:
        from tests.harness.gcs import FakeGCSServer

        self.server = FakeGCSServer(workdir)
        self.client = self.server.client()
        self.client.create_bucket(BUCKET)
        self.where = f"GCS (fake-gcs-server):  {self.server.url}   bucket {BUCKET}"

    def settings(self) -> dict[str, str]:
        # No connection: the client library's emulator variable and anonymous credentials stand in for
        # Workload Identity.
        return {**settings(f"gs://{BUCKET}/logs", conn_id=""), "STORAGE_EMULATOR_HOST": self.server.url}

    def holds(self) -> str:
        return f"{len(list(self.client.list_blobs(BUCKET)))} chunk object(s) in GCS"

    def stored_lines(self, prefix: str) -> int | None:
        # The run is marked a success before the supervisor's last upload ends: count what GCS holds.
        return numbered_lines(prefix, (blob.download_as_bytes() for blob in self.client.list_blobs(BUCKET)))

    def started(self, run_folder: Path) -> None:
        pass

    def stop(self) -> None:
        self.server.stop()


class ElasticsearchStore:
    name = "Elasticsearch"
    index = "airflow-logs"

    def __init__(self, workdir: Path) -> None:
        from airflow_platform_plugins.task_logs.es import template
        from tests.harness.elasticsearch import ElasticsearchNode

        print("Starting an Elasticsearch node (about a minute) ...")
        self.workdir = workdir
        self.node = ElasticsearchNode(heap="512m", timeout=400)
        self.client = self.node.client()
        template.install(
            self.client, template.index_template([f"{self.index}-*"], settings={"number_of_replicas": 0})
        )
        self.followers: list[Any] = []
        self.where = f"Elasticsearch:  {self.node.url}   daily indices {self.index}-*"

    def settings(self) -> dict[str, str]:
        # Each line goes to the worker's stdout as a JSON document while the task runs; a shipper sends
        # it on (docs/elasticsearch.md). No Fluent Bit here: tests/harness/shipping.py does its steps.
        return {
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__ELASTICSEARCH__HOST": self.node.url,
            "AIRFLOW__ELASTICSEARCH__WRITE_STDOUT": "True",
            "AIRFLOW__ELASTICSEARCH__INDEX_PATTERNS": f"{self.index}-*",
        }

    def started(self, run_folder: Path) -> None:
        """Ship what the worker (the scheduler here) and the triggerer print, from now on."""
        from tests.harness.shipping import FLUENT_BIT, FluentShipper, StdoutFollower

        shipper = FluentShipper(self.client, FLUENT_BIT, index_prefix=self.index)
        self.followers = [
            StdoutFollower(shipper, run_folder / f"{name}.log", interval=1.0)
            for name in ("scheduler", "triggerer")
        ]
        print("Shipping the worker's stdout to Elasticsearch as Fluent Bit would (every second).")

    def holds(self) -> str:
        for follower in self.followers:
            follower.poll()
        self.client.indices.refresh(index=f"{self.index}-*", ignore_unavailable=True)
        count = self.client.count(index=f"{self.index}-*", ignore_unavailable=True)["count"]
        return f"{count} line documents in Elasticsearch"

    def stored_lines(self, prefix: str) -> int | None:
        for follower in self.followers:
            follower.poll()
        self.client.indices.refresh(index=f"{self.index}-*", ignore_unavailable=True)
        query = {"match_phrase_prefix": {"message": prefix}}
        return int(self.client.count(index=f"{self.index}-*", query=query, ignore_unavailable=True)["count"])

    def stop(self) -> None:
        for follower in self.followers:
            follower.stop()
        self.client.close()
        self.node.stop()


STORES: dict[str, type[S3Store] | type[GCSStore] | type[ElasticsearchStore]] = {
    "s3": S3Store,
    "gcs": GCSStore,
    "es": ElasticsearchStore,
}
