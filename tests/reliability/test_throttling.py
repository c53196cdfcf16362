"""Scenario 3, throttling: the store refuses 10% and 50% of requests as it does when throttling (S3
``503 SlowDown``, GCS ``429``, Azure ``503 ServerBusy``, Elasticsearch and OpenSearch ``429`` for a
whole ``_bulk`` and for part of one).

Every try must finish, with every line stored exactly once and in order. The figures compare the
requests made with the ideal (the requests that were not refused: what the work needed), whose
ratio a client that retries only what failed keeps near ``1 / (1 - rate)``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.httpfaults import Faults, HttpFaultProxy
from tests.reliability.backends import BULK_BACKENDS, ENGINE_BACKENDS, EngineBackend
from tests.reliability.plugin import tally
from tests.reliability.runner import Policy, Writer, check_whole, try_path

POLICY = Policy(flush_interval=0.25, upload_timeout=60.0, retry_max_delay=1.0)


CASES = [
    (name, kind)
    for name in sorted(ENGINE_BACKENDS)
    for kind in ("whole requests", "bulk items")
    if kind == "whole requests" or name in BULK_BACKENDS
]


@pytest.mark.parametrize("rate", [0.1, 0.5])
@pytest.mark.parametrize(("backend", "kind"), CASES, indirect=["backend"])
def test_throttled_store_stores_every_line_once(
    backend: EngineBackend, full: bool, tmp_path: Path, rate: float, kind: str
) -> None:
    faults = (
        Faults(throttle=rate, throttle_response=backend.throttle_response)
        if kind == "whole requests"
        else Faults(partial_bulk=rate)
    )
    figures = tally(f"3 throttling {rate:.0%} ({kind})", backend.name)
    proxy = HttpFaultProxy(backend.upstream_port, seed=int(rate * 100), faults=faults)
    spec = backend.child_spec(proxy.url)
    count = 10 if full else 2
    try:
        writers = [
            Writer(
                spec,
                tmp_path / f"w{k}",
                try_path(run=f"throttle-{int(rate * 100)}-{kind.split()[0]}-{k}"),  # one log per case
                host=f"worker-{k}",
                prefix=f"w{k}",
                lines=400,
                interval=0.005,
                policy=POLICY,
            )
            for k in range(count)
        ]
        problems = check_whole(backend, writers, figures, timeout=POLICY.upload_timeout + 120)
    finally:
        proxy.close()
    refused = proxy.counts["throttled"] + sum(n for k, n in proxy.counts.items() if k.startswith("bulk "))
    figures.requests = len(proxy.requests)
    figures.ideal_requests = figures.requests - proxy.counts["throttled"]
    figures.note(f"{refused} refused (requests or bulk items); ideal ratio 1/(1-rate) = {1 / (1 - rate):.2f}")
    assert not problems, "\n".join(problems)
