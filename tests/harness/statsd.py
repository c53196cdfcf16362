"""A StatsD listener on 127.0.0.1 (UDP) that records what Airflow components send."""

from __future__ import annotations

import socket
import threading


class StatsdListener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._run, name="statsd-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.lines.extend(data.decode(errors="replace").splitlines())

    def counter(self, name: str) -> int:
        """Sum of all increments received for the counter ``name``."""
        total = 0
        for line in list(self.lines):
            metric, _, rest = line.partition(":")
            if metric == name and rest.endswith("|c"):
                total += int(float(rest[:-2]))
        return total

    def close(self) -> None:
        self.sock.close()
