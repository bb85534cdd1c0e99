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

from workbench.threads import available_cores, processor

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


def interleaved_runs(*fns, repeat: int = 5, warmup: int = 1) -> list[list[float]]:
    """Wall times of each of `fns` over `repeat` rounds, run in turn (a, b, c, then c, b, a, ...)
    so that the machine's drift, and whatever one run leaves behind for the next, hits all of
    them alike; ratios between them are what is worth reading (see `ratio`)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for i in range(repeat):
        order = list(range(len(fns)))
        for k in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - start)
    return times


def ratio(runs_a: list[float], runs_b: list[float]) -> dict:
    """a / b as the ratio of medians, with the range of the round-by-round ratios (the noise)."""
    rounds = sorted(a / b for a, b in zip(runs_a, runs_b))
    return {"ratio": statistics.median(runs_a) / statistics.median(runs_b),
            "round_low": rounds[0], "round_high": rounds[-1]}


def fresh_process_seconds(code: str, repeat: int = 5) -> float:
    """Median wall time of running `python -c code` in a new process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(n: int = 512, repeat: int = 20) -> float | None:
    """This machine's float32 matmul speed (GFLOP/s, n x n, the torch threads as set): machines of
    one nominal size differ by more than 2x, so absolute seconds are read against this. None
    without torch."""
    try:
        import torch
    except ImportError:
        return None
    a, b = torch.randn(n, n), torch.randn(n, n)
    return round(2 * n**3 / timeit(lambda: a @ b, repeat=repeat, warmup=3) / 1e9, 1)


def record(name: str, rows: list[dict]) -> None:
    """Print rows as a table and save them to benchmarks/results/<name>.json, with what the
    machine is: absolute seconds only compare between runs on machines alike."""
    RESULTS.mkdir(exist_ok=True)
    torch = sys.modules.get("torch")
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": available_cores(),
            "processor": processor(), "torch": getattr(torch, "__version__", None),
            "torch_threads": torch.get_num_threads() if torch else None,
            "matmul_gflops": matmul_gflops(), "date": time.strftime("%Y-%m-%d")}
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\n## {name}")
    for row in rows:
        print("  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
