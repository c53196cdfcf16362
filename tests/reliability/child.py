"""A worker process for the reliability scenarios: writes a try's log the way the supervisor does,
with the package's shipping engine for one backend, and finishes it as Airflow's ``upload`` does.

Run as ``python -m tests.reliability.child '<json>'``. It prints ``started`` after the first line,
``finishing`` before the final upload and a JSON result after it, so the parent can kill it at a
chosen moment. Each line's ``event`` is ``<prefix>-<n>`` and ``t`` is when it was written.
"""

from __future__ import annotations

import contextlib
import json
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
    if kind == "elasticsearch":
        from airflow_platform_plugins.task_logs.es.bulk import BulkSink
        from airflow_platform_plugins.task_logs.es.client import ClientHandle, ClientSettings
        from airflow_platform_plugins.task_logs.es.writer import LineWriter
        from tests.reliability.backends import ES_LOG_ID

        client = ClientHandle(ClientSettings((spec["endpoint"],), {"request_timeout": 10}))
        sink = BulkSink(
            client,
            target_index=spec["index"],
            display=spec["endpoint"],
            latency=policy.flush_interval,
            max_bytes=1 << 20,
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

    store: Any
    if kind == "s3":
        from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
        from airflow_platform_plugins.task_logs.objectstore.s3 import S3Store, build_client

        conn = spec["connection"]
        fields = ConnectionFields("c", login=conn["login"], password=conn["password"], extra=conn["extra"])
        store = S3Store(build_client(fields), spec["bucket"], spec["prefix"])
    elif kind == "gcs":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        from airflow_platform_plugins.task_logs.objectstore.gcs import GCSStore

        def make_client() -> Any:
            return storage.Client(
                project="test",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": spec["endpoint"]},
            )

        store = GCSStore(make_client, spec["bucket"], spec["prefix"])
    else:
        raise ValueError(f"unknown backend kind {kind!r}")
    return Shipper(lambda: store, prefix=spec["prefix"], base_log_folder=base, policy=policy, host=host)


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[1])
    policy = ShippingPolicy(
        flush_interval=cfg["flush_interval"],
        upload_timeout=cfg["upload_timeout"],
        retry_max_delay=cfg["retry_max_delay"],
    )
    writer = build_writer(cfg["spec"], cfg["base"], cfg["host"], policy)
    processor = ShippingProcessor(writer)
    log = TaskLog(Path(cfg["base"]), cfg["rel"])
    failed_writes = 0
    for i in range(cfg["lines"]):
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
    done = bool(writer.finish(str(log.path)))
    result = {
        "finished": done,
        "seconds": time.monotonic() - began,
        "failed_writes": failed_writes,
        "dropped_lines": getattr(log.logger._write, "dropped", 0),  # the package's full-disk writer
    }
    print(json.dumps(result), flush=True)
    with contextlib.suppress(OSError):
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
