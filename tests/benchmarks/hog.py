"""A stand-in contender for the benchmark runner's tests: ``python -m tests.benchmarks.hog NAME OP BYTES``.

It allocates ``BYTES`` and reports like a benchmark operation does.
"""

from __future__ import annotations

import json
import sys

if __name__ == "__main__":
    block = bytearray(int(sys.argv[3]))
    print(json.dumps({"seconds": 0.01, "baseline_rss_mb": 1.0, "bytes": len(block)}))
