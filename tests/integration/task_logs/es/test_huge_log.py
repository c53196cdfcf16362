"""A log of 1,000,000 lines reads completely, in order, in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.harness import bulkload
from tests.harness.elasticsearch import SearchNode

LINES = 1_000_000
# Reads the log in a fresh interpreter; prints lines, order, and memory (RSS after imports and
# client creation, and the peak the kernel saw).
READ = r"""
import json, sys
from airflow_platform_plugins.task_logs.es.reader import LogReader
from tests.harness.elasticsearch import ElasticsearchNode, OpenSearchNode

url, pattern, log_id, engine = sys.argv[1:5]
node = OpenSearchNode if engine == "OpenSearch" else ElasticsearchNode
from airflow_platform_plugins.task_logs.es.client import ClientHandle
client = ClientHandle(node.settings_for(url, timeout=300), node.build)
client()

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024

baseline = rss_mb()
lines, expected, in_order, first = 0, 0, True, None
for line in LogReader(client, display=url, index_patterns=pattern, engine=engine).iter_lines(log_id):
    start = line.index('"event":"') + 9
    number = int(line[start:start + 7])
    in_order = in_order and number == expected
    expected += 1
    lines += 1
    first = first or json.loads(line)
with open("/proc/self/status") as f:  # VmHWM: ru_maxrss would include pytest's RSS at fork
    peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
report = {"lines": lines, "in_order": in_order, "first": first}
print(json.dumps({**report, "baseline_rss_mb": baseline, "peak_rss_mb": peak}))
"""


def test_a_million_line_log_reads_completely_in_order_in_bounded_memory(
    es: SearchNode, client: Any, prefix: str
) -> None:
    log_id = bulkload.load(client, LINES, index_prefix=prefix)
    assert client.count(index=f"{prefix}-*")["count"] == LINES

    result = subprocess.run(
        [sys.executable, "-c", READ, es.url, f"{prefix}-*", log_id, es.engine.name],
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["lines"] == LINES
    assert report["in_order"] is True
    assert report["first"]["event"].startswith("0000000 ")
    assert set(report["first"]) == {"timestamp", "level", "event", "logger"}
    # Three pages of 5,000 documents at most are held at once, whatever the log's length.
    growth = report["peak_rss_mb"] - report["baseline_rss_mb"]
    assert growth < 60, f"reading grew the process by {growth:.0f} MB"
