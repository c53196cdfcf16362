"""Benchmarks, run by ``tox -e bench``: each contender in one run against the same local servers.

Every operation runs in its own fresh interpreter; wall time is measured inside it around the
operation only, peak RSS is the process's maximum as the kernel reports it (``ru_maxrss``), and the
baseline is its RSS after imports, before the operation. Each operation is repeated (``--repeat``),
the contenders taking turns, and the median time and the largest peak RSS are reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import s3_ops
from benchmarks.logfile import write_log
from benchmarks.measure import Result, run
from benchmarks.report import print_table
from tests.harness.moto import MotoServer

REL = "dag_id=bench/run_id=manual__2026-01-01T00:00:00+00:00/task_id=talk/attempt=1.log"
SIZES = {"20M": 20 << 20, "200M": 200 << 20, "1G": 1 << 30}
CONTENDERS = ("ours", "provider", "boto3")


def combine(results: list[Result]) -> Result:
    """Median time, largest peak RSS."""
    first = results[0]
    return Result(
        first.contender,
        first.operation,
        first.size,
        statistics.median(r.seconds for r in results),
        max(r.peak_rss_mb for r in results),
        max(r.baseline_rss_mb for r in results),
        {**first.detail, "runs": len(results)},
    )


def delete_prefix(moto: MotoServer, prefix: str) -> None:
    s3 = moto.client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_ops.BUCKET, Prefix=f"{prefix}/"):
        items = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if items:
            s3.delete_objects(Bucket=s3_ops.BUCKET, Delete={"Objects": items})


def s3_section(workdir: Path, sizes: list[str], repeat: int) -> list[Result]:
    moto = MotoServer(workdir)
    results: list[Result] = []
    try:
        env = {"BENCH_S3_ENDPOINT": moto.url, "AIRFLOW_HOME": str(workdir / "airflow-home")}
        for label in sizes:
            size = SIZES[label]
            moto.reset()
            moto.client().create_bucket(Bucket=s3_ops.BUCKET)
            base = workdir / f"logs-{label}"
            write_log(base / REL, size)
            runs: dict[tuple[str, str], list[Result]] = {}
            for attempt in range(repeat):
                for contender in CONTENDERS:
                    # The provider's upload empties the local file afterwards: each upload gets a copy.
                    copy = workdir / f"copy-{label}-{contender}"
                    shutil.copytree(base, copy)
                    prefix = f"{contender}-{attempt}"
                    result = run("benchmarks.s3_ops", contender, "upload", size, env, str(copy), REL, prefix)
                    runs.setdefault((contender, "upload"), []).append(result)
                    shutil.rmtree(copy)
                    if attempt:
                        delete_prefix(moto, prefix)  # keep the server's memory flat; reads use attempt 0
            for _ in range(repeat):
                for contender in CONTENDERS:
                    prefix = "provider-0" if contender == "boto3" else f"{contender}-0"
                    result = run("benchmarks.s3_ops", contender, "read", size, env, str(base), REL, prefix)
                    runs.setdefault((contender, "read"), []).append(result)
            results += [combine(r) for r in runs.values()]
            shutil.rmtree(base)
    finally:
        moto.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="200M,1G", help="comma-separated log sizes: 20M, 200M, 1G")
    parser.add_argument("--repeat", type=int, default=3, help="runs per operation and contender")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="app-bench-"))
    os.makedirs(workdir, exist_ok=True)
    try:
        results = s3_section(workdir, sizes, args.repeat)
        title = f"S3 task logs (moto server on 127.0.0.1; median of {args.repeat} runs, largest peak RSS)"
        print_table(title, results, baseline_contenders=("provider", "boto3"))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
