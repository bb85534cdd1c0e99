"""Save a Stable Diffusion 1.x/2.x pipeline as one `.safetensors` file in the original (LDM) layout.

This is the layout A1111, ComfyUI and `StableDiffusionPipeline.from_single_file` read: the UNet
under `model.diffusion_model.`, the VAE under `first_stage_model.`, the text encoder under
`cond_stage_model.transformer.`. It lets people take a model they trained or merged here to
other tools, and it is how our tests build a single-file checkpoint with random weights
offline. The names follow the original `ldm` code; shapes only differ for the VAE's attention
projections, which the original stores as 1x1 convolutions.
"""

from __future__ import annotations

from pathlib import Path

RESNET = [("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("emb_layers.1", "time_emb_proj"),
          ("out_layers.0", "norm2"), ("out_layers.3", "conv2"), ("skip_connection", "conv_shortcut")]
VAE_ATTENTION = [("norm", "group_norm"), ("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")]


def _rename(state: dict, prefix_from: str, prefix_to: str, inner=()) -> dict:
    """Move every key under `prefix_from` to `prefix_to`, renaming inner parts (diffusers -> ldm)."""
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix_from + "."):
            continue
        rest = key[len(prefix_from) + 1:]
        for ldm, diffusers in inner:
            if rest.startswith(diffusers + "."):
                rest = ldm + rest[len(diffusers):]
                break
        out[f"{prefix_to}.{rest}"] = value
    return out


def unet_to_ldm(unet) -> dict:
    state, cfg = unet.state_dict(), unet.config
    per = cfg.layers_per_block + 1  # input blocks per level: resnets plus the downsampler
    out = {}
    for ldm, diffusers in [("time_embed.0", "time_embedding.linear_1"), ("time_embed.2", "time_embedding.linear_2"),
                           ("input_blocks.0.0", "conv_in"), ("out.0", "conv_norm_out"), ("out.2", "conv_out")]:
        out.update(_rename(state, diffusers, ldm))
    for i in range(len(cfg.block_out_channels)):
        for j in range(cfg.layers_per_block):
            out.update(_rename(state, f"down_blocks.{i}.resnets.{j}", f"input_blocks.{per * i + j + 1}.0", RESNET))
            out.update(_rename(state, f"down_blocks.{i}.attentions.{j}", f"input_blocks.{per * i + j + 1}.1"))
        out.update(_rename(state, f"down_blocks.{i}.downsamplers.0.conv", f"input_blocks.{per * (i + 1)}.0.op"))
        for j in range(cfg.layers_per_block + 1):
            out.update(_rename(state, f"up_blocks.{i}.resnets.{j}", f"output_blocks.{per * i + j}.0", RESNET))
            out.update(_rename(state, f"up_blocks.{i}.attentions.{j}", f"output_blocks.{per * i + j}.1"))
        has_attention = any(k.startswith(f"up_blocks.{i}.attentions.") for k in state)
        out.update(_rename(state, f"up_blocks.{i}.upsamplers.0.conv",
                           f"output_blocks.{per * i + cfg.layers_per_block}.{2 if has_attention else 1}.conv"))
    out.update(_rename(state, "mid_block.resnets.0", "middle_block.0", RESNET))
    out.update(_rename(state, "mid_block.attentions.0", "middle_block.1"))
    out.update(_rename(state, "mid_block.resnets.1", "middle_block.2", RESNET))
    return {f"model.diffusion_model.{k}": v for k, v in out.items()}


def vae_to_ldm(vae) -> dict:
    state = vae.state_dict()
    levels = len(vae.config.block_out_channels)
    resnet = [("nin_shortcut", "conv_shortcut")]
    out = {}
    for part in ("encoder", "decoder"):
        for ldm, diffusers in [("conv_in", "conv_in"), ("conv_out", "conv_out"), ("norm_out", "conv_norm_out"),
                               ("mid.block_1", "mid_block.resnets.0"), ("mid.block_2", "mid_block.resnets.1")]:
            out.update(_rename(state, f"{part}.{diffusers}", f"{part}.{ldm}", resnet))
        out.update(_rename(state, f"{part}.mid_block.attentions.0", f"{part}.mid.attn_1", VAE_ATTENTION))
    for i in range(levels):
        for j in range(vae.config.layers_per_block):
            out.update(_rename(state, f"encoder.down_blocks.{i}.resnets.{j}", f"encoder.down.{i}.block.{j}", resnet))
        out.update(_rename(state, f"encoder.down_blocks.{i}.downsamplers.0.conv", f"encoder.down.{i}.downsample.conv"))
        for j in range(vae.config.layers_per_block + 1):  # the decoder's levels run the other way
            out.update(_rename(state, f"decoder.up_blocks.{i}.resnets.{j}", f"decoder.up.{levels - 1 - i}.block.{j}",
                               resnet))
        out.update(_rename(state, f"decoder.up_blocks.{i}.upsamplers.0.conv", f"decoder.up.{levels - 1 - i}.upsample.conv"))
    for name in ("quant_conv", "post_quant_conv"):
        out.update(_rename(state, name, name))
    for key, value in out.items():  # attention projections are 1x1 convolutions in the original
        if ".attn_1." in key and key.endswith(".weight") and value.ndim == 2:
            out[key] = value[:, :, None, None]
    return {f"first_stage_model.{k}": v for k, v in out.items()}


def save_single_file(pipeline, path: str | Path, half: bool = False) -> Path:
    """Write the pipeline's UNet, VAE and text encoder as one LDM-layout `.safetensors` file."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path.name}: a single-file checkpoint is written as .safetensors")
    state = {**unet_to_ldm(pipeline.unet), **vae_to_ldm(pipeline.vae)}
    # The original layout nests the text model as `text_model.` (transformers >= 5.6 no longer does).
    for key, value in pipeline.text_encoder.state_dict().items():
        key = key if key.startswith("text_model.") else f"text_model.{key}"
        state[f"cond_stage_model.transformer.{key}"] = value
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt", "software": "Prompt Workbench"})
    return path


def trusted_pickle_to_safetensors(path: str | Path, out_dir: str | Path) -> Path:
    """The weights of a pickle checkpoint the user trusts, written as `.safetensors` in `out_dir`.

    diffusers unpickles `.ckpt` files with `weights_only=True`, which refuses the training state
    many of them carry beside the weights (a Lightning `callbacks` entry, an argparse
    namespace); the user's `trust_pickle=True` is what allows a full unpickling here.
    """
    import torch
    from safetensors.torch import save_file

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # trusted by the caller
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{Path(path).name} holds no state dict of weights (got {type(checkpoint).__name__})")
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items() if isinstance(v, torch.Tensor)}
    out = Path(out_dir) / (Path(path).stem + ".safetensors")
    save_file(tensors, str(out))
    return out
