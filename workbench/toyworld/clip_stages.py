"""The toy-world CLIP's training stages: 2, contrastive training from scratch; 2b, shape-variant
groups; 2c, the image tower alone on modifier-variant groups; 5, the image tower alone on world
images as the VAE gives them back. See `train.py` for the recipe.

In every stage each image of one plain shape is also matched against the shape prompts ("a
circle", "a square", ...), as UniCL (Yang et al. 2022) matches images against class names. The
captions alone teach shape slowly: most of a caption names colour, background and style, which
tell a random batch apart without shape (measurements in model/TRAINING_LOG.md)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from workbench.toyworld import models
from workbench.toyworld.recipe import (
    DATA_SEED_OFFSET,
    TrainConfig,
    draw_groups,
    lr_factor,
    optimizer,
    round_trip,
    set_lr,
    to_clip_input,
)


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


def shape_prompts() -> list[str]:
    """The label prompts each one-shape image is also matched against: "a circle", ..."""
    from workbench.toyworld.world import ToyWorld

    return [f"a {s.name}" for s in ToyWorld().vocab.shapes]


def _shape_prompt_tokens() -> torch.Tensor:
    return _cut(clip_tokens(shape_prompts()))


def _cut(tokens: torch.Tensor) -> torch.Tensor:
    """(N, L): drop the padding columns beyond the longest caption (they only cost time)."""
    return tokens[:, : int((tokens != 0).sum(1).max())]


def _live_text_features(clip, tokens, device):
    """(captions' features by row, shape prompts' features), through the text tower as it trains."""
    prompts = _shape_prompt_tokens()
    return (lambda idx: _encode_text(clip, tokens[idx].to(device)),
            lambda: _encode_text(clip, prompts.to(device)))


def train_clip(images, tokens, shapes, cfg: TrainConfig, seed: int, device, progress=True):
    """Stage 2: contrastive CLIP training on random batches of `images` and their `clip_tokens`;
    the images of one shape (`shapes` >= 0, see `recipe.shape_id`) also against `shape_prompts`."""
    torch.manual_seed(seed)
    clip = models.build_clip().to(device).train()
    tokens = _cut(tokens)
    text_features, prompt_features = _live_text_features(clip, tokens, device)
    opt = optimizer(clip, cfg.clip_lr, cfg.clip_weight_decay)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(cfg.clip_batch, device=device)

    bar = tqdm(range(cfg.clip_steps), desc="clip", disable=not progress)
    for step in bar:
        set_lr(opt, cfg.clip_lr * lr_factor(step, cfg.clip_steps, cfg.warmup))
        idx = torch.randint(len(tokens), (cfg.clip_batch,), generator=gen)
        loss = _contrastive_step(clip, opt, images, text_features, idx, labels, device,
                                 shapes, prompt_features, cfg.shape_prompt_weight)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{clip.logit_scale.exp().item():.1f}")
    return clip.eval().cpu()


def _contrastive_step(clip, opt, images, text_features, idx, labels, device, shapes, prompt_features,
                      prompt_weight):
    """One CLIP step on the batch `idx` of uint8 `images`, whose captions' unnormalised features
    are `text_features(idx)`: symmetric InfoNCE, plus `prompt_weight` x the InfoNCE of each
    one-shape image (`shapes[idx] >= 0`) against the shape prompts' `prompt_features()`; then
    keep the temperature in range."""
    img_f = F.normalize(clip.encode_image(to_clip_input(images[idx.numpy()]).to(device)), dim=-1)
    txt_f = F.normalize(text_features(idx), dim=-1)
    scale = clip.logit_scale.exp()
    logits = scale * img_f @ txt_f.T  # (B, B)
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    shape = torch.from_numpy(shapes[idx.numpy()]).to(device)
    one = shape >= 0  # the images of one plain shape
    if prompt_weight and bool(one.any()):
        prompt_f = F.normalize(prompt_features(), dim=-1)  # (n_shapes, D)
        loss = loss + prompt_weight * F.cross_entropy(scale * img_f[one] @ prompt_f.T, shape[one])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        clip.logit_scale.clamp_(0, math.log(100))
    return loss


def refine_clip(clip, images, tokens, shapes, cfg: TrainConfig, seed: int, device, progress=True):
    """Stage 2b: continue CLIP training on batches with hard negatives for shape.

    Plain random batches rarely hold two images that differ only in shape, so stage 2 learns
    colours, backgrounds and strong styles but hardly shapes. Here each batch holds
    `refine_groups` shape-variant groups (`ToyWorld.shape_variants`: one scene drawn once per
    shape, worded alike), where only shape tells the captions apart, and fills the rest with
    random images so that nothing learnt before is forgotten. Both towers train.
    """
    torch.manual_seed(seed)
    clip = clip.to(device).train()
    groups = draw_groups("shape_variants", seed + DATA_SEED_OFFSET, cfg.refine_group_pool,
                         workers=1 if len(images) < 1_000 else 2, progress=progress)
    tokens = _cut(torch.cat([tokens, clip_tokens(groups[1])]))
    text_features, prompt_features = _live_text_features(clip, tokens, device)
    _train_on_groups(clip, (images, shapes), groups, text_features, prompt_features, cfg.refine_steps,
                     cfg.refine_groups, cfg.refine_lr, cfg, seed, device, "clip shape groups", progress)
    return clip.eval().cpu()


def train_clip_on_modifiers(clip, images, tokens, shapes, cfg: TrainConfig, seed: int, device, progress=True):
    """Stage 2c: the image tower alone on batches with hard negatives for style.

    After 2b the CLIP calls many plain images "unreal engine 5" or "blender cycles": a glow or
    a drop shadow is subtle, and random batches seldom hold the same scene with and without
    it. Each batch here holds `modifier_groups` modifier-variant groups
    (`ToyWorld.modifier_variants`: one scene plain and with each modifier alone) and random
    images. Only the image tower, the text projection and the temperature train: the text
    tower, which the UNet cross-attends to, stays exactly as it was.
    """
    torch.manual_seed(seed)
    groups = draw_groups("modifier_variants", seed + DATA_SEED_OFFSET, cfg.modifier_group_pool,
                         workers=1 if len(images) < 1_000 else 2, progress=progress)
    return _train_image_tower(clip, (images, tokens, shapes), groups, cfg.modifier_steps, cfg.modifier_lr, cfg,
                              seed, device, "clip modifier groups", progress)


def train_clip_on_round_trips(clip, vae, images, tokens, shapes, cfg: TrainConfig, seed: int, device, progress=True):
    """Stage 5: the image tower alone on world images and on their round trips through `vae`.

    Generated images come out of the VAE's decoder, which softens a glow or a drop shadow and
    tints black and white (model/TRAINING_LOG.md), so a CLIP trained on the world's own renders misreads
    them. Here the first `cfg.round_trip_pool` dataset images and a pool of
    modifier-variant groups are seen both as drawn and as the VAE gives them back, so that
    the CLIP reads pictures the way the pipeline draws them. As in 2c the text tower, and so
    the UNet, is untouched.
    """
    torch.manual_seed(seed)
    groups = draw_groups("modifier_variants", seed + DATA_SEED_OFFSET, cfg.modifier_group_pool,
                         workers=1 if len(images) < 1_000 else 2, progress=progress)
    n = min(cfg.round_trip_pool, len(images))
    g_images, g_captions, g_shapes, k = groups
    both = (np.concatenate([images, round_trip(vae, images[:n], device=device, progress=progress)]),
            torch.cat([tokens, tokens[:n]]), np.concatenate([shapes, shapes[:n]]))
    both_groups = (np.concatenate([g_images, round_trip(vae, g_images, device=device, progress=progress)]),
                   list(g_captions) * 2, np.concatenate([g_shapes, g_shapes]), k)
    return _train_image_tower(clip, both, both_groups, cfg.round_trip_steps, cfg.round_trip_lr, cfg, seed, device,
                              "clip round trips", progress)


def _train_image_tower(clip, data, groups, steps, lr, cfg: TrainConfig, seed, device, desc, progress):
    """`_train_on_groups` (`cfg.modifier_groups` groups a batch) with only the image tower, the
    text projection and the temperature training; `data` = (images, their `clip_tokens`, shape
    ids). The frozen text tower's features are computed once."""
    images, tokens, shapes = data
    clip = clip.to(device).eval()
    tokens = _cut(torch.cat([tokens, clip_tokens(groups[1])]))
    with torch.no_grad():
        pooled = torch.cat([_text_pooled(clip, tokens[s : s + 1024].to(device)) for s in range(0, len(tokens), 1024)])
        prompt_pooled = _text_pooled(clip, _shape_prompt_tokens().to(device))
    clip.requires_grad_(False)
    for p in (*clip.visual.parameters(), clip.text_projection, clip.logit_scale):
        p.requires_grad_(True)
    clip.visual.train()

    def text_features(idx):  # the frozen tower's features, through the projection that trains
        return pooled[idx.to(pooled.device)] @ clip.text_projection

    def prompt_features():
        return prompt_pooled @ clip.text_projection

    _train_on_groups(clip, (images, shapes), groups, text_features, prompt_features, steps, cfg.modifier_groups,
                     lr, cfg, seed, device, desc, progress)
    return clip.requires_grad_(True).eval().cpu()


