"""Auth section: ``GET /api/v2/dags`` on one api-server, JWT-header sign-on against Airflow's own token.

``GET /ui/auth/me`` is measured the same way: it does almost nothing but authenticate, so it shows the
cost of authentication itself, which the DAG list (20 DAGs) mostly hides.

Two real api-servers in turn (FAB auth manager, this package's security manager, keys from the test
identity provider's JWKS), each serving its contenders and Airflow's own token in the same run:

- ``X-Jwt-Assertion`` (the proxy's header) with an RS256 token, and with an ES256 token, each already
  seen (the user exists and nothing changed), verified again on every request as in production;
- ``Authorization: Bearer`` with the identity provider's RS256 and ES256 tokens, beside Airflow's own
  (``AUTH_JWT_HEADER_NAME = "Authorization"``: Envoy Gateway, oauth2-proxy, API clients);
- Airflow's own bearer token (``POST /auth/token``) for a FAB user with a password, on each api-server.

Latency is measured by one client on a keep-alive connection, the contenders taking turns in rounds;
requests per second also with several clients at once. Database writes are counted by a SQLAlchemy
listener inside the api-server (the test plugin ``db_writes``), per contender.
"""

from __future__ import annotations

import secrets
import statistics
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness.airflow import AirflowDeployment
from tests.harness.idp import IdentityProvider

ROOT = Path(__file__).parents[1]
HEADER = "X-Jwt-Assertion"
DAG_FILES = 20


PATHS = ("/api/v2/dags", "/ui/auth/me")


@dataclass
class AuthResult:
    path: str
    contender: str
    latencies_ms: list[float]
    sequential_rps: float
    concurrent_rps: float
    writes_per_request: float

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _dag_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(DAG_FILES):
        path = folder / f"bench_dag_{i:02d}.py"
        path.write_text(
            textwrap.dedent(
                f"""
                from datetime import datetime
                from airflow.sdk import DAG, task
                with DAG("bench_{i:02d}", schedule=None, start_date=datetime(2024, 1, 1), tags=["bench"]):
                    @task
                    def work():
                        return {i}
                    work()
                """
            )
        )
        files.append(path)
    return files


def _config(idp: IdentityProvider, header: str) -> str:
    return textwrap.dedent(
        f"""\
        from airflow_platform_plugins.auth.security_manager import JwtHeaderSecurityManager
        SECURITY_MANAGER_CLASS = JwtHeaderSecurityManager
        AUTH_JWT_HEADER_NAME = {header!r}
        AUTH_JWT_JWKS_URL = {idp.url + "/jwks"!r}
        AUTH_JWT_ISSUER = {idp.issuer!r}
        AUTH_JWT_AUDIENCE = "airflow"
        AUTH_JWT_USERNAME_CLAIM = "preferred_username"
        AUTH_ROLES_MAPPING = {{"airflow-admins": ["Admin"]}}
        """
    )


