"""Where the shipped toy-world model lives inside the package, and how to register it.

The model folder is data found with `importlib.resources`:

    model/
      README.md                         the model card (TRAINING_LOG.md beside it: the runs behind it)
      clip/open_clip_model.safetensors  the toy CLIP (open_clip config `toy-world-clip`)
      pipeline/                         a diffusers StableDiffusionPipeline folder

No torch import here: `import workbench.toyworld.paths` stays fast.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

TOY_WORLD = "toyworld"  # the name the embedded model goes by: in records, `model=`, `--model`
CLIP_MODEL_NAME = "toy-world-clip"  # the name open_clip knows the toy CLIP by
CLIP_CONFIG_FILE = Path(str(resources.files("workbench.toyworld") / f"{CLIP_MODEL_NAME}.json"))
MODEL_DIR = Path(str(resources.files("workbench.toyworld") / "model"))
PIPELINE_DIR = MODEL_DIR / "pipeline"
CLIP_CHECKPOINT = MODEL_DIR / "clip" / "open_clip_model.safetensors"

_registered = False


def register_clip_config() -> str:
    """Register the toy CLIP architecture with open_clip (idempotent); returns its name.

    After this, `open_clip.create_model_and_transforms(CLIP_MODEL_NAME, pretrained=CLIP_CHECKPOINT)`
    loads the shipped toy CLIP like any other open_clip model.
    """
    global _registered
    import open_clip  # imported here: open_clip pulls in torch

    if not _registered or CLIP_MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(CLIP_CONFIG_FILE)
        _registered = True
    return CLIP_MODEL_NAME


def is_trained(model_dir: Path | str | None = None) -> bool:
    """True when the model folder holds trained weights (CLIP checkpoint and pipeline)."""
    root = Path(model_dir) if model_dir is not None else MODEL_DIR
    needed = [
        root / "clip" / "open_clip_model.safetensors",
        root / "pipeline" / "model_index.json",
        root / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors",
        root / "pipeline" / "vae" / "diffusion_pytorch_model.safetensors",
        root / "pipeline" / "text_encoder" / "model.safetensors",
        root / "pipeline" / "tokenizer" / "tokenizer_config.json",
    ]
    return all(p.is_file() for p in needed)


def check_trained(model_dir: Path | str | None = None) -> Path:
    """The model folder, once it holds a trained model; else an error that says how to make one."""
    root = Path(model_dir) if model_dir is not None else MODEL_DIR
    if not is_trained(root):
        other = " (or leave the model folder out for the shipped one)" if model_dir is not None else ""
        raise FileNotFoundError(f"no trained toy-world model in {root}; run `workbench toyworld train --out DIR` "
                                f"first{other}")
    return root
