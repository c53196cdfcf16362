"""A 500 becomes a 503 only when the request's database call could not reach the database; the
listener runs on real SQLAlchemy engines (SQLite files that cannot be opened, and a missing table)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.testclient import TestClient

from airflow_platform_plugins.auth import database
from airflow_platform_plugins.auth.middleware import JwtHeaderMiddleware


@pytest.mark.parametrize(
    ("connecting", "is_disconnect", "expected"),
    [(True, False, True), (False, True, True), (True, True, True), (False, False, False)],
)
def test_only_connection_failures_count_as_unreachable(
    connecting: bool, is_disconnect: bool, expected: bool
) -> None:
    assert database.unreachable(connecting=connecting, is_disconnect=is_disconnect) is expected


def run_send(marks: list[str], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def go() -> None:
        wrapped = database.answer_503_when_unreachable(send, marks)
        for message in messages:
            await wrapped(message)

    asyncio.run(go())
    return sent


ERROR: list[dict[str, Any]] = [
    {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]},
    {"type": "http.response.body", "body": b'{"detail": {"reason": "Database error"', "more_body": True},
    {"type": "http.response.body", "body": b"}}"},
]


def test_a_500_after_a_connection_failure_becomes_a_503_with_retry_after() -> None:
    sent = run_send(["OperationalError"], ERROR)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 503
    headers = dict(sent[0]["headers"])
    assert headers[b"retry-after"] == str(database.RETRY_AFTER_SECONDS).encode()
    assert int(headers[b"content-length"]) == len(sent[1]["body"])
    assert b"metadata database cannot be reached" in sent[1]["body"]


def test_other_answers_pass_unchanged() -> None:
    assert run_send([], ERROR) == ERROR  # a 500 without a connection failure stays Airflow's
    ok: list[dict[str, Any]] = [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"x"},
    ]
    assert run_send(["OperationalError"], ok) == ok  # the pool reconnected: the request succeeded


def unopenable(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'missing-folder' / 'airflow.db'}"


def test_the_listener_marks_a_failed_connect_of_this_request_only(tmp_path: Path) -> None:
    database.install_listener()
    database.install_listener()  # once per process, whoever asks
    engine = create_engine(unopenable(tmp_path))
    marks, token = database.watch()
    try:
        with pytest.raises(OperationalError):
            engine.connect()
    finally:
        database.unwatch(token)
    assert marks == ["OperationalError"]
    with pytest.raises(OperationalError):
        engine.connect()  # outside a request: nothing to mark, nothing fails
    assert marks == ["OperationalError"]


def test_the_listener_leaves_errors_of_a_working_database_alone() -> None:
    database.install_listener()
    engine = create_engine("sqlite://")
    marks, token = database.watch()
    try:
        with engine.connect() as connection, pytest.raises(OperationalError):
            connection.execute(text("SELECT * FROM no_such_table"))
    finally:
        database.unwatch(token)
    assert marks == []


def app_with_database(url: str, sql: str) -> Any:
    """An app that queries ``url`` in a worker thread, as Airflow's endpoints do, and answers 500
    when that fails, as Airflow's SQLAlchemy error handler does."""

    def query() -> None:
        with create_engine(url).connect() as connection:
            connection.execute(text(sql))

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        try:
            await run_in_threadpool(query)
            status = 200
        except OperationalError:
            status = 500
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


SIGN_ON = SimpleNamespace(header_name="X-Jwt-Assertion", header_key=b"x-jwt-assertion")
"""Sign-on configured (the requests below carry no header: Airflow's own authentication applies)."""


def middleware(app: Any) -> JwtHeaderMiddleware:
    return JwtHeaderMiddleware(app, resolve=lambda: SIGN_ON, trusted_marker=object())


def test_the_middleware_answers_503_while_the_database_is_unreachable(tmp_path: Path) -> None:
    response = TestClient(middleware(app_with_database(unopenable(tmp_path), "SELECT 1"))).get("/api/v2/dags")
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")

    broken = middleware(app_with_database("sqlite://", "SELECT * FROM nothing"))
    assert TestClient(broken).get("/api/v2/dags").status_code == 500
