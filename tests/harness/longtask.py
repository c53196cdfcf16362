"""A long, chatty try simulated on the engine's manual clock, against a real store behind a counting proxy.

The shipper runs its real code on a real server (moto, fake-gcs-server, Azurite); only time is simulated: each
step appends one flush interval's lines to the local file, advances a :class:`ManualClock` and runs
one pass of the engine. :class:`CountingStore` keeps the set of stored objects at every moment; the
proxy in front of the server counts the object bytes the worker sends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from airflow_platform_plugins.task_logs.objectstore.merger import Merger
from airflow_platform_plugins.task_logs.objectstore.shipper import Shipper
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectInfo
from tests.harness.azurite import ACCOUNT, Azurite, BlobUploadCounter, connection_string
from tests.harness.faultproxy import FaultProxy, UploadPayloadCounter
from tests.harness.gcs import FakeGCSServer
from tests.harness.moto import MotoServer
from tests.harness.processes import free_port
from tests.harness.tasklog import ManualClock, TaskLog

LINES_PER_SECOND = 10
FLUSH_INTERVAL = 3.0


def chatty_line(n: int) -> bytes:
    """One 118-byte JSON line, like a chatty task's (all of them are as long)."""
    return (
        b'{"timestamp":"2024-01-01T%02d:%02d:%02d.%06dZ","level":"info","event":"processed record %09d",'
        b'"logger":"task.chatty"}' % (n // 36000 % 24, n // 600 % 60, n // 10 % 60, n % 10 * 100000, n)
    )


INTERVAL_BYTES = int(LINES_PER_SECOND * FLUSH_INTERVAL) * (len(chatty_line(0)) + 1)
"""Bytes one flush interval adds to the local log."""


class CountingStore:
    """Delegates to a real store and keeps the keys stored at every moment, and the calls made."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.prefix = inner.prefix
        self.upload_slots = inner.upload_slots
        self.read_buffer = inner.read_buffer
        self.live: set[str] = set()
        self.calls: dict[str, int] = {}
        self.most = 0
        self._lock = threading.Lock()
        if hasattr(inner, "compose"):
            self.compose = self._compose

    def _count(self, name: str) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    def url(self, key: str) -> str:
        return str(self.inner.url(key))

    def put_new(self, key: str, body: FileRange) -> None:
        self._count("put")
        self.inner.put_new(key, body)
        with self._lock:
            self.live.add(key)
            self.most = max(self.most, len(self.live))

    def _compose(self, key: str, sources: list[str]) -> None:
        self._count("compose")
        self.inner.compose(key, sources)
        with self._lock:
            self.live.add(key)
            self.most = max(self.most, len(self.live))

    def delete(self, key: str) -> None:
        self._count("delete")
        self.inner.delete(key)
        with self._lock:
            self.live.discard(key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self._count("list")
        return self.inner.list(prefix)  # type: ignore[no-any-return]

    def get(self, key: str, start: int, length: int) -> bytes:
        self._count("get")
        return self.inner.get(key, start, length)  # type: ignore[no-any-return]

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        self._count("get")
        return self.inner.iter_bytes(key, start, length)  # type: ignore[no-any-return]


@dataclass
class Backend:
    """A real store server, a counting proxy in front of it, and this package's store through the proxy."""

    name: str
    store: Any
    counter: UploadPayloadCounter
    proxy: FaultProxy
    stop: list[Any] = field(default_factory=list)

    def bytes_sent(self) -> int:
        """Object bytes of every upload request that went through the proxy."""
        return sum(self.counter.by_name.values())

    def close(self) -> None:
        for stop in self.stop:
            stop()


def s3_backend(moto: MotoServer, bucket: str) -> Backend:
    """This package's S3 store reaching ``moto`` through a proxy that counts PUT/POST bodies."""
    from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
    from airflow_platform_plugins.task_logs.objectstore.s3 import S3Store, build_client

    counter = UploadPayloadCounter(upload_path=f"/{bucket}/".encode())
    proxy = FaultProxy(moto.port, counter=counter)
    conn = moto.connection(endpoint=proxy.url)
    fields = ConnectionFields("c", login=conn["login"], password=conn["password"], extra=conn["extra"])
    store = S3Store(build_client(fields), bucket, "logs")
    return Backend("s3", store, counter, proxy, [proxy.close])


def gcs_backend(workdir: Path, bucket: str) -> Backend:
    """This package's GCS store reaching a fake-gcs-server through a proxy that counts uploads."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from airflow_platform_plugins.task_logs.objectstore.gcs import GCSStore

    port = free_port()
    counter = UploadPayloadCounter()
    proxy = FaultProxy(port, counter=counter)
    server = FakeGCSServer(workdir, port=port, external_url=proxy.url)
    server.client().create_bucket(bucket)

    def client() -> Any:
        return storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": proxy.url}
        )

    return Backend("gcs", GCSStore(client, bucket, "logs"), counter, proxy, [proxy.close, server.stop])


def azure_backend(azurite: Azurite, container: str) -> Backend:
    """This package's Azure Blob store reaching Azurite through a proxy that counts Put Blob and Put
    Block bodies (Put Block List carries only block ids). Azure has no server-side compose: merges
    upload the covering object from the local file, and those bytes count."""
    from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
    from airflow_platform_plugins.task_logs.objectstore.azure import AzureBlobStore
    from airflow_platform_plugins.task_logs.objectstore.azure_auth import build_service_client

    azurite.client().create_container(container)
    counter = BlobUploadCounter(f"/{ACCOUNT}/{container}/".encode())
    proxy = FaultProxy(azurite.port, counter=counter)
    fields = ConnectionFields("c", extra={"connection_string": connection_string(proxy.url)})
    store = AzureBlobStore(lambda: build_service_client(fields), container, "logs")
    return Backend("azure", store, counter, proxy, [proxy.close])


@dataclass
class Simulation:
    """A shipper on a manual clock following one chatty local log."""

    base: Path
    store: Any
    clock: ManualClock = field(default_factory=ManualClock)
    lines: int = 0
    merger: Merger | None = None

    def __post_init__(self) -> None:
        policy = ShippingPolicy(flush_interval=FLUSH_INTERVAL, upload_timeout=60, retry_max_delay=1)
        self.shipper = Shipper(
            lambda: self.store,
            prefix=self.store.prefix,
            base_log_folder=str(self.base),
            policy=policy,
            host="worker-1",
            clock=self.clock,
            background=False,
            merger=self.merger,
        )
        self.processor = ShippingProcessor(self.shipper)
        self.log = TaskLog(self.base)

    def interval(self) -> None:
        """One flush interval: its lines reach the local file, then the engine takes one step."""
        count = int(LINES_PER_SECOND * FLUSH_INTERVAL)
        self.processor(self.log.logger, "info", {"event": "tick"})
        self.log.logger.msg(b"\n".join(chatty_line(self.lines + i) for i in range(count)))
        self.lines += count
        self.clock.advance(FLUSH_INTERVAL)
        self.shipper.step()

    def finish(self) -> bool:
        return self.shipper.finish(str(self.log.path))
