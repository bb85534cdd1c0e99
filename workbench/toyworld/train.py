"""Train the toy-world models from a seed: CLIP, then VAE, then UNet; write the model folder.

    train(out_dir, seed=0)   # 56 minutes on 2 shared CPU cores; reproduces the shipped weights

1. A dataset of captioned world images is drawn once (`ToyWorld().batch`, items depend only
   on (seed, index)) and shared by every stage.
2. CLIP: open_clip `toy-world-clip`, symmetric InfoNCE with a learnable temperature.
3. VAE: diffusers `AutoencoderKL` 64x64x3 <-> 16x16x4, L1 + MSE reconstruction and a tiny KL.
4. UNet: `UNet2DConditionModel` on the VAE latents, cross-attending to the frozen CLIP text
   tower (converted to a transformers `CLIPTextModel`, exactly as the pipeline will run it);
   v-prediction on a cosine schedule, min-SNR loss weights, 10 % empty captions for
   classifier-free guidance, EMA weights shipped.
5. `models.save_clip` and `models.save_pipeline` write `clip/` and `pipeline/`, plus
   `training.json` with the recipe and the measured time of each stage.

Everything is seeded; on one machine and torch build the same seed gives the same weights.
"""

from __future__ import annotations

import copy
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from workbench.toyworld import models
from workbench.toyworld.world import ToyWorld

DATA_SEED_OFFSET = 1_000  # training images use world seed `seed + 1000`; evaluation uses others


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe. The defaults are the shipped model's recipe."""

    dataset_size: int = 40_000  # world images drawn once, shared by all stages
    # 2. CLIP
    clip_steps: int = 1_000
    clip_batch: int = 128
    clip_lr: float = 1e-3
    clip_weight_decay: float = 0.05
    # 2b. CLIP on hard batches (groups sharing background and colour)
    refine_steps: int = 0  # the shipped weights were trained without it; 600 is the candidate fix
    #                        for the toy CLIP's weak shape reading (see the model card), not yet shipped
    refine_groups: int = 4  # (background, colour) groups per batch of clip_batch images
    refine_lr: float = 5e-4
    # 3. VAE
    vae_steps: int = 600
    vae_batch: int = 32
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    # 4. UNet
    unet_steps: int = 3_000
    unet_batch: int = 64
    unet_lr: float = 6e-4
    uncond_rate: float = 0.1  # share of empty captions (classifier-free guidance)
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    warmup: int = 100  # linear warmup steps, then cosine decay to 5 % (all stages)

    @classmethod
    def quick(cls) -> TrainConfig:
        """A few steps of everything: exercises the whole recipe in well under a minute."""
        return cls(dataset_size=256, clip_steps=4, clip_batch=32, refine_steps=4, vae_steps=4,
                   vae_batch=8, unet_steps=4, unet_batch=8, warmup=2)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def _optimizer(module, lr, weight_decay=0.0):
    decay = [p for p in module.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in module.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98 if weight_decay else 0.999))


def _set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr


# ---------------------------------------------------------------------------------------------
# 1. Data
# ---------------------------------------------------------------------------------------------


def _draw(args):
    seed, start, n = args
    world = ToyWorld()
    images = np.empty((n, world.config.size, world.config.size, 3), np.uint8)
    captions, keys = [], []
    for k in range(n):
        s = world.sample(seed, start + k)
        images[k] = s.image
        captions.append(s.caption)
        keys.append(f"{s.scene.background}|{s.scene.objects[0].colour}")
    return images, captions, keys


def draw_dataset(seed: int, n: int, workers: int = 2, progress: bool = True):
    """Items 0..n-1 of `ToyWorld().batch(seed, n)`: (images uint8 (n, 64, 64, 3), captions,
    keys), where a key names the background and first colour ("white|red") of a scene."""
    chunk = 2_000
    jobs = [(seed, s, min(chunk, n - s)) for s in range(0, n, chunk)]
    bar = tqdm(total=n, desc="world images", disable=not progress)
    parts = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            for part in pool.map(_draw, jobs):
                parts.append(part)
                bar.update(len(part[1]))
    else:
        for job in jobs:
            parts.append(_draw(job))
            bar.update(job[2])
    bar.close()
    images = np.concatenate([p[0] for p in parts])
    captions = [c for p in parts for c in p[1]]
    keys = [k for p in parts for k in p[2]]
    return images, captions, keys


