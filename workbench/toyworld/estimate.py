"""How long the training recipe will take on this machine, before a long run starts.

    seconds = estimate()           # {"data": s, "clip": s, ..., "total": s}; about 2 minutes on 2 cores

Machines of one nominal size differ by more than 2x (the model card's "Training recipe and
time": run 4's recipe took 53 min on one 2-core machine and would take about 2 h 10 min on
another), so the recorded time of the
shipped run says little about this machine. Each stage's own code is run twice here, for a
few steps and for a few more, on real world images at the recipe's batch sizes; the
difference is the cost of a step, without the set-up both runs share. Per-item work (drawing
the dataset, encoding its latents and text states) is timed on a slice and scaled.

It is a rough figure: checked on one machine, the whole recipe came out at 122 and 131 min in
two runs against about 130 from stage times measured there. The CLIP stages cut captions to
the longest one drawn, and a slice draws shorter ones, so their steps come out cheap (stage 2b
190 s against 308 s measured).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace

from workbench.threads import measured_on
from workbench.toyworld import models
from workbench.toyworld.recipe import DATA_SEED_OFFSET, RECIPE_THREADS, TrainConfig, draw_dataset
from workbench.toyworld.world import ToyWorld

BUDGET_SECONDS = 3_600  # the budget for the CPU recipe


def _timed(fn):
    """(fn(), its wall time in seconds)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _per_step(run, few: int = 2, more: int = 6, repeats: int = 3) -> float:
    """Seconds per step of `run(steps)`, from the difference of two runs (set-up cancels), after
    an untimed run that pays the process's one-time costs (kernel selection, memory growth).

    The median of `repeats` such differences: one pair alone once put a UNet step at 0.18 s
    where training took 0.31 s (model/TRAINING_LOG.md, run 8), a stall in either run moving it by half."""
    run(1)
    per_step = []
    for _ in range(repeats):
        (_, short), (_, long) = _timed(lambda: run(few)), _timed(lambda: run(more))
        per_step.append(max(long - short, 0.0) / (more - few))
    return statistics.median(per_step)


