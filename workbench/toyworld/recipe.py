"""The toy-world training recipe (`TrainConfig`) and what its stages share: the world images
drawn once, the learning-rate schedule and the optimiser. The stages are in `clip_stages.py`
(CLIP), `diffusion_stages.py` (VAE and UNet) and `train.py` (the whole recipe)."""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from workbench.toyworld import models
from workbench.toyworld.world import ToyWorld

DATA_SEED_OFFSET = 1_000  # training images use world seed `seed + 1000`; evaluation uses others
RECIPE_THREADS = 2  # the CPU threads the recipe is timed and the figures measured on (2 cores)
TIMESTEP_DRAWS = ("uniform", "logit_normal")  # TrainConfig.timesteps


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe. The defaults are the shipped model's recipe."""

    dataset_size: int = 40_000  # world images drawn once, shared by all stages
    # 2. CLIP
    clip_steps: int = 1_200
    clip_batch: int = 128
    clip_lr: float = 1e-3
    clip_weight_decay: float = 0.05
    # Each image of one plain shape is also matched against the prompts "a circle", "a square",
    # ... (a label-prompt InfoNCE, as UniCL does with class names), at this weight, in 2-2c:
    # captions alone teach shape too slowly (model/TRAINING_LOG.md, "Why run 4")
    shape_prompt_weight: float = 1.0
    # 2b. CLIP on shape-variant groups (hard negatives for shape)
    refine_steps: int = 500
    refine_groups: int = 8  # shape-variant groups per batch (8 x 7 shapes; random images fill it)
    refine_group_pool: int = 2_000  # shape-variant groups drawn once
    refine_lr: float = 5e-4
    # 2c. CLIP image tower on modifier-variant groups; the text tower (and so the UNet) is untouched
    modifier_steps: int = 600
    modifier_groups: int = 4  # modifier-variant groups per batch (4 x 16; random images fill it)
    modifier_group_pool: int = 1_000
    modifier_lr: float = 1e-3
    # 3. VAE
    vae_steps: int = 1_000
    vae_batch: int = 32
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    # Weight of an L1 term on colour error alone (each pixel's deviation from its own gray), off
    # in the shipped recipe. Without it the VAE gives black-and-white film back tinted (TRAINING_LOG.md)
    vae_chroma_weight: float = 0.0
    # 4. UNet
    unet_steps: int = 3_200
    unet_batch: int = 64
    unet_lr: float = 8e-4
    uncond_rate: float = 0.1  # share of empty captions (classifier-free guidance)
    # How stages 4 and 4b draw training timesteps: "logit_normal", most of them mid-schedule, or
    # "uniform" (runs 1 to 7). Logit-normal at 2,400 steps drew shape 0.52 against 0.41, and met
    # every bar with 3,200 + 1,600 steps where uniform needed 4,800 + 2,400 (TRAINING_LOG.md, runs 11 to 14)
    timesteps: str = "logit_normal"
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    # 4b. UNet, second cycle: the saved UNet trained on with a fresh optimiser, cosine cycle and
    # EMA at half the peak rate. At the end of stage 4 shape was still climbing (TRAINING_LOG.md)
    unet_second_steps: int = 1_600
    unet_second_lr: float = 4e-4
    unet_second_seed_offset: int = 13  # its batches and noise: generator seed + 13
    # 4c. The VAE's decoder (with `post_quant_conv`) trained on from the saved folder with the
    # encoder frozen, so the latents, and with them the UNet, stay valid: stage 3 leaves it
    # undertrained (TRAINING_LOG.md, "Run 7")
    decoder_steps: int = 600
    decoder_lr: float = 5e-4
    # 5. CLIP image tower on world images as the VAE gives them back (a round trip), beside the
    # images themselves and their modifier groups: generated images come out of the decoder, and
    # their render engines read 0.53 before it (TRAINING_LOG.md). The text tower stays frozen.
    round_trip_steps: int = 1_000
    round_trip_lr: float = 5e-4
    round_trip_pool: int = 40_000  # dataset images sent through the VAE (here all), and a group pool
    warmup: int = 100  # linear warmup steps, then cosine decay to 5 % (all stages)

    def __post_init__(self):
        if self.timesteps not in TIMESTEP_DRAWS:
            raise ValueError(f"timesteps must be one of {', '.join(TIMESTEP_DRAWS)}, not {self.timesteps!r}")

    @classmethod
    def quick(cls) -> TrainConfig:
        """A few steps of everything: exercises the whole recipe in well under a minute."""
        return cls(dataset_size=256, clip_steps=4, clip_batch=32, refine_steps=4, refine_groups=2,
                   refine_group_pool=8, modifier_steps=4, modifier_groups=1,
                   modifier_group_pool=2, vae_steps=4,
                   vae_batch=8, unet_steps=4, unet_batch=8, unet_second_steps=3,
                   decoder_steps=3, round_trip_steps=3, round_trip_pool=16, warmup=2)


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def draw_timesteps(kind: str, n: int, total: int, gen: torch.Generator) -> torch.Tensor:
    """`n` training timesteps from 0..total-1: "uniform", or "logit_normal", t = total * sigmoid(u)
    with u ~ N(0, 1), as Stable Diffusion 3 draws them (Esser et al. 2024): most of them
    mid-schedule, around SNR 1, where a shape is decided, and few at either end."""
    if kind == "uniform":  # runs 1 to 7, number for number
        return torch.randint(0, total, (n,), generator=gen)
    return (torch.sigmoid(torch.randn(n, generator=gen)) * total).long().clamp(0, total - 1)


