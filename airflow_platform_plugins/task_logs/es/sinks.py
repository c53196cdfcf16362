"""Where the Elasticsearch line writer sends documents: the sink protocol, and stdout for a shipper."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.es.documents import to_json_line

Batch = list[tuple[str, int, dict[str, Any]]]
"""``(document _id, offset, document)`` in offset order."""


class Sink(Protocol):
    """Where documents go. ``send`` raises :class:`RemoteLogError`; it may get the same batch again."""

    name: str
    latency: float
    """Seconds a complete line may wait before it is sent."""
    max_bytes: int
    """Largest batch, in bytes of log lines."""

    def where(self) -> str:
        """Where documents go, for messages."""
        ...

    def prepare(self) -> None:
        """Get ready to send (client, index template) while the first lines wait; may raise."""
        ...

    def send(self, batch: Batch) -> None:
        """Write ``batch`` completely, or raise."""
        ...


class StdoutSink:
    """JSON lines on this process's stdout (file descriptor 1), which the container runtime keeps."""

    name = "stdout"
    latency = 0.1
    max_bytes = 1 << 20

    def __init__(self, fd: int = 1, write: Callable[[int, memoryview], int] = os.write) -> None:
        self._fd = fd
        self._write = write
        self._lock = threading.Lock()

    def where(self) -> str:
        """``stdout``."""
        return "stdout"

    def prepare(self) -> None:
        """Nothing to prepare."""

    def send(self, batch: Batch) -> None:
        """Write the documents as JSON lines, all of them."""
        data = memoryview(b"".join(to_json_line(doc) for _, _, doc in batch))
        with self._lock:
            while data:
                try:
                    written = self._write(self._fd, data)
                except InterruptedError:
                    continue
                except OSError as exc:
                    raise RemoteLogError(f"cannot write to stdout: {exc}") from exc
                data = data[written:]
