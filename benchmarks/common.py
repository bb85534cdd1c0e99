"""Shared timing helpers for the benchmarks: best-of-N wall time and a results table.

Figures are ratios against the raw library measured in the same run, because the
machines are noisy; absolute seconds are printed beside them for the targets.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from workbench.threads import available_cores

RESULTS = Path(__file__).resolve().parent / "results"


def timeit(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of `fn()` over `repeat` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fresh_process_seconds(code: str, repeat: int = 5) -> float:
    """Median wall time of running `python -c code` in a new process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def record(name: str, rows: list[dict]) -> None:
    """Print rows as a table and save them to benchmarks/results/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": available_cores()}
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\n## {name}")
    for row in rows:
        print("  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