@measured_on(RECIPE_THREADS)
def estimate(config: TrainConfig | None = None, diffusion_config: models.DiffusionConfig | None = None,
             device=None, sample: int = 512) -> dict[str, float]:
    """Estimated seconds of each stage of `train(config=config)` on this machine, and "total".

    Times the stages' own functions for a few steps each on `sample` world images; the group
    pools of stages 2b and 2c are cut to a few groups, since drawing them is timed by count.
    """
    from workbench.toyworld.clip_stages import (
        clip_tokens,
        refine_clip,
        train_clip,
        train_clip_on_modifiers,
        train_clip_on_round_trips,
    )
    from workbench.toyworld.diffusion_stages import (
        caption_ids,
        encode_latents,
        text_states,
        train_decoder,
        train_unet,
        train_vae,
    )
    from workbench.toyworld.recipe import round_trip
    from workbench.toyworld.train import training_device

    cfg = config or TrainConfig()
    dcfg = diffusion_config or models.DiffusionConfig()
    device = training_device(device)
    n = min(sample, cfg.dataset_size)
    # one process here (a slice this small is one chunk); the recipe draws in 2 processes
    (images, captions, shapes), data_s = _timed(lambda: draw_dataset(DATA_SEED_OFFSET, n, workers=1,
                                                                      progress=False))
    data_s /= min(2, os.cpu_count() or 1)
    tokens = clip_tokens(captions)
    small = replace(cfg, refine_group_pool=max(cfg.refine_groups, 2), modifier_group_pool=max(cfg.modifier_groups, 2))
    clip = train_clip(images, tokens, shapes, replace(small, clip_steps=1), 0, device, progress=False)

    def clip_run(steps):
        train_clip(images, tokens, shapes, replace(small, clip_steps=steps), 0, device, progress=False)

    def refine_run(steps):
        refine_clip(clip, images, tokens, shapes, replace(small, refine_steps=steps), 0, device, progress=False)

    def modifier_run(steps):
        train_clip_on_modifiers(clip, images, tokens, shapes, replace(small, modifier_steps=steps), 0, device,
                                progress=False)

    def vae_run(steps):
        train_vae(images, replace(cfg, vae_steps=steps), dcfg, 0, device, progress=False)

    vae = train_vae(images, replace(cfg, vae_steps=1), dcfg, 0, device, progress=False)

    def decoder_run(steps):
        train_decoder(vae, images, replace(cfg, decoder_steps=steps), 0, device, progress=False)

    latents, latents_s = _timed(lambda: encode_latents(vae, images, device=device, progress=False))
    encoder, ids = models.convert_text_tower(clip), caption_ids(models.build_tokenizer(), captions)
    states, states_s = _timed(lambda: text_states(encoder, ids, device=device, progress=False))

    _, round_trip_s = _timed(lambda: round_trip(vae, images, device=device))

    def round_trip_run(steps):  # its pools cut to a few images and groups; they are timed by count
        train_clip_on_round_trips(clip, vae, images, tokens, shapes, replace(small, round_trip_steps=steps,
                                  round_trip_pool=2), 0, device, progress=False)

    def unet_run(steps):
        train_unet(latents, states, states[0], replace(cfg, unet_steps=steps), dcfg, 0, device, progress=False)

    scale, per_image = cfg.dataset_size / n, data_s / n
    unet_step = _per_step(unet_run)  # stages 4 and 4b train the same UNet, at the same batch
    world = ToyWorld()  # the group pools of 2b and 2c are drawn like the dataset, image by image
    shape_pool = cfg.refine_group_pool * len(world.shape_variants(0)) * per_image
    group_images = cfg.modifier_group_pool * len(world.modifier_variants(0))
    modifier_pool = group_images * per_image
    seconds = {
        "data": data_s * scale,
        "clip": cfg.clip_steps * _per_step(clip_run),
        "clip_shape_groups": cfg.refine_steps * _per_step(refine_run) + shape_pool if cfg.refine_steps else 0.0,
        "clip_modifier_groups": (cfg.modifier_steps * _per_step(modifier_run) + modifier_pool
                                 if cfg.modifier_steps else 0.0),
        "vae": cfg.vae_steps * _per_step(vae_run) + latents_s * scale,
        "unet": cfg.unet_steps * unet_step + states_s * scale,
        # 4b trains the same UNet on a second cycle, after encoding latents and text states again
        "unet_second_cycle": (cfg.unet_second_steps * unet_step + (latents_s + states_s) * scale
                              if cfg.unet_second_steps else 0.0),
        "vae_decoder": cfg.decoder_steps * _per_step(decoder_run) if cfg.decoder_steps else 0.0,
        # 5 draws a group pool as 2c does and sends it and part of the dataset through the VAE
        "clip_round_trips": (cfg.round_trip_steps * _per_step(round_trip_run) + modifier_pool
                             + (min(cfg.round_trip_pool, cfg.dataset_size) + group_images)
                             * round_trip_s / n if cfg.round_trip_steps else 0.0),
    }
    seconds["total"] = sum(seconds.values())
    return {k: round(v, 1) for k, v in seconds.items()}


def report(seconds: dict[str, float], budget: float = BUDGET_SECONDS) -> str:
    """The estimate as lines a person reads, with a warning when it is over the budget."""
    lines = [f"  {k:22} {v / 60:6.1f} min" for k, v in seconds.items() if k != "total"]
    total = seconds["total"]
    lines.append(f"  {'total':22} {total / 60:6.1f} min (budget {budget / 60:.0f} min)")
    if total > budget:
        lines.append(f"this machine is too slow for the {budget / 60:.0f}-minute budget: train on an idle machine "
                     "with faster cores, or on a GPU (--device cuda)")
    return "\n".join(["estimated training time on this machine (idle; other busy processes slow it badly):",
                      *lines])
