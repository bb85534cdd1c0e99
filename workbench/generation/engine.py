"""The image generator: requests in, stored images out, each reproducible on its own.

    gen = ImageGenerator(store="runs/")                 # the embedded toy-world model
    images = gen.generate(gen.requests("a red circle", seeds="0-8"))

For every request the steps are:
1. look it up in the store by its content address (identical requests are not recomputed);
2. group the rest into batches that share steps, guidance, size and scheduler;
3. draw each image's starting latent from its own CPU generator (see `seeds.py`);
4. run the pipeline on the batch, and
5. commit every image of the batch to the store (PNG with provenance, then the catalogue
   row) before the next batch starts, so an interrupted run keeps what it finished. An image
   whose pixels came out as NaN (an overflow) is not stored; `OverflowedImageError` names it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workbench.checks import is_whole
from workbench.generation.adapters import adapters_hash
from workbench.generation.defaults import check_guidance, check_steps
from workbench.generation.loading import LoadedModel, load_model, scheduler_settings, versions
from workbench.generation.seeds import STEP_NOISE, check_seed, draws_step_noise, initial_latent, parse_seeds, step_generator
from workbench.store.record import GenerationRequest, ImageRecord
from workbench.threads import cpu_threads, default_threads


@dataclass
class GeneratedImage:
    """One image and its record; `path` is set when it lives in a store, `cached` when it came from there."""

    record: ImageRecord
    image: object  # PIL.Image.Image
    path: Path | None = None
    cached: bool = False

    @property
    def request(self) -> GenerationRequest:
        return self.record.request

    def _repr_png_(self):
        from workbench.store.png import png_bytes

        return png_bytes(self.image)


def _whole(value, default):
    """A size as given (None: the default); numpy integers become ints, so records stay JSON."""
    if value is None:
        return default
    return int(value) if is_whole(value) else value


class OverflowedImageError(ValueError):
    """The model's output was not a number (NaN or infinite pixels) for some requests; every other
    image of the call is made and stored."""

    def __init__(self, requests: list[GenerationRequest], dtype: str):
        self.requests = requests
        seeds = ", ".join(str(r.seed) for r in requests)
        guidance = ", ".join(f"{g:g}" for g in dict.fromkeys(r.guidance for r in requests))
        fix = f"lower the guidance ({guidance} now; most models work from 1 to about 15)"
        if dtype != "float32":
            fix += ", or load the model in float32 (dtype='float32', --dtype float32)"
        super().__init__(f"the model's output for seed(s) {seeds} is not a number (NaN or infinite pixels), so "
                         f"nothing was stored for them: {fix}")


def finite_pictures(pipe, images) -> list:
    """The pipeline's `output_type="np"` images as diffusers' "pil" output makes them, or None for
    one whose pixels are not numbers: an overflow (a huge guidance, a float16 VAE) gives NaN,
    which would otherwise turn into a black picture that looks like a result."""
    import numpy as np

    to_pil = getattr(pipe, "image_processor", pipe).numpy_to_pil
    return [to_pil(image)[0] if np.isfinite(image).all() else None for image in images]


def check_request(req: GenerationRequest, vae_scale: int = 8) -> None:
    """Refuse requests the pipeline would fail on late or silently 'correct'."""
    check_seed(req.seed)
    if req.variation_seed is not None:
        check_seed(req.variation_seed, "variation seed")
    check_steps(req.steps)
    check_guidance(req.guidance)
    step = math.lcm(vae_scale, 8)  # the VAE's scale, and diffusers' Stable Diffusion pipelines want multiples of 8
    for side, value in (("width", req.width), ("height", req.height)):
        if isinstance(value, bool) or not isinstance(value, int) or value < step or value % step:
            near = max(step, round(value / step) * step) if isinstance(value, (int, float)) else 64
            raise ValueError(f"{side} {value!r} must be a positive multiple of {step} for this model (e.g. {near})")
    if not 0.0 <= req.variation_strength <= 1.0:
        raise ValueError(f"variation strength must be between 0 and 1, not {req.variation_strength}")
    if req.variation_strength and req.variation_seed is None:  # would change nothing, yet be recorded
        raise ValueError(f"variation strength {req.variation_strength} needs a variation seed to move towards; "
                         "pass variation_seed=N, or leave the strength at 0")


@contextmanager
def _quiet(logger: str):
    """Silence one library logger below ERROR for the block."""
    log = logging.getLogger(logger)
    before = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(before)


def _sampler_difference(req: GenerationRequest, sampler: tuple[str, str, str]) -> str:
    """What differs between the sampler a request names and the pipeline's, in words."""
    name, settings, step_noise = sampler
    if req.scheduler != name:
        return f"this request is for the sampler {req.scheduler or '(none named)'}, but the pipeline now runs {name}"
    if req.scheduler_settings != settings:
        return f"this request is for {name} set up as it was when the request was made, not as it is now"
    return (f"this request says {name} draws step noise {req.step_noise or 'not at all'!r}, but it now draws it "
            f"{step_noise or 'not at all'!r} (a request made by an earlier version)")


