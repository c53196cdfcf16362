"""Index a very long task log fast: documents shaped exactly as the shipping pipeline shapes them.

One line goes through the real pipeline (the writer's document, Fluent Bit's steps); every other
document is that one with its own event, offset and time, serialised directly. ``_bulk`` requests of
about 8 MiB go out on two connections while the next ones are built.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_platform_plugins.task_logs.es.documents import DocumentBuilder, to_json_line
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate, TryIdentity
from tests.harness.shipping import FluentShipper

TEMPLATE = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}")
BENCH_TRY = TryIdentity("bench", "talk", "manual__2026-11-25T00:00:00+00:00", -1, 1)
_WORDS = ("airflow", "task", "log", "line", "processing", "records", "batch", "upload", "retry", "sensor")
_MARK = "\u0000EVENT\u0000"


def event_text(i: int, rng: random.Random) -> str:
    """A realistic line of task output (4 to 30 words), numbered so order can be checked."""
    return f"{i:07d} " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 30)))


def _template(
    client: Any, identity: TryIdentity, index_prefix: str, start: datetime
) -> tuple[str, dict[str, Any]]:
    builder = DocumentBuilder(
        identity=identity,
        log_id=TEMPLATE.render(identity),
        host="airflow-worker-0",
        offset_field="offset",
        host_field="host",
    )
    line = json.dumps(
        {"timestamp": "2026-11-25T00:00:00.000000Z", "level": "info", "event": "x", "logger": "task.stdout"}
    )
    stdout = to_json_line(builder.build(line.encode(), 1)).rstrip()
    shipper = FluentShipper(client, "fluent-bit", index_prefix=index_prefix)
    index, _, doc = next(shipper.documents([stdout], when=start))
    return index, doc


def documents(
    client: Any,
    lines: int,
    *,
    identity: TryIdentity = BENCH_TRY,
    index_prefix: str = "airflow-logs",
    base: int = 10**18,
    seed: int = 7,
) -> Iterator[bytes]:
    """ndjson ``index`` actions and sources of a ``lines``-line log, in ~8 MiB bodies."""
    start = datetime(2026, 11, 25, tzinfo=timezone.utc)
    index, doc = _template(client, identity, index_prefix, start)
    fields = {
        "offset": "offset",
        "@timestamp": "timestamp",
        "ingest_time": "timestamp",
        "event": "event",
        "message": "event",
    }
    for key, name in fields.items():
        doc[key] = f"\u0000{name}\u0000"
    pattern = json.dumps(doc, ensure_ascii=False).replace("{", "{{").replace("}", "}}")
    for name in set(fields.values()):
        pattern = pattern.replace(json.dumps(f"\u0000{name}\u0000", ensure_ascii=False), "{" + name + "}")
    action = json.dumps({"index": {"_index": index}})
    rng = random.Random(seed)
    body: list[str] = []
    size = 0
    for i in range(lines):
        stamp = json.dumps((start + timedelta(microseconds=i * 1000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        source = pattern.format(offset=base + i + 1, timestamp=stamp, event=json.dumps(event_text(i, rng)))
        body += (action, source)
        size += len(source)
        if size >= 8 << 20:
            yield ("\n".join(body) + "\n").encode()
            body, size = [], 0
    if body:
        yield ("\n".join(body) + "\n").encode()


def load(
    client: Any,
    lines: int,
    *,
    identity: TryIdentity = BENCH_TRY,
    index_prefix: str = "airflow-logs",
    base: int = 10**18,
) -> str:
    """Index a ``lines``-line log of ``identity``; return its ``log_id``."""

    def send(body: bytes) -> None:
        response = client.bulk(operations=body, filter_path="errors,items.*.error")
        if response.get("errors"):
            raise RuntimeError(f"bulk load failed: {response['items'][:2]}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = []
        for body in documents(client, lines, identity=identity, index_prefix=index_prefix, base=base):
            pending.append(pool.submit(send, body))
            if len(pending) >= 4:
                pending.pop(0).result()
        for future in pending:
            future.result()
    client.indices.refresh(index=f"{index_prefix}-*")
    return TEMPLATE.render(identity)
