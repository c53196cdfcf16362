"""Benchmarks, run by ``tox -e bench``: each contender in one run against the same local servers.

Sections: ``s3``, ``gcs`` and ``azure`` (task logs), ``es`` (Elasticsearch), ``footprint`` (with
``azure-footprint`` for the Azure extras alone), and ``auth`` (JWT-header sign-on, see
``benchmarks/auth.py``); ``longtask`` (day-long chatty logs, only when named).

For the object stores, every operation runs in its own fresh interpreter; wall time is measured
inside it around the operation only, peak RSS is the process's own high-water mark as the kernel
reports it (``VmHWM``), and the baseline is its RSS after imports, before the operation. Each
operation is repeated (``--repeat``), the contenders taking turns, and the median time and the
largest peak RSS are reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import azure_ops, gcs_ops, s3_ops
from benchmarks.auth import auth_section, print_auth_table, verification_cost
from benchmarks.es_bench import es_section, print_es_table
from benchmarks.footprint import (
    measure_azure_footprint,
    measure_footprint,
    print_azure_footprint,
    print_footprint,
)
from benchmarks.live import live_section, print_live_table
from benchmarks.logfile import write_log
from benchmarks.measure import Result, combine, failed, run
from benchmarks.report import print_table
from benchmarks.results import Recorder
from tests.harness.azurite import Azurite
from tests.harness.gcs import FakeGCSServer
from tests.harness.moto import MotoServer
from tests.harness.processes import free_port

REL = "dag_id=bench/run_id=manual__2026-01-01T00:00:00+00:00/task_id=talk/attempt=1.log"
SIZES = {"20M": 20 << 20, "200M": 200 << 20, "1G": 1 << 30, "4G": 4 << 30}
S3_CONTENDERS = ("ours", "provider", "boto3")
GCS_CONTENDERS = ("ours", "provider", "client")
AZURE_CONTENDERS = ("ours", "provider", "client")
# Read-only floors: the plain client's streaming read of the provider's object, split into lines.
S3_SPLIT_FLOOR = "boto3+lines"
GCS_SPLIT_FLOOR = "client+lines"
AZURE_SPLIT_FLOOR = "client+lines"


def object_section(
    workdir: Path,
    sizes: list[str],
    repeat: int,
    *,
    module: str,
    contenders: tuple[str, ...],
    split_floor: str,
    env: dict[str, str],
    reset: Callable[[], None],
    delete_prefix: Callable[[str], None],
    stored_bytes: Callable[[str], int],
    memory_limit: int | None = None,
) -> list[Result]:
    """Upload then read each size with each contender, ``repeat`` times, contenders taking turns.

    The plain client (the last contender) and ``split_floor`` read the plain client's single object
    (the providers' layout). A contender that runs out of ``memory_limit`` is reported as such.
    """
    results: list[Result] = []
    plain = contenders[-1]
    for label in sizes:
        size = SIZES[label]
        reset()
        base = workdir / f"logs-{label}"
        write_log(base / REL, size)
        runs: dict[tuple[str, str], list[Result]] = {}
        for attempt in range(repeat):
            for contender in contenders:
                # The providers' uploads empty the local file afterwards: each upload gets a copy.
                copy = workdir / f"copy-{label}-{contender}"
                shutil.copytree(base, copy)
                prefix = f"{contender}-{attempt}"
                result = run(
                    module, contender, "upload", size, env, str(copy), REL, prefix, memory_limit=memory_limit
                )
                runs.setdefault((contender, "upload"), []).append(result)
                shutil.rmtree(copy)
                # Count only work that was done: a failed upload must not look fast.
                if not failed(result) and stored_bytes(prefix) < size:
                    raise RuntimeError(f"{contender} upload stored {stored_bytes(prefix)} of {size} bytes")
                if attempt:
                    delete_prefix(prefix)  # keep the server's memory flat; reads use attempt 0
        for _ in range(repeat):
            for contender in (*contenders, split_floor):
                writer = plain if contender == split_floor else contender  # whose object it reads
                if failed(runs[(writer, "upload")][0]):
                    continue  # nothing stored to read
                result = run(
                    module,
                    contender,
                    "read",
                    size,
                    env,
                    str(base),
                    REL,
                    f"{writer}-0",
                    memory_limit=memory_limit,
                )
                runs.setdefault((contender, "read"), []).append(result)
        with open(base / REL, "rb") as log:
            lines = sum(1 for _ in log)
        for (contender, operation), measured in runs.items():
            if operation == "read" and any(r.detail.get("lines") != lines for r in measured if not failed(r)):
                raise RuntimeError(f"{contender} read {measured[0].detail.get('lines')} of {lines} lines")
        results += [combine(r) for r in runs.values()]
        shutil.rmtree(base)
    return results


def s3_section(workdir: Path, sizes: list[str], repeat: int, memory_limit: int | None = None) -> list[Result]:
    moto = MotoServer(workdir)
    s3 = moto.client()

    def reset() -> None:
        moto.reset()
        s3.create_bucket(Bucket=s3_ops.BUCKET)

    def delete_prefix(prefix: str) -> None:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_ops.BUCKET, Prefix=f"{prefix}/"):
            items = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if items:
                s3.delete_objects(Bucket=s3_ops.BUCKET, Delete={"Objects": items})

    def stored_bytes(prefix: str) -> int:
        total = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_ops.BUCKET, Prefix=f"{prefix}/"):
            total += sum(int(item["Size"]) for item in page.get("Contents", []))
        return total

    env = {"BENCH_S3_ENDPOINT": moto.url, "AIRFLOW_HOME": str(workdir / "airflow-home")}
    try:
        return object_section(
            workdir,
            sizes,
            repeat,
            module="benchmarks.s3_ops",
            contenders=S3_CONTENDERS,
            split_floor=S3_SPLIT_FLOOR,
            env=env,
            reset=reset,
            delete_prefix=delete_prefix,
            stored_bytes=stored_bytes,
            memory_limit=memory_limit,
        )
    finally:
        moto.stop()


def gcs_section(
    workdir: Path, sizes: list[str], repeat: int, memory_limit: int | None = None
) -> list[Result]:
    state: dict[str, FakeGCSServer] = {}

    def reset() -> None:  # fake-gcs-server keeps everything in memory: start it afresh
        if "server" in state:
            state["server"].stop()
        state["server"] = FakeGCSServer(workdir, port=port)
        state["server"].client().create_bucket(gcs_ops.BUCKET)

    def delete_prefix(prefix: str) -> None:
        client = state["server"].client()
        for blob in client.list_blobs(gcs_ops.BUCKET, prefix=f"{prefix}/"):
            blob.delete()

    def stored_bytes(prefix: str) -> int:
        client = state["server"].client()
        return sum(int(blob.size) for blob in client.list_blobs(gcs_ops.BUCKET, prefix=f"{prefix}/"))

    port = free_port()
    env = {"BENCH_GCS_ENDPOINT": f"http://127.0.0.1:{port}", "AIRFLOW_HOME": str(workdir / "airflow-home")}
    try:
        return object_section(
            workdir,
            sizes,
            repeat,
            module="benchmarks.gcs_ops",
            contenders=GCS_CONTENDERS,
            split_floor=GCS_SPLIT_FLOOR,
            env=env,
            reset=reset,
            delete_prefix=delete_prefix,
            stored_bytes=stored_bytes,
            memory_limit=memory_limit,
        )
    finally:
        if "server" in state:
            state["server"].stop()


def azure_section(
    workdir: Path, sizes: list[str], repeat: int, memory_limit: int | None = None
) -> list[Result]:
    state: dict[str, Azurite] = {}

    def container() -> Any:
        return state["server"].client().get_container_client(azure_ops.CONTAINER)

    def reset() -> None:  # Azurite keeps everything in memory: start it afresh
        if "server" in state:
            state["server"].stop()
        state["server"] = Azurite(workdir, port=port)
        state["server"].client().create_container(azure_ops.CONTAINER)

    def delete_prefix(prefix: str) -> None:
        for name in [b.name for b in container().list_blobs(name_starts_with=f"{prefix}/")]:
            container().delete_blob(name)

    def stored_bytes(prefix: str) -> int:
        return sum(int(b.size) for b in container().list_blobs(name_starts_with=f"{prefix}/"))

    port = free_port()
    env = {"BENCH_AZURE_ENDPOINT": f"http://127.0.0.1:{port}", "AIRFLOW_HOME": str(workdir / "airflow-home")}
    try:
        return object_section(
            workdir,
            sizes,
            repeat,
            module="benchmarks.azure_ops",
            contenders=AZURE_CONTENDERS,
            split_floor=AZURE_SPLIT_FLOOR,
            env=env,
            reset=reset,
            delete_prefix=delete_prefix,
            stored_bytes=stored_bytes,
            memory_limit=memory_limit,
        )
    finally:
        if "server" in state:
            state["server"].stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="200M,1G", help="comma-separated log sizes: 20M, 200M, 1G, 4G")
    parser.add_argument("--repeat", type=int, default=3, help="runs per operation and contender")
    parser.add_argument(
        "--memory-limit-gb",
        type=float,
        default=14.0,
        help="address space each object-store contender may use; one that runs out is reported as such",
    )
    parser.add_argument("--workdir", default=None)
    parser.add_argument(
        "--sections",
        default="s3,gcs,azure,es,opensearch,footprint,azure-footprint,auth",
        help="comma-separated: s3, gcs, azure, es, opensearch, footprint, azure-footprint, auth; "
        "longtask and live run only when named",
    )
    parser.add_argument(
        "--es-lines", type=int, default=1_000_000, help="lines of the log read from Elasticsearch"
    )
    parser.add_argument("--es-index-size", default="200M", help="size of the log indexed with write_to_es")
    parser.add_argument(
        "--auth-requests", type=int, default=3000, help="measured requests per auth contender"
    )
    parser.add_argument("--auth-rounds", type=int, default=10, help="turns the auth contenders take")
    parser.add_argument("--auth-clients", type=int, default=4, help="clients at once for the throughput run")
    parser.add_argument(
        "--live-backends",
        default="s3,gcs,es_stdout,es_direct",
        help="live latency: s3, gcs, es_stdout, es_direct",
    )
    parser.add_argument("--live-lines", type=int, default=40, help="lines the live-latency task logs")
    parser.add_argument("--live-interval", type=float, default=0.5, help="seconds between its lines")
    parser.add_argument("--live-poll", type=float, default=0.25, help="seconds between reads of its log")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    memory_limit = int(args.memory_limit_gb * 1e9)
    args.sections = {s.strip() for s in args.sections.split(",")}
    recorder = Recorder(args={k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()})
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="app-bench-"))
    os.makedirs(workdir, exist_ok=True)
    try:
        runs = f"median of {args.repeat} runs, largest peak RSS"
        if "s3" in args.sections:
            recorder.start("s3")
            results = s3_section(workdir, sizes, args.repeat, memory_limit)
            recorder.write("s3", results)
            print_table(
                f"S3 task logs (moto server on 127.0.0.1; {runs})",
                results,
                ("provider", "boto3", S3_SPLIT_FLOOR),
            )
        if "gcs" in args.sections:
            recorder.start("gcs")
            results = gcs_section(workdir, sizes, args.repeat, memory_limit)
            recorder.write("gcs", results)
            print_table(
                f"GCS task logs (fake-gcs-server on 127.0.0.1; {runs})",
                results,
                ("provider", "client", GCS_SPLIT_FLOOR),
            )
        if "azure" in args.sections:
            recorder.start("azure")
            results = azure_section(workdir, sizes, args.repeat, memory_limit)
            recorder.write("azure", results)
            print_table(
                f"Azure Blob task logs (Azurite on 127.0.0.1; {runs})",
                results,
                ("provider", "client", AZURE_SPLIT_FLOOR),
            )
        if "es" in args.sections:
            results = es_section(workdir, args.es_lines, SIZES[args.es_index_size], args.repeat)
            print_es_table(f"Elasticsearch task logs (single node on 127.0.0.1; {runs})", results)
        if "opensearch" in args.sections:
            results = es_section(workdir, args.es_lines, SIZES[args.es_index_size], args.repeat, "opensearch")
            print_es_table(f"OpenSearch task logs (single node on 127.0.0.1; {runs})", results)
        if "footprint" in args.sections:
            print_footprint(measure_footprint(workdir))
        if "azure-footprint" in args.sections:
            print_azure_footprint(measure_azure_footprint(workdir))
        if "longtask" in args.sections:
            from benchmarks.longtask import run_longtask

            run_longtask(workdir, args.repeat)
        if "live" in args.sections:
            recorder.start("live")
            backends = [b.strip() for b in args.live_backends.split(",") if b.strip()]
            live = live_section(workdir, backends, args.live_lines, args.live_interval, args.live_poll)
            recorder.write("live", live)
            print_live_table(live)
        if "auth" in args.sections:
            recorder.start("auth")
            auth = auth_section(workdir, args.auth_requests, args.auth_rounds, args.auth_clients)
            recorder.write("auth", auth)
            print_auth_table(auth, args.auth_clients, verification_cost())
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
