"""A worker process for the reliability scenarios: writes a try's log the way the supervisor does,
with the package's shipping engine for one backend, and finishes it as Airflow's ``upload`` does.

Run as ``python -m tests.reliability.child '<json>'``. It prints ``started`` after the first line,
``finishing`` before the final upload and a JSON result after it, so the parent can kill it at a
chosen moment. Each line's ``event`` is ``<prefix>-<n>`` and ``t`` is when it was written. With
``rels`` it writes several logs at once, as a triggerer does; with ``go_file`` it prints ``ready``
and waits for that file before its first line, so that many writers start together.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from tests.harness.tasklog import TaskLog


def build_writer(spec: dict[str, Any], base: str, host: str, policy: ShippingPolicy) -> Any:
    """The package's writer for ``spec`` (see :meth:`EngineBackend.child_spec`)."""
    kind = spec["kind"]
    if kind in ("elasticsearch", "opensearch"):
        from airflow_platform_plugins.task_logs.es.bulk import BulkSink
        from airflow_platform_plugins.task_logs.es.client import ClientHandle
        from airflow_platform_plugins.task_logs.es.writer import LineWriter
        from tests.harness.elasticsearch import ElasticsearchNode, OpenSearchNode
        from tests.reliability.backends import ES_LOG_ID

        engine = OpenSearchNode if kind == "opensearch" else ElasticsearchNode
        client = ClientHandle(engine.settings_for(spec["endpoint"], timeout=10), build=engine.build)
        sink = BulkSink(
            client,
            target_index=spec["index"],
            display=spec["endpoint"],
            latency=policy.flush_interval,
            max_bytes=1 << 20,
            # The suite installed the package's template for this index (as an operator does with
            # es_install_template = False); each writer then starts with its first _bulk.
            install_template=False,
        )
        return LineWriter(
            [sink],
            base_log_folder=base,
            log_id_template=ES_LOG_ID,
            upload_timeout=policy.upload_timeout,
            retry_max_delay=policy.retry_max_delay,
            host=host,
        )
    from airflow_platform_plugins.task_logs.objectstore.shipper import Shipper

    store = build_store(spec)
    return Shipper(lambda: store, prefix=spec["prefix"], base_log_folder=base, policy=policy, host=host)


def build_store(spec: dict[str, Any]) -> Any:
    """The package's object store for an object-store ``spec`` (S3, GCS or Azure Blob)."""
    kind = spec["kind"]
    if kind == "s3":
        from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
        from airflow_platform_plugins.task_logs.objectstore.s3 import S3Store, build_client

        conn = spec["connection"]
        fields = ConnectionFields("c", login=conn["login"], password=conn["password"], extra=conn["extra"])
        return S3Store(build_client(fields), spec["bucket"], spec["prefix"])
    if kind == "gcs":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        from airflow_platform_plugins.task_logs.objectstore.gcs import GCSStore

        def make_client() -> Any:
            return storage.Client(
                project="test",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": spec["endpoint"]},
            )

        return GCSStore(make_client, spec["bucket"], spec["prefix"])
    if kind == "azure":
        from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
        from airflow_platform_plugins.task_logs.objectstore.azure import AzureBlobStore
        from airflow_platform_plugins.task_logs.objectstore.azure_auth import build_service_client

        fields = ConnectionFields("c", extra={"connection_string": spec["connection_string"]})
        return AzureBlobStore(lambda: build_service_client(fields), spec["bucket"], spec["prefix"])
    raise ValueError(f"unknown backend kind {kind!r}")


def _wait_for_go(path: str, timeout: float = 600.0) -> None:
    """Block until ``path`` exists: every writer of a scenario starts its lines at the same moment."""
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"no go signal at {path} within {timeout:.0f} s")
        time.sleep(0.02)  # polling the condition, not a stand-in for it


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[1])
    policy = ShippingPolicy(
        flush_interval=cfg["flush_interval"],
        upload_timeout=cfg["upload_timeout"],
        retry_max_delay=cfg["retry_max_delay"],
    )
    rss_before = _rss_mb()
    writer = build_writer(cfg["spec"], cfg["base"], cfg["host"], policy)
    processor = ShippingProcessor(writer)
    # One log per try; a triggerer process writes the logs of many deferred tries at once.
    logs = [TaskLog(Path(cfg["base"]), rel) for rel in cfg.get("rels") or [cfg["rel"]]]
    if cfg.get("go_file"):
        _wait_for_go(cfg["go_file"])
    began_writing = time.time()
    failed_writes = 0
    for i in range(cfg["lines"]):
        for log in logs:
            try:
                log.line(processor, f"{cfg['prefix']}-{i:06d}", t=time.time(), pad=cfg.get("pad", ""))
            except OSError as exc:  # a full disk: the task goes on, as Airflow's does
                if not failed_writes:
                    print(f"write failed: {exc}", flush=True)
                failed_writes += 1
        if i == 0:
            print("started", flush=True)
        time.sleep(cfg["interval"])  # the pace of a task writing lines, not a wait for a condition
    print("finishing", flush=True)
    began = time.monotonic()
    done = all([bool(writer.finish(str(log.path))) for log in logs])
    cpu = os.times()
    result = {
        "finished": done,
        "seconds": time.monotonic() - began,
        "failed_writes": failed_writes,
        "dropped_lines": getattr(logs[0].logger._write, "dropped", 0),  # the package's full-disk writer
        "began_writing": began_writing,
        "ended": time.time(),
        # What shipping costs this process: the CPU of every thread but the one writing the lines
        # (the engine's), and the memory the engine and its client library added.
        "shipper_cpu_seconds": max(0.0, cpu.user + cpu.system - time.thread_time()),
        "rss_before_engine_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(result), flush=True)
    for log in logs:
        with contextlib.suppress(OSError):
            log.close()
    return 0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


if __name__ == "__main__":
    sys.exit(main(sys.argv))
