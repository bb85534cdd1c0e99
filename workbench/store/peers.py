"""Reading other tools' PNG metadata into an `ImageRecord`, so their images can join the store.

Each reader takes the decoded text chunk(s) a peer writes and returns a record whose `source`
names the peer. What a peer did not record falls back to a stated default: the PNG's own size
for width/height, -1 for an unknown seed (A1111's "random"), 0 for unknown steps or guidance.
Fields we have no column for are kept under `record.extra[<peer>]`.

- AUTOMATIC1111: `parameters` (infotext, see `infotext.py`).
- ComfyUI: `prompt`, the API graph: {node_id: {"class_type", "inputs"}}; an input wired to
  another node is a link [node_id, output_index]. We find the sampler node (KSampler-like),
  then follow its links upstream: positive/negative to the text encoders, latent_image to the
  empty latent's size, model to the checkpoint loader.
- InvokeAI: `invokeai_metadata` (JSON, 3.x and later); 2.x wrote `sd-metadata`.
- Fooocus: `parameters` plus `fooocus_scheme`: "fooocus" means `parameters` holds JSON,
  "a1111" means it holds infotext.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque

from workbench.store.errors import MetadataError
from workbench.store.infotext import DIFFUSERS_SCHEDULERS, NEGATIVE, PROMPT, parse_infotext, parse_size
from workbench.store.record import GenerationRequest, ImageRecord

UNKNOWN_SEED = -1


def _int(value, default: int = 0) -> int:
    """A whole number from a peer's field: "7141387612" exactly (through float, seeds past 2**53
    would change), "20.0" as 20, anything unreadable ("inf", None) as `default`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        pass
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default


def _float(value, default: float = 0.0) -> float:
    """A number from a peer's field; unreadable or not finite ("nan", which JSON cannot carry
    to other tools) as `default`."""
    if isinstance(value, (list, tuple)) and value:  # some tools store a per-step schedule
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past 1e308
        return default
    return number if math.isfinite(number) else default


def _record(source: str, software: str, created: str, model_hash: str = "", extra=None, **request) -> ImageRecord:
    return ImageRecord(
        request=GenerationRequest(**request), model_hash=model_hash or "", software=software,
        created=created, source=source, extra=extra or {},
    )


# --- AUTOMATIC1111 -------------------------------------------------------------------------


def from_a1111(text: str, size: tuple[int, int], created: str, source: str = "a1111") -> ImageRecord:
    """A record from A1111 infotext (also used for Fooocus's "a1111" scheme)."""
    fields = parse_infotext(text)
    width, height = parse_size(fields.get("Size")) or size
    sampler = fields.get("Sampler", "")
    version = fields.get("Version", "")
    software = f"AUTOMATIC1111 {version}" if version[:1] in tuple("v0123456789") and version else version
    variation_seed = fields.get("Variation seed")
    params = {k: v for k, v in fields.items() if k not in (PROMPT, NEGATIVE)}
    return _record(
        source, software or "AUTOMATIC1111", created,
        model_hash=fields.get("Model hash", ""),
        extra={source: params},
        model=fields.get("Model", ""),
        prompt=fields[PROMPT],
        negative_prompt=fields[NEGATIVE],
        seed=_int(fields.get("Seed"), UNKNOWN_SEED),
        steps=_int(fields.get("Steps")),
        guidance=_float(fields.get("CFG scale")),
        width=width,
        height=height,
        scheduler=DIFFUSERS_SCHEDULERS.get(sampler, sampler),
        variation_seed=_int(variation_seed) if variation_seed not in (None, "") else None,
        variation_strength=_float(fields.get("Variation seed strength")),
    )


# --- ComfyUI -------------------------------------------------------------------------------

TEXT_INPUTS = ("text", "text_g", "prompt", "string", "value", "Text")
MAX_HOPS = 64  # nodes visited per search; graphs are small, loops are not allowed


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))


def _node(graph: dict, link) -> dict | None:
    node = graph.get(str(link[0])) if _is_link(link) else None
    return node if isinstance(node, dict) else None


def _literal(graph: dict, value, names=("seed", "noise_seed", "value", "int", "float", "number")):
    """A plain value, or the first plain value among `names` on the node a link points to."""
    for _ in range(8):
        if not _is_link(value):
            return value
        node = _node(graph, value) or {}
        inputs = node.get("inputs", {})
        value = next((inputs[n] for n in names if n in inputs), None)
    return None


def _upstream(graph: dict, link, found, follow=lambda name: True):
    """Breadth-first search up from `link`: the first `found(node)` that is not None."""
    queue, seen = deque([link]), set()
    while queue and len(seen) < MAX_HOPS:
        current = queue.popleft()
        node = _node(graph, current)
        if node is None or str(current[0]) in seen:
            continue
        seen.add(str(current[0]))
        result = found(node)
        if result is not None:
            return result
        queue.extend(v for k, v in node.get("inputs", {}).items() if _is_link(v) and follow(k))
    return None


