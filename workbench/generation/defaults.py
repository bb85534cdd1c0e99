"""A model's own generation defaults: the steps and guidance it is made for.

Models differ here. Stable Diffusion 1.5 is made for guidance 7.5, SD-Turbo for guidance 0 and
one step, the toy world for guidance 5. diffusers keeps no such setting beside the weights, so a
model folder may carry a `generation_defaults.json` with diffusers' argument names:

    {"num_inference_steps": 25, "guidance_scale": 5.0}

Every key is optional. Without the file the defaults are the workbench's: 25 steps at guidance
7.5. A single-file checkpoint takes them from its `--model-config` folder. diffusers downloads only
the files it knows, so a hub id (or its folder in the hub cache) takes them from
`known_models.yaml`, a list of hub models whose cards ask for other settings. Whatever the caller
passes wins, and the request records the value used, so a store key never depends on which
default was in force.

No torch import here: widgets read the defaults before any model is loaded.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

from workbench.checks import is_whole
from workbench.datafile import DataFileError, entry_list, load_yaml, read_text
from workbench.toyworld.paths import TOY_WORLD

FILE = "generation_defaults.json"
MAX_STEPS = 1000  # the most steps a request may ask for (engine.check_request) or a model name as its default
KEYS = ("num_inference_steps", "guidance_scale")
KNOWN_MODELS = Path(__file__).with_name("known_models.yaml")


@dataclass(frozen=True)
class GenerationDefaults:
    """Steps and guidance a model is made for, and the file they came from ("" for the workbench's own)."""

    steps: int = 25
    guidance: float = 7.5
    source: str = ""

    def resolve(self, steps=None, guidance=None) -> tuple[int, float]:
        """The caller's values where given, else these defaults."""
        return (self.steps if steps is None else steps), float(self.guidance if guidance is None else guidance)


def read_defaults(folder) -> GenerationDefaults:
    """The defaults in `folder/generation_defaults.json`, or the workbench's when the file is absent.

    A malformed file is an error that names the file and line, not something to skip quietly:
    a model silently run at the wrong guidance is worse than one that stops.
    """
    path = Path(folder) / FILE
    if not path.is_file():
        return GenerationDefaults()
    text = read_text(path)
    lines = text.splitlines()

    def line_of(key: str) -> int | None:
        return next((i for i, line in enumerate(lines, 1) if f'"{key}"' in line), None)

    def refuse_duplicates(pairs):
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise DataFileError(path, line_of(key), f"{key!r} is given twice; keep one")
        return dict(pairs)

    try:
        values = json.loads(text, object_pairs_hook=refuse_duplicates)
    except json.JSONDecodeError as err:
        raise DataFileError(path, err.lineno, f"not valid JSON: {err.msg}") from None
    if not isinstance(values, dict):
        raise DataFileError(path, 1, 'must be a JSON object, e.g. {"guidance_scale": 5.0}')
    for key in values:
        if key not in KEYS:
            raise DataFileError(path, line_of(key), f"unknown key {key!r}; the keys are {', '.join(KEYS)}")

    def fail(key, message):
        raise DataFileError(path, line_of(key), message)

    return GenerationDefaults(*_checked(values, fail), str(path))


def check_steps(steps, name: str = "steps") -> None:
    """Refuse a step count the pipeline would fail on or silently round (ValueError naming `name`)."""
    if not is_whole(steps, 1, MAX_STEPS):
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_STEPS}, not {steps!r}")


def check_guidance(guidance, name: str = "guidance") -> None:
    """Refuse a guidance scale that is not a finite number of 0 or more (NaN and text included)."""
    if isinstance(guidance, bool) or not isinstance(guidance, numbers.Real) or not 0 <= guidance < math.inf:
        raise ValueError(f"{name} must be a number, 0 or more (1 turns classifier-free guidance off), "
                         f"not {guidance!r}")


def _checked(values: dict, fail) -> tuple[int, float]:
    """Steps and guidance from diffusers' argument names, checked; `fail(key, message)` raises."""
    base = GenerationDefaults()
    values = {"num_inference_steps": base.steps, "guidance_scale": base.guidance, **values}
    for key, check in (("num_inference_steps", check_steps), ("guidance_scale", check_guidance)):
        try:
            check(values[key], key)
        except ValueError as error:
            fail(key, str(error))
    return int(values["num_inference_steps"]), float(values["guidance_scale"])


def write_defaults(folder, steps: int, guidance: float) -> Path:
    """Write `generation_defaults.json` into a model folder (what `read_defaults` reads back)."""
    path = Path(folder) / FILE
    text = json.dumps({"num_inference_steps": int(steps), "guidance_scale": float(guidance)}, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def defaults_for(model=None, config=None) -> GenerationDefaults:
    """The defaults of a model named as `load_model` takes it, without loading it.

    `None` or "toyworld" is the embedded model; a folder is read; a single file is read from its
    `config` folder when it has one; a hub id, or a hub-cache folder without the file, is looked up
    in `known_models.yaml`; anything else gets the workbench's defaults.
    """
    if hasattr(model, "defaults"):  # a LoadedModel
        return model.defaults
    if model in (None, TOY_WORLD):
        from workbench.toyworld.paths import PIPELINE_DIR

        return read_defaults(PIPELINE_DIR)
    path = Path(str(model)).expanduser()
    if path.is_dir():
        own = read_defaults(path)
        cached = next((p[len("models--"):].replace("--", "/", 1) for p in path.parts if p.startswith("models--")), None)
        return own if own.source or cached is None else known_defaults(cached)
    if path.is_file():
        return read_defaults(config) if config and Path(config).is_dir() else GenerationDefaults()
    return known_defaults(str(model))


def known_defaults(hub_id: str, registry=KNOWN_MODELS) -> GenerationDefaults:
    """The defaults `registry` (`known_models.yaml`) lists for a hub id (any case), else the workbench's.

    Read on every call, so an edit to the file takes effect in a running kernel.
    """
    top, loader = load_yaml(registry)
    top.check_keys({"models"}, {"models"}, "the list of known models")
    found: dict[str, GenerationDefaults] = {}
    for entry in entry_list(top, "models", loader):
        entry.check_keys({"hub_id", "card", *KEYS}, {"hub_id"}, "a known model")
        name = entry.text("hub_id").strip()
        if name.count("/") != 1 or " " in name:
            raise entry.error(f"hub_id must be a hub id like 'org/name', not {name!r}", "hub_id")
        if name.lower() in found:
            raise entry.error(f"{name!r} is listed twice (first at {found[name.lower()].source}); keep one", "hub_id")
        if not any(key in entry.values for key in KEYS):
            raise entry.error(f"{name!r} sets neither {' nor '.join(KEYS)}; add what its model card asks for")

        def fail(key, message, entry=entry):
            raise entry.error(message, key)

        found[name.lower()] = GenerationDefaults(*_checked(entry.values, fail), f"{entry.path}:{entry.line}")
    return found.get(hub_id.lower(), GenerationDefaults())
