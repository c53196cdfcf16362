"""Scenario 2, flaky network between the writers and the store: a seeded random fault proxy resets
connections in the middle of a request body, adds latency and jitter, drip-feeds and truncates
responses, and blackholes every connection for a while.

Every try must finish (its final upload completing within ``upload_timeout``), with every line stored
exactly once and in order.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.harness.httpfaults import Faults, HttpFaultProxy
from tests.reliability.backends import EngineBackend
from tests.reliability.plugin import tally
from tests.reliability.runner import Policy, Writer, check_whole, try_path

FAULTS = Faults(reset_mid_body=0.05, reset_first=1, truncate=0.05, drip=0.1, latency=(0.0, 0.3))


def test_flaky_network_loses_and_duplicates_nothing(
    backend: EngineBackend, full: bool, tmp_path: Path
) -> None:
    rng = random.Random(f"flaky-{backend.name}")
    # Full size: blackholes of 10-25 s, inside a 30 s upload_timeout. A blackhole longer than
    # upload_timeout leaves the final upload to the background (see docs/reliability.md).
    policy = Policy(flush_interval=0.5, upload_timeout=30.0 if full else 15.0, retry_max_delay=2.0)
    blackhole = rng.uniform(10, 25) if full else rng.uniform(2, 4)
    count = 8 if full else 3
    figures = tally("2 flaky network", backend.name)
    figures.note(f"resets 5%, truncation 5%, drip 10%, latency 0-300 ms, one {blackhole:.0f} s blackhole")
    proxy = HttpFaultProxy(backend.upstream_port, seed=rng.randrange(1 << 30), faults=FAULTS)
    spec = backend.child_spec(proxy.url)
    try:
        writers = [
            Writer(
                spec,
                tmp_path / f"w{k}",
                try_path(run=f"flaky-{k}"),
                host=f"worker-{k}",
                prefix=f"w{k}",
                lines=600,
                interval=0.005,
                policy=policy,
            )
            for k in range(count)
        ]
        for writer in writers:
            writer.wait_said("started")
        time.sleep(rng.uniform(0.5, 1.5))  # a random moment of the run
        proxy.blackhole(blackhole)
        problems = check_whole(backend, writers, figures, timeout=policy.upload_timeout + 180)
    finally:
        proxy.close()
    figures.requests = len(proxy.requests)
    assert proxy.counts["reset"], f"no connection was reset: {proxy.counts}"
    assert proxy.counts["blackholed"], f"nothing was blackholed: {proxy.counts}"
    assert figures.max_finish_seconds <= policy.upload_timeout + 5, "a try stalled at its end"
    assert not problems, "\n".join(problems)
