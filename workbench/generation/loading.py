"""Load a text-to-image model: the embedded toy world, a hub id, a diffusers folder or one file.

    load_model()                                   # the embedded toy-world model (the default)
    load_model("stabilityai/sd-turbo")             # a hub id (from the local cache when offline)
    load_model("models/my-sd15/")                  # a diffusers folder (model_index.json)
    load_model("models/dreamshaper.safetensors")   # a single-file checkpoint

Device and dtype default to what the machine does well: CUDA with float16 (bfloat16 where
supported), Apple MPS with float16, else CPU with float32; both can be overridden.
Pickle checkpoints (.ckpt, .bin, .pt) can run code when loaded, so they are refused unless
the caller passes `trust_pickle=True`: a single file, and any part of a folder or a hub model
that has only pickle weights. A model's own safety checker is kept. On the CPU, a
few layer classes are swapped for ones whose sums do not depend on the batch, so that a seed
gives the same pixels alone or in a grid (`batch_invariance.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from workbench.generation.defaults import GenerationDefaults, defaults_for
from workbench.toyworld.paths import TOY_WORLD

PICKLE_SUFFIXES = {".ckpt", ".bin", ".pt", ".pth", ".pkl"}


class ModelNotFoundError(FileNotFoundError):
    """The model is neither a local path nor available from the hub or its cache."""


class UnsafeCheckpointError(ValueError):
    """A pickle checkpoint was given without `trust_pickle=True`."""


@dataclass
class LoadedModel:
    """A diffusers pipeline with what the records need to say about it."""

    pipeline: object
    name: str  # as the user named it ("toyworld", a hub id, a path)
    hash: str  # sha256 over the weight files (first 16 hex digits), "" when unknown
    device: str
    dtype: str
    defaults: GenerationDefaults = field(default_factory=GenerationDefaults)  # steps, guidance it is made for
    batch_invariant: bool = False  # its layers were swapped for batch-invariant ones (batch_invariance.py)
    scheduler_settings: str = ""  # `scheduler_settings(pipeline.scheduler)` as loaded


def scheduler_settings(scheduler) -> str:
    """A short hash of a scheduler's class and settings: the same class set up otherwise
    (solver order, timestep spacing, ...) gives another image, so the store must tell them apart."""
    text = json.dumps({"class": type(scheduler).__name__, **dict(scheduler.config)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def pick_device(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    """(device, dtype) to use: the caller's choice (device a name or a torch.device, dtype a name
    or a torch dtype), else the best the machine offers."""
    import torch

    device = None if device is None else str(device)  # "cpu" and torch.device("cpu") alike from here on
    if isinstance(dtype, torch.dtype):  # torch.float16 as diffusers users write it: "float16"
        dtype = str(dtype).removeprefix("torch.")
    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    kind = str(device).split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be cpu, cuda (or cuda:N) or mps, not {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but this machine has no usable CUDA GPU; "
                         "use --device cpu (or leave it out for the best available)")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for, but this machine has no Apple GPU; use --device cpu")
    if dtype is None:
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "float16" if device == "mps" else "float32"
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ValueError(f"dtype must be float32, float16 or bfloat16, not {dtype!r}")
    return device, dtype


def weights_hash(paths: list[Path]) -> str:
    """sha256 over the weight files' bytes, shortened to 16 hex digits (A1111 shows 10)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16] if paths else ""


