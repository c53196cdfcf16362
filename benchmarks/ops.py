"""What one benchmark process does: set up untimed, then time one operation."""

from __future__ import annotations

import codecs
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from benchmarks.measure import peak_rss_mb, rss_mb

Action = Callable[[], dict[str, Any]]


def measure(setup: Callable[[], Action]) -> dict[str, Any]:
    """Run ``setup`` (imports, clients: untimed), then time the action it returns."""
    action = setup()
    baseline = rss_mb()
    started = time.perf_counter()
    detail = action()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb(), **detail}


def count_lines(lines: Iterable[str]) -> dict[str, Any]:
    """Take every line and its length, as a consumer that does little per line would.

    Lines are taken in batches by C code (``islice``, ``map``), so the figure is the producer's cost,
    not a Python loop's here (Airflow's own consumer parses each line, far more than either).
    """
    count = chars = 0
    it = iter(lines)
    while batch := list(itertools.islice(it, 8192)):
        count += len(batch)
        chars += sum(map(len, batch))
    return {"lines": count, "chars": chars}


def split_floor(blocks: Iterable[bytes]) -> Iterator[str]:
    """Lines from a byte stream the plain way: an incremental UTF-8 decoder and ``str.split`` per block.

    Handed out as a chain of per-block lists, like ours, so it is a floor for the split itself.
    """
    return itertools.chain.from_iterable(_split_blocks(blocks))


def _split_blocks(blocks: Iterable[bytes]) -> Iterator[list[str]]:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    rest = ""
    for block in blocks:
        lines = (rest + decoder.decode(block)).split("\n")
        rest = lines.pop()
        yield lines
    rest += decoder.decode(b"", final=True)
    if rest:
        yield [rest]


def count_bytes(blocks: Iterable[bytes]) -> dict[str, Any]:
    size = lines = 0
    for block in blocks:
        size += len(block)
        lines += block.count(b"\n")
    return {"bytes": size, "lines": lines}


def remote_io_action(io: Any, operation: str, rel: str, *, streams: bool) -> Action:
    """Upload, or read the log's lines the way Airflow's api-server gets them from ``io``."""
    if operation == "upload":

        def upload() -> dict[str, Any]:
            io.upload(rel, None)
            return {}

        return upload
    if streams:
        # The streams one after another, taken by C code like the floors' lines (no Python frame per line).
        return lambda: count_lines(itertools.chain.from_iterable(io.stream(rel, None)[1]))

    def read_and_split() -> dict[str, Any]:
        # A RemoteLogIO without stream(): Airflow's FileTaskHandler splits what read() returns into
        # lines with its own helper, so that is part of reading such a log.
        from airflow.utils.log.file_task_handler import _get_compatible_log_stream

        return count_lines(_get_compatible_log_stream(io.read(rel, None)[1] or []))

    return read_and_split
