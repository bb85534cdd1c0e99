"""The toy-world model architectures, and how they are saved so that ordinary loaders read them.

Two models share one text tower:

- a toy CLIP, an open_clip `CLIP` whose architecture is the data file `toy-world-clip.json`
  (open_clip's standard 49408-token BPE vocabulary and 77-token context, so open_clip's
  standard tokenizer works);
- a latent-diffusion model with Stable Diffusion's structure: a diffusers `AutoencoderKL`
  (64x64x3 <-> 16x16x4), a `UNet2DConditionModel` cross-attending to the toy CLIP's text
  hidden states, and a scheduler, assembled as a `StableDiffusionPipeline` folder.

The diffusion text encoder is the CLIP text tower converted to a transformers `CLIPTextModel`
(`convert_text_tower`), and its tokenizer is a transformers `CLIPTokenizer` built offline from
the BPE file that open_clip ships (`build_tokenizer`). `save_clip` and `save_pipeline` write the
two folders with safetensors weights (float16 on disk to fit the size budget; the loaders give
float32 models); `DiffusionPipeline.from_pretrained(dir / "pipeline")` and
`open_clip.create_model_and_transforms(name, pretrained=dir / "clip" / ...)` read them back.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from workbench.toyworld.paths import (
    CLIP_CONFIG_FILE,
    CLIP_MODEL_NAME,
    register_clip_config,
)

# ---------------------------------------------------------------------------------------------
# 1. The toy CLIP (open_clip)
# ---------------------------------------------------------------------------------------------

# open_clip normalises images with the OpenAI CLIP statistics unless a config says otherwise.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def register_clip_config_file(path: Path | str) -> str:
    """Register another open_clip config file (e.g. a tiny test config); returns its name."""
    import open_clip

    open_clip.add_model_config(Path(path))
    return Path(path).stem


class _RandomInitNotice(logging.Filter):
    """Drops open_clip's "No pretrained weights loaded ... initialized randomly" warning, which
    `build_clip` asks for on purpose; in `train` it read like a failed load, once per stage."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


def build_clip(name: str = CLIP_MODEL_NAME, seed: int | None = None):
    """A randomly initialised open_clip model of a registered architecture (float32, CPU)."""
    import open_clip

    if name == CLIP_MODEL_NAME:
        register_clip_config()
    if seed is not None:
        torch.manual_seed(seed)
    notice = _RandomInitNotice()
    root = logging.getLogger()  # open_clip logs through the root logger
    root.addFilter(notice)
    try:
        return open_clip.create_model(name, pretrained=None)
    finally:
        root.removeFilter(notice)


def load_clip(checkpoint: Path | str, name: str = CLIP_MODEL_NAME):
    """The trained toy CLIP and its eval preprocessing, read through open_clip's own loader
    (from a .safetensors file only: the recipe writes no other kind)."""
    import open_clip

    from workbench.generation.loading import check_weights_file

    check_weights_file(Path(checkpoint), trust_pickle=False)
    if name == CLIP_MODEL_NAME:
        register_clip_config()
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(checkpoint))
    return model.eval(), preprocess


def clip_text_hidden_states(clip_model, token_ids: torch.Tensor) -> torch.Tensor:
    """The text tower's per-token hidden states after the final layer norm: (B, 77, width).

    This is what Stable Diffusion conditions on (`CLIPTextModel(...).last_hidden_state`).
    """
    x = clip_model.token_embedding(token_ids)  # (B, T, W)
    x = x + clip_model.positional_embedding
    x = clip_model.transformer(x, attn_mask=clip_model.attn_mask)
    return clip_model.ln_final(x)


# ---------------------------------------------------------------------------------------------
# 2. Tokenizer and text encoder for diffusers (transformers CLIPTokenizer / CLIPTextModel)
# ---------------------------------------------------------------------------------------------


def write_tokenizer_files(out_dir: Path | str) -> tuple[Path, Path]:
    """Write `vocab.json` and `merges.txt` built from open_clip's shipped BPE vocabulary.

    The ids follow open_clip's `SimpleTokenizer` exactly: 256 byte tokens, the same 256 with
    `</w>`, the 48894 merges, then `<|startoftext|>` (49406) and `<|endoftext|>` (49407).
    """
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(default_bpe()) as fh:
        lines = fh.read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    byte_tokens = list(bytes_to_unicode().values())
    tokens = byte_tokens + [t + "</w>" for t in byte_tokens] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab_file, merges_file = out / "vocab.json", out / "merges.txt"
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    merges_file.write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return vocab_file, merges_file


def build_tokenizer(context_length: int = 77, work_dir: Path | str | None = None):
    """A transformers `CLIPTokenizer` giving open_clip's token ids, built with no network.

    The ids equal `open_clip.tokenize(...)` apart from padding: open_clip pads with 0 while this
    tokenizer pads with `<|endoftext|>` (49407), as Stable Diffusion 1.x does. (Padding with "!",
    id 0, would make "!" a special token and split "!!" in prompts.) The text tower is causal,
    so hidden states before the padding are the same either way.
    """
    import tempfile

    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(work_dir or tmp)
        write_tokenizer_files(folder)
        return CLIPTokenizer.from_pretrained(
            str(folder), model_max_length=context_length, local_files_only=True
        )