def _text_of(graph: dict, node: dict):
    inputs = node.get("inputs", {})
    for name in TEXT_INPUTS:
        if name in inputs:
            text = _literal(graph, inputs[name], TEXT_INPUTS)
            if isinstance(text, str):
                return text
    return None


def _prompt_text(graph: dict, link, role: str) -> str:
    """The prompt text behind a conditioning link, following only `role` and conditioning links."""

    def follow(name: str) -> bool:
        return name == role or name.startswith("conditioning") or name == "guider"

    text = _upstream(graph, link, lambda node: _text_of(graph, node), follow)
    return text or ""


def _size_of(graph: dict, node: dict):
    inputs = node.get("inputs", {})
    names = ("width", "height", "value", "int")
    w, h = _literal(graph, inputs.get("width"), names), _literal(graph, inputs.get("height"), names)
    if isinstance(w, (int, float)) and isinstance(h, (int, float)):
        return int(w), int(h), _int(_literal(graph, inputs.get("batch_size")), 1)
    return None


def _is_sampler(node: dict) -> bool:
    inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
    has_seed = any(k in inputs for k in ("seed", "noise_seed", "noise"))
    has_cond = any(k in inputs for k in ("positive", "guider"))
    return has_seed and has_cond


def from_comfyui(graph: dict, size: tuple[int, int], created: str) -> ImageRecord:
    """A record from ComfyUI's API graph (the `prompt` chunk)."""
    # 1. The sampler: a full-denoise pass first (a hires-fix second pass has denoise < 1).
    samplers = [(nid, n) for nid, n in graph.items() if _is_sampler(n)]
    if not samplers:
        raise MetadataError("the ComfyUI graph has no sampler node (KSampler, KSamplerAdvanced, SamplerCustom)")

    def full_denoise_first(item):
        node_id, node = item
        return -_float(_literal(graph, node["inputs"].get("denoise", 1.0)), 1.0), _int(node_id, 1 << 62)

    sampler_id, sampler = sorted(samplers, key=full_denoise_first)[0]
    inputs = sampler["inputs"]
    guider = _node(graph, inputs.get("guider")) or {}
    guider_inputs = guider.get("inputs", {})

    # 2. Seed, steps, cfg, sampler name: on the node itself, or one link away.
    seed = _literal(graph, inputs.get("seed", inputs.get("noise_seed")))
    if seed is None and "noise" in inputs:
        seed = _upstream(graph, inputs["noise"], lambda n: n.get("inputs", {}).get("noise_seed"))
    steps = _literal(graph, inputs.get("steps"), ("steps", "value", "int"))
    if steps is None and "sigmas" in inputs:
        steps = _upstream(graph, inputs["sigmas"], lambda n: n.get("inputs", {}).get("steps"))
    cfg = _literal(graph, inputs.get("cfg", guider_inputs.get("cfg")), ("cfg", "value", "float"))
    sampler_name = _literal(graph, inputs.get("sampler_name"), ("sampler_name", "value", "string"))
    if sampler_name is None and "sampler" in inputs:
        sampler_name = _upstream(graph, inputs["sampler"], lambda n: n.get("inputs", {}).get("sampler_name"))
    schedule = _literal(graph, inputs.get("scheduler"), ("scheduler", "value", "string"))

    # 3. Follow the wires: prompts, latent size, checkpoint.
    positive = inputs.get("positive", guider_inputs.get("positive", guider_inputs.get("conditioning")))
    negative = inputs.get("negative", guider_inputs.get("negative"))
    width, height, batch = _upstream(graph, inputs.get("latent_image"), lambda n: _size_of(graph, n)) or (*size, 1)

    def model_name(node):
        return node.get("inputs", {}).get("ckpt_name") or node.get("inputs", {}).get("unet_name")

    model = _upstream(graph, inputs.get("model", guider_inputs.get("model")), model_name)
    if model is None:
        model = next((model_name(n) for n in graph.values() if isinstance(n, dict) and model_name(n)), "")

    scheduler = str(sampler_name or "")
    if schedule and schedule != "normal":
        scheduler = f"{scheduler} {schedule}".strip()
    return _record(
        "comfyui", "ComfyUI", created,
        extra={"comfyui": {"sampler_node": sampler_id, "class_type": sampler.get("class_type"),
                           "sampler_name": sampler_name, "scheduler": schedule, "batch_size": batch}},
        model=str(model), prompt=_prompt_text(graph, positive, "positive") if positive else "",
        negative_prompt=_prompt_text(graph, negative, "negative") if negative else "",
        seed=_int(seed, UNKNOWN_SEED), steps=_int(steps), guidance=_float(cfg),
        width=int(width), height=int(height), scheduler=scheduler,
    )


def is_comfyui_graph(data) -> bool:
    return isinstance(data, dict) and bool(data) and all(
        isinstance(n, dict) and "class_type" in n for n in data.values()
    )


# --- InvokeAI ------------------------------------------------------------------------------