def _train_on_groups(clip, data, groups, text_features, prompt_features, steps, n_groups, lr,
                     cfg: TrainConfig, seed, device, desc, progress):
    """`steps` InfoNCE steps on batches of `n_groups` variant groups (`groups`, from `draw_groups`:
    rows g*k .. g*k+k-1; captions' features `text_features(len(images) + row)`), filled up with
    random images of `data` = (images, shape ids)."""
    (images, shapes), (g_images, _, g_shapes, k) = data, groups
    all_images, all_shapes = np.concatenate([images, g_images]), np.concatenate([shapes, g_shapes])
    opt = optimizer(clip, lr, cfg.clip_weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n_random = cfg.clip_batch - n_groups * k
    labels = torch.arange(cfg.clip_batch, device=device)
    offsets = torch.arange(k)
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    for step in bar:
        set_lr(opt, lr * lr_factor(step, steps, cfg.warmup))
        groups = torch.randperm(len(g_images) // k, generator=gen)[:n_groups]
        grouped = (len(images) + groups[:, None] * k + offsets).flatten()
        idx = torch.cat([torch.randint(len(images), (n_random,), generator=gen), grouped])
        loss = _contrastive_step(clip, opt, all_images, text_features, idx, labels, device,
                                 all_shapes, prompt_features, cfg.shape_prompt_weight)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
