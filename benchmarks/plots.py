"""Draw the benchmark figures in docs/images/ from the JSON results in benchmarks/results/.

``tox -e plots`` (or ``python -m benchmarks.plots`` with matplotlib installed) redraws every figure
whose section has results; ``tox -e bench -- --sections ...`` writes those results.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.results import load

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
COLOURS = {"ours": "#1b7837", "provider": "#c2185b", "boto3": "#5e81ac", "client": "#5e81ac"}
NAMES = {
    "ours": "this package",
    "provider": "provider handler",
    "boto3": "plain boto3",
    "client": "plain client",
}
MIB = 1 << 20


def _machine(document: dict[str, Any]) -> str:
    machine = document["machine"]
    load = max(machine["load_average_before"][0], machine["load_average_after"][0])
    return f"measured {document['started'][:10]}, {machine['cpus']} CPUs, load average up to {load:.0f}"


def object_store_figure(
    documents: dict[str, dict[str, Any]], field: str, ylabel: str, name: str
) -> Path | None:
    """One panel per backend and operation: ``field`` of each contender against the log size."""
    sections = [s for s in ("s3", "gcs") if s in documents]
    if not sections:
        return None
    figure, axes = plt.subplots(len(sections), 2, figsize=(10, 3.6 * len(sections)), squeeze=False)
    for row, section in enumerate(sections):
        results = documents[section]["results"]
        for column, operation in enumerate(("upload", "read")):
            axis = axes[row][column]
            for contender in dict.fromkeys(r["contender"] for r in results):
                mine = [r for r in results if r["contender"] == contender and r["operation"] == operation]
                points = sorted((r["size"] / MIB, r[field]) for r in mine if "failed" not in r["detail"])
                for r in mine:
                    if "failed" in r["detail"]:  # a contender the machine could not hold at this size
                        axis.annotate(
                            f"{NAMES.get(contender, contender)}: out of memory",
                            (r["size"] / MIB, 0),
                            xytext=(0, 12),
                            textcoords="offset points",
                            ha="right",
                            fontsize=7,
                            color=COLOURS.get(contender),
                        )
                if points:
                    xs, ys = zip(*points, strict=True)
                    axis.plot(
                        xs,
                        ys,
                        marker="o",
                        color=COLOURS.get(contender),
                        label=NAMES.get(contender, contender),
                    )
            axis.set_title(f"{section.upper()} {operation}")
            axis.set_xlabel("log size (MiB)")
            axis.set_ylabel(ylabel)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
    figure.suptitle(_machine(documents[sections[0]]), fontsize=8, y=0.005, va="bottom")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(figure, name)


def sign_on_figure(documents: dict[str, dict[str, Any]]) -> Path | None:
    """The latency distribution (cumulative) of each sign-on contender, per path."""
    if "auth" not in documents:
        return None
    results = documents["auth"]["results"]
    paths = list(dict.fromkeys(r["path"] for r in results))
    figure, axes = plt.subplots(1, len(paths), figsize=(5 * len(paths), 3.8), squeeze=False)
    for axis, path in zip(axes[0], paths, strict=True):
        for result in (r for r in results if r["path"] == path):
            latencies = sorted(result["latencies_ms"])
            share = [(i + 1) / len(latencies) for i in range(len(latencies))]
            axis.plot(latencies, share, label=result["contender"])
        axis.set_xscale("log")
        axis.set_title(f"GET {path}")
        axis.set_xlabel("latency per request (ms, log scale)")
        axis.set_ylabel("share of requests at most this fast")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(_machine(documents["auth"]), fontsize=8, y=0.005, va="bottom")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(figure, "benchmark-sign-on-latency.png")


def live_figure(documents: dict[str, dict[str, Any]]) -> Path | None:
    """Line logged -> visible through /api/v2: p50, p95 and max per backend, beside the try's length."""
    if "live" not in documents:
        return None
    results = documents["live"]["results"]
    figure, axis = plt.subplots(figsize=(9, 4))
    labels = [r["backend"] for r in results]
    xs = range(len(results))
    width = 0.2
    for offset, (key, colour) in enumerate((("p50", "#1b7837"), ("p95", "#7fbf7b"), ("max", "#d9f0d3"))):
        axis.bar(
            [x + (offset - 1.5) * width for x in xs],
            [r[key] for r in results],
            width,
            label=key,
            color=colour,
        )
    axis.bar(
        [x + 1.5 * width for x in xs],
        [r["provider_seconds"] for r in results],
        width,
        label="provider: at the try's end",
        color=COLOURS["provider"],
    )
    axis.set_xticks(list(xs), labels)
    axis.set_ylabel("seconds from logged to visible in /api/v2")
    axis.grid(alpha=0.3, axis="y")
    axis.legend(fontsize=8)
    figure.suptitle(_machine(documents["live"]), fontsize=8, y=0.005, va="bottom")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(figure, "benchmark-live-latency.png")


def _save(figure: Any, name: str) -> Path:
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    # No timestamps in the file, so the same results draw the same bytes.
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path


def main() -> int:
    documents = load()
    drawn = [
        object_store_figure(documents, "peak_rss_mb", "peak RSS (MB)", "benchmark-peak-rss.png"),
        object_store_figure(documents, "seconds", "wall time (s)", "benchmark-time.png"),
        sign_on_figure(documents),
        live_figure(documents),
    ]
    for path in drawn:
        if path is not None:
            print(f"drew {path.relative_to(IMAGES.parents[1])}")
    missing = sum(path is None for path in drawn)
    if missing:
        print(f"{missing} figure(s) have no results yet: run `tox -e bench -- --sections ...` first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
