"""Print benchmark results with ratios against the peers."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.measure import Result, failed


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"


def print_table(title: str, results: Sequence[Result], baseline_contenders: Sequence[str]) -> None:
    print(f"\n## {title}\n")
    columns = ["size", "operation", "contender", "wall s", "peak RSS MB", "RSS after imports MB"]
    print("| " + " | ".join([*columns, "time vs ours", "peak RSS vs ours"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for result in sorted(results, key=lambda r: (r.size, r.operation)):
        ours = next(
            r
            for r in results
            if r.contender == "ours" and r.operation == result.operation and r.size == result.size
        )
        ratio_time = result.seconds / ours.seconds if ours.seconds else float("nan")
        ratio_rss = result.peak_rss_mb / ours.peak_rss_mb if ours.peak_rss_mb else float("nan")
        if failed(result):
            print(
                f"| {_mib(result.size)} | {result.operation} | {result.contender} "
                f"| {result.detail['failed']} | over {result.peak_rss_mb:.0f} | - | - | - |"
            )
            continue
        print(
            f"| {_mib(result.size)} | {result.operation} | {result.contender} | {result.seconds:.2f} "
            f"| {result.peak_rss_mb:.0f} | {result.baseline_rss_mb:.0f} "
            f"| {ratio_time:.2f}x | {ratio_rss:.2f}x |"
        )
    print()
    for result in results:
        if result.contender != "ours":
            continue
        for peer in baseline_contenders:
            other = next(
                (
                    r
                    for r in results
                    if r.contender == peer and r.operation == result.operation and r.size == result.size
                ),
                None,
            )
            if other is None or failed(other) or failed(result):
                continue
            print(
                f"- {_mib(result.size)} {result.operation}: ours takes "
                f"{result.seconds / other.seconds:.2f}x the time of {peer} "
                f"({result.seconds:.2f} s vs {other.seconds:.2f} s); "
                f"peak RSS {result.peak_rss_mb:.0f} MB vs {other.peak_rss_mb:.0f} MB"
            )
