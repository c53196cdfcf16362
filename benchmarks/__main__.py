"""Benchmarks, run by ``tox -e bench``: each contender in one run against the same local servers.

Every operation runs in its own fresh interpreter; wall time is measured inside it around the
operation only, peak RSS is the process's maximum as the kernel reports it (``ru_maxrss``), and the
baseline is its RSS after imports, before the operation.
"""

from __future__ import annotations

import argparse
import os
import shutil
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


def s3_section(workdir: Path, sizes: list[str]) -> list[Result]:
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
            for contender in ("ours", "provider", "boto3"):
                # The provider's upload empties the local file afterwards; give it its own copy.
                copy = workdir / f"copy-{label}-{contender}"
                shutil.copytree(base, copy)
                results.append(
                    run("benchmarks.s3_ops", contender, "upload", size, env, str(copy), REL, contender)
                )
                shutil.rmtree(copy)
            for contender in ("ours", "provider", "boto3"):
                prefix = "provider" if contender == "boto3" else contender
                results.append(run("benchmarks.s3_ops", contender, "read", size, env, str(base), REL, prefix))
            shutil.rmtree(base)
    finally:
        moto.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="200M,1G", help="comma-separated log sizes: 20M, 200M, 1G")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="app-bench-"))
    os.makedirs(workdir, exist_ok=True)
    try:
        results = s3_section(workdir, sizes)
        print_table(
            "S3 task logs (moto server on 127.0.0.1)", results, baseline_contenders=("provider", "boto3")
        )
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
