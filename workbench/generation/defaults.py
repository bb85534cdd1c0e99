"""A model's own generation defaults: the steps and guidance it is made for.

Models differ here. Stable Diffusion 1.5 is made for guidance 7.5, SD-Turbo for guidance 0 and
one step, the toy world for guidance 5. diffusers keeps no such setting beside the weights, so a
model folder may carry a `generation_defaults.json` with diffusers' argument names:

    {"num_inference_steps": 25, "guidance_scale": 5.0}

Every key is optional. Without the file the defaults are the workbench's: 25 steps at guidance
7.5. A single-file checkpoint takes them from its `--model-config` folder; a hub id gets the
workbench's (diffusers downloads only the files it knows). Whatever the caller passes wins, and
the request records the value used, so a store key never depends on which default was in force.

No torch import here: widgets read the defaults before any model is loaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from workbench.datafile import DataFileError, read_text

FILE = "generation_defaults.json"
MAX_STEPS = 1000  # the most steps a request may ask for (engine.check_request) or a model name as its default
KEYS = ("num_inference_steps", "guidance_scale")


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
    base = GenerationDefaults()
    steps = values.get("num_inference_steps", base.steps)
    guidance = values.get("guidance_scale", base.guidance)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise DataFileError(path, line_of("num_inference_steps"),
                            f"num_inference_steps must be a whole number from 1 to {MAX_STEPS}, not {steps!r}")
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not guidance >= 0 \
            or math.isinf(guidance):
        raise DataFileError(path, line_of("guidance_scale"),
                            f"guidance_scale must be a number of 0 or more (1 turns guidance off), not {guidance!r}")
    return GenerationDefaults(int(steps), float(guidance), str(path))


def write_defaults(folder, steps: int, guidance: float) -> Path:
    """Write `generation_defaults.json` into a model folder (what `read_defaults` reads back)."""
    path = Path(folder) / FILE
    text = json.dumps({"num_inference_steps": int(steps), "guidance_scale": float(guidance)}, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def defaults_for(model=None, config=None) -> GenerationDefaults:
    """The defaults of a model named as `load_model` takes it, without loading it.

    `None` or "toyworld" is the embedded model; a folder is read; a single file is read from its
    `config` folder when it has one; anything else (a hub id) gets the workbench's defaults.
    """
    if hasattr(model, "defaults"):  # a LoadedModel
        return model.defaults
    if model is None or model == "toyworld":
        from workbench.toyworld.paths import PIPELINE_DIR

        return read_defaults(PIPELINE_DIR)
    path = Path(str(model)).expanduser()
    if path.is_dir():
        return read_defaults(path)
    if path.is_file() and config and Path(config).is_dir():
        return read_defaults(config)
    return GenerationDefaults()
