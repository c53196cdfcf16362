"""The security manager and user store inside real Airflow and FAB (fresh interpreters, a migrated
sqlite database): the settings the end-to-end deployment does not use, and every database write
counted by SQLAlchemy itself.

- ``AUTH_USER_REGISTRATION_ROLE`` for everyone, ``AUTH_ROLES_SYNC_AT_LOGIN = False`` (roles only added),
  an HMAC secret as the key, a full-name claim, no user cache (every request compares with the row).
- Case-insensitive usernames, an email address that belongs to someone else, a mapped role that does
  not exist, a user deactivated in Airflow, and the auth manager's own user cache after a change.
- A bad ``webserver_config.py`` stops Airflow with a message naming the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

SECRET = "integration-secret-of-at-least-32-bytes"
CONFIG = f"""
from airflow_platform_plugins.auth.security_manager import JwtHeaderSecurityManager
SECURITY_MANAGER_CLASS = JwtHeaderSecurityManager
AUTH_JWT_HMAC_SECRET = {SECRET!r}
AUTH_JWT_ALGORITHMS = ["HS256"]
AUTH_JWT_ISSUER = "https://idp.example.org/"
AUTH_JWT_AUDIENCE = ["airflow", "airflow-staging"]
AUTH_JWT_USERNAME_CLAIM = "preferred_username"
AUTH_JWT_FIRST_NAME_CLAIM = None
AUTH_JWT_LAST_NAME_CLAIM = None
AUTH_JWT_FULL_NAME_CLAIM = "name"
AUTH_JWT_ROLES_CLAIM = ["realm_access", "roles"]
AUTH_JWT_USER_CACHE_TTL = 0
AUTH_ROLES_MAPPING = {{"admins": ["Admin"], "ops": ["Op"], "ghost": ["NoSuchRole"]}}
AUTH_USER_REGISTRATION_ROLE = "Viewer"
AUTH_ROLES_SYNC_AT_LOGIN = False
"""

PROBE = textwrap.dedent(
    """
    import json, sys, time
    import jwt
    from sqlalchemy import event, text
    from sqlalchemy.engine import Engine

    from airflow import settings
    from airflow.api_fastapi.app import init_auth_manager
    from airflow_platform_plugins.auth.errors import Rejected

    writes = []

    @event.listens_for(Engine, "before_cursor_execute")
    def count(conn, cursor, statement, *args):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement.split("(")[0][:60])

    manager = init_auth_manager()
    manager.get_fastapi_app()  # builds the FAB Flask app and with it the security manager
    auth = manager.appbuilder.sm.jwt_header_auth

    def token(username, **claims):
        now = int(time.time())
        body = {"iss": "https://idp.example.org/", "aud": "airflow-staging", "exp": now + 300,
                "preferred_username": username, **claims}
        return jwt.encode(body, SECRET, algorithm="HS256")

    def row(username):
        with settings.engine.connect() as c:
            found = c.execute(text(
                "SELECT id, username, email, first_name, last_name, active FROM ab_user "
                "WHERE lower(username) = lower(:u)"), {"u": username}).fetchall()
            if not found:
                return None
            roles = c.execute(text(
                "SELECT r.name FROM ab_user_role ur JOIN ab_role r ON r.id = ur.role_id "
                "WHERE ur.user_id = :i ORDER BY r.name"), {"i": found[0][0]}).fetchall()
        return {"id": found[0][0], "username": found[0][1], "email": found[0][2], "first": found[0][3],
                "last": found[0][4], "active": bool(found[0][5]), "roles": [r[0] for r in roles],
                "count": len(found)}

    def step(name, tok, who):
        del writes[:]
        try:
            user = auth.authenticate(tok)
            outcome = {"user": user.username, "perms": len(user.perms)}
        except Rejected as exc:
            outcome = {"refused": exc.status, "reason": exc.reason}
        print(json.dumps({"step": name, **outcome, "writes": list(writes), "row": row(who)}), flush=True)

    step("first sight", token("alice", name="Alice Pleasance Liddell", email="alice@example.org",
                              realm_access={"roles": ["ops"]}), "alice")
    step("same claims", token("alice", name="Alice Pleasance Liddell", email="alice@example.org",
                              realm_access={"roles": ["ops"]}), "alice")
    user_id = row("alice")["id"]
    manager.deserialize_user({"sub": str(user_id)})
    print(json.dumps({"step": "airflow cache before", "cached": user_id in manager.cache}), flush=True)
    admins = token("alice", email="alice@example.org", realm_access={"roles": ["admins"]})
    step("admins added", admins, "alice")
    print(json.dumps({"step": "airflow cache after", "cached": user_id in manager.cache}), flush=True)
    step("no roles in token", token("alice", email="alice@example.org"), "alice")
    step("case variant", token("ALICE", email="alice@example.org"), "alice")
    step("email of someone else", token("bob", email="alice@example.org"), "bob")
    step("role that does not exist", token("carol", realm_access={"roles": ["ghost"]}), "carol")
    step("no email claim", token("dave"), "dave")
    step("email arrives", token("dave", email="dave@example.org"), "dave")
    with settings.engine.begin() as c:
        c.execute(text("UPDATE ab_user SET active = 0 WHERE username = 'alice'"))
    step("deactivated in Airflow", token("alice", email="alice@example.org"), "alice")
    """
)


def airflow_env(home: Path, config: str) -> dict[str, str]:
    (home / "webserver_config.py").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{bin_dir}:{env.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__AUTH_MANAGER="airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
        AIRFLOW__FAB__CONFIG_FILE=str(home / "webserver_config.py"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__SECRET_KEY="integration",
        AIRFLOW__API_AUTH__JWT_SECRET="integration-jwt-secret",
    )
    return env


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    home = tmp_path_factory.mktemp("airflow-user-store")
    env = airflow_env(home, CONFIG)
    airflow = str(Path(sys.executable).parent / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    probe = f"SECRET = {SECRET!r}\n{PROBE}"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=home, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"step"')]
    return {line["step"]: line for line in lines}


def test_first_sight_creates_the_user_with_registration_and_mapped_roles(steps: dict[str, Any]) -> None:
    first = steps["first sight"]
    assert first["user"] == "alice"
    assert first["row"] == {
        "id": first["row"]["id"],
        "username": "alice",
        "email": "alice@example.org",
        "first": "Alice",
        "last": "Pleasance Liddell",
        "active": True,
        "roles": ["Op", "Viewer"],
        "count": 1,
    }
    assert any("INSERT INTO ab_user" in w for w in first["writes"])
    assert first["perms"] > 0


def test_unchanged_claims_are_compared_with_the_row_and_not_written(steps: dict[str, Any]) -> None:
    assert steps["same claims"]["writes"] == []
    assert steps["same claims"]["row"] == steps["first sight"]["row"]


def test_roles_are_only_added_when_sync_at_login_is_off(steps: dict[str, Any]) -> None:
    assert steps["admins added"]["row"]["roles"] == ["Admin", "Op", "Viewer"]
    assert steps["admins added"]["writes"]
    # No roles in the token: nothing is taken away, and nothing is written.
    assert steps["no roles in token"]["row"]["roles"] == ["Admin", "Op", "Viewer"]
    assert steps["no roles in token"]["writes"] == []
    # The full-name claim is absent now: the names stay.
    assert steps["admins added"]["row"]["first"] == "Alice"


def test_the_auth_managers_own_cache_forgets_a_changed_user(steps: dict[str, Any]) -> None:
    assert steps["airflow cache before"]["cached"] is True
    assert steps["airflow cache after"]["cached"] is False


def test_usernames_match_case_insensitively(steps: dict[str, Any]) -> None:
    case = steps["case variant"]
    assert case["user"] == "alice"
    assert case["row"]["count"] == 1
    assert case["writes"] == []


def test_an_email_of_another_user_is_refused(steps: dict[str, Any]) -> None:
    bob = steps["email of someone else"]
    assert (bob.get("refused"), bob.get("reason")) == (
        403,
        "this email address belongs to another Airflow user",
    )
    assert bob["row"] is None
    assert bob["writes"] == []  # checked before anything is written


def test_a_mapped_role_that_does_not_exist_is_skipped(steps: dict[str, Any]) -> None:
    assert steps["role that does not exist"]["row"]["roles"] == ["Viewer"]


def test_a_missing_email_gets_a_placeholder_until_the_claim_arrives(steps: dict[str, Any]) -> None:
    assert steps["no email claim"]["row"]["email"] == "dave@email.notfound"
    assert steps["no email claim"]["row"]["first"] == "dave"
    assert steps["email arrives"]["row"]["email"] == "dave@example.org"


def test_a_user_deactivated_in_airflow_is_refused_and_stays_deactivated(steps: dict[str, Any]) -> None:
    step = steps["deactivated in Airflow"]
    assert (step.get("refused"), step.get("reason")) == (403, "this user is deactivated in Airflow")
    assert step["row"]["active"] is False
    assert step["writes"] == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'AUTH_JWT_HEADER_NAME = "X-Istio-Jwt-Payload"',
            "AUTH_JWT_HEADER_NAME cannot be X-Istio-Jwt-Payload: an unsigned JWT payload (Istio's "
            "outputPayloadToHeader)",
        ),
        (
            'AUTH_JWT_HEADER_NAME = "Authorization"',
            "AUTH_JWT_HMAC_SECRET cannot be used with Authorization",
        ),
        ('AUTH_JWT_ALGORITHMS = ["none"]', "AUTH_JWT_ALGORITHMS cannot contain 'none'"),
        ("AUTH_TYPE = 4", "AUTH_TYPE must be AUTH_DB"),
    ],
)
def test_a_bad_setting_stops_airflow_naming_the_key(tmp_path: Path, line: str, message: str) -> None:
    env = airflow_env(tmp_path, CONFIG + line + "\n")
    probe = "from airflow.api_fastapi.app import init_auth_manager\ninit_auth_manager().get_fastapi_app()\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert message in result.stderr
