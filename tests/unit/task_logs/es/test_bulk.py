"""The bulk sink with a client that rejects some documents (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.es.bulk import BulkSink


class RejectingClient:
    """``bulk`` that answers 429 for the documents whose ``_id`` is in ``reject``."""

    def __init__(self) -> None:
        self.reject: set[str] = set()
        self.sent: list[list[str]] = []

    def bulk(self, operations: bytes, filter_path: str) -> dict[str, Any]:
        lines = operations.decode().splitlines()
        ids = [json.loads(action)["create"]["_id"] for action in lines[::2]]
        self.sent.append(ids)
        busy = {"type": "es_rejected_execution_exception", "reason": "busy"}
        items = [
            {"create": {"status": 429, "error": busy}}
            if doc_id in self.reject
            else {"create": {"status": 201}}
            for doc_id in ids
        ]
        return {"errors": bool(self.reject & set(ids)), "items": items}


def test_a_partly_failed_batch_is_retried_with_only_what_was_not_indexed() -> None:
    """Regression (reliability suite, throttling): the whole batch was sent again, and with 10% of
    documents rejected at random a 400-line batch almost never got through whole."""
    client = RejectingClient()
    sink = BulkSink(
        lambda: client, target_index="i", display="es", latency=1.0, max_bytes=1 << 20, install_template=False
    )
    batch = [(f"id-{n}", n, {"event": f"line {n}", "offset": n}) for n in range(4)]
    client.reject = {"id-1", "id-3"}
    with pytest.raises(RemoteLogError):
        sink.send(batch)
    client.reject = {"id-3"}
    with pytest.raises(RemoteLogError):
        sink.send(batch)
    client.reject = set()
    sink.send(batch)
    assert client.sent == [["id-0", "id-1", "id-2", "id-3"], ["id-1", "id-3"], ["id-3"]]
    sink.send(batch)  # once complete, a batch is sent whole again (its documents answer 409)
    assert client.sent[-1] == ["id-0", "id-1", "id-2", "id-3"]
