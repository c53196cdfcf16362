"""The version differences in ``airflow_platform_plugins.compat``, checked against the installed Airflow's
own ``get_user()``: the same assertions hold on every Airflow version that tox tests (3.2 and 3.3)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi import Depends, FastAPI, HTTPException
from starlette.testclient import TestClient

from airflow_platform_plugins.compat import hand_user_to_airflow, trusted_user_marker

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
