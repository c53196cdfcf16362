"""Scenario 7, hostile names: dag, run and task ids with Unicode, ``%``, ``#``, ``?``, spaces and
the longest ids a log path can hold, and map indices above 10,000, through every backend.

Each log is read back with the package's reader (what the api-server shows) and, for object stores,
byte for byte from the server; for Elasticsearch, every document's ids must equal the path's.
"""

from __future__ import annotations

from pathlib import Path

from airflow_platform_plugins.task_logs.es.identity import parse_relative_path
from tests.reliability.backends import EngineBackend, direct_endpoint
from tests.reliability.plugin import tally
from tests.reliability.runner import Policy, Writer, check_whole

POLICY = Policy(flush_interval=0.5, upload_timeout=30.0, retry_max_delay=1.0)
# A path component holds at most 255 bytes (NAME_MAX), so "dag_id=" leaves 248 for a dag id;
# Airflow allows 250 (see docs/reliability.md).
PATHS = [
    "dag_id=dæg ünïcødé 日本語 🚀/run_id=manual__2024-01-01T00:00:00+00:00 % # ? &=/"
    "task_id=tâsk %41 #frag ?q=1/attempt=1.log",
    f"dag_id={'d' * 248}/run_id={'r' * 248}/task_id={'t' * 247}/map_index=10001/attempt=1.log",
    "dag_id=spaces  and  tabs/run_id=%2F%00%25 ..%2E/task_id=a.b-c_d/map_index=99999/attempt=12.log",
    "dag_id=é/run_id=ÿ ñ/task_id=ü/map_index=0/attempt=1.log",
]


def test_hostile_names_read_back_identical(backend: EngineBackend, tmp_path: Path) -> None:
    figures = tally("7 hostile names", backend.name)
    figures.note("Unicode, %, #, ?, spaces, 247-248 character ids, map index 10001 and 99999")
    writers = [
        Writer(
            backend.child_spec(direct_endpoint(backend)),
            tmp_path / f"w{k}",
            rel,
            host=f"worker-{k}",
            prefix=f"w{k} ✓ %s #?",
            lines=50,
            interval=0.0,
            policy=POLICY,
        )
        for k, rel in enumerate(PATHS)
    ]
    problems = check_whole(backend, writers, figures, timeout=120)
    for writer in writers:
        shown = [str(line.get("event")) for line in backend.read_back(writer.rel)]
        if shown != writer.events():
            problems.append(f"{writer.rel}: the package's reader shows {len(shown)} lines, not the log")
        stored = backend.stored(writer.rel)
        if stored.raw and stored.raw.get(writer.host) != writer.path.read_bytes():
            problems.append(f"{writer.rel}: the stored bytes differ from the local file")
        identity = parse_relative_path(writer.rel)
        assert identity is not None
        for line in stored.by_host.get(writer.host, []):
            if "dag_id" in line and {k: line[k] for k in identity.fields()} != identity.fields():
                problems.append(f"{writer.rel}: a document's ids differ from the path's")
                break
    assert not problems, "\n".join(problems)
