"""Train the toy-world models from a seed: CLIP, then VAE, then UNet; write the model folder.

    train(out_dir, seed=0)   # 53 min on 2 idle CPU cores (budget 60), byte-identical weights

1. A dataset of captioned world images is drawn once (`ToyWorld().batch`, items depend only
   on (seed, index)) and shared by every stage.
2. CLIP: open_clip `toy-world-clip`, symmetric InfoNCE with a learnable temperature; then
   2b, batches that hold shape-variant groups, so that shape must be read.
3. VAE: diffusers `AutoencoderKL` 64x64x3 <-> 16x16x4, L1 + MSE reconstruction and a tiny KL.
4. UNet: `UNet2DConditionModel` on the VAE latents, cross-attending to the frozen CLIP text
   tower (converted to a transformers `CLIPTextModel`, exactly as the pipeline will run it);
   v-prediction on a cosine schedule, loss weights capped on nearly clean steps, 10 % empty captions for
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
    clip_steps: int = 800
    clip_batch: int = 128
    clip_lr: float = 1e-3
    clip_weight_decay: float = 0.05
    # 2b. CLIP on shape-variant groups (hard negatives for shape)
    refine_steps: int = 500
    refine_groups: int = 8  # shape-variant groups per batch (8 x 7 shapes; random images fill it)
    refine_group_pool: int = 2_000  # shape-variant groups drawn once
    refine_lr: float = 5e-4
    # 3. VAE
    vae_steps: int = 1_000
    vae_batch: int = 32
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    # 4. UNet
    unet_steps: int = 4_800
    unet_batch: int = 64
    unet_lr: float = 8e-4
    uncond_rate: float = 0.1  # share of empty captions (classifier-free guidance)
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    warmup: int = 100  # linear warmup steps, then cosine decay to 5 % (all stages)

    @classmethod
    def quick(cls) -> TrainConfig:
        """A few steps of everything: exercises the whole recipe in well under a minute."""
        return cls(dataset_size=256, clip_steps=4, clip_batch=32, refine_steps=4, refine_groups=2,
                   refine_group_pool=8, vae_steps=4,
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
    captions = []
    for k in range(n):
        s = world.sample(seed, start + k)
        images[k] = s.image
        captions.append(s.caption)
    return images, captions


def _draw_groups(args):
    seed, start, n = args
    world = ToyWorld()
    samples = [s for g in range(start, start + n) for s in world.shape_variants(seed, g)]
    return np.stack([s.image for s in samples]), [s.caption for s in samples]


def _parallel(fn, seed: int, n: int, per_item: int, workers: int, progress: bool, desc: str):
    """Run `fn` over chunks of items 0..n-1 in `workers` processes; concatenated results."""
    chunk = max(1, 2_000 // per_item)
    jobs = [(seed, s, min(chunk, n - s)) for s in range(0, n, chunk)]
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
    return np.concatenate([p[0] for p in parts]), [c for p in parts for c in p[1]]


def draw_dataset(seed: int, n: int, workers: int = 2, progress: bool = True):
    """Items 0..n-1 of `ToyWorld().batch(seed, n)`: (images uint8 (n, 64, 64, 3), captions)."""
    return _parallel(_draw, seed, n, 1, workers, progress, "world images")


def draw_shape_groups(seed: int, n_groups: int, workers: int = 2, progress: bool = True):
    """`ToyWorld().shape_variants(seed, g)` for g < n_groups, flattened: (images, captions),
    group g at rows g*k .. g*k+k-1, k = number of shapes."""
    k = len(ToyWorld().vocab.shapes)
    return _parallel(_draw_groups, seed, n_groups, k, workers, progress, "shape groups")


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


def clip_tokens(captions) -> torch.Tensor:
    """open_clip's tokens for `captions`, (N, 77). Tokenizing 40k captions takes seconds: do it once."""
    import open_clip

    return open_clip.get_tokenizer(models.register_clip_config())(list(captions))


def _cut(tokens: torch.Tensor) -> torch.Tensor:
    """(N, L): drop the padding columns beyond the longest caption (they only cost time)."""
    return tokens[:, : int((tokens != 0).sum(1).max())]


