"""A real single-node Elasticsearch on 127.0.0.1, from the integ-test zip that Maven Central serves.

- The zip is fetched with ``mvn dependency:get`` and stays cached in the local Maven repository
  (``~/.m2``); each node unzips it into its own temporary folder, removed when the node stops.
- The zip bundles no JDK: a Java 21 or newer is found (``ES_JAVA_HOME``, ``JAVA_HOME``, the JDKs under
  ``/usr/lib/jvm``, ``java`` on ``PATH``) or the fixture fails saying so.
- Elasticsearch refuses to run as root; as root the node runs as ``nobody`` (uid 65534).
- Security is off (``xpack.security.enabled=false``: the zip's auto-configuration otherwise breaks
  start-up) and the node binds to 127.0.0.1 only, where bootstrap checks only warn.

``python -m tests.harness.elasticsearch`` fetches the zip and checks Java (what ``.ci/run`` calls).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.harness.processes import ManagedProcess, free_port

# Maven Central serves only some 9.x integ-test zips (its metadata lists none): pin one it serves.
VERSION = os.environ.get("ES_VERSION", "9.5.4")
GROUP, ARTIFACT = "org.elasticsearch.distribution.integ-test-zip", "elasticsearch"
MIN_JAVA = 21
NOBODY = 65534
_RELEASE_VERSION_RE = re.compile(r'^JAVA_VERSION="(\d+)', re.MULTILINE)


class ElasticsearchUnavailable(RuntimeError):
    """The distribution or a suitable Java cannot be had; the message says exactly why."""


def maven_repository() -> Path:
    """The local Maven repository (``MAVEN_REPO_LOCAL`` overrides ``~/.m2/repository``)."""
    return Path(os.environ.get("MAVEN_REPO_LOCAL") or Path.home() / ".m2" / "repository")


def fetch_distribution(version: str = VERSION) -> Path:
    """The integ-test zip in the local Maven repository, fetched from Maven Central if missing."""
    zip_path = maven_repository() / GROUP.replace(".", "/") / ARTIFACT / version / f"{ARTIFACT}-{version}.zip"
    if zip_path.exists():
        return zip_path
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ElasticsearchUnavailable("mvn is not installed (apt-get install maven)")
    argv = [
        mvn,
        "-B",
        "-q",
        "dependency:get",
        f"-Dartifact={GROUP}:{ARTIFACT}:{version}:zip",
        "-Dtransitive=false",
    ]
    if os.environ.get("MAVEN_REPO_LOCAL"):
        argv.append(f"-Dmaven.repo.local={maven_repository()}")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if result.returncode != 0 or not zip_path.exists():
        errors = [line for line in result.stdout.splitlines() if "[ERROR]" in line][:2]
        raise ElasticsearchUnavailable(
            f"Maven Central did not serve {GROUP}:{ARTIFACT}:{version}:zip: "
            + (" ".join(errors) or result.stderr.strip()[-500:] or f"exit {result.returncode}")
        )
    return zip_path


def _java_major(home: Path) -> int | None:
    release = home / "release"
    if (home / "bin" / "java").exists() and release.exists():
        match = _RELEASE_VERSION_RE.search(release.read_text(errors="replace"))
        if match:
            return int(match[1])
    return None


def _candidate_homes() -> Iterable[Path]:
    for variable in ("ES_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(variable):
            yield Path(os.environ[variable])
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        yield from sorted(jvm.iterdir(), reverse=True)
    java = shutil.which("java")
    if java:
        yield Path(os.path.realpath(java)).parent.parent


def find_java(minimum: int = MIN_JAVA) -> Path:
    """The home of the newest installed JDK of at least ``minimum`` (Elasticsearch 9 needs 21)."""
    found: dict[Path, int] = {}
    for home in _candidate_homes():
        major = _java_major(home)
        if major is not None:
            found.setdefault(home.resolve(), major)
    usable = sorted(((major, home) for home, major in found.items() if major >= minimum), reverse=True)
    if not usable:
        seen = ", ".join(f"{home} ({major})" for home, major in found.items()) or "none"
        raise ElasticsearchUnavailable(
            f"Elasticsearch {VERSION} needs Java {minimum} or newer; found: {seen}. "
            "Install one (.ci/run does) or set ES_JAVA_HOME."
        )
    return usable[0][1]


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


def main() -> int:
    """Find Java (exit 2 without one), then fetch the distribution (exit 1 if Maven Central refuses)."""
    try:
        java = find_java()
    except ElasticsearchUnavailable as exc:
        print(f"elasticsearch: {exc}", file=sys.stderr)
        return 2
    try:
        zip_path = fetch_distribution()
    except ElasticsearchUnavailable as exc:
        print(f"elasticsearch: {exc}", file=sys.stderr)
        return 1
    size = zip_path.stat().st_size
    print(f"elasticsearch {VERSION}: {zip_path} ({size} bytes); Java {_java_major(java)}: {java}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