def from_invokeai(meta: dict, size: tuple[int, int], created: str) -> ImageRecord:
    """A record from InvokeAI's `invokeai_metadata` JSON (3.x and later)."""
    model = meta.get("model") or {}
    if isinstance(model, dict):
        name = model.get("name") or model.get("model_name") or ""
        model_hash = model.get("hash", "")
    else:
        name, model_hash = str(model), ""
    mapped = {"positive_prompt", "negative_prompt", "seed", "steps", "cfg_scale", "width", "height",
              "scheduler", "model"}
    version = meta.get("app_version", "")
    return _record(
        "invokeai", f"InvokeAI {version}".strip(), created, model_hash=model_hash,
        extra={"invokeai": {k: v for k, v in meta.items() if k not in mapped}},
        model=name, prompt=str(meta.get("positive_prompt") or ""),  # null is no prompt, not the text "None"
        negative_prompt=str(meta.get("negative_prompt") or ""),
        seed=_int(meta.get("seed"), UNKNOWN_SEED), steps=_int(meta.get("steps")),
        guidance=_float(meta.get("cfg_scale")),
        width=_int(meta.get("width"), size[0]), height=_int(meta.get("height"), size[1]),
        scheduler=str(meta.get("scheduler", "")),
    )


def from_invokeai_legacy(meta: dict, size: tuple[int, int], created: str) -> ImageRecord:
    """A record from InvokeAI 2.x's `sd-metadata` JSON: {"model_weights", "image": {...}}."""
    image = meta.get("image") or {}
    prompt = image.get("prompt", "")
    if isinstance(prompt, list):  # [{"prompt": "...", "weight": 1.0}, ...]
        prompt = " ".join(str(p.get("prompt", "")) for p in prompt if isinstance(p, dict))
    return _record(
        "invokeai", f"InvokeAI {meta.get('app_version', '')}".strip(), created,
        model_hash=meta.get("model_hash", ""), extra={"invokeai": {"legacy": True}},
        model=str(meta.get("model_weights", "")), prompt=str(prompt),
        seed=_int(image.get("seed"), UNKNOWN_SEED), steps=_int(image.get("steps")),
        guidance=_float(image.get("cfg_scale")),
        width=_int(image.get("width"), size[0]), height=_int(image.get("height"), size[1]),
        scheduler=str(image.get("sampler", "")),
    )


# --- Fooocus -------------------------------------------------------------------------------

FOOOCUS_PERFORMANCE_STEPS = {"Speed": 30, "Quality": 60, "Extreme Speed": 8, "Lightning": 4, "Hyper-SD": 4}
RESOLUTION_RE = re.compile(r"(\d+)\D+(\d+)")


def from_fooocus(parameters: str, scheme: str, size: tuple[int, int], created: str) -> ImageRecord:
    """A record from Fooocus's `parameters` (JSON or infotext, as `fooocus_scheme` says)."""
    try:
        data = json.loads(parameters)
    except ValueError:
        data = None
    if scheme.lower() == "a1111" or not isinstance(data, dict):
        record = from_a1111(parameters, size, created, source="fooocus")
        params = record.extra["fooocus"]
        if "Raw prompt" in params or "Raw negative prompt" in params:  # Fooocus keeps the typed prompt here
            request = GenerationRequest.from_dict({
                **record.request.to_dict(),
                "prompt": params.get("Raw prompt", record.request.prompt),
                "negative_prompt": params.get("Raw negative prompt", record.request.negative_prompt),
            })
            record.request = request
        if record.software.startswith("AUTOMATIC1111"):
            record.software = "Fooocus " + record.software.removeprefix("AUTOMATIC1111 ")
        return record

    # The JSON scheme: snake_case keys (Fooocus 2.2+) or the older labels ("Guidance Scale").
    get = lambda key, label: data.get(key, data.get(label))
    resolution = RESOLUTION_RE.search(str(get("resolution", "Resolution") or ""))
    width, height = (int(resolution.group(1)), int(resolution.group(2))) if resolution else size
    steps = get("steps", "Steps")
    if steps is None:
        steps = FOOOCUS_PERFORMANCE_STEPS.get(str(get("performance", "Performance")), 0)
    sampler, schedule = get("sampler", "Sampler") or "", get("scheduler", "Scheduler") or ""
    scheduler = f"{sampler} {schedule}".strip() if schedule and schedule != "normal" else sampler
    return _record(
        "fooocus", str(get("version", "Version") or "Fooocus"), created,
        model_hash=str(data.get("base_model_hash", "")),
        extra={"fooocus": data},
        model=str(get("base_model", "Base Model") or ""),
        prompt=str(get("prompt", "Prompt") or ""),
        negative_prompt=str(get("negative_prompt", "Negative Prompt") or ""),
        seed=_int(get("seed", "Seed"), UNKNOWN_SEED), steps=_int(steps),
        guidance=_float(get("guidance_scale", "Guidance Scale")),
        width=width, height=height, scheduler=str(scheduler),
    )
