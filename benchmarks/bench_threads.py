"""CPU threads and a busy neighbour: why generation in a Jupyter kernel leaves one core free.

A bare diffusers call (`bench_generation.bare_call`: 9 images, 25 steps, guidance 7.5, embedded
model) in a fresh process, with PyTorch on all cores or on one core less, and with
OMP_WAIT_POLICY=PASSIVE; each alone and beside one other process that keeps a core busy (as a
browser drawing JupyterLab does).
Figures are seconds per image and ratios against "all cores, alone" from the same run.

    python benchmarks/bench_threads.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from common import record

from workbench.threads import available_cores

HERE = str(Path(__file__).resolve().parent)

# In a fresh process, so that the thread count and OMP_WAIT_POLICY take effect from the start.
CALL = """
import sys, time, torch
torch.set_num_threads({threads})
sys.path.insert(0, {here!r})
from bench_generation import bare_call
from workbench.generation.loading import load_model
pipe = load_model(None, batch_invariant=False).pipeline  # bare: diffusers' own layers, as measured
size = pipe.unet.config.sample_size * pipe.vae_scale_factor
call = lambda: bare_call(pipe, 25, 7.5, size)
call()  # warm-up
best = float("inf")
for _ in range(2):
    t = time.perf_counter(); images = call(); best = min(best, time.perf_counter() - t)
print(best / len(images))
"""


def seconds_per_image(threads: int, busy_neighbour: bool, env: dict | None = None) -> float:
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy_neighbour else None
    try:
        out = subprocess.run([sys.executable, "-c", CALL.format(threads=threads, here=HERE)], check=True, capture_output=True,
                             text=True, env={**os.environ, **(env or {})})
    finally:
        if neighbour is not None:
            neighbour.kill()
    return float(out.stdout.strip().splitlines()[-1])


def main():
    cores = available_cores()
    settings = [(f"{cores} threads (PyTorch's default)", cores, {}),
                (f"{max(1, cores - 1)} thread(s) (in a Jupyter kernel)", max(1, cores - 1), {}),
                (f"{cores} threads, OMP_WAIT_POLICY=PASSIVE", cores, {"OMP_WAIT_POLICY": "PASSIVE"})]
    rows, base = [], None
    for name, threads, env in settings:
        for busy in (False, True):
            s = seconds_per_image(threads, busy, env)
            base = base or s
            rows.append({"setting": name, "neighbour": "busy" if busy else "none", "s_per_image": s,
                         "vs_default_alone": s / base})
    record("threads", rows)


if __name__ == "__main__":
    main()
