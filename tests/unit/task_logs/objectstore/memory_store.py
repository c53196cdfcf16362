"""An in-memory ObjectStore for unit tests of the backend-neutral core (a fake at the client boundary)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectInfo


class MemoryStore:
    def __init__(self, prefix: str = "logs") -> None:
        self.prefix = prefix
        self.upload_slots = 8
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.bytes_put = 0
        self.failure: RemoteLogError | None = None
        self.calls = 0
        self._lock = threading.Lock()

    def url(self, key: str) -> str:
        return f"mem://{key}"

    def _check(self) -> None:
        with self._lock:
            self.calls += 1
        if self.failure is not None:
            raise self.failure

    def put_new(self, key: str, body: FileRange) -> None:
        self._check()
        data = body.read_all()
        with self._lock:
            self.puts.append(key)
            self.bytes_put += len(data)
            self.objects.setdefault(key, data)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self._check()
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield ObjectInfo(key, len(self.objects[key]))

    def get(self, key: str, start: int, length: int) -> bytes:
        self._check()
        return self.objects[key][start : start + length]

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        data = self.get(key, start, length)
        for i in range(0, len(data), 7):
            yield data[i : i + 7]
