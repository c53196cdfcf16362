"""SIGKILL a merging shipper at random moments, in the middle of merges too: the log stays exact.

Each round starts a shipper process on the same local log (as a restarted worker would), lets it ship
and merge, and kills it: at a random moment, or just after it announced a merge. Right after each kill
the store must read back as an exact prefix of the local file, short of at most one flush interval.
A last process finishes the try and the store then holds the whole file. ``LONGTASK_KILLS`` rounds
per backend: 4 in the default run (CI budget), 20 in ``tox -e longtask``.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text
from airflow_platform_plugins.task_logs.objectstore.store import ObjectStore
from tests.harness.azurite import Azurite
from tests.harness.gcs import FakeGCSServer
from tests.harness.longtask import INTERVAL_BYTES
from tests.harness.longtask_child import build_store
from tests.harness.moto import MotoServer
from tests.harness.stores import stored_stream_bytes
from tests.harness.tasklog import REL

KILLS = int(os.environ.get("LONGTASK_KILLS", "4"))
ROOT = Path(__file__).resolve().parents[4]


class Child:
    """One shipper process; its stdout says when it is ready and when a merge starts."""

    def __init__(self, kind: str, endpoint: str, bucket: str, base: Path, mode: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.longtask_child", kind, endpoint, bucket, str(base), mode],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.merges = 0

    def wait_line(self, want: bytes, timeout: float) -> bool:
        """Read stdout until a line ``want`` (True) or the deadline / the end of output (False)."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return False
            line = self.process.stdout.readline()
            if not line:
                return False
            if line.strip() == b"merge":
                self.merges += 1
            if line.strip() == want:
                return True
        return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_kills_at_any_moment_leave_an_exact_prefix(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    if kind == "s3":
        moto: MotoServer = request.getfixturevalue("moto")
        moto.client().create_bucket(Bucket=bucket)
        endpoint = moto.url
    elif kind == "azure":
        azurite: Azurite = request.getfixturevalue("azurite")
        azurite.client().create_container(bucket)
        endpoint = azurite.url
    else:
        fake_gcs: FakeGCSServer = request.getfixturevalue("fake_gcs")
        fake_gcs.client().create_bucket(bucket)
        endpoint = fake_gcs.url
    store = build_store(kind, endpoint, bucket)
    rng = random.Random(15)
    local = tmp_path / REL
    mid_merge = 0
    for round_ in range(KILLS):
        child = Child(kind, endpoint, bucket, tmp_path, "run")
        assert child.wait_line(b"ready", timeout=60), "shipper process did not start"
        if round_ % 2:  # every other kill lands just after a merge began
            for _ in range(rng.randint(1, 3)):
                assert child.wait_line(b"merge", timeout=60), "no merge announced"
            time.sleep(rng.uniform(0.0, 0.05))  # the kill's moment inside the merge, not a condition
            mid_merge += 1
        else:
            child.wait_line(b"never", timeout=rng.uniform(0.3, 2.0))
        child.kill()
        data = local.read_bytes()
        got = "\n".join(iter_log_text(store, REL)).encode() + b"\n"
        assert data.startswith(got), f"round {round_}: the store does not hold a prefix of the log"
        assert len(data) - len(got) <= INTERVAL_BYTES, f"round {round_}: lost {len(data) - len(got)} bytes"
        independent = stored_stream_bytes(_Reader(store), store.prefix + "/" + REL)  # type: ignore[arg-type]
        assert list(independent.values()) == [got]
    assert mid_merge >= KILLS // 2

    last = Child(kind, endpoint, bucket, tmp_path, "finish")
    assert last.process.wait(timeout=300) == 0
    assert "\n".join(iter_log_text(store, REL)).encode() + b"\n" == local.read_bytes()


class _Reader:
    """The harness's independent stream check, on top of the package's store (listing and whole reads)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.sizes: dict[str, int] = {}

    def objects(self, prefix: str) -> list[tuple[str, int]]:
        self.sizes = {info.key: info.size for info in self.store.list(prefix)}
        return list(self.sizes.items())

    def read(self, key: str) -> bytes:
        return self.store.get(key, 0, self.sizes[key])