class ImageGenerator:
    """Seeded, batch-invariant, stored text-to-image generation over any diffusers pipeline."""

    def __init__(self, model: str | LoadedModel | None = None, *, store=None, device: str | None = None,
                 dtype: str | None = None, trust_pickle: bool = False, max_batch: int | None = None,
                 progress: bool = True, policy=None):
        """`policy` checks every plain-text prompt (a Composition was checked when it was composed);
        None: the shipped opt-out and blocklist, refusing."""
        from workbench.store.catalogue import RunStore

        if max_batch is not None and not is_whole(max_batch, 1):
            raise ValueError(f"max_batch is the most images per pipeline call, a whole number of 1 or more (or None "
                             f"for 9 on the CPU, 32 on a GPU); got {max_batch!r}")
        self.model = model if isinstance(model, LoadedModel) else load_model(
            model, device=device, dtype=dtype, trust_pickle=trust_pickle)
        self.store = RunStore.of(store)
        self.max_batch = int(max_batch) if max_batch else (9 if self.model.device == "cpu" else 32)
        self.progress = progress
        self.policy = policy
        self._versions = versions()
        self._step_noise: dict[str, str] = {}  # scheduler settings -> `step_noise`, probed once

    # --- building requests -------------------------------------------------------------------------
    @property
    def pipeline(self):
        return self.model.pipeline

    @property
    def native_size(self) -> int:
        unet = self.pipeline.unet
        return int(unet.config.sample_size) * self.vae_scale

    @property
    def vae_scale(self) -> int:
        return int(getattr(self.pipeline, "vae_scale_factor", 8))

    @property
    def defaults(self):
        """The steps and guidance the model is made for (see `defaults.py`); what `requests` uses unless told."""
        return self.model.defaults

    def requests(self, prompt, seeds="0-8", *, steps: int | None = None, guidance: float | None = None,
                 width: int | None = None, height: int | None = None, negative_prompt: str | None = None,
                 variation_seed: int | None = None, variation_strength: float = 0.0) -> list[GenerationRequest]:
        """Requests for one prompt (text or a Composition) over seeds (`"0-8"`, a list, or an int).

        Steps and guidance left as None are the model's defaults; the requests hold the values used.
        """
        modifiers: tuple = ()
        composed = hasattr(prompt, "modifiers")
        if composed:  # a Composition: keep what it applied
            modifiers = tuple((m.category, m.id) for m in prompt.modifiers)
            negative_prompt = prompt.negative_prompt if negative_prompt is None else negative_prompt
            prompt = prompt.prompt
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt is empty; describe the image, or compose one with workbench.prompts.compose")
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise TypeError(f"negative_prompt must be text (one for all the seeds), not "
                            f"{type(negative_prompt).__name__}; join several with ', '")
        if not composed:  # typed text, a search-and-replace row: the same policy as a composed prompt
            self.check_policy(prompt)
        self.check_length(prompt)
        size = self.native_size
        steps, guidance = self.defaults.resolve(steps, guidance)
        scheduler, settings, step_noise = self._sampler()
        adapters = adapters_hash(self.pipeline)
        return [GenerationRequest(model=self.model.name, prompt=prompt, negative_prompt=negative_prompt or "",
                                  seed=seed, steps=_whole(steps, None), guidance=guidance, width=_whole(width, size),
                                  height=_whole(height, size), scheduler=scheduler, scheduler_settings=settings,
                                  step_noise=step_noise, adapters=adapters,
                                  variation_seed=variation_seed, variation_strength=float(variation_strength),
                                  modifiers=modifiers)
                for seed in parse_seeds(seeds)]

    def _sampler(self) -> tuple[str, str, str]:
        """The pipeline's scheduler as requests name it: its class, its settings' hash ("" when as
        the model loaded it) and how it draws step noise ("" when it adds none)."""
        scheduler = self.pipeline.scheduler
        settings = scheduler_settings(scheduler)
        known = self._step_noise.get(settings)
        if known is None:
            known = self._step_noise[settings] = STEP_NOISE if draws_step_noise(scheduler) else ""
        return type(scheduler).__name__, "" if settings == self.model.scheduler_settings else settings, known

    def check_length(self, prompt: str) -> None:
        """Warn when the model's own tokenizer cuts `prompt` short, naming the words it loses (the
        composer's count cleans text as CLIP's original tokenizer did; this is what the model reads)."""
        import warnings

        tokenizer = getattr(self.pipeline, "tokenizer", None)
        limit = getattr(tokenizer, "model_max_length", None)
        if tokenizer is None or not isinstance(limit, int) or limit > 10_000:  # no fixed window to fall out of
            return
        with _quiet("transformers.tokenization_utils_base"):  # its "longer than the maximum" line: ours says more
            ids = tokenizer(prompt, truncation=False).input_ids
        if len(ids) > limit:
            lost = tokenizer.decode(ids[limit - 1:-1]).strip()
            lost = lost if len(lost) <= 120 else f"{lost[:70]} … {lost[-45:]}"
            warnings.warn(f"the prompt is {len(ids) - 2} tokens for this model's tokenizer, which reads {limit - 2}; "
                          f"the model never sees the end: {lost!r}. Shorten the prompt or move what matters "
                          "earlier", stacklevel=3)

    def check_policy(self, prompt: str) -> None:
        """Refuse `prompt` (PolicyRefusal) if the policy does, or warn of each finding if it only warns."""
        import warnings

        from workbench.prompts.compose import default_policy

        policy = self.policy if self.policy is not None else default_policy()
        for finding in policy.enforce(prompt):  # raises PolicyRefusal unless the policy only warns
            warnings.warn(finding.message, stacklevel=3)

    # --- generating ----------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest], *, run: int | None = None,
                 compositions: dict | None = None, callback_on_step_end=None, on_image=None) -> list[GeneratedImage]:
        """Make (or fetch) every request's image, in order. See the module docstring for the steps.

        `callback_on_step_end(pipe, step, timestep, kwargs)` goes to the pipeline, as in diffusers;
        `on_image(done, total)` is called as images are served or committed (for progress bars).
        """
        from tqdm.auto import tqdm

        # 1. Check inputs, and serve what the store already has
        sampler, adapters = self._sampler(), adapters_hash(self.pipeline)
        for req in requests:
            check_request(req, self.vae_scale)
            if (req.scheduler, req.scheduler_settings, req.step_noise) != sampler:  # else stored under another sampler
                raise ValueError(f"{_sampler_difference(req, sampler)}; build the requests again with "
                                 "gen.requests(...), which describe the pipeline's sampler as it is now")
            if req.adapters != adapters:  # else a LoRA's image is stored as the plain model's, or the other way
                raise ValueError("the LoRA adapters loaded or active changed since this request was made; build the "
                                 "requests again with gen.requests(...) after loading or setting adapters")
        threads = default_threads(self.model.device)  # see workbench/threads.py
        if self.model.batch_invariant:  # again: adapters loaded since (LoRA) bring plain layers
            from workbench.generation.batch_invariance import make_pipeline_batch_invariant

            make_pipeline_batch_invariant(self.pipeline)
        results: list[GeneratedImage | None] = [self._cached(req, run) for req in requests]
        todo = [i for i, r in enumerate(results) if r is None]

        # 2. Batches of requests that can share one pipeline call
        groups: dict[tuple, list[int]] = {}
        for i in todo:
            r = requests[i]
            # no negative prompt and an empty one differ on some pipelines (SDXL's zeroed negative)
            groups.setdefault((r.steps, r.guidance, r.width, r.height, r.scheduler, bool(r.negative_prompt)),
                              []).append(i)
        batches = [idx[k:k + self.max_batch] for idx in groups.values() for k in range(0, len(idx), self.max_batch)]

        bar = tqdm(total=len(requests), initial=len(requests) - len(todo), desc="images", unit="img",
                   disable=not self.progress)
        done = len(requests) - len(todo)
        if on_image:
            on_image(done, len(requests))
        broken: list[GenerationRequest] = []
        try:
            for batch in batches:
                made = self._run_batch([requests[i] for i in batch], callback_on_step_end, threads)
                for position, (i, (image, seconds, flagged)) in enumerate(zip(batch, made)):
                    if image is None:
                        broken.append(requests[i])
                        continue
                    # 5. Commit each image before the next batch
                    composition = (compositions or {}).get(requests[i].prompt)
                    results[i] = self._commit(requests[i], image, seconds, position, len(batch), composition, run,
                                              flagged)
                    bar.update(1)
                    done += 1
                    if on_image:
                        on_image(done, len(requests))
        finally:
            bar.close()
        if broken:  # after every batch: a float16 overflow may hit one seed and spare the next
            raise OverflowedImageError(broken, self.model.dtype)
        return results  # type: ignore[return-value]

    def _cached(self, req: GenerationRequest, run: int | None = None) -> GeneratedImage | None:
        """The stored image of `req` (listed in `run` too), or None to make it: also when its PNG is
        damaged, which the store then sets aside."""
        if self.store is None:
            return None
        stored = self.store.get(req.key(self.model.hash, self.model.dtype))
        if stored is None:
            return None
        try:
            image = stored.load_image()
        except OSError as error:  # truncated or overwritten: Pillow's errors are OSErrors
            self.store.set_aside(stored.key, f"unreadable: {error}")
            return None
        if run is not None:
            self.store.add_to_run(run, stored.key)
        return GeneratedImage(stored.record, image, stored.path, cached=True)

    def _run_batch(self, batch: list[GenerationRequest], callback_on_step_end=None,
                   threads: int | None = None) -> list[tuple[object, float, bool]]:
        import torch

        pipe, first = self.pipeline, batch[0]
        # 3. One CPU generator per image for its starting latent, then to the device
        shape = (pipe.unet.config.in_channels, first.height // self.vae_scale, first.width // self.vae_scale)
        latents = torch.stack([initial_latent(r.seed, shape, r.variation_seed, r.variation_strength) for r in batch])
        latents = latents.to(self.model.device, dtype=pipe.unet.dtype)
        # Samplers that add noise while stepping (ancestral) draw it per image too, after the starting noise
        generators = [step_generator(r.seed, shape) for r in batch]
        # 4. The pipeline call
        start = time.perf_counter()
        kwargs = {"callback_on_step_end": callback_on_step_end} if callback_on_step_end else {}
        with torch.inference_mode(), cpu_threads(threads):
            negative = [r.negative_prompt for r in batch] if first.negative_prompt else None  # as diffusers' default
            out = pipe(prompt=[r.prompt for r in batch], negative_prompt=negative,
                       num_inference_steps=first.steps, guidance_scale=first.guidance, width=first.width,
                       height=first.height, latents=latents, generator=generators, output_type="np", **kwargs)
        seconds = (time.perf_counter() - start) / len(batch)
        # The model's own safety checker (when it has one) has already blanked flagged images.
        flagged = getattr(out, "nsfw_content_detected", None) or [False] * len(batch)
        return [(img, seconds, bool(nsfw)) for img, nsfw in zip(finite_pictures(pipe, out.images), flagged)]

    def _commit(self, req, image, seconds, index, size, composition, run, flagged=False) -> GeneratedImage:
        record = ImageRecord(request=req, model_hash=self.model.hash, versions=self._versions,
                             device=self.model.device, dtype=self.model.dtype, duration_s=round(seconds, 4),
                             batch_index=index, batch_size=size,
                             composition=composition.to_dict() if hasattr(composition, "to_dict") else composition,
                             extra={"safety_checker_flagged": True} if flagged else {})
        if self.store is None:
            return GeneratedImage(record, image)
        stored = self.store.put(record, image, run=run)
        return GeneratedImage(stored.record, image, stored.path)


def generate_images(prompt, seeds="0-8", model=None, store=None, **kwargs) -> list[GeneratedImage]:
    """One-call convenience: `generate_images("a red circle", seeds="0-8")`."""
    gen = ImageGenerator(model, store=store)
    return gen.generate(gen.requests(prompt, seeds, **kwargs))