def saved_variant(folder: Path | None) -> str | None:
    """"fp16" for a folder saved with `save_pretrained(variant="fp16")` alone (every weight file
    named *.fp16.safetensors), which diffusers loads only when told the variant; else None."""
    if folder is None:
        return None
    names = [p.name for p in weight_files(folder)]
    variants = {name.split(".")[-2] for name in names if name.count(".") == 2}
    return variants.pop() if names and len(variants) == 1 and all(n.count(".") == 2 for n in names) else None


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a diffusers folder (or a hub snapshot), for `weights_hash`."""
    return [p for p in Path(folder).rglob("*") if p.suffix in (".safetensors", ".bin")]


def _is_hub_id(name: str) -> bool:
    """'owner/name', and not a path: 'models/sd15.safetensors' that is not there is a mistyped file."""
    return (name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()
            and Path(name).suffix.lower() not in PICKLE_SUFFIXES | {".safetensors"})


def check_weights_file(path: Path, trust_pickle: bool) -> None:
    """Refuse a weights file that would be unpickled, unless trusted. diffusers and open_clip read
    a file as safetensors by its exact, lower-case suffix alone; anything else goes to torch.load."""
    path = Path(path)
    if path.name.endswith(".safetensors"):
        return
    if path.suffix.lower() == ".safetensors":
        raise UnsafeCheckpointError(f"{path.name}: rename it to end in '.safetensors' (lower case); diffusers and "
                                    "open_clip read only that suffix as safetensors and unpickle anything else")
    if not trust_pickle:
        raise UnsafeCheckpointError(
            f"{path.name} is not a .safetensors file, so it would be loaded with pickle, which can run arbitrary "
            "code; convert it to .safetensors, or pass trust_pickle=True (CLI: --trust-pickle) if you trust its "
            "source")


def _refuse_pickled_parts(folder: Path, err: Exception) -> None:
    """After a safetensors-only load failed: if the folder holds pickle weights, say that, not
    'incomplete'."""
    pickled = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES
                     and not any(p.parent.glob("*.safetensors")))  # a part with safetensors beside is fine
    if pickled:
        raise UnsafeCheckpointError(
            f"{folder} has parts with pickle weights only ({', '.join(pickled[:3])}), which can run arbitrary code "
            "when loaded; save the pipeline again with save_pretrained (safetensors), or pass trust_pickle=True "
            f"(CLI: --trust-pickle) if you trust its source ({type(err).__name__}: {err})") from None


def _from_folder(folder: Path, torch_dtype, trust_pickle: bool = False):
    from diffusers import DiffusionPipeline

    if not (folder / "model_index.json").is_file():
        raise ModelNotFoundError(f"{folder} is a folder but not a diffusers model (no model_index.json); "
                                 "save one with pipeline.save_pretrained(folder) or pass a .safetensors file")
    mismatch = scheduler_mismatch(folder)
    if mismatch:
        warnings.warn(mismatch, UserWarning, stacklevel=3)
    try:
        return DiffusionPipeline.from_pretrained(str(folder), dtype=torch_dtype, local_files_only=True,
                                                 use_safetensors=None if trust_pickle else True,
                                                 variant=saved_variant(folder))
    except (OSError, KeyError, ValueError) as err:  # a part missing, a broken model_index.json
        if not trust_pickle:
            _refuse_pickled_parts(folder, err)
        raise ModelNotFoundError(f"{folder} is not a complete diffusers model ({type(err).__name__}: {err}); "
                                 "check that each part model_index.json names (unet, vae, text_encoder, ...) "
                                 "is a subfolder with its config and weights, or save it again with "
                                 "pipeline.save_pretrained") from None


def scheduler_mismatch(folder: Path) -> str | None:
    """Why the folder's sampler is not the one its scheduler config was saved by, or None.

    `from_pretrained` builds the class that `model_index.json` names and gives it the settings
    in `scheduler/scheduler_config.json`, whichever class saved them. Swapping a sampler by
    editing only the config therefore changes nothing, silently.
    """
    try:
        named = json.loads((folder / "model_index.json").read_text())["scheduler"][1]
        saved = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())["_class_name"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None  # no scheduler, or a layout diffusers reports on itself
    if named is None or named == saved:
        return None
    return (f"{folder}: model_index.json names the scheduler {named}, but scheduler/scheduler_config.json was "
            f"saved by {saved}; diffusers builds {named} with {saved}'s settings. Put the class you mean in "
            "both files (pipeline.scheduler = Cls.from_config(pipeline.scheduler.config) and save_pretrained "
            "writes both)")


def _from_single_file(path: Path, torch_dtype, config: str | None, trust_pickle: bool):
    from diffusers import StableDiffusionPipeline

    if path.suffix.lower() in PICKLE_SUFFIXES | {".safetensors"}:
        check_weights_file(path, trust_pickle)
    else:
        raise ValueError(f"{path.name}: unknown checkpoint type; expected .safetensors (or a trusted .ckpt)")
    kwargs = {"torch_dtype": torch_dtype, "local_files_only": True}
    if config:
        kwargs["config"] = config
    try:
        return StableDiffusionPipeline.from_single_file(str(path), **kwargs)
    except (OSError, ValueError) as err:
        if trust_pickle and path.suffix.lower() in PICKLE_SUFFIXES:  # training state beside the weights
            import tempfile

            from workbench.generation.single_file import trusted_pickle_to_safetensors

            with tempfile.TemporaryDirectory() as tmp:
                try:
                    return StableDiffusionPipeline.from_single_file(
                        str(trusted_pickle_to_safetensors(path, tmp)), **kwargs)
                except (OSError, ValueError):
                    pass  # the weights themselves do not load: say so below
        advice = ("check that config= names a diffusers folder of the same architecture" if config else
                  "offline, diffusers needs the matching model configuration: pass config=<a diffusers folder of "
                  "the same architecture>")
        raise ModelNotFoundError(
            f"could not load {path.name} as a single-file Stable Diffusion checkpoint ({err}); {advice}") from None


def _from_hub(model_id: str, torch_dtype, trust_pickle: bool = False):
    """The pipeline, and the snapshot folder it was loaded from (its weights are hashed like a
    local folder's, so an updated model is not served the old one's images)."""
    from diffusers import DiffusionPipeline

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
    try:
        pipeline = DiffusionPipeline.from_pretrained(
            model_id, dtype=torch_dtype, local_files_only=offline, use_safetensors=None if trust_pickle else True,
            variant=saved_variant(_cached_snapshot(model_id)))
    except Exception as err:  # the hub client raises many types (OSError, HTTP errors, LocalEntryNotFound)
        snapshot = _cached_snapshot(model_id)  # looked up again: a failed download may have left part of it
        if snapshot is None:  # not cached at all
            raise ModelNotFoundError(
                f"model {model_id!r} is not in the local cache and the hub could not be reached "
                f"({type(err).__name__}). On a connected machine run `hf download {model_id}` and copy the cache "
                "folder (~/.cache/huggingface) here, or save the model with save_pretrained and pass that folder"
            ) from None
        if not trust_pickle:
            _refuse_pickled_parts(snapshot, err)
        raise ModelNotFoundError(f"model {model_id!r} is in the local cache ({snapshot}) but did not load "
                                 f"({type(err).__name__}: {err})") from None
    return pipeline, _cached_snapshot(model_id)  # after loading: a download has just filled it


def _cached_snapshot(model_id: str) -> Path | None:
    """The folder of the hub model's snapshot in the local cache, or None when it is not cached."""
    from huggingface_hub import try_to_load_from_cache

    index = try_to_load_from_cache(model_id, "model_index.json")
    return Path(index).parent if isinstance(index, str) else None


