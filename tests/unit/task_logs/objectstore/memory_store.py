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
        self.read_buffer = 0
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.deletes: list[str] = []
        self.gets = 0
        self.most_objects = 0
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
            self.most_objects = max(self.most_objects, len(self.objects))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self._check()
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield ObjectInfo(key, len(self.objects[key]))

    def get(self, key: str, start: int, length: int) -> bytes:
        self._check()
        self.gets += 1
        return self.objects[key][start : start + length]

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        data = self.get(key, start, length)
        for i in range(0, len(data), 7):
            yield data[i : i + 7]

    def delete(self, key: str) -> None:
        self._check()
        with self._lock:
            self.deletes.append(key)
            self.objects.pop(key, None)


class ComposingMemoryStore(MemoryStore):
    """A store with the optional server-side ``compose`` (as Google Cloud Storage has)."""

    def __init__(self, prefix: str = "logs") -> None:
        super().__init__(prefix)
        self.composes: list[tuple[str, list[str]]] = []

    def compose(self, key: str, sources: list[str]) -> None:
        self._check()
        assert len(sources) <= 32
        with self._lock:
            self.composes.append((key, list(sources)))
            self.objects.setdefault(key, b"".join(self.objects[s] for s in sources))
            self.most_objects = max(self.most_objects, len(self.objects))
