"""Walks through latent space: between two prompts at a fixed seed, and between two seeds.

    strip = interpolate_prompts(gen, "a red circle", "a blue square", seed=3, n=7)
    strip = noise_walk(gen, "a red circle", seed_a=3, seed_b=11, n=7)
    strip.image()      # one labelled row of frames (or just display `strip` in a notebook)

Prompt interpolation keeps the starting noise fixed and slerps the text encoder's output
(the pipeline's `prompt_embeds`), so every change between frames comes from the text
alone (as in the HF cookbook's stable_diffusion_interpolation). The noise walk keeps the
prompt and slerps the starting latent from one seed's noise to the other's: exactly an
A1111 variation seed at strength t, so those frames go through the generator and are
stored with provenance like any other image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.checks import is_whole
from workbench.generation.seeds import check_seed, initial_latent, slerp

MAX_FRAMES = 64


@dataclass
class Strip:
    """Frames of a walk, with a title per frame and one for the strip."""

    images: list  # PIL images
    ts: list[float]
    titles: list[str]
    title: str = ""
    results: list = field(default_factory=list)  # GeneratedImage per frame, when they came from the generator

    def image(self, cell: int | None = None):
        from workbench.generation.grids import grid_image

        return grid_image(self.images, 1, len(self.images), col_titles=self.titles, title=self.title, cell=cell)

    def _repr_png_(self):
        from workbench.store.png import png_bytes

        return png_bytes(self.image())


def _steps(n: int) -> np.ndarray:
    if not is_whole(n, 2, MAX_FRAMES):
        raise ValueError(f"n is the number of frames, from 2 (the two ends) to {MAX_FRAMES}; got {n!r}")
    return np.linspace(0.0, 1.0, int(n))


def interpolate_prompts(generator, prompt_a: str, prompt_b: str, seed: int = 0, n: int = 7, *,
                        steps: int | None = None, guidance: float | None = None, negative_prompt: str = "",
                        width: int | None = None, height: int | None = None) -> Strip:
    """Frames from prompt_a to prompt_b: same starting noise, slerped text conditioning.

    Steps, guidance, width and height left as None are the model's defaults.
    """
    import torch

    from workbench.generation.engine import OverflowedImageError, check_request, finite_pictures

    # 1. Check inputs
    ts = _steps(n)
    for name, prompt in (("prompt_a", prompt_a), ("prompt_b", prompt_b)):
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"{name} is empty; give the two prompts to walk between")
    seed = check_seed(seed)
    # the pipeline is called directly below: the policy, length and settings checks of ordinary requests
    ends = [generator.requests(p, seed, steps=steps, guidance=guidance, negative_prompt=negative_prompt,
                               width=width, height=height)[0] for p in (prompt_a, prompt_b)]
    check_request(ends[0], generator.vae_scale)
    steps, guidance = ends[0].steps, ends[0].guidance  # the model's defaults filled in
    width, height = ends[0].width, ends[0].height
    pipe = generator.pipeline
    if not hasattr(pipe, "encode_prompt"):
        raise ValueError(f"prompt interpolation needs a pipeline with a text encoder (encode_prompt), such as "
                         f"StableDiffusionPipeline; {type(pipe).__name__} has none")
    device = generator.model.device
    cfg = guidance > 1.0
    # 2. The text conditioning of both ends
    with torch.inference_mode():
        encoded = [pipe.encode_prompt(p, device, 1, cfg, negative_prompt or None) for p in (prompt_a, prompt_b)]
    if any(len(e) != 2 for e in encoded):
        raise ValueError(f"{type(pipe).__name__} encodes prompts into more than one tensor (an SDXL-style "
                         "pipeline); prompt interpolation supports Stable Diffusion 1.x/2.x-style pipelines")
    (a, negative), (b, _) = encoded  # (1, 77, D) each
    # 3. One fixed starting latent, the same for every frame
    shape = (pipe.unet.config.in_channels, height // generator.vae_scale, width // generator.vae_scale)
    latent = initial_latent(seed, shape)
    # 4. Slerp the conditioning and run the pipeline, a batch at a time
    embeds = torch.cat([slerp(float(t), a, b) for t in ts])  # (n, 77, D)
    images = []
    for start in range(0, len(ts), generator.max_batch):
        chunk = embeds[start:start + generator.max_batch]
        count = len(chunk)
        latents = latent.unsqueeze(0).repeat(count, 1, 1, 1).to(device, dtype=pipe.unet.dtype)
        kwargs = {"negative_prompt_embeds": negative.repeat(count, 1, 1)} if cfg else {}
        with torch.inference_mode():
            out = pipe(prompt_embeds=chunk, latents=latents, num_inference_steps=steps, guidance_scale=guidance,
                       width=width, height=height, output_type="np", **kwargs)
        images += finite_pictures(pipe, out.images)
    if any(image is None for image in images):
        raise OverflowedImageError([ends[0]], generator.model.dtype)
    titles = [f"t={t:.2f}" for t in ts]
    return Strip(images, [float(t) for t in ts], titles, f"{prompt_a} → {prompt_b} (seed {seed})")


def noise_walk(generator, prompt, seed_a: int, seed_b: int, n: int = 7, **request_kwargs) -> Strip:
    """Frames of one prompt whose starting noise slerps from seed_a's to seed_b's (stored images)."""
    ts = _steps(n)
    seed_a, seed_b = check_seed(seed_a, "seed_a"), check_seed(seed_b, "seed_b")
    requests = [req for t in ts for req in generator.requests(prompt, seed_a, variation_seed=seed_b,
                                                               variation_strength=float(t), **request_kwargs)]
    results = generator.generate(requests)
    text = getattr(prompt, "prompt", prompt)
    return Strip([r.image for r in results], [float(t) for t in ts], [f"t={t:.2f}" for t in ts],
                 f"{text}: seed {seed_a} → {seed_b}", results)
