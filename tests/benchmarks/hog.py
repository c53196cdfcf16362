"""A stand-in contender for the benchmark runner's tests: ``python -m tests.benchmarks.hog NAME OP BYTES``.

It allocates ``BYTES`` and reports like a benchmark operation does. Named ``swallow``, it catches a
``MemoryError``, logs it and reports anyway, as the providers' upload does with any error.
"""

from __future__ import annotations

import json
import sys
import traceback

if __name__ == "__main__":
    try:
        size = len(bytearray(int(sys.argv[3])))
    except MemoryError:
        if sys.argv[1] != "swallow":
            raise
        traceback.print_exc()
        size = 0
    print(json.dumps({"seconds": 0.01, "baseline_rss_mb": 1.0, "bytes": size}))
