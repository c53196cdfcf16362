"""A real single-node Elasticsearch on 127.0.0.1, from the integ-test zip that Maven Central serves.

- The zip and a Java 21 or newer come through :mod:`tests.harness.prerequisites` (fetched with
  ``mvn dependency:get`` into ``~/.m2`` on first use); each node unzips it into its own temporary
  folder, removed when the node stops.
- Elasticsearch refuses to run as root; as root the node runs as ``nobody`` (uid 65534).
- Security is off (``xpack.security.enabled=false``: the zip's auto-configuration otherwise breaks
  start-up) and the node binds to 127.0.0.1 only, where bootstrap checks only warn.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from tests.harness.prerequisites import (
    elasticsearch_coordinates,
    elasticsearch_version,
    find_java,
    maven_artifact_path,
    require,
)
from tests.harness.processes import ManagedProcess, free_port

VERSION = elasticsearch_version()
NOBODY = 65534


def fetch_distribution() -> Path:
    """The integ-test zip in the local Maven repository, fetched from Maven Central on first use."""
    require("java21", "elasticsearch")
    return maven_artifact_path(elasticsearch_coordinates())


def _unzip(zip_path: Path, target: Path) -> Path:
    """Extract keeping the zip's file modes (``zipfile`` alone drops the executable bits)."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            extracted = Path(archive.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                extracted.chmod(mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    (home,) = [p for p in target.iterdir() if p.is_dir()]
    return home


def _as_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    # Changing credentials cleared the parent-death signal that ManagedProcess set: set it again.
    import ctypes

    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)


class ElasticsearchNode:
    """One node; :attr:`url` is its HTTP endpoint. Call :meth:`stop` to stop it and remove its files."""

    def __init__(
        self, *, heap: str = "1g", settings: dict[str, str] | None = None, timeout: float = 180
    ) -> None:
        zip_path = fetch_distribution()
        self.java_home = find_java()
        # Every folder up to the node's must be traversable by 'nobody': not under pytest's 0700 tmp.
        self.base = Path(tempfile.mkdtemp(prefix="app-es-"))
        self.base.chmod(0o755)
        try:
            self.home = _unzip(zip_path, self.base / "dist")
            self._start(heap, settings or {}, timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, heap: str, settings: dict[str, str], timeout: float) -> None:
        run = self.base / "run"
        shutil.copytree(self.home / "config", run / "config")  # the node writes its keystore here
        for name in ("data", "logs", "tmp"):
            (run / name).mkdir(parents=True)
        as_root = os.geteuid() == 0
        if as_root:
            for path in [run, *run.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        for attempt in range(3):
            self.port = free_port()
            options = {
                "discovery.type": "single-node",
                "xpack.security.enabled": "false",
                "network.host": "127.0.0.1",
                "http.port": str(self.port),
                "transport.port": str(free_port()),
                "path.data": str(run / "data"),
                "path.logs": str(run / "logs"),
                "cluster.routing.allocation.disk.threshold_enabled": "false",
                "action.destructive_requires_name": "false",
                **settings,
            }
            argv = [str(self.home / "bin" / "elasticsearch")]
            for key, value in options.items():
                argv += ["-E", f"{key}={value}"]
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("ES_", "JAVA_"))},
                "ES_JAVA_HOME": str(self.java_home),
                "ES_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}",
                "ES_PATH_CONF": str(run / "config"),
                "ES_TMPDIR": str(run / "tmp"),
                "HOME": str(run),
            }
            self.url = f"http://127.0.0.1:{self.port}"
            self.process = ManagedProcess(
                argv,
                self.base / f"node-{attempt}.log",
                env=env,
                cwd=run,
                preexec=_as_nobody if as_root else None,
            )
            if self._wait_green(timeout):
                return
            log = self.process.log_text()
            self.process.stop()
            if "BindException" not in log and "Address already in use" not in log:
                raise RuntimeError(f"Elasticsearch did not start:\n{log[-4000:]}")
        raise RuntimeError("Elasticsearch could not bind a free port in three attempts")

    def _wait_green(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                return False
            try:
                if (
                    self.request("GET", "/_cluster/health?wait_for_status=green&timeout=2s")["status"]
                    == "green"
                ):
                    return True
            except (OSError, ValueError, KeyError):
                time.sleep(0.25)
        raise TimeoutError(f"Elasticsearch not green after {timeout}s:\n{self.process.log_text()[-3000:]}")

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON request to the node (for fixtures; tests use the official client)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ValueError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def client(self, **kwargs: Any) -> Any:
        """An official ``elasticsearch`` client for this node."""
        from elasticsearch import Elasticsearch

        return Elasticsearch(self.url, request_timeout=120, **kwargs)

    def delete_indices(self, pattern: str = "*") -> None:
        """Delete the indices (and data streams) matching ``pattern``, keeping templates."""
        self.request("DELETE", f"/{pattern}?expand_wildcards=all&ignore_unavailable=true")

    def stop(self) -> None:
        process = getattr(self, "process", None)
        if process is not None:
            process.stop(signal.SIGTERM, timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)
