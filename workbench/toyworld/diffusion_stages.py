"""Stages 3 to 4c of the toy-world recipe: the VAE, the UNet on the frozen text tower, the UNet's
second cycle and the VAE's decoder; and the latents and text states the UNet trains on. The whole
recipe, and the order and seeds of its stages, are in `train.py`; the CLIP stages in `clip_stages.py`."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from workbench.toyworld import models
from workbench.toyworld.recipe import TrainConfig, draw_timesteps, lr_factor, optimizer, set_lr, to_unit


def train_vae(images, cfg: TrainConfig, dcfg: models.DiffusionConfig, seed: int, device, progress=True):
    """Stage 3: a VAE from scratch."""
    torch.manual_seed(seed)
    return _train_vae(models.build_vae(dcfg), images, cfg.vae_steps, cfg.vae_lr, cfg, seed, device, "vae", progress)


def train_decoder(vae, images, cfg: TrainConfig, seed: int, device, progress=True):
    """Stage 4c: `vae`'s decoder (with `post_quant_conv`) trained on for `cfg.decoder_steps`,
    the encoder frozen: the latents the UNet learnt stay exactly as they were."""
    torch.manual_seed(seed)
    vae = copy.deepcopy(vae).float().requires_grad_(False)
    for part in (vae.decoder, vae.post_quant_conv):
        part.requires_grad_(True)
    return _train_vae(vae, images, cfg.decoder_steps, cfg.decoder_lr, cfg, seed, device, "vae decoder", progress)


def _train_vae(vae, images, steps: int, lr: float, cfg: TrainConfig, seed: int, device, desc: str, progress):
    """`steps` steps of `vae_loss` on random batches of `images`, on the parameters that require grad."""
    vae = vae.to(device).train()
    opt = optimizer(vae, lr)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    for step in bar:
        set_lr(opt, lr * lr_factor(step, steps, cfg.warmup))
        idx = torch.randint(len(images), (cfg.vae_batch,), generator=gen)
        x = to_unit(images[idx.numpy()]).to(device)
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen).to(device)
        loss = vae_loss(vae.decode(z).sample, x, posterior.kl().mean(), cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return vae.requires_grad_(True).eval().cpu()


def vae_loss(rec, x, kl, cfg: TrainConfig):
    """L1 + MSE reconstruction, a tiny KL and, if `cfg.vae_chroma_weight`, L1 on the colour
    error alone: per-channel losses let each channel err on its own, so gray comes back tinted."""
    loss = (rec - x).abs().mean() + F.mse_loss(rec, x) + cfg.vae_kl_weight * kl
    if cfg.vae_chroma_weight:  # skipped when off, so the shipped recipe's arithmetic is unchanged
        colour = lambda t: t - t.mean(1, keepdim=True)
        loss = loss + cfg.vae_chroma_weight * (colour(rec) - colour(x)).abs().mean()
    return loss


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


def caption_ids(tokenizer, texts) -> torch.Tensor:
    """The pipeline tokenizer's ids of `texts`, padded to its full context, as the pipeline
    encodes prompts: (N, 77)."""
    return tokenizer(list(texts), padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids


def caption_states(text_encoder, tokenizer, captions, device="cpu", progress=True):
    """The UNet's conditioning: the text states of every caption (N, 77, width) and of the empty
    caption (77, width), as the pipeline will encode prompts."""
    cond = text_states(text_encoder, caption_ids(tokenizer, captions), device=device, progress=progress)
    return cond, text_states(text_encoder, caption_ids(tokenizer, [""]), device=device, progress=False)[0]


def train_unet(latents, cond_states, uncond_state, cfg: TrainConfig, dcfg: models.DiffusionConfig,
               seed: int, device, progress=True, on_checkpoint=None, checkpoint_every: int = 200, init=None):
    """Returns the EMA UNet; `on_checkpoint(ema, step)` is called every `checkpoint_every` steps.

    `cond_states` (N, 77, width) are the text encoder's states for each latent's caption and
    `uncond_state` (77, width) those of the empty caption. `init`, a UNet, is trained on (a copy)
    instead of fresh weights.
    """
    torch.manual_seed(seed)
    unet = models.build_unet(dcfg, cross_attention_dim=cond_states.shape[-1]) if init is None else \
        copy.deepcopy(init).float().requires_grad_(True)
    unet = unet.to(device).train()
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
        t = draw_timesteps(cfg.timesteps, cfg.unet_batch, sched.config.num_train_timesteps, gen).to(device)
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


def unet_second_cycle(model_dir, images, captions, cfg: TrainConfig, dcfg: models.DiffusionConfig, seed: int,
                 device, progress=True):
    """Stage 4b: the UNet of a saved model folder, trained on for `cfg.unet_second_steps` steps
    with a fresh optimiser, cosine cycle (peak `cfg.unet_second_lr`) and EMA; returns the EMA.

    It starts from the folder as saved (float16 on disk), latents and text states included, so
    the stage is the same whether it follows stage 4 in one run or resumes a finished model.
    """
    pipe = models.load_pipeline(Path(model_dir) / "pipeline")
    latents = encode_latents(pipe.vae, images, device=device, progress=progress) * pipe.vae.config.scaling_factor
    cond, uncond = caption_states(pipe.text_encoder, pipe.tokenizer, captions, device, progress)
    second = replace(cfg, unet_steps=cfg.unet_second_steps, unet_lr=cfg.unet_second_lr)
    return train_unet(latents, cond, uncond, second, dcfg, seed, device, progress, init=pipe.unet)
