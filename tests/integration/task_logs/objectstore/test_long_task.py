"""A chatty try of many simulated hours on real store servers: few objects, bounded bytes, exact log.

``LONGTASK_HOURS`` sets the simulated length: 1 in the default run (CI budget), 24 in
``tox -e longtask`` (the figure issue 15 asks for).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_platform_plugins.task_logs.objectstore import keys
from airflow_platform_plugins.task_logs.objectstore.reader import iter_log_text
from tests.harness.longtask import (
    FLUSH_INTERVAL,
    Backend,
    CountingStore,
    Simulation,
    azure_backend,
    gcs_backend,
    s3_backend,
)
from tests.harness.moto import MotoServer
from tests.harness.tasklog import REL

HOURS = float(os.environ.get("LONGTASK_HOURS", "1"))


@pytest.fixture(params=["s3", "gcs", "azure"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    if request.param == "s3":
        moto: MotoServer = request.getfixturevalue("moto")
        moto.client().create_bucket(Bucket=bucket)
        made = s3_backend(moto, bucket)
    elif request.param == "azure":
        made = azure_backend(request.getfixturevalue("azurite"), bucket)
    else:
        made = gcs_backend(tmp_path_factory.mktemp("gcs"), bucket)
    try:
        yield made
    finally:
        made.close()


def listed(store: CountingStore) -> list[str]:
    return [info.key for info in store.inner.list(keys.log_key(store.prefix, REL) + "/")]


def test_a_long_chatty_try_leaves_few_objects_and_sends_little(backend: Backend, tmp_path: Path) -> None:
    store = CountingStore(backend.store)
    sim = Simulation(tmp_path, store)
    steps = int(HOURS * 3600 / FLUSH_INTERVAL)
    for step in range(steps):
        sim.interval()
        assert len(store.live) <= 64, f"{len(store.live)} objects after {step + 1} flushes"
        if step % 1200 == 0:  # each simulated hour: what the server lists is what we counted
            assert sorted(listed(store)) == sorted(store.live)
    assert sim.finish()

    data = sim.log.path.read_bytes()
    objects = listed(store)
    assert len(objects) <= 8, objects
    assert store.most <= 64
    sent = backend.bytes_sent()
    assert sent <= 4 * len(data), f"sent {sent} bytes for a {len(data)}-byte log"
    assert "get" not in store.calls  # nothing read back on the write path
    assert "\n".join(iter_log_text(store.inner, REL)).encode() + b"\n" == data
    print(
        f"{backend.name}: {HOURS} h, {len(data)} bytes, {len(objects)} objects, most {store.most}, "
        f"sent {sent / len(data):.2f}x, calls {store.calls}"
    )