def _writes(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _timed(client: httpx.Client, path: str, headers: dict[str, str], count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
        out.append(elapsed * 1000)
    return out


def _concurrent_rps(url: str, path: str, headers: dict[str, str], clients: int, seconds: float) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < stop:
                if client.get(path, headers=headers).status_code != 200:
                    raise RuntimeError("request failed")
                done[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def auth_section(workdir: Path, requests: int, rounds: int, clients: int) -> list[AuthResult]:
    """Both modes, one api-server each, one after the other."""
    results = []
    for header in (HEADER, "Authorization"):
        results += _auth_mode(workdir, header, requests, rounds, clients)
    return results


def _auth_mode(workdir: Path, header: str, requests: int, rounds: int, clients: int) -> list[AuthResult]:
    idp = IdentityProvider()
    idp.set_user("bench-user", groups=["airflow-admins"], email="bench@example.org", name="Bench User")
    home = workdir / f"airflow-auth-{header.lower()}"
    writes_log = home / "db-writes.log"
    airflow = AirflowDeployment(
        home,
        dags=_dag_files(workdir / "bench-dags"),
        components=("dag-processor", "api-server"),
        auth_manager="fab",
        webserver_config=_config(idp, header),
        plugins=[ROOT / "tests" / "harness" / "airflow_plugins" / "db_writes.py"],
        component_settings={"api-server": {"TEST_DB_WRITES_LOG": str(writes_log)}},
    )
    try:
        airflow.start()
        password = secrets.token_urlsafe(12)
        airflow.create_fab_user("bench-service", password, role="Admin")
        own = "Airflow's own bearer token" + ("" if header == HEADER else " (Authorization mode)")
        if header == HEADER:
            contenders: dict[str, dict[str, str]] = {
                "header, RS256 token already seen": {
                    HEADER: idp.token_for("bench-user", key=idp.use("RS256"))
                },
                "header, ES256 token already seen": {
                    HEADER: idp.token_for("bench-user", key=idp.use("ES256"))
                },
            }
        else:
            contenders = {
                f"IdP token in Authorization, {alg}, already seen": {
                    "Authorization": f"Bearer {idp.token_for('bench-user', key=idp.use(alg))}"
                }
                for alg in ("RS256", "ES256")
            }
        contenders[own] = {"Authorization": f"Bearer {airflow.fab_token('bench-service', password)}"}
        _wait_for_dags(airflow, contenders[own])
        airflow.processes["dag-processor"].stop()  # nothing else uses the CPU or the database now

        results = []
        for path in PATHS:
            latencies: dict[str, list[float]] = {name: [] for name in contenders}
            writes: dict[str, int] = dict.fromkeys(contenders, 0)
            with httpx.Client(base_url=airflow.url, timeout=60) as client:
                for headers in contenders.values():
                    _timed(client, path, headers, 200)  # warm-up: first sight, caches, connection
                per_round = max(1, requests // rounds)
                for _ in range(rounds):
                    for name, headers in contenders.items():
                        before = _writes(writes_log)
                        latencies[name] += _timed(client, path, headers, per_round)
                        writes[name] += _writes(writes_log) - before
            for name, headers in contenders.items():
                total_s = sum(latencies[name]) / 1000
                results.append(
                    AuthResult(
                        path,
                        name,
                        latencies[name],
                        len(latencies[name]) / total_s,
                        _concurrent_rps(airflow.url, path, headers, clients, seconds=10),
                        writes[name] / len(latencies[name]),
                    )
                )
        return results
    finally:
        airflow.stop()
        idp.stop()


def verification_cost(count: int = 3000) -> dict[str, float]:
    """Microseconds to verify one token in-process (signature and claims), per algorithm."""
    from airflow_platform_plugins.auth.jwks import JwksUrl
    from airflow_platform_plugins.auth.keys import KeyRing
    from airflow_platform_plugins.auth.tokens import TokenPolicy, TokenVerifier

    idp = IdentityProvider()
    try:
        idp.set_user("bench-user", groups=["airflow-admins"], email="bench@example.org")
        source = JwksUrl(
            "in-process", cache_ttl=3600, refresh_interval=1, timeout=1, fetch=lambda *_: idp.jwks()
        )
        policy = TokenPolicy(frozenset({"RS256", "ES256"}), idp.issuer, ("airflow",), 30, 16384)
        verifier = TokenVerifier(policy, KeyRing([source]))
        out = {}
        for alg in ("RS256", "ES256"):
            token = idp.token_for("bench-user", key=idp.use(alg))
            verifier.verify(token)
            started = time.perf_counter()
            for _ in range(count):
                verifier.verify(token)
            out[alg] = (time.perf_counter() - started) / count * 1e6
        return out
    finally:
        idp.stop()


def _wait_for_dags(airflow: AirflowDeployment, headers: dict[str, str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    total = 0
    while time.monotonic() < deadline:
        total = httpx.get(f"{airflow.url}/api/v2/dags", headers=headers, timeout=60).json()["total_entries"]
        if total >= DAG_FILES:
            return
        time.sleep(1)
    raise TimeoutError(f"only {total} of {DAG_FILES} DAGs were parsed")


def print_auth_table(
    results: list[AuthResult],
    clients: int,
    verification_us: dict[str, float],
    emit: Callable[[str], None] = print,
) -> None:
    emit("\n## Auth: sign-on vs Airflow's own token (one api-server per mode, one run)\n")
    costs = ", ".join(f"{alg} {us:.0f} µs" for alg, us in verification_us.items())
    emit(f"Verifying one token in-process (signature and claims, done on every request): {costs}.\n")
    emit(
        f"| request | contender | requests | requests/s (1 client) | requests/s ({clients} clients) | p50 ms "
        "| p99 ms | p50 vs bearer | DB writes per request |"
    )
    emit("|---|---|---|---|---|---|---|---|---|")
    for path in dict.fromkeys(r.path for r in results):
        rows = [r for r in results if r.path == path]
        for r in rows:
            bearer = _baseline(results, r)
            emit(
                f"| GET {path} | {r.contender} | {len(r.latencies_ms)} | {r.sequential_rps:.0f} "
                f"| {r.concurrent_rps:.0f} | {r.p50:.2f} | {r.p99:.2f} | {r.p50 / bearer.p50:.2f}x "
                f"| {r.writes_per_request:g} |"
            )
    emit("")
    for r in results:
        bearer = _baseline(results, r)
        if r is bearer:
            continue
        target = "1.00x" if "Authorization" in r.contender else "1.10x"
        emit(
            f"- GET {r.path}, {r.contender}: p50 {r.p50 / bearer.p50:.2f}x Airflow's own token on the same "
            f"api-server (target at most {target}); {r.writes_per_request:g} database writes per repeated "
            "request (target 0)"
        )


def _baseline(results: list[AuthResult], r: AuthResult) -> AuthResult:
    """Airflow's own token on the api-server that served ``r``."""
    authorization = "Authorization" in r.contender
    return next(
        b
        for b in results
        if b.path == r.path
        and b.contender.startswith("Airflow")
        and ("Authorization" in b.contender) == authorization
    )
