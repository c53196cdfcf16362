"""The version differences in ``airflow_platform_plugins.compat``, checked against the installed Airflow's
own code (``get_user()``, its metrics set-up): the same assertions hold on every Airflow version that
tox tests (3.2 and 3.3)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, HTTPException
from starlette.testclient import TestClient

from airflow_platform_plugins.compat import hand_user_to_airflow, trusted_user_marker
from tests.harness.statsd import StatsdListener

PROXY_USER = "proxy-user"
TOKENS = {"airflow-token": "token-user", "cookie-token": "cookie-user"}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """An app whose one route asks Airflow's ``get_user()`` who is calling. A root middleware hands it
    ``PROXY_USER`` through :func:`hand_user_to_airflow`; Airflow's tokens resolve through ``TOKENS``."""
    from airflow.api_fastapi.core_api import security

    async def resolve(token: str | None) -> str:
        if token not in TOKENS:
            raise HTTPException(status_code=401, detail="Not authenticated")
        return TOKENS[token]

    monkeypatch.setattr(security, "resolve_user_from_token", resolve)
    app = FastAPI()

    @app.get("/me")
    async def me(user: Any = Depends(security.get_user)) -> dict[str, Any]:  # noqa: B008
        return {"user": user}

    async def inject(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            hand_user_to_airflow(scope, PROXY_USER, trusted_user_marker())
        await app(scope, receive, send)

    return TestClient(inject)


def test_the_handed_over_user_is_the_one_airflow_sees(client: TestClient) -> None:
    assert client.get("/me").json() == {"user": PROXY_USER}


def test_it_beats_an_old_session_cookie(client: TestClient) -> None:
    client.cookies.set("_token", "cookie-token")
    assert client.get("/me").json() == {"user": PROXY_USER}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_airflows_own_bearer_token_wins(client: TestClient, scheme: str) -> None:
    response = client.get("/me", headers={"Authorization": f"{scheme} airflow-token"})
    assert response.json() == {"user": "token-user"}


@pytest.mark.parametrize("value", ["Bearer", "Bearer   ", "Basic dXNlcjpwdw==", "airflow-token"])
def test_an_authorization_header_that_is_no_bearer_token_does_not_win(client: TestClient, value: str) -> None:
    assert client.get("/me", headers={"Authorization": value}).json() == {"user": PROXY_USER}


# An executor sets up Airflow's metrics from [metrics] in every Airflow process that runs tasks.
METRICS_PROBE = """
from airflow.executors.base_executor import BaseExecutor
BaseExecutor()
from airflow_platform_plugins.compat import airflow_stats
airflow_stats().incr("remote_task_log.compat_probe", 3)
"""


def test_metrics_reach_the_statsd_that_airflow_is_configured_with(tmp_path: Path) -> None:
    listener = StatsdListener()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            AIRFLOW_HOME=str(tmp_path),
            AIRFLOW__METRICS__STATSD_ON="True",
            AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
            AIRFLOW__METRICS__STATSD_PORT=str(listener.port),
            AIRFLOW__METRICS__STATSD_PREFIX="airflow",
            AIRFLOW__API_AUTH__JWT_SECRET="compat-probe-" * 4,
        )
        result = subprocess.run(
            [sys.executable, "-c", METRICS_PROBE], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-2000:]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and listener.counter("airflow.remote_task_log.compat_probe") < 3:
            time.sleep(0.1)
        assert listener.counter("airflow.remote_task_log.compat_probe") == 3, listener.lines
    finally:
        listener.close()