def load_model(model: str | os.PathLike | None = None, *, device: str | None = None, dtype: str | None = None,
               trust_pickle: bool = False, config: str | None = None,
               batch_invariant: bool | None = None) -> LoadedModel:
    """Load any diffusers text-to-image model; `None` or "toyworld" is the embedded toy-world model.

    `batch_invariant` (default: on the CPU) swaps in layers whose arithmetic does not depend on
    the batch (`batch_invariance.py`), so an image is bit for bit the same alone or in a grid.
    """
    import torch

    device, dtype = pick_device(device, dtype)
    torch_dtype = getattr(torch, dtype)
    name = TOY_WORLD if model in (None, TOY_WORLD) else str(model)
    if name == TOY_WORLD:
        from workbench.toyworld.paths import PIPELINE_DIR, is_trained

        if not is_trained():
            raise ModelNotFoundError(f"the embedded toy-world model is missing from {PIPELINE_DIR}; "
                                     "reinstall prompt-workbench or run `workbench toyworld train --out DIR`")
        path = PIPELINE_DIR
    else:
        path = Path(name).expanduser()
    defaults = defaults_for(path, config)  # read first: a bad file stops us before the slow part
    if path.is_dir():
        pipeline = _from_folder(path, torch_dtype, trust_pickle)
        weights = weight_files(path)
    elif path.is_file():
        pipeline = _from_single_file(path, torch_dtype, config, trust_pickle)
        weights = [path]
    elif _is_hub_id(name):
        pipeline, snapshot = _from_hub(name, torch_dtype, trust_pickle)
        weights = weight_files(snapshot) if snapshot is not None else []
    else:
        raise ModelNotFoundError(f"no model at {name!r}: not a file, not a folder and not a hub id like 'org/name'")
    pipeline = pipeline.to(device)
    batch_invariant = device == "cpu" if batch_invariant is None else bool(batch_invariant)
    if batch_invariant:
        from workbench.generation.batch_invariance import make_pipeline_batch_invariant

        make_pipeline_batch_invariant(pipeline)
    pipeline.set_progress_bar_config(disable=True)  # we show our own progress over whole runs
    return LoadedModel(pipeline, name, weights_hash(weights), device, dtype, defaults, batch_invariant,
                       scheduler_settings(pipeline.scheduler))


def versions() -> dict:
    """Library versions that decide pixels, for every record."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("prompt-workbench", "torch", "diffusers", "transformers", "open_clip_torch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    return out


__all__ = ["load_model", "LoadedModel", "ModelNotFoundError", "UnsafeCheckpointError", "pick_device"]