def text_encoder_config(clip_model):
    """The transformers `CLIPTextConfig` that matches an open_clip text tower."""
    from transformers import CLIPTextConfig

    width = clip_model.token_embedding.weight.shape[1]
    block = clip_model.transformer.resblocks[0]
    act = "quick_gelu" if type(block.mlp.gelu).__name__ == "QuickGELU" else "gelu"
    return CLIPTextConfig(
        vocab_size=clip_model.token_embedding.weight.shape[0],
        hidden_size=width,
        intermediate_size=block.mlp.c_fc.weight.shape[0],
        num_hidden_layers=len(clip_model.transformer.resblocks),
        num_attention_heads=block.attn.num_heads,
        max_position_embeddings=clip_model.positional_embedding.shape[0],
        projection_dim=clip_model.text_projection.shape[1],
        hidden_act=act,
        layer_norm_eps=clip_model.ln_final.eps,
        pad_token_id=0,
        bos_token_id=49406,
        eos_token_id=49407,
    )


def convert_text_tower(clip_model):
    """Copy an open_clip text tower into a transformers `CLIPTextModel` (float32, eval mode).

    `CLIPTextModel(ids).last_hidden_state` equals `clip_text_hidden_states(clip_model, ids)`.
    """
    from transformers import CLIPTextModel

    config = text_encoder_config(clip_model)
    src = {k: v.detach().float() for k, v in clip_model.state_dict().items()}
    w = config.hidden_size
    dst = {
        "text_model.embeddings.token_embedding.weight": src["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": src["positional_embedding"],
        "text_model.final_layer_norm.weight": src["ln_final.weight"],
        "text_model.final_layer_norm.bias": src["ln_final.bias"],
    }
    for i in range(config.num_hidden_layers):
        s, d = f"transformer.resblocks.{i}.", f"text_model.encoder.layers.{i}."
        qkv_w, qkv_b = src[s + "attn.in_proj_weight"], src[s + "attn.in_proj_bias"]
        for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
            dst[d + f"self_attn.{name}.weight"] = qkv_w[j * w : (j + 1) * w]
            dst[d + f"self_attn.{name}.bias"] = qkv_b[j * w : (j + 1) * w]
        pairs = {
            "self_attn.out_proj": "attn.out_proj",
            "layer_norm1": "ln_1",
            "layer_norm2": "ln_2",
            "mlp.fc1": "mlp.c_fc",
            "mlp.fc2": "mlp.c_proj",
        }
        for hf, oc in pairs.items():
            dst[d + hf + ".weight"] = src[s + oc + ".weight"]
            dst[d + hf + ".bias"] = src[s + oc + ".bias"]
    model = CLIPTextModel(config)
    if not any(k.startswith("text_model.") for k in model.state_dict()):
        dst = {k.removeprefix("text_model."): v for k, v in dst.items()}  # newer transformers
    missing, unexpected = model.load_state_dict(dst, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"text tower conversion left missing={missing} unexpected={unexpected}")
    return model.float().eval()


# ---------------------------------------------------------------------------------------------
# 3. The latent-diffusion parts (diffusers)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffusionConfig:
    """Sizes of the VAE and UNet. The defaults are the shipped model."""

    image_size: int = 64  # pixels per side
    vae_channels: tuple[int, ...] = (16, 32, 64)  # one entry per level; len-1 = downsamplings
    vae_layers: int = 1  # resnet blocks per VAE level
    vae_groups: int = 1  # GroupNorm groups. One group per channel (16 at the first level) made
    #                      the norms wash out flat colours: the oracle read 66 % of colours right
    #                      in reconstructions; with one group, 88 % after the same training
    latent_channels: int = 4  # 64x64x3 -> 16x16x4
    unet_channels: tuple[int, ...] = (32, 64, 128)  # UNet levels at 16x16, 8x8, 4x4
    unet_attention: tuple[bool, ...] = (False, True, True)  # cross-attention per level
    unet_layers: int = 1  # resnet blocks per UNet level (down path)
    unet_heads: int = 4  # attention heads (diffusers calls this attention_head_dim)
    unet_groups: int = 8  # GroupNorm groups in the UNet: several channels per group, as in the VAE
    prediction_type: str = "v_prediction"
    beta_schedule: str = "squaredcos_cap_v2"  # cosine: enough noise at the top for small latents
    train_timesteps: int = 1000

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.vae_channels) - 1)

    def to_dict(self) -> dict:
        return asdict(self)


def build_vae(cfg: DiffusionConfig):
    from diffusers import AutoencoderKL

    n = len(cfg.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg.vae_channels),
        layers_per_block=cfg.vae_layers,
        latent_channels=cfg.latent_channels,
        norm_num_groups=cfg.vae_groups,
        sample_size=cfg.image_size,
    )


