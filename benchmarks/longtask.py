"""Long, chatty tasks (10 lines/s for 1 h and 24 h): the objects our shipper leaves, read back.

For each length, the local log is written as the shipper sees it (one flush interval of lines at a
time), and the package's own :class:`Merger` is driven over that sequence of chunks with a store that
only keeps tally: which objects exist at the end, and the requests and bytes it took. Those objects
are then stored on the server from the local file, under our key layout; the same bytes are stored as
one object under the provider's layout. Each contender reads in its own process (``s3_ops``/
``gcs_ops``), through a proxy that counts the requests of each read.

The shipper's own run on real servers (tests/integration/task_logs/objectstore/test_long_task.py)
makes the same objects with the same requests; this module avoids 28,800 uploads per day simulated.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.merger import Merger, MergeState
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectInfo
from benchmarks.measure import Result, combine, run
from tests.harness.faultproxy import FaultProxy, UploadPayloadCounter
from tests.harness.longtask import FLUSH_INTERVAL, LINES_PER_SECOND, chatty_line

HOURS = (1, 24)
ONE_OBJECT = "ours, one object"
"""Our reader on the same bytes stored as one object: the read time that the object count adds to."""


class Tally:
    """A store that keeps only names and counts (the merger's side of the write path)."""

    prefix = ""
    upload_slots = 1
    read_buffer = 0

    def __init__(self, *, composes: bool) -> None:
        self.live: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.sent = 0
        self.most = 0
        if composes:
            self.compose = self._compose

    def _add(self, key: str) -> None:
        self.live.add(key)
        self.most = max(self.most, len(self.live))

    def put_new(self, key: str, body: FileRange) -> None:
        self.calls["put"] += 1
        self.sent += body.length
        self._add(key)

    def _compose(self, key: str, sources: list[str]) -> None:
        self.calls["compose"] += 1
        self._add(key)

    def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        self.live.discard(key)

    def url(self, key: str) -> str:
        return key

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        raise AssertionError("the merger lists nothing")

    def get(self, key: str, start: int, length: int) -> bytes:
        raise AssertionError("the write path reads nothing")

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        raise AssertionError("the write path reads nothing")


@dataclass
class Layout:
    """A chatty try's log on disk and the objects our shipper leaves for it."""

    hours: int
    path: Path
    size: int
    stream: str
    lines: int
    ranges: list[tuple[int, int]]
    tally: Tally


def chatty_try(path: Path, hours: int, *, composes: bool) -> Layout:
    """Write ``hours`` of a chatty log to ``path`` and run the merger over its flushes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    per_interval = int(LINES_PER_SECOND * FLUSH_INTERVAL)
    intervals = int(hours * 3600 / FLUSH_INTERVAL)
    bounds = [0]
    with open(path, "wb") as f:
        for i in range(intervals):
            f.write(b"".join(chatty_line(i * per_interval + j) + b"\n" for j in range(per_interval)))
            bounds.append(f.tell())
    with open(path, "rb") as f:
        stream = keys.stream_id("worker-1", f.readline())
    tally, state, merger = Tally(composes=composes), MergeState(), Merger()
    tally.calls["list"] += 1  # where shipping resumes, once per process
    log_key = keys.log_key("", "log")
    where = (log_key, stream, str(path))
    for i in range(intervals):
        start, end = bounds[i], bounds[i + 1]
        tally.put_new(keys.chunk_key(log_key, stream, start, end), FileRange(str(path), start, end - start))
        state.stored(start, end)
        merger.settle(tally, state, where, now=(i + 1) * FLUSH_INTERVAL, final=False)
    merger.settle(tally, state, where, now=intervals * FLUSH_INTERVAL, final=True)
    ranges = sorted(
        (name.start, name.end)
        for name in (keys.parse_key(log_key, k) for k in tally.live)
        if isinstance(name, keys.ChunkName)
    )
    return Layout(hours, path, bounds[-1], stream, intervals * per_interval, ranges, tally)


@dataclass
class Backend:
    """What the section needs of one store server."""

    module: str
    contenders: tuple[str, str, str]
    port: int
    env_name: str
    store: Callable[[str], Any]
    """This package's store for a key prefix, reaching the server directly."""
    put_whole: Callable[[str, Path], None]


def longtask_section(
    workdir: Path, backend: Backend, repeat: int
) -> tuple[list[Result], list[dict[str, Any]]]:
    """Read each long log with each contender; return the results and per-try counts."""
    results: list[Result] = []
    counts: list[dict[str, Any]] = []
    counter = UploadPayloadCounter()
    proxy = FaultProxy(backend.port, counter=counter)
    env = {backend.env_name: proxy.url, "AIRFLOW_HOME": str(workdir / "airflow-home")}
    empty = workdir / "empty-base"
    empty.mkdir(exist_ok=True)
    rel = "dag_id=bench/run_id=long/task_id=chatty/attempt=1.log"
    ours, provider, plain = backend.contenders
    try:
        for hours in HOURS:
            layout = chatty_try(
                workdir / f"long-{hours}h.log", hours, composes=ours == "ours" and "gcs" in backend.module
            )
            prefix = f"ours-{hours}h"
            store = backend.store(prefix)
            key = keys.log_key(prefix, rel)
            for start, end in layout.ranges:
                store.put_new(
                    keys.chunk_key(key, layout.stream, start, end),
                    FileRange(str(layout.path), start, end - start),
                )
            backend.put_whole(f"provider-{hours}h/{rel}", layout.path)
            lines = layout.lines
            runs: dict[str, list[Result]] = {}
            requests: dict[str, Counter[str]] = {}
            # Ours twice: on the layout the merges leave, and on the same bytes as one object (the
            # provider's layout read through our reader), so the object count's own cost shows.
            readers = [(ours, prefix, ours), (ours, f"provider-{hours}h", ONE_OBJECT)]
            readers += [(c, f"provider-{hours}h", c) for c in (provider, plain)]
            for _ in range(repeat):
                for contender, where, label in readers:
                    before = len(counter.requests)
                    result = run(backend.module, contender, "read", layout.size, env, str(empty), rel, where)
                    if result.detail.get("lines") != lines:
                        raise RuntimeError(f"{label} read {result.detail.get('lines')} of {lines} lines")
                    runs.setdefault(label, []).append(dataclasses.replace(result, contender=label))
                    requests[label] = Counter(_kind(r) for r in counter.requests[before:])
            results += [combine(r) for r in runs.values()]
            counts.append(
                {
                    "hours": hours,
                    "bytes": layout.size,
                    "objects": len(layout.ranges),
                    "most": layout.tally.most,
                    "write": dict(layout.tally.calls),
                    "sent": layout.tally.sent,
                    "read": {c: dict(requests[c]) for c in (ours, ONE_OBJECT, provider, plain)},
                }
            )
            os.remove(layout.path)
    finally:
        proxy.close()
        shutil.rmtree(empty, ignore_errors=True)
    return results, counts


def _kind(request: bytes) -> str:
    """``LIST``, or the method, of a request line (``METHOD path``)."""
    method, _, path = request.partition(b" ")
    return "LIST" if b"prefix=" in path or b"list-type=" in path else method.decode()


def print_counts(title: str, counts: list[dict[str, Any]]) -> None:
    """The per-try counts the cost table in docs/operations.md is computed from."""
    print(f"\n## {title}\n")
    columns = (
        "log",
        "bytes",
        "our objects at the end",
        "most at once",
        "our write requests",
        "bytes sent / log",
        "requests per read (ours; ours on one object; provider; plain)",
    )
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|")
    for c in counts:
        reads = "; ".join(", ".join(f"{k} {v}" for k, v in sorted(r.items())) for r in c["read"].values())
        print(
            f"| {c['hours']} h | {c['bytes']} | {c['objects']} | {c['most']} | {c['write']} "
            f"| {c['sent'] / c['bytes']:.2f} | {reads} |"
        )


def run_longtask(workdir: Path, repeat: int) -> None:
    """The ``longtask`` section: S3 (moto) and GCS (fake-gcs-server), each on 127.0.0.1."""
    from benchmarks import gcs_ops, s3_ops
    from benchmarks.report import print_table
    from tests.harness.gcs import FakeGCSServer
    from tests.harness.moto import MotoServer

    moto = MotoServer(workdir)
    try:
        s3 = moto.client()
        s3.create_bucket(Bucket=s3_ops.BUCKET)
        backend = Backend(
            "benchmarks.s3_ops",
            ("ours", "provider", "boto3"),
            moto.port,
            "BENCH_S3_ENDPOINT",
            lambda prefix: _s3_store(moto, s3_ops.BUCKET, prefix),
            lambda key, path: s3.upload_file(str(path), s3_ops.BUCKET, key),
        )
        results, counts = longtask_section(workdir, backend, repeat)
    finally:
        moto.stop()
    runs = f"median of {repeat} runs, largest peak RSS"
    print_table(
        f"S3, long chatty task logs read back (moto server on 127.0.0.1; {runs})",
        results,
        (ONE_OBJECT, "provider", "boto3"),
    )
    print_counts("S3, per try: objects and requests", counts)

    gcs = FakeGCSServer(workdir)
    try:
        client = gcs.client()
        client.create_bucket(gcs_ops.BUCKET)
        from airflow_platform_plugins.task_logs.objectstore.gcs import GCSStore

        backend = Backend(
            "benchmarks.gcs_ops",
            ("ours", "provider", "client"),
            gcs.port,
            "BENCH_GCS_ENDPOINT",
            lambda prefix: GCSStore(gcs.client, gcs_ops.BUCKET, prefix),
            lambda key, path: client.bucket(gcs_ops.BUCKET).blob(key).upload_from_filename(str(path)),
        )
        results, counts = longtask_section(workdir, backend, repeat)
    finally:
        gcs.stop()
    print_table(
        f"GCS, long chatty task logs read back (fake-gcs-server on 127.0.0.1; {runs})",
        results,
        (ONE_OBJECT, "provider", "client"),
    )
    print_counts("GCS, per try: objects and requests", counts)


def _s3_store(moto: Any, bucket: str, prefix: str) -> Any:
    from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
    from airflow_platform_plugins.task_logs.objectstore.s3 import S3Store, build_client

    conn = moto.connection()
    fields = ConnectionFields("bench", login=conn["login"], password=conn["password"], extra=conn["extra"])
    return S3Store(build_client(fields), bucket, prefix)
