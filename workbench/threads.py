"""How many CPU threads generation and CLIP use, so that a busy browser cannot stall them.

PyTorch uses every physical core by default, and its OpenMP threads wait for each other at
the end of every operation. When another process holds one of those cores (the browser
drawing JupyterLab, the Jupyter server relaying output), each wait lasts a scheduler time
slice, and a UNet call makes thousands of them. Measured on the 2-core machine with a bare
diffusers call (toy model, 9 images, 25 steps; `benchmarks/bench_threads.py`):

    seconds per image                  nothing else running   one other busy process
    2 threads (PyTorch's default)      0.16                   0.75  (4.6x slower)
    1 thread                           0.27                   0.28
    2 threads, OMP_WAIT_POLICY=PASSIVE 0.37                   0.33

(2026-12-02, `benchmarks/results/threads.json`.) The slowdown on 2 threads varies from run to
run and machine to machine (3.5x, 5x and 36x in three earlier runs); one thread ran at the same
speed either way in all four.

So inside a Jupyter kernel, where the frontend usually shares the machine, generation and
CLIP embedding on the CPU leave one core free. Scripts and the command line keep PyTorch's setting. Set
`WORKBENCH_THREADS` to choose (`OMP_NUM_THREADS` also turns the automatic choice off).

With PyTorch's plain layers the thread count changed a few pixel values by one level (6 of
54 toy-model images, 1 thread against 2). With the batch-invariant layers the workbench loads
on the CPU (`generation/batch_invariance.py`) the same 54 images were identical, so a notebook
and a script make the same image; other core counts and other CPUs are not promised that.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from contextlib import contextmanager
from pathlib import Path

ENV = "WORKBENCH_THREADS"


def in_jupyter_kernel() -> bool:
    """True inside an IPython kernel (JupyterLab, nbclient), not in a terminal IPython or a script."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def available_cores() -> int:
    """The cores this process may run on (its affinity where the OS tells it, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def processor() -> str:
    """The CPU's model name ("AMD EPYC", ...), or platform's guess where /proc/cpuinfo is absent."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def default_threads(device="cpu") -> int | None:
    """CPU threads for generation and embedding on `device`, or None to leave PyTorch's own
    setting alone (always on a GPU)."""
    if str(device) != "cpu":  # str: a torch.device never equals the string "cpu"
        return None
    chosen = _chosen_threads()
    if chosen is not None:
        return chosen
    if os.environ.get("OMP_NUM_THREADS") or not in_jupyter_kernel():
        return None
    import torch

    return max(1, torch.get_num_threads() - 1)


def _chosen_threads() -> int | None:
    """`WORKBENCH_THREADS` as a number, or None when it is unset."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or int(value) < 1:  # "²" is a digit to isdigit()
        raise ValueError(f"{ENV}={value!r} must be a whole number of threads, 1 or more "
                         f"(unset it to let the workbench choose)")
    return int(value)


def measured_on(threads: int):
    """Decorator for work whose figures or times were measured on `threads` CPU threads (the
    toy-world recipe and its evaluation): it runs on `WORKBENCH_THREADS` threads when that is
    set, else on `threads`, and gives PyTorch its own setting back afterwards, so a notebook
    that trains or evaluates is not left on other threads than it had."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            chosen = _chosen_threads()
            with cpu_threads(threads if chosen is None else chosen):
                return fn(*args, **kwargs)

        return run

    return decorate


@contextmanager
def cpu_threads(n: int | None):
    """Run the block with PyTorch on `n` threads (None: unchanged), then restore the setting."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
