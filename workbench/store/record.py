"""What an image is made from, and what made it: `GenerationRequest` and `ImageRecord`.

A `GenerationRequest` holds everything that decides the pixels (model, prompt, seed, ...) plus
the modifiers the composer applied. Its `key(model_hash)` is the content address of the image
in the run store: two requests with the same key give the same image, so the second one is
served from the store.

An `ImageRecord` is the request plus provenance: which model file (its hash), which software
and library versions, which device and dtype, when and how long, where in its batch, the full
composition, and which tool made the image (`source`), for images imported from peers.

Both round-trip through plain JSON (`to_dict` / `from_dict`); that JSON travels inside every
PNG the workbench writes (see `png.py`) and in the catalogue (see `catalogue.py`).

    >>> req = GenerationRequest(model="toyworld", prompt="a red ball", seed=1, steps=20,
    ...                         guidance=7.0, width=64, height=64)
    >>> len(req.key("ab12"))
    64
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timezone

from workbench import __version__

SOFTWARE = f"Prompt Workbench {__version__}"
SOURCES = ("workbench", "a1111", "comfyui", "invokeai", "fooocus", "unknown")
KEY_VERSION = 1  # bump when the meaning of the key changes; old keys then simply miss
RECORD_SCHEMA = 1  # version of the JSON written by ImageRecord.to_dict


def utc_now() -> str:
    """The current time as ISO-8601 UTC, e.g. '2024-05-01T12:00:00.123+00:00'."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """One image to make: what decides its pixels, and which modifiers built its prompt."""

    model: str  # model id or path, as the user named it
    prompt: str
    negative_prompt: str = ""
    seed: int
    steps: int
    guidance: float  # classifier-free guidance scale (A1111 "CFG scale")
    width: int
    height: int
    scheduler: str = ""  # diffusers scheduler class name (`ImageGenerator.requests` fills it); "" = not recorded
    scheduler_settings: str = ""  # hash of the scheduler's settings when changed after loading; "" = as loaded
    step_noise: str = ""  # how a sampler that adds noise while stepping draws it (seeds.STEP_NOISE); "" = it adds none
    adapters: str = ""  # hash of the LoRA adapters active when the request was made (adapters.py); "" = none
    variation_seed: int | None = None
    variation_strength: float = 0.0  # 0 = the seed's noise, 1 = the variation seed's noise
    modifiers: tuple[tuple[str, str], ...] = ()  # (category, id) in the order applied

    def __post_init__(self):
        # Accept lists (as JSON gives them) and keep the frozen value hashable.
        try:
            mods = tuple((str(c), str(i)) for c, i in self.modifiers)
        except (TypeError, ValueError):
            raise ValueError(
                f"modifiers must be (category, id) pairs, got {self.modifiers!r}; "
                "pass e.g. (('decades', '1960s'),) or the Composition's modifiers"
            ) from None
        object.__setattr__(self, "modifiers", mods)

    def key(self, model_hash: str = "", dtype: str = "") -> str:
        """The content address: sha256 hex of a canonical JSON of what decides the pixels.

        `model_hash` identifies the weights; without one the model's name stands in for it.
        `dtype` is the precision they ran in: float16 gives another image than float32, so a
        float16 run must not be served a float32 image. float32 (or "", unknown) is left out,
        which keeps the keys of stores made before the precision was part of the key; those
        ran in float32 on the CPU. The device is not part of the key: the same request made
        on another device is served from the store, and its record says where it was made.
        A variation seed at strength 0 does not change the noise, so it does not change the key.
        A scheduler set up otherwise than the model loaded it adds its `scheduler_settings`, and one
        that adds noise while stepping its `step_noise` (how that noise is drawn).
        Modifiers are not part of the key: they already shaped the prompt. Active LoRA adapters
        add their hash (`adapters`), so an image made with a LoRA is never served without it.
        """
        varies = self.variation_seed is not None and float(self.variation_strength) != 0.0
        canonical = {
            "v": KEY_VERSION,
            "model": model_hash if model_hash else f"name:{self.model}",
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": int(self.seed),
            "steps": int(self.steps),
            "guidance": float(self.guidance),
            "width": int(self.width),
            "height": int(self.height),
            "scheduler": self.scheduler,
            "variation_seed": int(self.variation_seed) if varies else None,
            "variation_strength": float(self.variation_strength) if varies else 0.0,
        }
        if dtype not in ("", "float32"):
            canonical["dtype"] = dtype
        if self.scheduler_settings:  # left out when as loaded, which keeps the keys of earlier stores
            canonical["scheduler_settings"] = self.scheduler_settings
        if self.step_noise:  # left out for samplers that add no noise, whose images did not change
            canonical["step_noise"] = self.step_noise
        if self.adapters:
            canonical["adapters"] = self.adapters
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict:
        data = asdict(self)
        data["modifiers"] = [list(m) for m in self.modifiers]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GenerationRequest:
        """Build from `to_dict` output. Unknown keys (from newer versions) are ignored."""
        if not isinstance(data, dict):
            raise ValueError(f"a generation request must be a JSON object, got {type(data).__name__}")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"generation request is missing {', '.join(missing)}; got keys {sorted(data)}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(kw_only=True)
class ImageRecord:
    """A request plus the provenance of the image made from it."""

    request: GenerationRequest
    model_hash: str = ""  # sha256 of the weights (or what the source tool recorded)
    software: str = SOFTWARE
    versions: dict = field(default_factory=dict)  # library -> version, e.g. {"torch": "2.4.0"}
    device: str = ""  # e.g. "cpu", "cuda:0 (NVIDIA H100)"
    dtype: str = ""  # e.g. "float32"
    created: str = field(default_factory=utc_now)  # ISO-8601 UTC
    duration_s: float = 0.0  # seconds spent making this image (its share of the batch)
    batch_index: int = 0
    batch_size: int = 1
    composition: dict | None = None  # the Composition's to_dict(), when the prompt was composed
    source: str = "workbench"  # one of SOURCES: which tool made the image
    extra: dict = field(default_factory=dict)  # anything else worth keeping (peer fields, ...)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")

    @property
    def key(self) -> str:
        """The request's content address under this record's model hash and precision."""
        return self.request.key(self.model_hash, self.dtype)

    def to_dict(self) -> dict:
        data = {"schema": RECORD_SCHEMA, "request": self.request.to_dict()}
        for f in fields(self):
            if f.name != "request":
                data[f.name] = getattr(self, f.name)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ImageRecord:
        """Build from `to_dict` output. Unknown keys (from newer versions) are ignored."""
        if not isinstance(data, dict) or "request" not in data:
            raise ValueError("an image record must be a JSON object with a 'request' entry")
        schema = data.get("schema", RECORD_SCHEMA)
        if isinstance(schema, int) and schema > RECORD_SCHEMA:
            raise ValueError(
                f"this image record has schema {schema}, newer than this Prompt Workbench "
                f"({__version__}) understands ({RECORD_SCHEMA}); upgrade prompt-workbench to read it"
            )
        known = {f.name for f in fields(cls)} - {"request"}
        kwargs = {k: v for k, v in data.items() if k in known}
        return cls(request=GenerationRequest.from_dict(data["request"]), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> ImageRecord:
        return cls.from_dict(json.loads(text))