def train_clip(images, tokens, cfg: TrainConfig, seed: int, device, progress=True):
    """Stage 2: contrastive CLIP training on random batches of `images` and their `clip_tokens`."""
    torch.manual_seed(seed)
    clip = models.build_clip().to(device).train()
    tokens = _cut(tokens)
    opt = _optimizer(clip, cfg.clip_lr, cfg.clip_weight_decay)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(cfg.clip_batch, device=device)
    bar = tqdm(range(cfg.clip_steps), desc="clip", disable=not progress)
    for step in bar:
        _set_lr(opt, cfg.clip_lr * _lr_factor(step, cfg.clip_steps, cfg.warmup))
        idx = torch.randint(len(tokens), (cfg.clip_batch,), generator=gen)
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


def refine_clip(clip, images, tokens, cfg: TrainConfig, seed: int, device, progress=True):
    """Stage 2b: continue CLIP training on batches with hard negatives for shape.

    Plain random batches rarely hold two images that differ only in shape, so stage 2 learns
    colours, backgrounds and strong styles but hardly shapes. Here each batch holds
    `refine_groups` shape-variant groups (`ToyWorld.shape_variants`: one scene drawn once per
    shape, worded alike), where only shape tells the captions apart, and fills the rest with
    random images so that nothing learnt before is forgotten. Both towers train.
    """
    torch.manual_seed(seed)
    clip = clip.to(device).train()
    g_images, g_captions = draw_shape_groups(seed + DATA_SEED_OFFSET, cfg.refine_group_pool,
                                             workers=1 if len(images) < 1_000 else 2, progress=progress)
    k = len(g_captions) // cfg.refine_group_pool  # variants per group (one per shape)
    all_images = np.concatenate([images, g_images])
    tokens = _cut(torch.cat([tokens, clip_tokens(g_captions)]))
    opt = _optimizer(clip, cfg.refine_lr, cfg.clip_weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n_random = cfg.clip_batch - cfg.refine_groups * k
    labels = torch.arange(cfg.clip_batch, device=device)
    offsets = torch.arange(k)
    bar = tqdm(range(cfg.refine_steps), desc="clip shape groups", disable=not progress)
    for step in bar:
        _set_lr(opt, cfg.refine_lr * _lr_factor(step, cfg.refine_steps, cfg.warmup))
        groups = torch.randperm(cfg.refine_group_pool, generator=gen)[: cfg.refine_groups]
        grouped = (len(images) + groups[:, None] * k + offsets).flatten()
        idx = torch.cat([torch.randint(len(images), (n_random,), generator=gen), grouped])
        loss = _contrastive_step(clip, opt, all_images, tokens, idx, labels, device)
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


@torch.no_grad()
def text_states(text_encoder, token_ids: torch.Tensor, batch: int = 512, device="cpu",
                progress=True) -> torch.Tensor:
    """`last_hidden_state` of every caption, (N, 77, width) float32: computed once, since the
    text encoder is frozen while the UNet trains."""
    text_encoder = text_encoder.to(device).eval()
    out = []
    for s in tqdm(range(0, len(token_ids), batch), desc="text states", disable=not progress):
        out.append(text_encoder(token_ids[s : s + batch].to(device)).last_hidden_state.cpu())
    return torch.cat(out)


def train_unet(latents, cond_states, uncond_state, cfg: TrainConfig, dcfg: models.DiffusionConfig,
               seed: int, device, progress=True, on_checkpoint=None, checkpoint_every: int = 200):
    """Returns the EMA UNet; `on_checkpoint(ema, step)` is called every `checkpoint_every` steps.

    `cond_states` (N, 77, width) are the text encoder's states for each latent's caption and
    `uncond_state` (77, width) those of the empty caption.
    """
    torch.manual_seed(seed)
    unet = models.build_unet(dcfg, cross_attention_dim=cond_states.shape[-1]).to(device).train()
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    sched = models.build_train_scheduler(dcfg)
    alphas = sched.alphas_cumprod.to(device)
    opt = _optimizer(unet, cfg.unet_lr)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(cfg.unet_steps), desc="unet", disable=not progress)
    for step in bar:
        _set_lr(opt, cfg.unet_lr * _lr_factor(step, cfg.unet_steps, cfg.warmup))
        idx = torch.randint(len(latents), (cfg.unet_batch,), generator=gen)
        x0 = latents[idx].to(device)  # (B, C, h, w), already scaled
        cond = cond_states[idx].clone()  # (B, 77, width)
        drop = torch.rand(cfg.unet_batch, generator=gen) < cfg.uncond_rate
        cond[drop] = uncond_state
        cond = cond.to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, sched.config.num_train_timesteps, (cfg.unet_batch,), generator=gen).to(device)
        noisy = sched.add_noise(x0, noise, t)
        target = sched.get_velocity(x0, noise, t) if dcfg.prediction_type == "v_prediction" else noise
        pred = unet(noisy, t, cond).sample
        # Weights in x0 terms: SNR + 1 (the plain v-loss), capped at gamma + 1. Noisy steps,
        # where colour, shape and layout are decided, keep full weight; nearly clean steps,
        # which only polish, are damped (min-SNR's cap, Hang et al. 2023, without its damping
        # of the noisy end).
        snr = alphas[t] / (1 - alphas[t])
        if dcfg.prediction_type == "v_prediction":  # v-loss = (SNR + 1) x0-loss
            weight = torch.clamp(snr + 1, max=cfg.min_snr_gamma + 1) / (snr + 1)
        else:  # epsilon-loss = SNR x0-loss: plain min-SNR
            weight = torch.clamp(snr, max=cfg.min_snr_gamma) / snr
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
    stage 2b with the CLIP an earlier run of the same seed and config saved (the CLIP stages
    are deterministic, so the result is the same). Returns the training record that is also
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
    images, captions = draw_dataset(seed + DATA_SEED_OFFSET, cfg.dataset_size,
                                    workers=1 if quick else 2, progress=progress)
    times["data"] = time.time() - t0

    # 2. CLIP, then 2b. CLIP on shape groups
    if clip_checkpoint is None:
        t0 = time.time()
        tokens = clip_tokens(captions)
        clip = train_clip(images, tokens, cfg, seed + 1, device, progress)
        times["clip"] = time.time() - t0
        if cfg.refine_steps:
            t0 = time.time()
            clip = refine_clip(clip, images, tokens, cfg, seed + 4, device, progress)
            times["clip_shape_groups"] = time.time() - t0
    else:
        clip, _ = models.load_clip(clip_checkpoint)
        previous = Path(clip_checkpoint).parents[1] / "training.json"
        if previous.is_file():
            times.update({k: v for k, v in json.loads(previous.read_text())["seconds"].items()
                          if k.startswith("clip")})
    # the diffusion text encoder is the finished CLIP text tower, the UNet's frozen conditioning
    text_encoder = models.convert_text_tower(clip)

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

    cond_states = text_states(text_encoder, tokenize(captions), device=device, progress=progress)
    uncond_state = text_states(text_encoder, tokenize([""]), device=device, progress=False)[0]
    models.save_clip(clip, out / "clip")

    def save(unet, step=None):  # the pipeline folder; also a checkpoint while the UNet trains
        pipe = models.assemble_pipeline(vae, copy.deepcopy(unet).cpu(), text_encoder, tokenizer,
                                        models.build_inference_scheduler(dcfg))
        models.save_pipeline(pipe, out / "pipeline")
        if step is not None:
            (out / "pipeline" / "CHECKPOINT").write_text(f"UNet EMA after {step} of {cfg.unet_steps} steps\n")

    unet = train_unet(latents, cond_states, uncond_state, cfg, dcfg, seed + 3, device, progress,
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
    p.add_argument("--clip-checkpoint", default=None, help="resume after the CLIP stages with this CLIP")
    a = p.parse_args(argv)
    record = train(a.out, seed=a.seed, quick=a.quick, device=a.device, clip_checkpoint=a.clip_checkpoint)
    print(json.dumps(record["seconds"]), f"total {record['total_seconds']} s")


if __name__ == "__main__":
    main()
