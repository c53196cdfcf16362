"""Run a demo on 127.0.0.1: Airflow 3 (scheduler, dag-processor, triggerer, api-server) with this bundle.

``--backend s3|gcs|es``: a task's log in the store while it runs and read back from it afterwards
(moto server, fake-gcs-server, or an Elasticsearch node). ``--sign-on``: nginx and a small identity
provider in front of Airflow; prints URLs at which a browser is signed in through the header.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from demo import logs, sign_on
from demo.stores import STORES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--backend", choices=sorted(STORES), default="s3", help="where task logs go (default s3)"
    )
    parser.add_argument("--sign-on", action="store_true", help="show JWT-header sign-on instead of task logs")
    parser.add_argument("--lines", type=int, default=30, help="lines the demo task logs (one every 0.5 s)")
    parser.add_argument(
        "--hold", type=float, default=None, help="keep the servers up this many seconds at the end"
    )
    parser.add_argument("--workdir", default=None, help="keep files here instead of a temporary folder")
    args = parser.parse_args()
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # each step shows as it happens, also in CI logs

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="airflow-platform-plugins-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"Working folder: {workdir}")
    if args.sign_on:
        ok = sign_on.run(workdir, args.hold)
    else:
        ok = logs.run(args.backend, workdir, args.lines, args.hold)
    print("Demo OK." if ok else "Demo FAILED: see above.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
