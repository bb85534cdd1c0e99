"""LoRA adapters loaded into a pipeline, as part of what decides its pixels.

    gen.pipeline.load_lora_weights("loras/", weight_name="ink.safetensors", adapter_name="ink")
    gen.pipeline.set_adapters(["ink"], adapter_weights=[0.8])
    gen.generate(gen.requests("a castle"))   # requests carry the adapters' hash; the store keys on it

`load_model` hashes the base weights once; adapters come and go afterwards (diffusers loads
them through PEFT), so requests take `adapters_hash(pipeline)` when they are made: the active
adapters of every model part, their scales and their weights, and the names of LoRAs fused into
the base weights (`fuse_lora`; diffusers keeps `fused_loras` after `unload_lora_weights`), so
a fused model's images are never filed as the plain model's.
"""

from __future__ import annotations

import hashlib

PARTS = ("unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3")


def adapters_hash(pipeline) -> str:
    """16 hex digits over the pipeline's active LoRA adapters (names, scales, weights); "" when
    none is active, which keeps the keys of images made without them."""
    digest, found = hashlib.sha256(), False
    for part in PARTS:
        module = getattr(pipeline, part, None)
        if module is None or not hasattr(module, "named_modules"):
            continue
        for name, layer in module.named_modules():
            lora_a, lora_b = getattr(layer, "lora_A", None), getattr(layer, "lora_B", None)
            if lora_a is None or lora_b is None or getattr(layer, "disable_adapters", False):
                continue
            for adapter in getattr(layer, "active_adapters", ()):
                if adapter not in lora_a:
                    continue
                found = True
                scale = getattr(layer, "scaling", {}).get(adapter)
                digest.update(f"{part}.{name}:{adapter}:{scale!r}\n".encode())
                for weight in (lora_a[adapter].weight, lora_b[adapter].weight):
                    digest.update(weight.detach().float().cpu().contiguous().numpy().tobytes())
    fused = sorted(getattr(pipeline, "fused_loras", None) or ())
    if fused:  # their weights are in the base weights now, which load_model hashed before
        found = True
        digest.update(f"fused:{fused}\n".encode())
    return digest.hexdigest()[:16] if found else ""
