"""Train the toy-world models from a seed: CLIP, then VAE, then UNet; write the model folder.

    train(out_dir, seed=0)   # 53 min on 2 idle CPU cores (budget 60), reproducible weights

1. A dataset of captioned world images is drawn once (`ToyWorld().batch`, items depend only
   on (seed, index)) and shared by every stage.
2. CLIP: open_clip `toy-world-clip` (a convolutional image tower), symmetric InfoNCE with a
   learnable temperature, and one-shape images also against the shape prompts ("a circle",
   ...); then 2b, batches that hold shape-variant groups, so that shape must be read; then 2c,
   the image tower alone on modifier-variant groups, so that a plain image is not called styled.
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
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from workbench.toyworld import models
from workbench.toyworld.clip_stages import (
    clip_tokens,
    refine_clip,
    train_clip,
    train_clip_on_modifiers,
)
from workbench.toyworld.recipe import (
    DATA_SEED_OFFSET,
    TrainConfig,
    draw_dataset,
    lr_factor,
    optimizer,
    set_lr,
    to_unit,
)

# ---------------------------------------------------------------------------------------------
# 3-4. VAE and UNet
# ---------------------------------------------------------------------------------------------


def train_vae(images, cfg: TrainConfig, dcfg: models.DiffusionConfig, seed: int, device, progress=True):
    torch.manual_seed(seed)
    vae = models.build_vae(dcfg).to(device).train()
    opt = optimizer(vae, cfg.vae_lr)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(cfg.vae_steps), desc="vae", disable=not progress)
    for step in bar:
        set_lr(opt, cfg.vae_lr * lr_factor(step, cfg.vae_steps, cfg.warmup))
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
    opt = optimizer(unet, cfg.unet_lr)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(cfg.unet_steps), desc="unet", disable=not progress)
    for step in bar:
        set_lr(opt, cfg.unet_lr * lr_factor(step, cfg.unet_steps, cfg.warmup))
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


def training_device(device=None) -> torch.device:
    """The device to train on (default: CUDA when there is one); on the CPU, the 2 threads the
    recipe is timed with."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(2)
    return device


def caption_ids(tokenizer, texts) -> torch.Tensor:
    """The pipeline tokenizer's ids of `texts`, padded to its full context, as the pipeline
    encodes prompts: (N, 77)."""
    return tokenizer(list(texts), padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids


def train(out_dir, seed: int = 0, quick: bool = False, progress: bool = True, device=None,
          config: TrainConfig | None = None,
          diffusion_config: models.DiffusionConfig | None = None,
          clip_checkpoint: Path | str | None = None) -> dict:
    """Train CLIP, VAE and UNet from `seed` and write `out_dir/clip` and `out_dir/pipeline`.

    `quick=True` runs a few steps of every stage (for tests). `clip_checkpoint` resumes after
    the CLIP stages (2-2c) with the CLIP an earlier run of the same seed and config saved (and
    takes their times from its `training.json`); the result equals a full run's only if that
    CLIP was saved in float32 (`models.save_clip(clip, dir, fp16=False)`), since the model
    folder's CLIP is float16. Returns the training record that is also written to
    `out_dir/training.json`.
    """
    out = Path(out_dir)
    device = training_device(device)
    cfg = config or (TrainConfig.quick() if quick else TrainConfig())
    dcfg = diffusion_config or models.DiffusionConfig()
    times = {}

    # 1. Data
    t0 = time.time()
    images, captions, shapes = draw_dataset(seed + DATA_SEED_OFFSET, cfg.dataset_size,
                                            workers=1 if quick else 2, progress=progress)
    times["data"] = time.time() - t0

    # 2. CLIP; 2b. CLIP on shape groups; 2c. its image tower on modifier groups
    if clip_checkpoint is None:
        t0 = time.time()
        tokens = clip_tokens(captions)
        clip = train_clip(images, tokens, shapes, cfg, seed + 1, device, progress)
        times["clip"] = time.time() - t0
        if cfg.refine_steps:
            t0 = time.time()
            clip = refine_clip(clip, images, tokens, shapes, cfg, seed + 4, device, progress)
            times["clip_shape_groups"] = time.time() - t0
        if cfg.modifier_steps:
            t0 = time.time()
            clip = train_clip_on_modifiers(clip, images, tokens, shapes, cfg, seed + 5, device, progress)
            times["clip_modifier_groups"] = time.time() - t0
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
    cond_states = text_states(text_encoder, caption_ids(tokenizer, captions), device=device, progress=progress)
    uncond_state = text_states(text_encoder, caption_ids(tokenizer, [""]), device=device, progress=False)[0]
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
