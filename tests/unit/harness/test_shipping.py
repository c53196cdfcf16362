"""The shipping harness routes records the way the shipped values do (no store needed: documents only)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.harness.shipping import FLAVOURS, INDEX_PREFIX, FluentShipper

WHEN = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
TASK_LINE = json.dumps({"log_id": "d-t-r--1-1", "offset": 1, "event": "print: ***"}).encode()
ECHO = b"2026-11-28T10:00:00Z [info     ] print: hunter2 [task.stdout]"


def routed(shipper: FluentShipper, *lines: bytes) -> list[tuple[str, str]]:
    return [
        (index.rsplit("-", 1)[0], doc.get("event") or doc["log"])
        for index, _, doc in shipper.documents(lines, WHEN)
    ]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("component", ["worker", "scheduler", "triggerer", "dag-processor"])
def test_an_airflow_task_pod_ships_only_its_task_log_records(flavour: str, component: str) -> None:
    shipper = FluentShipper(None, flavour, component=component, ship_others=True, other_prefix="other")
    assert routed(shipper, TASK_LINE, ECHO) == [(INDEX_PREFIX, "print: ***")]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_other_pods_and_airflow_components_without_task_code_ship_everything(flavour: str) -> None:
    api_server = FluentShipper(None, flavour, component="api-server", ship_others=True, other_prefix="other")
    assert routed(api_server, ECHO) == [("other", ECHO.decode() + "\n")]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_without_the_drop_the_echo_would_be_shipped(flavour: str) -> None:
    unsafe = FluentShipper(None, flavour, ship_others=True, other_prefix="other", drop_task_pod_lines=False)
    assert ("other", ECHO.decode() + "\n") in routed(unsafe, TASK_LINE, ECHO)
