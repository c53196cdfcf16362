"""Scenario 6, sign-on under load: a real api-server with two workers, the FAB auth manager and this
package's security manager, on a PostgreSQL metadata database, under a bounded load of many
identities and some hostile tokens.

During the load the identity provider rotates its signing key (the old one leaves the JWKS), its JWKS
endpoint goes away, the database restarts, and one identity's roles change. Asserted: no wrong
admission (a bad token admitted, or a valid one admitted as somebody else), no answer of 500 or more
but a 503 while the database is down, exactly one user row per identity, and the role change in
force on the identity's next request. The figures give the latency before, during and after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.harness.airflow import AirflowDeployment
from tests.harness.idp import IdentityProvider
from tests.harness.postgres import PostgresServer
from tests.harness.recipes import as_python
from tests.harness.tasklog import wait_for
from tests.reliability.plugin import tally
from tests.reliability.signon_load import Answer, Load, latency, server_errors, wrong_admissions

HEADER = "X-Jwt-Assertion"
ROLES_MAPPING = {"airflow-admins": ["Admin"], "airflow-users": ["User"], "airflow-viewers": ["Viewer"]}
GROUPS = ("airflow-viewers", "airflow-users", "airflow-admins")
JWKS_CACHE_TTL = 300  # longer than the outage: keys already fetched keep verifying through it
JWKS_REFRESH_INTERVAL = 2
USER_CACHE_TTL = 4
WORKERS = 2


@dataclass
class Size:
    identities: int
    threads: int
    requests: int
    """Answers per counted phase (before, after the rotation, after the restart)."""
    jwks_down: float
    db_down: float


FULL = Size(identities=50, threads=16, requests=3000, jwks_down=60.0, db_down=15.0)
REDUCED = Size(identities=10, threads=6, requests=300, jwks_down=5.0, db_down=3.0)


def config(idp: IdentityProvider) -> str:
    """The api-server's ``webserver_config.py``: this package's security manager and the IdP."""
    values = {
        "AUTH_JWT_HEADER_NAME": HEADER,
        "AUTH_JWT_JWKS_URL": f"{idp.url}/jwks",
        "AUTH_JWT_ALGORITHMS": ["RS256", "ES256"],
        "AUTH_JWT_ISSUER": idp.issuer,
        "AUTH_JWT_AUDIENCE": "airflow",
        "AUTH_JWT_JWKS_CACHE_TTL": JWKS_CACHE_TTL,
        "AUTH_JWT_JWKS_REFRESH_INTERVAL": JWKS_REFRESH_INTERVAL,
        "AUTH_JWT_USER_CACHE_TTL": USER_CACHE_TTL,
        "AUTH_JWT_USERNAME_CLAIM": "preferred_username",
        "AUTH_JWT_ROLES_CLAIM": "groups",
        "AUTH_ROLES_MAPPING": ROLES_MAPPING,
        "AUTH_ROLES_SYNC_AT_LOGIN": True,
    }
    manager = "from airflow_platform_plugins.auth.security_manager import JwtHeaderSecurityManager\n"
    return f"{manager}\nSECURITY_MANAGER_CLASS = JwtHeaderSecurityManager\n{as_python(values)}"


@dataclass
class Deployment:
    idp: IdentityProvider
    db: PostgresServer
    airflow: AirflowDeployment

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        import psycopg2  # type: ignore[import-untyped]

        connection = psycopg2.connect(host="127.0.0.1", port=self.db.port, user="airflow", dbname="airflow")
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def roles(self, username: str) -> list[str]:
        rows = self.query(
            "SELECT r.name FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id "
            "JOIN ab_role r ON r.id = ur.role_id WHERE lower(u.username) = lower(%s)",
            username,
        )
        return sorted(str(r[0]) for r in rows)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    idp = IdentityProvider()
    db = PostgresServer()
    airflow = AirflowDeployment(
        tmp_path_factory.mktemp("airflow-sign-on-load"),
        dags=[],
        components=("api-server",),
        auth_manager="fab",
        webserver_config=config(idp),
        settings={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db.url, "AIRFLOW__API__WORKERS": str(WORKERS)},
    )
    try:
        airflow.start()
        yield Deployment(idp, db, airflow)
    finally:
        airflow.stop()
        db.stop()
        idp.stop()


def admin_only(d: Deployment, username: str) -> int:
    """The status of a read only an Admin (not a Viewer) may make, for ``username``'s current token."""
    response = httpx.get(
        f"{d.airflow.url}/api/v2/variables", headers={HEADER: d.idp.token_for(username)}, timeout=60
    )
    return response.status_code