def build_unet(cfg: DiffusionConfig, cross_attention_dim: int):
    from diffusers import UNet2DConditionModel

    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.unet_attention)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.unet_attention))
    return UNet2DConditionModel(
        sample_size=cfg.latent_size,
        in_channels=cfg.latent_channels,
        out_channels=cfg.latent_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=tuple(cfg.unet_channels),
        layers_per_block=cfg.unet_layers,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=cfg.unet_heads,
        norm_num_groups=cfg.unet_groups,
    )


def build_train_scheduler(cfg: DiffusionConfig):
    """The DDPM noise schedule used for training."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=cfg.train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        clip_sample=False,
    )


# The model's own defaults, written beside its weights (`generation_defaults.json`, see
# workbench/generation/defaults.py) and used by `toyworld evaluate`: guidance 5 drew colour and
# shape best on run 3 (the model card has the sweep); Stable Diffusion's 7.5 over-saturates it.
INFERENCE_STEPS = 25
INFERENCE_GUIDANCE = 5.0


def build_inference_scheduler(cfg: DiffusionConfig):
    """The scheduler shipped in the pipeline: DPM-Solver++ (2nd order), good in 20-25 steps."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        num_train_timesteps=cfg.train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        algorithm_type="dpmsolver++",
        solver_order=2,
        timestep_spacing="trailing",
        steps_offset=1,
    )


# ---------------------------------------------------------------------------------------------
# 4. Assembling and saving the model folder
# ---------------------------------------------------------------------------------------------


def assemble_pipeline(vae, unet, text_encoder, tokenizer, scheduler):
    """A diffusers `StableDiffusionPipeline` of the given parts, with no safety checker."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _halve_safetensors(folder: Path) -> None:
    """Rewrite every float32 tensor of every .safetensors file under `folder` as float16."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    for f in sorted(folder.rglob("*.safetensors")):
        with safe_open(str(f), framework="pt") as fh:
            meta = fh.metadata()
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
        tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
        save_file(tensors, str(f), metadata=meta)


def replace_unet(pipeline_dir: Path | str, unet, cfg: DiffusionConfig, fp16: bool = True) -> Path:
    """Write `unet`'s weights as a saved pipeline's UNet and leave its other parts as they are."""
    return _replace_part(pipeline_dir, "unet", build_unet(cfg, cross_attention_dim=unet.config.cross_attention_dim),
                         unet, fp16)


def replace_vae(pipeline_dir: Path | str, vae, cfg: DiffusionConfig, fp16: bool = True) -> Path:
    """Write `vae`'s weights and latent scale as a saved pipeline's VAE, the rest as it is."""
    fresh = build_vae(cfg)
    fresh.register_to_config(scaling_factor=vae.config.scaling_factor)
    return _replace_part(pipeline_dir, "vae", fresh, vae, fp16)


def _replace_part(pipeline_dir, name: str, fresh, trained, fp16: bool) -> Path:
    """Save `trained`'s weights through `fresh`, a model built from the recipe's config, so the
    folder `trained` was loaded from does not leak into the saved config as `_name_or_path`."""
    fresh.load_state_dict(trained.state_dict())
    folder = Path(pipeline_dir) / name
    fresh.save_pretrained(str(folder), safe_serialization=True)
    if fp16:
        _halve_safetensors(folder)
    return folder


def save_clip(clip_model, out_dir: Path | str, config_file: Path | str = CLIP_CONFIG_FILE,
              fp16: bool = True) -> Path:
    """Write `open_clip_model.safetensors` (and a copy of its config JSON) into `out_dir`."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if fp16 else torch.float32
    # floats only: integer buffers (BatchNorm counters of a convolutional tower) stay exact
    state = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous()
             for k, v in clip_model.state_dict().items()}
    path = out / "open_clip_model.safetensors"
    save_file(state, str(path), metadata={"format": "pt", "open_clip_model": Path(config_file).stem})
    shutil.copyfile(config_file, out / "open_clip_config.json")
    return path


def save_pipeline(pipeline, out_dir: Path | str, fp16: bool = True) -> Path:
    """`save_pretrained` with safetensors and the model's defaults, then float16 on disk (loaders upcast)."""
    from workbench.generation.defaults import write_defaults

    out = Path(out_dir)
    pipeline.save_pretrained(str(out), safe_serialization=True)
    write_defaults(out, INFERENCE_STEPS, INFERENCE_GUIDANCE)
    if fp16:
        _halve_safetensors(out)
    return out


def load_pipeline(folder: Path | str, device: str | torch.device = "cpu"):
    """Load a saved pipeline folder the ordinary way, offline, in float32."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(  # safetensors only: --model-dir may name any folder
        str(folder), dtype=torch.float32, local_files_only=True, use_safetensors=True
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def weights_size_mb(model_dir: Path | str) -> float:
    """Total size of all .safetensors files under a model folder, in MB (10^6 bytes)."""
    return sum(f.stat().st_size for f in Path(model_dir).rglob("*.safetensors")) / 1e6


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())
