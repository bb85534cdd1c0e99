"""Train the toy-world models from a seed: CLIP, then VAE, then UNet; write the model folder.

    train(out_dir, seed=0)   # reproducible weights; 56 min on 2 idle cores of run 14's machine,
                             # about 66 on the run-4 one, 2 h on slower ones (budget 60):
                             # `train --estimate` says

1. A dataset of captioned world images is drawn once (`ToyWorld().batch`, items depend only
   on (seed, index)) and shared by every stage.
2. CLIP: open_clip `toy-world-clip` (a convolutional image tower), symmetric InfoNCE with a
   learnable temperature, and one-shape images also against the shape prompts ("a circle",
   ...); then 2b, batches that hold shape-variant groups, so that shape must be read; then 2c,
   the image tower alone on modifier-variant groups, so that a plain image is not called styled.
3. VAE: diffusers `AutoencoderKL` 64x64x3 <-> 16x16x4, L1 + MSE reconstruction and a tiny KL
   (`vae_loss`).
4. UNet: `UNet2DConditionModel` on the VAE latents, cross-attending to the frozen CLIP text
   tower (converted to a transformers `CLIPTextModel`, exactly as the pipeline will run it);
   v-prediction on a cosine schedule, timesteps drawn logit-normal (mostly mid-schedule), loss
   weights capped on nearly clean steps, 10 % empty captions for classifier-free guidance, EMA
   weights shipped.
4b. The saved UNet trained on for a second cosine cycle with a fresh optimiser and EMA
   (`unet_second_cycle`); `--first-cycle DIR` resumes here from a model trained up to stage 4.
4c. The saved VAE's decoder trained on with the encoder frozen (`train_decoder`), so the
   UNet's latents stay valid. `--second-cycle DIR` resumes here from a model trained up to 4b.
5. The saved CLIP's image tower trained on world images and their round trips through the
   saved VAE (`train_clip_on_round_trips`), so that it reads generated images; the text tower,
   and so the UNet, is untouched.
`models.save_clip` and `models.save_pipeline` write `clip/` and `pipeline/`, and
`training.json` records the recipe and the measured time of each stage.

Everything is seeded; on one machine and torch build the same seed gives the same weights.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from workbench.generation.loading import versions
from workbench.threads import available_cores, measured_on, processor
from workbench.toyworld import models, paths
from workbench.toyworld.clip_stages import (
    clip_tokens,
    refine_clip,
    train_clip,
    train_clip_on_modifiers,
    train_clip_on_round_trips,
)
from workbench.toyworld.diffusion_stages import (
    caption_states,
    encode_latents,
    train_decoder,
    train_unet,
    train_vae,
    unet_second_cycle,
)
from workbench.toyworld.recipe import DATA_SEED_OFFSET, RECIPE_THREADS, TrainConfig, draw_dataset


def training_device(device=None) -> torch.device:
    """The device to train on (default: CUDA when there is one)."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@measured_on(RECIPE_THREADS)