def optimizer(module, lr, weight_decay=0.0):
    decay = [p for p in module.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in module.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98 if weight_decay else 0.999))


def set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr


# ---------------------------------------------------------------------------------------------
# 1. Data
# ---------------------------------------------------------------------------------------------


def shape_id(world: ToyWorld, scene) -> int:
    """The index of the scene's shape in the vocabulary, or -1 unless it holds one shape and
    no role figure (the images the shape prompts are matched against)."""
    if scene.role or len(scene.objects) != 1:
        return -1
    return [s.name for s in world.vocab.shapes].index(scene.objects[0].shape)


def _pack(world: ToyWorld, samples):
    return (np.stack([s.image for s in samples]), [s.caption for s in samples],
            np.array([shape_id(world, s.scene) for s in samples], np.int64))


def _draw(args):
    seed, start, n = args
    world = ToyWorld()
    return _pack(world, [world.sample(seed, start + k) for k in range(n)])


def _draw_groups(args):
    seed, start, n, kind = args  # kind: a ToyWorld method, "shape_variants" or "modifier_variants"
    world = ToyWorld()
    return _pack(world, [s for g in range(start, start + n) for s in getattr(world, kind)(seed, g)])


def _parallel(fn, seed: int, n: int, per_item: int, workers: int, progress: bool, desc: str, *extra):
    """Run `fn` over chunks (seed, start, count, *extra) of items 0..n-1 in `workers` processes;
    concatenated (images, captions, shape ids)."""
    chunk = max(1, 2_000 // per_item)
    jobs = [(seed, s, min(chunk, n - s), *extra) for s in range(0, n, chunk)]
    bar = tqdm(total=n * per_item, desc=desc, disable=not progress)
    parts = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            for part in pool.map(fn, jobs):
                parts.append(part)
                bar.update(len(part[1]))
    else:
        for job in jobs:
            parts.append(fn(job))
            bar.update(len(parts[-1][1]))
    bar.close()
    return (np.concatenate([p[0] for p in parts]), [c for p in parts for c in p[1]],
            np.concatenate([p[2] for p in parts]))


def draw_dataset(seed: int, n: int, workers: int = 2, progress: bool = True):
    """Items 0..n-1 of `ToyWorld().batch(seed, n)`: (images uint8 (n, 64, 64, 3), captions,
    `shape_id`s)."""
    return _parallel(_draw, seed, n, 1, workers, progress, "world images")


def draw_groups(kind: str, seed: int, n_groups: int, workers: int = 2, progress: bool = True):
    """`ToyWorld().<kind>(seed, g)` for g < n_groups, flattened: (images, captions, shape ids, k),
    group g at rows g*k .. g*k+k-1 (kind: "shape_variants" or "modifier_variants")."""
    k = len(getattr(ToyWorld(), kind)(seed, 0))  # the group size, as the world method defines it
    images, captions, shapes = _parallel(_draw_groups, seed, n_groups, k, workers, progress,
                                         kind.replace("_variants", " groups"), kind)
    return images, captions, shapes, k


def to_unit(images_uint8: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1] (the VAE's range)."""
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def from_unit(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3), rounded as a saved picture is."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy().astype(np.uint8)


@torch.no_grad()
def round_trip(vae, images_uint8: np.ndarray, batch: int = 32, device="cpu", progress=False) -> np.ndarray:
    """`images_uint8` encoded (posterior means) and decoded by `vae`: the world as the pipeline
    draws it. Batches of 32: on 2 CPU cores larger ones run at half the speed."""
    vae = vae.to(device).eval()
    out = []
    for s in tqdm(range(0, len(images_uint8), batch), desc="vae round trips", disable=not progress):
        z = vae.encode(to_unit(images_uint8[s : s + batch]).to(device)).latent_dist.mean
        out.append(from_unit(vae.decode(z).sample.cpu()))
    return np.concatenate(out) if out else images_uint8[:0].copy()


def to_clip_input(images_uint8: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> CLIP-normalised float (B, 3, H, W), as open_clip's preprocess."""
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(models.CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(models.CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std
