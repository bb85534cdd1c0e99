"""Generation figures (issue 4), as ratios against bare diffusers in the same run.

1. Our 9-image grid (per-image CPU noise, batch-invariant layers on the CPU, records, grid) against
   one bare pipeline call with the same model as diffusers loads it, prompt, seeds and steps.
   Target: overhead <= 3 %. With a store, PNG writes are extra. Beside it, the same grid on the
   plain layers: what batch invariance (`workbench/generation/batch_invariance.py`) costs.
2. 9 seeds in one batched call against 9 single calls, interleaved (GPU target >= 1.5x; on CPU reported).
3. An identical request served from the store against generating it into a store. Target >= 100x.
4. The model's FLOPs per image in that grid (`torch.utils.flop_counter`: matmuls, convolutions,
   attention), by part, so that a time can be read against the work done.
5. `--big`: an SD-Turbo-sized UNet (~866 M parameters, random weights) saved locally, loaded through
   `UNet2DConditionModel.from_pretrained`, timed for one step at 512 px (64x64 latents).

    python benchmarks/bench_generation.py [--model PATH] [--big]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from common import interleaved_runs, ratio, record, timeit

PROMPT = "a red star on a light blue background, octane render"
SEEDS = list(range(9))


def bare_call(pipe, steps, guidance, size):
    import torch

    generators = [torch.Generator("cpu").manual_seed(s) for s in SEEDS]
    return pipe(prompt=[PROMPT] * 9, num_inference_steps=steps, guidance_scale=guidance, width=size, height=size,
                generator=generators, output_type="pil").images


def main(model=None, big=False, steps=25, guidance=7.5):
    import torch

    from workbench.generation.engine import ImageGenerator
    from workbench.generation.grids import variation_grid
    from workbench.generation.loading import load_model
    from workbench.threads import default_threads

    threads = default_threads("cpu")  # what ImageGenerator runs on (WORKBENCH_THREADS, a kernel's share)
    if threads is not None:  # the bare calls too, so that both sides run on the same threads
        torch.set_num_threads(threads)
    loaded = load_model(model)  # as the workbench runs it: batch-invariant layers on the CPU
    plain = load_model(model, batch_invariant=False)  # the layers diffusers loads
    pipe = plain.pipeline
    ours = ImageGenerator(loaded, store=None, progress=False)
    ours_plain = ImageGenerator(plain, store=None, progress=False)
    size = ours.native_size
    rows = []

    # 1. grid overhead against a bare pipeline call, and what batch invariance costs, interleaved
    grid = lambda gen: variation_grid(gen, PROMPT, SEEDS, steps=steps, guidance=guidance).image()  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        stored = ImageGenerator(loaded, store=f"{tmp}/store", progress=False)

        def fresh_store_grid():
            stored.store = type(stored.store)(f"{tmp}/store{time.perf_counter_ns()}")
            grid(stored)

        bare, mine, mine_plain, with_store = interleaved_runs(
            lambda: bare_call(pipe, steps, guidance, size), lambda: grid(ours), lambda: grid(ours_plain),
            fresh_store_grid, repeat=7)
        t_ours = statistics.median(mine)
        overhead, store, invariance = ratio(mine, bare), ratio(with_store, bare), ratio(mine, mine_plain)
        rows.append({"what": "9-image grid vs bare diffusers call", "bare_s": statistics.median(bare),
                     "ours_s": t_ours, "overhead_pct": _pct(overhead["ratio"]),
                     "overhead_round_range_pct": [_pct(overhead["round_low"]), _pct(overhead["round_high"])],
                     "with_store_s": statistics.median(with_store), "store_overhead_pct": _pct(store["ratio"]),
                     "target_pct": 3.0, "model": loaded.name, "steps": steps, "device": loaded.device})
        rows.append({"what": "9-image grid: batch-invariant layers vs the plain ones", "invariant_s": t_ours,
                     "plain_s": statistics.median(mine_plain), "cost_pct": _pct(invariance["ratio"]),
                     "cost_round_range_pct": [_pct(invariance["round_low"]), _pct(invariance["round_high"])],
                     "device": loaded.device, "batch_invariant_layers": loaded.batch_invariant})
        rows.append(one_image_invariance_cost(ours, ours_plain, steps))

        # 2. batched against single calls: the same requests, interleaved
        single = ImageGenerator(loaded, store=None, max_batch=1, progress=False)
        requests = ours.requests(PROMPT, SEEDS, steps=steps, guidance=guidance)
        batched, singles = interleaved_runs(lambda: ours.generate(requests), lambda: single.generate(requests),
                                            repeat=3)
        speedup = ratio(singles, batched)
        rows.append({"what": "9 seeds: one batched call vs 9 single calls", "batched_s": statistics.median(batched),
                     "single_s": statistics.median(singles), "speedup": speedup["ratio"],
                     "speedup_round_range": [speedup["round_low"], speedup["round_high"]], "target_gpu": 1.5,
                     "device": loaded.device})

        # 3. the store against generating
        reqs = stored.requests(PROMPT, SEEDS, steps=steps, guidance=guidance)
        stored.generate(reqs)
        t_cached = timeit(lambda: stored.generate(reqs), repeat=5)
        t_made = statistics.median(with_store)  # making them into a store, PNG writes included
        rows.append({"what": "identical request from the store vs generating into it", "generate_s": t_made,
                     "from_store_s": t_cached, "speedup": t_made / t_cached, "target": 100.0})
    rows.append(flops_per_image(pipe, steps, guidance, size) | {"grid_s": t_ours})
    if big:
        rows.append(big_unet_step())
    record("generation", rows)


def _pct(r: float) -> float:
    return 100 * (r - 1)


def one_image_invariance_cost(ours, ours_plain, steps):
    """One image alone: with guidance the UNet still runs two rows (no pairing); without it,
    every convolution of a lone image runs beside a copy (batch_invariance.PairedConv2d)."""
    one = lambda gen, g: gen.generate(gen.requests(PROMPT, 0, steps=steps, guidance=g))  # noqa: E731
    g = ours.defaults.guidance
    inv_g, plain_g, inv_1, plain_1 = interleaved_runs(lambda: one(ours, g), lambda: one(ours_plain, g),
                                                      lambda: one(ours, 1.0), lambda: one(ours_plain, 1.0), repeat=7)
    guided, unguided = ratio(inv_g, plain_g), ratio(inv_1, plain_1)
    return {"what": "one image alone: batch-invariant layers vs the plain ones",
            f"guidance_{g:g}_invariant_s": statistics.median(inv_g), f"guidance_{g:g}_plain_s": statistics.median(plain_g),
            f"guidance_{g:g}_cost_pct": _pct(guided["ratio"]),
            "guidance_1_invariant_s": statistics.median(inv_1), "guidance_1_plain_s": statistics.median(plain_1),
            "guidance_1_cost_pct": _pct(unguided["ratio"]),
            "guidance_1_cost_round_range_pct": [_pct(unguided["round_low"]), _pct(unguided["round_high"])]}


def flops_per_image(pipe, steps, guidance, size):
    """GFLOP per image of the bare 9-image call, in all and by part (text encoder, UNet, VAE decoder)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        bare_call(pipe, steps, guidance, size)
    parts = {name: sum(ops.values()) / len(SEEDS) / 1e9 for name, ops in counter.get_flop_counts().items()
             if name in ("CLIPTextModel", "UNet2DConditionModel", "Decoder")}
    return {"what": f"model FLOPs per image ({steps} steps, guidance {guidance:g})",
            "gflop_per_image": counter.get_total_flops() / len(SEEDS) / 1e9,
            **{f"gflop_{name}": v for name, v in parts.items()}, "steps": steps, "guidance": guidance}