def test_sign_on_under_load(deployment: Deployment, full: bool) -> None:
    d, size = deployment, FULL if full else REDUCED
    figures = tally("6 sign-on under load", "api-server x2")
    identities = [f"load-{n:03d}" for n in range(size.identities)]
    for n, name in enumerate(identities):
        d.idp.set_user(name, groups=[GROUPS[n % len(GROUPS)]], email=f"{name}@example.org")
    changed = identities[0]  # a Viewer who becomes an Admin
    load = Load(d.airflow.url, HEADER, d.idp, identities, threads=size.threads).start()
    role_change: dict[str, object] = {}
    try:
        load.wait_answers(size.requests)

        load.phase = "key rotation"
        rotated = time.time()
        d.idp.rotate("ES256", retire_old=True)  # new tokens carry a kid the api-server must fetch
        load.wait_answers(size.requests)
        # Each worker fetches the keys again on the first unknown kid its rate limit allows.
        wait_for(
            lambda: d.idp.jwks_fetches_since(rotated) >= WORKERS,
            timeout=JWKS_REFRESH_INTERVAL + 30,
            what="each api-server worker fetched the rotated keys",
        )
        load.wait_answers(size.threads)

        load.phase = "JWKS down"
        d.idp.jwks_up = False
        began = time.time()
        load.wait_answers(size.threads)  # the load runs through the outage...
        while time.time() < began + size.jwks_down:
            load.wait_answers(size.threads)  # ...for its whole length, counted in answers
        d.idp.jwks_up = True

        load.phase = "database restart"
        down_from = time.time()
        d.db.restart(down_for=size.db_down)
        down_until = time.time()  # a 503 must end when the database is back
        load.wait_answers(size.requests)

        load.phase = "after"
        role_change["before"] = admin_only(d, changed)
        d.idp.set_user(changed, groups=["airflow-admins"], email=f"{changed}@example.org")
        role_change["after"] = admin_only(d, changed)  # the identity's next request
        role_change["roles"] = d.roles(changed)
        load.wait_answers(size.requests)
    finally:
        load.stop()

    answers = load.answers

    def during_db_outage(a: Answer) -> bool:
        return a.started + a.seconds >= down_from and a.started <= down_until

    def before_the_refetch(a: Answer) -> bool:
        """A valid token with the new kid, within one refresh interval of the rotation: the worker
        may have fetched the keys just before it and must wait for its rate limit."""
        return (
            a.phase == "key rotation"
            and a.status == 401
            and "unknown signing key id" in a.reason
            and a.started < rotated + JWKS_REFRESH_INTERVAL + 1
        )

    wrong = wrong_admissions(answers)
    errors = server_errors(answers, during_db_outage)
    unavailable = sum(1 for a in answers if a.status == 503)
    refused_valid = [a for a in answers if a.kind == "valid" and a.status in (401, 403)]
    refused_at_rotation = [a for a in refused_valid if before_the_refetch(a)]
    bad = [a for a in answers if a.kind != "valid"]
    rows = d.query("SELECT lower(username), count(*) FROM ab_user WHERE username LIKE 'load-%%' GROUP BY 1")
    counts = {str(name): int(n) for name, n in rows}  # type: ignore[call-overload]

    figures.runs = len(answers)
    figures.failed_runs = len(wrong) + len(errors)
    figures.note(
        f"{len(identities)} identities, {size.threads} threads, {len(answers)} requests ({len(bad)} with "
        f"bad tokens, all refused: {all(a.status in (401, 403) for a in bad)}); wrong admissions "
        f"{len(wrong)}; 5xx other than the outage's 503: {len(errors)}; 503 while the database was "
        f"down: {unavailable}; valid tokens refused: {len(refused_valid)}, all of them with the new kid "
        f"before the keys were fetched again ({len(refused_at_rotation)}); user rows per identity: "
        f"{sorted(set(counts.values()))}; role change on the next request: "
        f"{role_change.get('before')} -> {role_change.get('after')}; p50 / p99: "
        + ", ".join(
            f"{phase} {latency(answers, phase)}"
            for phase in ("before", "key rotation", "JWKS down", "database restart", "after")
        )
        + f"; JWKS down {size.jwks_down:.0f} s, database down {size.db_down:.0f} s"
    )

    assert not wrong, f"{len(wrong)} wrong admissions, e.g. {wrong[:3]}"
    assert not errors, f"{len(errors)} server errors, e.g. {errors[:3]}"
    assert all(a.status in (401, 403) for a in bad), [a for a in bad if a.status not in (401, 403)][:3]
    assert counts == dict.fromkeys(identities, 1), f"user rows per identity: {counts}"
    assert (role_change["before"], role_change["after"], role_change["roles"]) == (403, 200, ["Admin"])
    assert len(refused_valid) == len(refused_at_rotation), [
        a for a in refused_valid if not before_the_refetch(a)
    ][:3]
    for phase in ("before", "key rotation", "JWKS down", "after"):
        ok = [
            a
            for a in answers
            if a.phase == phase
            and a.kind == "valid"
            and not before_the_refetch(a)
            and not during_db_outage(a)
        ]
        assert ok, f"no valid request counted in {phase}"
        assert all(a.status == 200 for a in ok), (phase, sorted({a.status for a in ok}))
