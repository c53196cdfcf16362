"""Scenario 1, kill storm: writers SIGKILLed at random moments, in the middle of an upload and in the
middle of the final upload; a third of them resumed by a retry on another host.

Each try is a child process running the package's shipping engine against the real store (as the
task supervisor does). Per kill: the store holds an exact prefix of the local log (nothing out of
order, nothing twice, no hole), and every line older than one flush interval at the kill is stored.
The try resumed on another host is stored whole.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.harness.httpfaults import Faults, HttpFaultProxy
from tests.harness.tasklog import wait_for
from tests.reliability.backends import EngineBackend
from tests.reliability.plugin import tally
from tests.reliability.runner import Policy, Writer, try_path

SCENARIO = "1 kill storm"
MOMENTS = ("at random", "mid-upload", "mid-finish")
POLICY = Policy(flush_interval=2.0, upload_timeout=10.0, retry_max_delay=1.0)
UPLOADS = ("PUT", "POST")


def kill_at(writer: Writer, moment: str, proxy: HttpFaultProxy, rng: random.Random) -> float:
    """Kill ``writer`` at ``moment``; the wall-clock time from which loss is counted.

    That is the kill, or, if an upload the store had not answered yet was under way, the moment that
    upload was sent: its lines were shipped in time, and a store that answers slowly (an overloaded
    node) loses them with the pod, whatever the shipper does.
    """
    _wait_for_moment(writer, moment, proxy, rng)
    sent = proxy.oldest_unanswered(UPLOADS)
    killed_at = writer.kill()
    return min(killed_at, sent) if sent is not None else killed_at


def _wait_for_moment(writer: Writer, moment: str, proxy: HttpFaultProxy, rng: random.Random) -> None:
    writer.wait_said("started")
    if moment == "mid-finish":
        writer.wait_said("finishing")
        # A random point of the final upload (it takes one request, often less than 50 ms).
        time.sleep(rng.uniform(0.0, 0.05))
        return
    not_before = time.monotonic() + rng.uniform(0.5, 4.0)
    if moment == "mid-upload":
        wait_for(
            lambda: (
                not writer.process.alive()
                or (time.monotonic() >= not_before and sum(proxy.in_flight[m] for m in UPLOADS) > 0)
            ),
            timeout=60,
            what="an upload in flight",
        )
        assert writer.process.alive(), f"the writer ended before an upload was caught: {writer.output()}"
        return
    time.sleep(max(0.0, not_before - time.monotonic()))  # the random moment itself


def test_kill_storm(backend: EngineBackend, kills: int, tmp_path: Path) -> None:
    rng = random.Random(f"kill-storm-{backend.name}")
    figures = tally(SCENARIO, backend.name)
    figures.note(f"flush interval {POLICY.flush_interval:.0f} s; engine in a child process")
    # Each request takes 20-80 ms more, as over a network: uploads are in flight long enough to be hit.
    proxy = HttpFaultProxy(backend.upstream_port, faults=Faults(latency=(0.02, 0.08)))
    spec = backend.child_spec(proxy.url)
    problems: list[str] = []
    slow_acks = 0
    try:
        for n in range(kills):
            moment = MOMENTS[n % len(MOMENTS)]
            rel = try_path(run=f"kill-{n}")
            lines = rng.randint(40, 400) if moment == "mid-finish" else 1500
            first = Writer(
                spec,
                tmp_path / f"a{n}",
                rel,
                host="worker-a",
                prefix=f"a{n}",
                lines=lines,
                interval=0.004,
                policy=POLICY,
            )
            try:
                counted_from = kill_at(first, moment, proxy, rng)
            finally:
                first.stop()
            second = None
            if n % 3 == 1:  # resumed by a retry on another host
                second = Writer(
                    spec,
                    tmp_path / f"b{n}",
                    rel,
                    host="worker-b",
                    prefix=f"b{n}",
                    lines=60,
                    interval=0.002,
                    policy=POLICY,
                )
                result = second.result()
                if not result["finished"]:
                    problems.append(f"kill {n}: the resumed try did not finish: {result}")
            figures.runs += 1
            stored = backend.stored(rel)
            written = first.written()
            expected = [str(line["event"]) for line in written]
            got = stored.events("worker-a")
            figures.add_log(expected, got)
            # Lines the package itself wrote into the try's log (a shipping warning) carry no write time.
            late = {str(line["event"]): float(line["t"]) for line in written if "t" in line}
            missing = [late[e] for e in expected[len(got) :] if e in late]
            seconds_lost = max(0.0, counted_from - min(missing)) if missing else 0.0
            raw = max(0.0, (first.killed_at or counted_from) - min(missing)) if missing else 0.0
            figures.max_seconds_lost = max(figures.max_seconds_lost, raw)
            if raw > POLICY.flush_interval:
                slow_acks += 1
            bad = []
            if got != expected[: len(got)]:
                bad.append("the store does not hold an exact prefix of the local log")
            if stored.gaps or stored.overlap_bytes:
                bad.append(f"{stored.gaps} gaps, {stored.overlap_bytes} overlapping bytes")
            if seconds_lost > POLICY.flush_interval:
                bad.append(f"lost {len(missing)} lines from {seconds_lost:.2f} s before the kill")
            if second is not None:
                lost, duplicated, disordered = figures.add_log(second.events(), stored.events("worker-b"))
                if lost or duplicated or disordered:
                    bad.append(f"resumed try: {lost} lost, {duplicated} twice, {disordered} out of order")
            if bad:
                began = time.time() - time.monotonic()
                killed_at = first.killed_at or counted_from
                first_line = float(written[0]["t"]) if written else killed_at
                seen = [
                    f"{began + at - first_line:+.2f} {method} {path[:40]} {outcome}"
                    for at, method, path, outcome in proxy.requests
                    if began + at >= first_line - 5 and began + at <= killed_at
                ]
                bad.append(f"kill at {killed_at - first_line:+.2f} s; requests: {seen}")
                figures.failed_runs += 1
                problems.append(f"kill {n} ({moment}): " + "; ".join(bad))
    finally:
        proxy.close()
    if slow_acks:
        figures.note(f"{slow_acks} kills lost lines the store had been sent but not yet acknowledged")
    assert not problems, "\n".join(problems)
    assert figures.duplicated == figures.out_of_order == figures.unexpected == 0