def to_unit(images_uint8: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1] (the VAE's range)."""
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def to_clip_input(images_uint8: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> CLIP-normalised float (B, 3, H, W), as open_clip's preprocess."""
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(models.CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(models.CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


# ---------------------------------------------------------------------------------------------
# 2-4. The three stages
# ---------------------------------------------------------------------------------------------


def _text_pooled(clip, ids: torch.Tensor) -> torch.Tensor:
    """The text tower's <|endoftext|> feature before the projection, on ids cut to L <= 77
    tokens (B, L): the causal mask makes it the same as with the full context, at less cost."""
    n = ids.shape[1]
    x = clip.token_embedding(ids) + clip.positional_embedding[:n]  # (B, L, W)
    x = clip.ln_final(clip.transformer(x, attn_mask=clip.attn_mask[:n, :n]))
    return x[torch.arange(len(ids)), ids.argmax(dim=-1)]  # (B, W) at <|endoftext|>, the largest id


def _encode_text(clip, ids: torch.Tensor) -> torch.Tensor:
    """open_clip's `encode_text` (unnormalised) on cut ids."""
    return _text_pooled(clip, ids) @ clip.text_projection


def train_clip(images, captions, cfg: TrainConfig, seed: int, device, progress=True):
    import open_clip

    torch.manual_seed(seed)
    clip = models.build_clip().to(device).train()
    tokens = open_clip.get_tokenizer(models.CLIP_MODEL_NAME)(captions)  # (N, 77)
    tokens = tokens[:, : int((tokens != 0).sum(1).max())]  # (N, L): the longest caption
    opt = _optimizer(clip, cfg.clip_lr, cfg.clip_weight_decay)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(cfg.clip_batch, device=device)
    bar = tqdm(range(cfg.clip_steps), desc="clip", disable=not progress)
    for step in bar:
        _set_lr(opt, cfg.clip_lr * _lr_factor(step, cfg.clip_steps, cfg.warmup))
        idx = torch.randint(len(captions), (cfg.clip_batch,), generator=gen)
        loss = _contrastive_step(clip, opt, images, tokens, idx, labels, device)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{clip.logit_scale.exp().item():.1f}")
    return clip.eval().cpu()


def _contrastive_step(clip, opt, images, tokens, idx, labels, device):
    """One CLIP step on the batch `idx`: symmetric InfoNCE, then keep the temperature in range."""
    img_f = F.normalize(clip.encode_image(to_clip_input(images[idx.numpy()]).to(device)), dim=-1)
    txt_f = F.normalize(_encode_text(clip, tokens[idx].to(device)), dim=-1)
    logits = clip.logit_scale.exp() * img_f @ txt_f.T  # (B, B)
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        clip.logit_scale.clamp_(0, math.log(100))
    return loss


def refine_clip(clip, images, captions, keys, cfg: TrainConfig, seed: int, device, progress=True):
    """Stage 2b: continue CLIP training on hard batches.

    Plain random batches rarely hold two images that differ only in shape, so stage 2 learns
    colours, backgrounds and strong styles but hardly shapes. Here every batch comes from a
    few groups of images sharing background and colour, so telling them apart needs shape,
    size, position and the subtler styles. Both towers train. (The diffusion text encoder is
    the stage-2 text tower, converted before this stage; see `train`.)
    """
    import open_clip

    torch.manual_seed(seed)
    clip = clip.to(device).train()
    tokens = open_clip.get_tokenizer(models.CLIP_MODEL_NAME)(captions)
    tokens = tokens[:, : int((tokens != 0).sum(1).max())]
    opt = _optimizer(clip, cfg.refine_lr, cfg.clip_weight_decay)
    groups = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    groups = [torch.tensor(g) for _, g in sorted(groups.items())]
    per_group = cfg.clip_batch // cfg.refine_groups
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(per_group * cfg.refine_groups, device=device)
    bar = tqdm(range(cfg.refine_steps), desc="clip hard batches", disable=not progress)
    for step in bar:
        _set_lr(opt, cfg.refine_lr * _lr_factor(step, cfg.refine_steps, cfg.warmup))
        picked = torch.randperm(len(groups), generator=gen)[: cfg.refine_groups]
        idx = torch.cat([groups[g][torch.randint(len(groups[g]), (per_group,), generator=gen)] for g in picked])
        loss = _contrastive_step(clip, opt, images, tokens, idx, labels, device)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    return clip.eval().cpu()


def train_vae(images, cfg: TrainConfig, dcfg: models.DiffusionConfig, seed: int, device, progress=True):
    torch.manual_seed(seed)
    vae = models.build_vae(dcfg).to(device).train()
    opt = _optimizer(vae, cfg.vae_lr)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(cfg.vae_steps), desc="vae", disable=not progress)
    for step in bar:
        _set_lr(opt, cfg.vae_lr * _lr_factor(step, cfg.vae_steps, cfg.warmup))
        idx = torch.randint(len(images), (cfg.vae_batch,), generator=gen)
        x = to_unit(images[idx.numpy()]).to(device)
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen).to(device)
        rec = vae.decode(z).sample
        loss = (rec - x).abs().mean() + F.mse_loss(rec, x) + cfg.vae_kl_weight * posterior.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return vae.eval().cpu()


@torch.no_grad()
def encode_latents(vae, images, batch=256, device="cpu", progress=True) -> torch.Tensor:
    """Posterior means of every image: (N, C, h, w) float32, unscaled."""
    vae = vae.to(device)
    out = []
    for s in tqdm(range(0, len(images), batch), desc="latents", disable=not progress):
        out.append(vae.encode(to_unit(images[s : s + batch]).to(device)).latent_dist.mean.cpu())
    vae.cpu()
    return torch.cat(out)


def train_unet(latents, token_ids, uncond_ids, text_encoder, cfg: TrainConfig,
               dcfg: models.DiffusionConfig, seed: int, device, progress=True,
               on_checkpoint=None, checkpoint_every: int = 200):
    """Returns the EMA UNet; `on_checkpoint(ema, step)` is called every `checkpoint_every` steps."""
    torch.manual_seed(seed)
    width = text_encoder.config.hidden_size
    unet = models.build_unet(dcfg, cross_attention_dim=width).to(device).train()
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    text_encoder = text_encoder.to(device).eval().requires_grad_(False)
    sched = models.build_train_scheduler(dcfg)
    alphas = sched.alphas_cumprod.to(device)
    opt = _optimizer(unet, cfg.unet_lr)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(cfg.unet_steps), desc="unet", disable=not progress)
    for step in bar:
        _set_lr(opt, cfg.unet_lr * _lr_factor(step, cfg.unet_steps, cfg.warmup))
        idx = torch.randint(len(latents), (cfg.unet_batch,), generator=gen)
        x0 = latents[idx].to(device)  # (B, C, h, w), already scaled
        ids = token_ids[idx].clone()  # (B, 77)
        drop = torch.rand(cfg.unet_batch, generator=gen) < cfg.uncond_rate
        ids[drop] = uncond_ids
        with torch.no_grad():
            cond = text_encoder(ids.to(device)).last_hidden_state  # (B, 77, width)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, sched.config.num_train_timesteps, (cfg.unet_batch,), generator=gen).to(device)
        noisy = sched.add_noise(x0, noise, t)
        target = sched.get_velocity(x0, noise, t) if dcfg.prediction_type == "v_prediction" else noise
        pred = unet(noisy, t, cond).sample
        # min-SNR-gamma weights (Hang et al. 2023), in the form for v- or epsilon-targets
        snr = alphas[t] / (1 - alphas[t])
        denom = snr + 1 if dcfg.prediction_type == "v_prediction" else snr
        weight = torch.clamp(snr, max=cfg.min_snr_gamma) / denom
        loss = (weight * (pred - target).pow(2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), unet.parameters()):
                pe.lerp_(p, 1 - decay)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if on_checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < cfg.unet_steps:
            on_checkpoint(ema, step + 1)
    return ema.cpu()


# ---------------------------------------------------------------------------------------------
# The whole recipe
# ---------------------------------------------------------------------------------------------


def train(out_dir, seed: int = 0, quick: bool = False, progress: bool = True, device=None,
          config: TrainConfig | None = None,
          diffusion_config: models.DiffusionConfig | None = None,
          clip_checkpoint: Path | str | None = None) -> dict:
    """Train CLIP, VAE and UNet from `seed` and write `out_dir/clip` and `out_dir/pipeline`.

    `quick=True` runs a few steps of every stage (for tests). `clip_checkpoint` resumes after
    stage 2 with the CLIP an earlier run of the same seed and config saved (stage 2 is
    deterministic, so the result is the same). Returns the training record that is also
    written to `out_dir/training.json`.
    """
    out = Path(out_dir)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(2)
    cfg = config or (TrainConfig.quick() if quick else TrainConfig())
    dcfg = diffusion_config or models.DiffusionConfig()
    times = {}

    # 1. Data
    t0 = time.time()
    images, captions, keys = draw_dataset(seed + DATA_SEED_OFFSET, cfg.dataset_size,
                                    workers=1 if quick else 2, progress=progress)
    times["data"] = time.time() - t0

    # 2. CLIP
    t0 = time.time()
    if clip_checkpoint is None:
        clip = train_clip(images, captions, cfg, seed + 1, device, progress)
        times["clip"] = time.time() - t0
    else:
        clip, _ = models.load_clip(clip_checkpoint)
        previous = Path(clip_checkpoint).parents[1] / "training.json"
        if previous.is_file():
            times["clip"] = json.loads(previous.read_text())["seconds"]["clip"]
    # the diffusion text encoder is the stage-2 text tower, the UNet's frozen conditioning
    text_encoder = models.convert_text_tower(clip)
    if cfg.refine_steps:
        t0 = time.time()
        clip = refine_clip(clip, images, captions, keys, cfg, seed + 4, device, progress)
        times["clip_hard_batches"] = time.time() - t0

    # 3. VAE, and the latent scale that makes latents unit-variance
    t0 = time.time()
    vae = train_vae(images, cfg, dcfg, seed + 2, device, progress)
    latents = encode_latents(vae, images, device=device, progress=progress)
    scale = float(1.0 / latents.std())
    vae.register_to_config(scaling_factor=scale)
    latents = latents * scale
    times["vae"] = time.time() - t0

    # 4. UNet on the frozen, converted text tower
    t0 = time.time()
    tokenizer = models.build_tokenizer()

    def tokenize(texts):
        return tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids

    token_ids, uncond_ids = tokenize(captions), tokenize([""])[0]
    models.save_clip(clip, out / "clip")

    def save(unet, step=None):  # the pipeline folder; also a checkpoint while the UNet trains
        pipe = models.assemble_pipeline(vae, copy.deepcopy(unet).cpu(), text_encoder, tokenizer,
                                        models.build_inference_scheduler(dcfg))
        models.save_pipeline(pipe, out / "pipeline")
        if step is not None:
            (out / "pipeline" / "CHECKPOINT").write_text(f"UNet EMA after {step} of {cfg.unet_steps} steps\n")

    unet = train_unet(latents, token_ids, uncond_ids, text_encoder, cfg, dcfg, seed + 3, device, progress,
                      on_checkpoint=None if quick else save)
    times["unet"] = time.time() - t0

    # 5. Save: clip/ and pipeline/, float16 on disk
    save(unet)
    (out / "pipeline" / "CHECKPOINT").unlink(missing_ok=True)
    record = {
        "seed": seed,
        "quick": quick,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "seconds": {k: round(v, 1) for k, v in times.items()},
        "total_seconds": round(sum(times.values()), 1),
        "train_config": asdict(cfg),
        "diffusion_config": dcfg.to_dict(),
        "latent_scaling_factor": scale,
        "parameters": {
            "clip": models.parameter_count(clip),
            "text_encoder": models.parameter_count(text_encoder),
            "vae": models.parameter_count(vae),
            "unet": models.parameter_count(unet),
        },
        "weights_mb": round(models.weights_size_mb(out), 2),
    }
    (out / "training.json").write_text(json.dumps(record, indent=2))
    return record


def main(argv=None):  # python -m workbench.toyworld.train --out DIR [--seed N] [--quick]
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default=None)
    p.add_argument("--clip-checkpoint", default=None, help="resume after stage 2 with this CLIP")
    a = p.parse_args(argv)
    record = train(a.out, seed=a.seed, quick=a.quick, device=a.device, clip_checkpoint=a.clip_checkpoint)
    print(json.dumps(record["seconds"]), f"total {record['total_seconds']} s")


if __name__ == "__main__":
    main()
