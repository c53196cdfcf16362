"""The Elasticsearch and OpenSearch sections of ``tox -e bench``: read a 1,000,000-line log with ours and
with the provider's reader from the same index, and index a log with ``write_to_es``/``write_to_os``."""

from __future__ import annotations

from pathlib import Path

from benchmarks.logfile import write_log
from benchmarks.measure import Result, combine, run
from tests.harness import bulkload
from tests.harness.elasticsearch import ElasticsearchNode, OpenSearchNode, SearchNode

CONTENDERS = ("ours", "provider")
READ_CONTENDERS = (*CONTENDERS, "client")  # client: the plain client's search_after paging, the floor
READ_REL = "dag_id=bench/run_id=manual__2026-11-25T00:00:00+00:00/task_id=talk/attempt=1.log"
INDEX_REL = "dag_id=bench/run_id=manual__2026-11-25T00:00:00+00:00/task_id=write/attempt=1.log"


def es_section(
    workdir: Path, read_lines: int, index_bytes: int, repeat: int, engine: str = "elasticsearch"
) -> list[Result]:
    from airflow_platform_plugins.task_logs.es import template

    node: SearchNode = OpenSearchNode() if engine == "opensearch" else ElasticsearchNode()
    ops = "benchmarks.os_ops" if engine == "opensearch" else "benchmarks.es_ops"
    results: list[Result] = []
    try:
        client = node.client()
        body = template.index_template(
            ["airflow-logs-*", "bench-direct-*"], settings={"number_of_replicas": 0}
        )
        template.install(client, body)
        bulkload.load(client, read_lines)
        client.indices.forcemerge(index="airflow-logs-*", max_num_segments=1)
        env = {"AIRFLOW_HOME": str(workdir / "airflow-home")}
        runs: dict[tuple[str, str], list[Result]] = {}
        for attempt in range(repeat):
            shift = attempt % len(READ_CONTENDERS)  # each contender goes first in turn
            for contender in READ_CONTENDERS[shift:] + READ_CONTENDERS[:shift]:
                result = run(
                    ops,
                    contender,
                    "read",
                    read_lines,
                    env,
                    node.url,
                    "airflow-logs-*",
                    READ_REL,
                )
                assert result.detail["lines"] == read_lines, (contender, result.detail)
                runs.setdefault((contender, "read"), []).append(result)
        base = workdir / "direct"
        write_log(base / INDEX_REL, index_bytes)
        # A fresh node indexes the first log several times slower than the next ones (JIT, first
        # segments; measured 8.8 s against 3.5 s for the same bulk bodies): one untimed run first,
        # and the contenders swap places each attempt, so neither always meets a colder node.
        run(ops, "ours", "index", index_bytes, env, node.url, "bench-direct-warmup", str(base), INDEX_REL)
        node.delete_indices("bench-direct-warmup")
        for attempt in range(repeat):
            for contender in CONTENDERS if attempt % 2 == 0 else CONTENDERS[::-1]:
                target = f"bench-direct-{contender}-{attempt}"
                result = run(
                    ops,
                    contender,
                    "index",
                    index_bytes,
                    env,
                    node.url,
                    target,
                    str(base),
                    INDEX_REL,
                )
                client.indices.refresh(index=target)
                indexed = client.count(index=target)["count"]
                assert indexed == result.detail["lines"], (contender, indexed, result.detail)
                runs.setdefault((contender, "index"), []).append(result)
                node.delete_indices(target)
        results = [combine(r) for r in runs.values()]
        client.close()
    finally:
        node.stop()
    return results


def print_es_table(title: str, results: list[Result]) -> None:
    print(f"\n## {title}\n")
    columns = ["operation", "contender", "lines", "wall s", "lines/s", "peak RSS MB", "RSS after imports MB"]
    print("| " + " | ".join([*columns, "lines/s vs provider", "time vs floor"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    rates = {(r.contender, r.operation): r.detail["lines"] / r.seconds for r in results}
    for r in sorted(results, key=lambda r: (r.operation, r.contender)):
        rate = rates[(r.contender, r.operation)]
        ratio = (
            rate / rates[("provider", r.operation)] if ("provider", r.operation) in rates else float("nan")
        )
        floor = rates.get(("client", r.operation))
        versus_floor = f"{floor / rate:.2f}x" if floor else "-"
        print(
            f"| {r.operation} | {r.contender} | {r.detail['lines']} | {r.seconds:.2f} | {rate:,.0f} "
            f"| {r.peak_rss_mb:.0f} | {r.baseline_rss_mb:.0f} | {ratio:.2f}x | {versus_floor} |"
        )
    print()