def train(out_dir, seed: int = 0, quick: bool = False, progress: bool = True, device=None,
          config: TrainConfig | None = None,
          diffusion_config: models.DiffusionConfig | None = None,
          clip_checkpoint: Path | str | None = None, first_cycle: Path | str | None = None,
          second_cycle: Path | str | None = None) -> dict:
    """Train CLIP, VAE and UNet from `seed` and write `out_dir/clip` and `out_dir/pipeline`.

    `quick=True` runs a few steps of every stage (for tests). Three ways to resume, each taking
    the earlier stages' times from the earlier run's `training.json`:
    - `clip_checkpoint`: after the CLIP stages (2-2c), with the CLIP an earlier run of the same
      seed and config saved; the result equals a full run's only if that CLIP was saved in
      float32 (`models.save_clip(clip, dir, fp16=False)`), since the model folder's is float16,
      and only if it is the CLIP after stage 2c (a finished run's `clip/` has been through 5);
    - `first_cycle`: at stage 4b, from the model folder of a run of the same seed and config up
      to stage 4 (such as the run-4 model); the result equals a full run's;
    - `second_cycle`: at stage 4c, likewise from a run up to stage 4b (such as the run-5 model).
    Returns the training record that is also written to `out_dir/training.json`.
    """
    out = Path(out_dir)
    if first_cycle is not None and second_cycle is not None:
        raise ValueError("pass first_cycle (resume at stage 4b) or second_cycle (resume at stage 4c), not both")
    resume, last_done = (first_cycle, "unet") if second_cycle is None else (second_cycle, "unet_second_cycle")
    if resume is not None and not paths.is_trained(resume):  # before minutes of drawing data
        raise FileNotFoundError(f"no trained model in {resume} to resume from (it needs clip/ and pipeline/); "
                                f"pass the folder of a run trained up to stage {_STAGE_NUMBERS[last_done]}")
    device = training_device(device)
    cfg = config or (TrainConfig.quick() if quick else TrainConfig())
    dcfg = diffusion_config or models.DiffusionConfig()
    times = {}

    # 1. Data
    t0 = time.time()
    images, captions, shapes = draw_dataset(seed + DATA_SEED_OFFSET, cfg.dataset_size,
                                            workers=1 if quick else 2, progress=progress)
    times["data"] = time.time() - t0

    # 2-4. CLIP, VAE, UNet's first cycle, saved as a model folder
    if resume is None:
        times.update(_first_cycle(out, images, captions, shapes, cfg, dcfg, seed, device, progress,
                                  checkpoints=not quick, clip_checkpoint=clip_checkpoint))
    else:  # the stages up to `last_done`, as the earlier run recorded them
        _copy_model(Path(resume), out)
        times.update(_earlier_times(Path(resume), lambda stage: stage in _stages_through(last_done)))

    # 4b. UNet, second cycle, from the saved folder
    if cfg.unet_second_steps and second_cycle is None:
        t0 = time.time()
        unet = unet_second_cycle(out, images, captions, cfg, dcfg, seed + cfg.unet_second_seed_offset, device,
                                 progress)
        models.replace_unet(out / "pipeline", unet, dcfg)
        times["unet_second_cycle"] = time.time() - t0

    # 4c. The VAE's decoder, from the saved folder
    if cfg.decoder_steps:
        t0 = time.time()
        vae = train_decoder(models.load_pipeline(out / "pipeline").vae, images, cfg, seed + 7, device, progress)
        models.replace_vae(out / "pipeline", vae, dcfg)
        times["vae_decoder"] = time.time() - t0

    # 5. CLIP image tower on the VAE's round trips, from the saved folder
    if cfg.round_trip_steps:
        t0 = time.time()
        clip, _ = models.load_clip(out / "clip" / "open_clip_model.safetensors")
        vae = models.load_pipeline(out / "pipeline").vae
        clip = train_clip_on_round_trips(clip, vae, images, clip_tokens(captions), shapes, cfg, seed + 6, device,
                                         progress)
        models.save_clip(clip, out / "clip")
        times["clip_round_trips"] = time.time() - t0

    pipe = models.load_pipeline(out / "pipeline")
    clip, _ = models.load_clip(out / "clip" / "open_clip_model.safetensors")
    record = {
        "seed": seed,
        "quick": quick,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        # weights are the same from one seed only on one kind of CPU and one torch build
        "machine": {"processor": processor(), "cores": available_cores(), "versions": versions()},
        "seconds": {k: round(v, 1) for k, v in times.items()},
        "total_seconds": round(sum(times.values()), 1),
        "train_config": asdict(cfg),
        "diffusion_config": dcfg.to_dict(),
        "latent_scaling_factor": pipe.vae.config.scaling_factor,
        "parameters": {
            "clip": models.parameter_count(clip),
            "text_encoder": models.parameter_count(pipe.text_encoder),
            "vae": models.parameter_count(pipe.vae),
            "unet": models.parameter_count(pipe.unet),
        },
        "weights_mb": round(models.weights_size_mb(out), 2),
    }
    (out / "training.json").write_text(json.dumps(record, indent=2))
    return record


def _first_cycle(out: Path, images, captions, shapes, cfg: TrainConfig, dcfg: models.DiffusionConfig, seed: int,
                 device, progress: bool, checkpoints: bool, clip_checkpoint=None) -> dict[str, float]:
    """Stages 2-4, written to `out` (clip/ and pipeline/, float16 on disk); their seconds."""
    times = {}
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
        times.update(_earlier_times(Path(clip_checkpoint).parents[1],
                                    lambda stage: stage in _stages_through("clip_modifier_groups")))
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
    cond_states, uncond_state = caption_states(text_encoder, tokenizer, captions, device, progress)
    models.save_clip(clip, out / "clip")

    def save(unet, step=None):  # the pipeline folder; also a checkpoint while the UNet trains
        pipe = models.assemble_pipeline(vae, copy.deepcopy(unet).cpu(), text_encoder, tokenizer,
                                        models.build_inference_scheduler(dcfg))
        models.save_pipeline(pipe, out / "pipeline")
        if step is not None:
            (out / "pipeline" / "CHECKPOINT").write_text(f"UNet EMA after {step} of {cfg.unet_steps} steps\n")

    unet = train_unet(latents, cond_states, uncond_state, cfg, dcfg, seed + 3, device, progress,
                      on_checkpoint=save if checkpoints else None)
    times["unet"] = time.time() - t0
    save(unet)
    (out / "pipeline" / "CHECKPOINT").unlink(missing_ok=True)
    return times


# every stage `train` times, in order, with its number in the recipe
_STAGE_NUMBERS = {"data": "1", "clip": "2", "clip_shape_groups": "2b", "clip_modifier_groups": "2c", "vae": "3",
                  "unet": "4", "unet_second_cycle": "4b", "vae_decoder": "4c", "clip_round_trips": "5"}


def _stages_through(last: str) -> list[str]:
    """The stages after drawing the data, up to and including `last`: what a resumed run takes as done."""
    order = list(_STAGE_NUMBERS)
    return order[1 : order.index(last) + 1]


def _copy_model(source: Path, out: Path) -> None:
    if source.resolve() != out.resolve():
        for part in ("clip", "pipeline"):
            shutil.copytree(source / part, out / part, dirs_exist_ok=True)


def _earlier_times(model_dir: Path, keep) -> dict[str, float]:
    """The stage seconds of an earlier run's `training.json` that `keep(stage)` accepts, if it has one."""
    previous = model_dir / "training.json"
    if not previous.is_file():
        return {}
    return {k: v for k, v in json.loads(previous.read_text())["seconds"].items() if keep(k)}


def main(argv=None) -> int:  # python -m workbench.toyworld.train ARGS = workbench toyworld train ARGS
    import sys

    from workbench.cli import main as cli

    return cli(["toyworld", "train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
