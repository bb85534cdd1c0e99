"""Teaching tools on top of the generator: CLIP rerank of candidates, and the denoising filmstrip.

Rerank follows Craiyon/DALL-E Mini: make N candidates, score each against the prompt with
CLIP, keep the best k, and keep the rejected ones visible with their scores, because
seeing what was thrown away is half of the lesson.
The filmstrip shows the model's current guess of the clean image at chosen steps, from
noise to picture, by decoding the scheduler's predicted x0 at each step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image


@dataclass
class Reranked:
    kept: list  # (GeneratedImage, CLIP score), best first
    rejected: list  # (GeneratedImage, CLIP score), best first
    prompt: str

    def image(self) -> Image.Image:
        from workbench.generation.grids import grid_image, with_blanks

        everything = self.kept + self.rejected
        cols = min(8, len(everything))
        rows = -(-len(everything) // cols)
        imgs = with_blanks([self._marked(g.image, s, i < len(self.kept)) for i, (g, s) in enumerate(everything)],
                           rows * cols)
        return grid_image(imgs, rows, cols, title=f"kept {len(self.kept)} of {len(everything)} by CLIP score: "
                                                  f"{self.prompt}", cell=160)

    @staticmethod
    def _marked(img: Image.Image, score: float, kept: bool) -> Image.Image:
        from PIL import ImageDraw

        big = img.convert("RGB").resize((160, 160 * img.height // img.width), Image.NEAREST)
        draw = ImageDraw.Draw(big)
        colour = (46, 125, 50) if kept else (198, 40, 40)
        draw.rectangle([0, 0, big.width - 1, big.height - 1], outline=colour, width=4)
        draw.rectangle([0, big.height - 20, 70, big.height], fill=colour)
        draw.text((4, big.height - 18), f"{score:.1f}", fill="white")
        return big if kept else Image.blend(big, Image.new("RGB", big.size, "white"), 0.35)

    def _repr_png_(self):
        from workbench.store.png import png_bytes

        return png_bytes(self.image())


def rerank(generator, clip, prompt, seeds="0-31", keep: int = 8, **kwargs) -> Reranked:
    """Generate one image per seed and keep the `keep` with the highest CLIP score for `prompt`."""
    from workbench.checks import is_whole
    from workbench.generation.seeds import parse_seeds

    seeds = parse_seeds(seeds)
    if not is_whole(keep, 1, len(seeds)):
        raise ValueError(f"keep must be a whole number from 1 to the {len(seeds)} seeds given, not {keep!r}")
    text = getattr(prompt, "prompt", prompt)
    results = generator.generate(generator.requests(prompt, seeds, **kwargs))
    scores = clip.clip_score([r.image for r in results], text)
    ranked = sorted(zip(results, map(float, scores)), key=lambda pair: -pair[1])
    return Reranked(ranked[:keep], ranked[keep:], text)


def clean_estimate(scheduler, model_output, timestep, sample):
    """The clean latent x0 the model's output implies at `timestep`, for the scheduler's kind of
    output: noise (epsilon), velocity (v, as the embedded model predicts) or x0 itself."""
    alpha = scheduler.alphas_cumprod[int(timestep)].to(sample.device, sample.dtype)
    kind = scheduler.config.get("prediction_type", "epsilon")
    if kind == "epsilon":
        return (sample - (1 - alpha).sqrt() * model_output) / alpha.sqrt()
    if kind == "v_prediction":
        return alpha.sqrt() * sample - (1 - alpha).sqrt() * model_output
    if kind == "sample":
        return model_output
    raise NotImplementedError(f"the filmstrip cannot read a {kind!r} prediction; use an epsilon, v_prediction "
                              "or sample model")


def filmstrip(generator, prompt, seed: int = 0, steps: int | None = None, at: Sequence[int] | None = None,
              guidance: float | None = None) -> list[tuple[int, Image.Image]]:
    """(step, predicted clean image) pairs at the chosen steps (default: 8 evenly spaced), noise to picture.

    Steps and guidance left as None are the model's defaults.
    """
    import torch

    from workbench.generation.engine import ImageGenerator

    pipe = generator.pipeline
    steps, guidance = generator.defaults.resolve(steps, guidance)
    at = sorted(set(at if at is not None else [round(i * (steps - 1) / 7) for i in range(8)]))
    if not at or at[0] < 0 or at[-1] >= steps:
        raise ValueError(f"filmstrip steps must be between 0 and {steps - 1}, got {list(at)}")
    scheduler = pipe.scheduler
    original_step = scheduler.step
    calls: list[tuple[torch.Tensor, bool]] = []  # each call's clean estimate, and whether it ended a step

    def step(model_output, timestep, sample, *args, **kwargs):
        out = original_step(model_output, timestep, sample, *args, **kwargs)
        x0 = getattr(out, "pred_original_sample", None) if not isinstance(out, tuple) else None
        if x0 is None:  # schedulers that do not report it (DPM-Solver): invert the forward process
            x0 = clean_estimate(scheduler, model_output, timestep, sample)
        # second-order samplers (Heun, KDPM2) call step twice a step, and are back in first order
        # once a step is done
        calls.append((x0[-1:].detach().clone(), getattr(scheduler, "state_in_first_order", True)))
        return out

    scheduler.step = step
    try:  # without the store: a filmstrip must run the model even when the image is cached
        bare = ImageGenerator(generator.model, store=None, progress=False, policy=generator.policy)
        bare.generate(bare.requests(prompt, seed, steps=steps, guidance=guidance))
    finally:
        scheduler.step = original_step
    ends = [x0 for x0, done in calls[:-1] if done] + [calls[-1][0]]  # the last call ends the last step
    if len(ends) != steps:
        raise NotImplementedError(f"the filmstrip cannot tell the steps of {type(scheduler).__name__} apart "
                                  f"({len(calls)} scheduler calls for {steps} steps); use a first-order sampler "
                                  "such as DDIM, Euler or DPM-Solver++, or Heun")
    frames = []
    for i in at:
        with torch.no_grad():
            latent = ends[i] / pipe.vae.config.scaling_factor
            pixels = pipe.vae.decode(latent.to(pipe.vae.dtype)).sample
        frames.append((i, pipe.image_processor.postprocess(pixels, output_type="pil")[0]))
    return frames


def filmstrip_image(frames: list[tuple[int, Image.Image]], title: str = "") -> Image.Image:
    from workbench.generation.grids import grid_image

    return grid_image([f for _, f in frames], 1, len(frames), col_titles=[f"step {i}" for i, _ in frames],
                      title=title)