def big_unet_step():
    """SD-Turbo-sized UNet (SD 2.1 architecture) with random weights, through the ordinary loading path."""
    import torch
    from diffusers import UNet2DConditionModel

    config = dict(sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280),
                  layers_per_block=2, cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20),
                  use_linear_projection=True,
                  down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                  up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        UNet2DConditionModel(**config).save_pretrained(tmp, safe_serialization=True)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        unet = UNet2DConditionModel.from_pretrained(tmp, local_files_only=True).eval()
        t_load = time.perf_counter() - t0
    params = sum(p.numel() for p in unet.parameters())
    latents, text = torch.randn(1, 4, 64, 64), torch.randn(1, 77, 1024)
    with torch.inference_mode():
        t_step = timeit(lambda: unet(latents, 999, encoder_hidden_states=text), repeat=3, warmup=1)
    return {"what": "SD-Turbo-sized UNet, one step at 512 px on CPU", "params_M": params / 1e6, "step_s": t_step,
            "load_s": t_load, "build_and_save_s": t_build}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--big", action="store_true")
    parser.add_argument("--big-only", action="store_true", help="only the SD-Turbo-sized UNet step")
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    if args.big_only:
        record("generation_big", [big_unet_step()])
    else:
        main(args.model, args.big, args.steps)
