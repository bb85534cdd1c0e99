"""AUTOMATIC1111 "infotext": the `parameters` text that A1111 (and most tools after it) read.

The format, as A1111 writes it into the PNG text chunk `parameters`:

    <prompt, may span lines>
    Negative prompt: <negative prompt, may span lines>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 123, Size: 512x512, Model hash: abcd, ...

- The "Negative prompt" line is left out when the negative prompt is empty.
- Keys without a value are left out.
- A value containing `,`, `:` or a newline is JSON-quoted, so the last line stays one line
  of `key: value` pairs. (We also quote a value that starts with `"`, so it reads back as
  written; A1111 reads that fine.)
- The last line counts as parameters only if it holds at least 3 `key: value` pairs;
  otherwise it is part of the prompt (A1111's own rule).

Here fields are a dict: "Prompt" and "Negative prompt" hold the two prompts, every other
entry is a parameter in the order given. `parse_infotext` gives all values back as strings.

    >>> text = format_infotext({"Prompt": "a cat", "Steps": 20, "Seed": 1, "Size": "64x64"})
    >>> text
    'a cat\\nSteps: 20, Seed: 1, Size: 64x64'
    >>> parse_infotext(text)["Seed"]
    '1'
"""

from __future__ import annotations

import json
import re

PROMPT, NEGATIVE = "Prompt", "Negative prompt"
NEGATIVE_PREFIX = "Negative prompt:"

# A1111's own pattern (modules/infotext_utils.py): key, then a quoted or a plain value.
PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
KEY_RE = re.compile(r"^\w[\w \-/]+$")
SIZE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")

# diffusers scheduler class -> A1111 sampler name (as the diffusers docs pair them).
A1111_SAMPLERS = {
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DPMSolverSinglestepScheduler": "DPM++ SDE",
    "KDPM2DiscreteScheduler": "DPM2",
    "KDPM2AncestralDiscreteScheduler": "DPM2 a",
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "HeunDiscreteScheduler": "Heun",
    "LMSDiscreteScheduler": "LMS",
    "DDIMScheduler": "DDIM",
    "PNDMScheduler": "PLMS",
    "UniPCMultistepScheduler": "UniPC",
    "LCMScheduler": "LCM",
    "DDPMScheduler": "DDPM",
}
DIFFUSERS_SCHEDULERS = {name: cls for cls, name in A1111_SAMPLERS.items()}


def quote(value: str) -> str:
    """JSON-quote a value that would break the `key: value, ...` line; leave others as they are."""
    if any(c in value for c in ",:\n\r") or value.startswith('"'):
        return json.dumps(value, ensure_ascii=False)
    return value


def unquote(value: str) -> str:
    """Undo `quote`: a value in double quotes is JSON; anything else is taken as written."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def format_value(value) -> str:
    """How a parameter value reads in infotext: 7.0 -> '7', 0.25 -> '0.25', True -> 'True'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def format_infotext(fields: dict) -> str:
    """Write fields ("Prompt", "Negative prompt", then parameters in order) as A1111 infotext."""
    prompt = str(fields.get(PROMPT) or "")
    negative = str(fields.get(NEGATIVE) or "")
    params = []
    for key, value in fields.items():
        if key in (PROMPT, NEGATIVE) or value is None or value == "":
            continue
        if not KEY_RE.match(key):
            raise ValueError(
                f"infotext key {key!r} cannot be read back: use letters, digits, spaces, '-' or '/' "
                "(at least 2 characters, no ':' or ',')"
            )
        params.append(f"{key}: {quote(format_value(value))}")
    lines = [prompt] if prompt else []
    if negative:
        lines.append(f"{NEGATIVE_PREFIX} {negative}")
    lines.append(", ".join(params))
    return "\n".join(lines)


def parse_infotext(text: str) -> dict:
    """Read A1111 infotext into {"Prompt", "Negative prompt", parameter: value (str), ...}."""
    # 1. Split off the parameter line, if the last line is one.
    lines = text.replace("\r\n", "\n").strip("\n").split("\n")
    param_line = lines[-1]
    if len(PARAM_RE.findall(param_line)) >= 3:
        lines = lines[:-1]
    else:
        param_line = ""

    # 2. The prompt runs until a line starting "Negative prompt:"; the negative prompt after it.
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if not in_negative and line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX):]
            line = line[1:] if line.startswith(" ") else line
        (negative_lines if in_negative else prompt_lines).append(line)
    fields = {PROMPT: "\n".join(prompt_lines), NEGATIVE: "\n".join(negative_lines)}

    # 3. Parameters, unquoted.
    for key, value in PARAM_RE.findall(param_line):
        fields[key.strip()] = unquote(value.strip())
    return fields


def parse_size(value: str | None) -> tuple[int, int] | None:
    """'512x768' -> (512, 768); None when absent or not a size."""
    match = SIZE_RE.match(value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def infotext_fields(record) -> dict:
    """The infotext fields of an `ImageRecord`, in A1111's order."""
    request = record.request
    varies = request.variation_seed is not None
    model_hash = record.model_hash.split(":")[-1][:10]  # A1111 shows the first 10 hex digits
    return {
        PROMPT: request.prompt,
        NEGATIVE: request.negative_prompt,
        "Steps": request.steps,
        "Sampler": A1111_SAMPLERS.get(request.scheduler, request.scheduler),
        "CFG scale": float(request.guidance),
        "Seed": request.seed,
        "Size": f"{request.width}x{request.height}",
        "Model hash": model_hash,
        "Model": request.model,
        "Variation seed": request.variation_seed if varies else None,
        "Variation seed strength": float(request.variation_strength) if varies else None,
        "Version": record.software,
    }
