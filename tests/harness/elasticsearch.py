"""A real single-node Elasticsearch or OpenSearch on 127.0.0.1, from the integ-test zip Maven Central serves.

- The zip and a Java 21 or newer come through :mod:`tests.harness.prerequisites` (fetched with
  ``mvn dependency:get`` into ``~/.m2`` on first use); each node unzips it into its own temporary
  folder, removed when the node stops.
- Both refuse to run as root; as root the node runs as ``nobody`` (uid 65534).
- Elasticsearch: security is off (``xpack.security.enabled=false``: the zip's auto-configuration
  otherwise breaks start-up). OpenSearch's integ-test zip has no security plugin.
- The node binds to 127.0.0.1 only, where bootstrap checks only warn.
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
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.prerequisites import (
    elasticsearch_coordinates,
    elasticsearch_version,
    find_java,
    maven_artifact_path,
    opensearch_coordinates,
    opensearch_version,
    require,
)
from tests.harness.processes import NOBODY, ManagedProcess, as_nobody, free_port

VERSION = elasticsearch_version()


@dataclass(frozen=True)
class Engine:
    """What differs between the two engines' distributions."""

    name: str  # "Elasticsearch" or "OpenSearch"
    part: str  # the prerequisites part
    coordinates: Any
    version: Any
    program: str  # in bin/
    env_prefix: str  # ES_ or OPENSEARCH_
    settings: dict[str, str] = field(default_factory=dict)


ELASTICSEARCH = Engine(
    "Elasticsearch",
    "elasticsearch",
    elasticsearch_coordinates,
    elasticsearch_version,
    "elasticsearch",
    "ES_",
    {"xpack.security.enabled": "false"},
)
OPENSEARCH = Engine(
    "OpenSearch", "opensearch", opensearch_coordinates, opensearch_version, "opensearch", "OPENSEARCH_"
)


def fetch_distribution(engine: Engine = ELASTICSEARCH) -> Path:
    """The integ-test zip in the local Maven repository, fetched from Maven Central on first use."""
    require("java21", engine.part)
    return maven_artifact_path(engine.coordinates())


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


class SearchNode:
    """One node; :attr:`url` is its HTTP endpoint. Call :meth:`stop` to stop it and remove its files."""

    engine = ELASTICSEARCH

    def __init__(
        self, *, heap: str = "1g", settings: dict[str, str] | None = None, timeout: float = 420
    ) -> None:
        zip_path = fetch_distribution(self.engine)
        self.java_home = find_java()
        # Every folder up to the node's must be traversable by 'nobody': not under pytest's 0700 tmp.
        self.base = Path(tempfile.mkdtemp(prefix=f"app-{self.engine.part}-"))
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
        # The JVM options name files relative to the working folder, which OpenSearch's launcher
        # changes to the (root-owned) distribution: make them absolute, under the node's own folder.
        options_file = run / "config" / "jvm.options"
        text = options_file.read_text()
        for relative in ("logs/", "data"):
            text = text.replace(f"file={relative}", f"file={run}/{relative}").replace(
                f"Path={relative}", f"Path={run}/{relative}"
            )
        options_file.write_text(text.replace("ErrorFile=logs/", f"ErrorFile={run}/logs/"))
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
                **self.engine.settings,
                "network.host": "127.0.0.1",
                "http.port": str(self.port),
                "transport.port": str(free_port()),
                "path.data": str(run / "data"),
                "path.logs": str(run / "logs"),
                "cluster.routing.allocation.disk.threshold_enabled": "false",
                "action.destructive_requires_name": "false",
                **settings,
            }
            argv = [str(self.home / "bin" / self.engine.program)]
            for key, value in options.items():
                argv += ["-E", f"{key}={value}"]
            prefix = self.engine.env_prefix
            env = {
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("ES_", "OPENSEARCH_", "JAVA_", "OS_VERSION"))
                },
                f"{prefix}JAVA_HOME": str(self.java_home),
                f"{prefix}JAVA_OPTS": f"-Xms{heap} -Xmx{heap} -Djava.io.tmpdir={run / 'tmp'}",
                f"{prefix}PATH_CONF": str(run / "config"),
                f"{prefix}TMPDIR": str(run / "tmp"),
                "HOME": str(run),
            }
            self.url = f"http://127.0.0.1:{self.port}"
            self.process = ManagedProcess(
                argv,
                self.base / f"node-{attempt}.log",
                env=env,
                cwd=run,
                preexec=as_nobody if as_root else None,
            )
            if self._wait_green(timeout):
                return
            log = self.process.log_text()
            self.process.stop()
            if "BindException" not in log and "Address already in use" not in log:
                raise RuntimeError(f"{self.engine.name} did not start:\n{log[-4000:]}")
        raise RuntimeError(f"{self.engine.name} could not bind a free port in three attempts")

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
        raise TimeoutError(
            f"{self.engine.name} not green after {timeout}s:\n{self.process.log_text()[-3000:]}"
        )

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

    def settings(self, url: str | None = None, timeout: float = 60) -> Any:
        """This package's client settings for the node (or for ``url``, a proxy in front of it)."""
        return self.settings_for(url or self.url, timeout)

    @classmethod
    def settings_for(cls, url: str, timeout: float = 60) -> Any:
        """This package's client settings for the engine at ``url``."""
        from airflow_platform_plugins.task_logs.es.client import ClientSettings

        return ClientSettings((url,), {"request_timeout": timeout})

    @classmethod
    def build(cls, settings: Any) -> Any:
        """This package's client for ``settings``."""
        from airflow_platform_plugins.task_logs.es.client import build_client

        return build_client(settings)

    def delete_indices(self, pattern: str = "*") -> None:
        """Delete the indices (and data streams) matching ``pattern``, keeping templates."""
        self.request("DELETE", f"/{pattern}?expand_wildcards=all&ignore_unavailable=true")

    def stop(self) -> None:
        process = getattr(self, "process", None)
        if process is not None:
            process.stop(signal.SIGTERM, timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)


class ElasticsearchNode(SearchNode):
    """A single-node Elasticsearch."""

    engine = ELASTICSEARCH


class OpenSearchNode(SearchNode):
    """A single-node OpenSearch; its :meth:`client` is this package's adapter, with what tests need."""

    engine = OPENSEARCH

    def client(self, **kwargs: Any) -> Any:
        """This package's ``opensearch-py`` adapter with the few calls fixtures make besides."""
        from tests.harness.opensearch_client import TestClient

        return TestClient.connect(self.url, **kwargs)

    @classmethod
    def settings_for(cls, url: str, timeout: float = 60) -> Any:
        from airflow_platform_plugins.task_logs.es.os_settings import OpenSearchSettings

        parts = urllib.parse.urlsplit(url)
        return OpenSearchSettings(
            host=parts.hostname or "",
            port=parts.port or 9200,
            scheme=parts.scheme,
            kwargs={"timeout": timeout},
        )

    @classmethod
    def build(cls, settings: Any) -> Any:
        from airflow_platform_plugins.task_logs.es.os_settings import build_opensearch

        return build_opensearch(settings)
