"""Small builders shared by the store tests, and the worker functions run in child processes
(they live in a module, not a test file, so `spawn` children can import them)."""

import os

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from workbench.store import GenerationRequest, ImageRecord, RunStore

PROMPT = "a red ball on a blue floor, octane render"


def make_request(seed: int = 0, prompt: str = PROMPT, **changes) -> GenerationRequest:
    fields = dict(model="toyworld", prompt=prompt, negative_prompt="blurry", seed=seed, steps=20,
                  guidance=7.5, width=32, height=32, scheduler="EulerAncestralDiscreteScheduler",
                  modifiers=(("render_engines", "octane-render"),))
    fields.update(changes)
    return GenerationRequest(**fields)


def make_record(seed: int = 0, prompt: str = PROMPT, **changes) -> ImageRecord:
    return ImageRecord(
        request=make_request(seed, prompt, **changes), model_hash="9f" * 32,
        versions={"torch": "2.4.0", "diffusers": "0.30.0"}, device="cpu", dtype="float32",
        duration_s=0.25, batch_index=seed % 3, batch_size=3,
        composition={"subject": "a red ball on a blue floor", "prompt": prompt,
                     "modifiers": [{"category": "render_engines", "id": "octane-render"}]},
    )


def tiny_image(seed: int = 0, size=(32, 32)) -> Image.Image:
    """A deterministic noise image standing in for a generated one."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def generate_missing(store: RunStore, seeds, stop_after=None, prompt=PROMPT):
    """The generation loop as a notebook would run it: serve from the store, make what is missing.

    Raises KeyboardInterrupt after `stop_after` images were made (a user pressing stop).
    Returns the seeds that were actually generated.
    """
    made = []
    for seed in seeds:
        record = make_record(seed, prompt)
        if store.get(record.key) is not None:
            continue
        if stop_after is not None and len(made) == stop_after:
            raise KeyboardInterrupt
        store.put(record, tiny_image(seed))
        made.append(seed)
    return made


# --- peers' PNGs, with the chunks each tool writes ----------------------------------------------


def peer_png(path, chunks: dict, size=(64, 48)):
    """A PNG with the given text chunks, written the way the peers write them (tEXt via add_text)."""
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    tiny_image(1, size).save(path, format="PNG", pnginfo=info)
    return path


A1111_TEXT = (
    "a photo of an astronaut riding a horse on mars, (masterpiece:1.2)\n"
    "Negative prompt: lowres, bad anatomy\n"
    "Steps: 25, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 3405691582, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Variation seed: 12, Variation seed strength: 0.25, "
    'Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.10.1'
)


# ComfyUI's default text-to-image graph, as its "Save (API Format)" writes it.
COMFY_GRAPH = {
    "3": {"inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8.0, "sampler_name": "euler",
                     "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
                     "negative": ["7", 0], "latent_image": ["5", 0]},
          "class_type": "KSampler", "_meta": {"title": "KSampler"}},
    "4": {"inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
          "class_type": "CheckpointLoaderSimple", "_meta": {"title": "Load Checkpoint"}},
    "5": {"inputs": {"width": 512, "height": 512, "batch_size": 1},
          "class_type": "EmptyLatentImage", "_meta": {"title": "Empty Latent Image"}},
    "6": {"inputs": {"text": "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,",
                     "clip": ["4", 1]},
          "class_type": "CLIPTextEncode", "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "7": {"inputs": {"text": "text, watermark", "clip": ["4", 1]},
          "class_type": "CLIPTextEncode", "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]},
          "class_type": "VAEDecode", "_meta": {"title": "VAE Decode"}},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage",
          "_meta": {"title": "Save Image"}},
}
COMFY_WORKFLOW = {"last_node_id": 9, "last_link_id": 9, "version": 0.4, "links": [[1, 4, 0, 3, 0, "MODEL"]],
                  "nodes": [{"id": 3, "type": "KSampler", "widgets_values": [156680208700286, "randomize", 20,
                                                                          8, "euler", "normal", 1]}]}


INVOKE_METADATA = {
    "generation_mode": "txt2img", "positive_prompt": "a cozy cabin in the woods, golden hour",
    "negative_prompt": "blurry, low quality", "width": 768, "height": 512, "seed": 2024, "rand_device": "cpu",
    "cfg_scale": 6.5, "cfg_rescale_multiplier": 0, "steps": 30, "scheduler": "dpmpp_2m_k", "clip_skip": 0,
    "model": {"key": "5d1a2f4e-0c5b-4f4e-9d7b-3f2a1c0e9b8a", "hash": "blake3:9a1e7c0e2b", "name": "Juggernaut XL v9",
              "base": "sdxl", "type": "main"},
    "positive_style_prompt": "", "negative_style_prompt": "", "app_version": "4.2.4",
}


FOOOCUS_JSON = {
    "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion", "base_model_hash": "aeb7e9e689",
    "full_negative_prompt": ["unrealistic, saturated"], "full_prompt": ["a red fox in snow, highly detailed"],
    "guidance_scale": 4, "loras": [], "metadata_scheme": "fooocus", "negative_prompt": "", "performance": "Speed",
    "prompt": "a red fox in snow", "refiner_model": "None", "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras", "seed": "7141387612", "sharpness": 2, "steps": 30,
    "styles": "['Fooocus V2', 'Fooocus Sharp']", "vae": "Default (model)", "version": "Fooocus v2.5.5",
}



# --- run in child processes -------------------------------------------------------------------


def write_many(folder: str, prompt: str, count: int) -> None:
    """One kernel writing `count` images into the shared store."""
    store = RunStore(folder)
    run = store.start_run(prompt)
    for seed in range(count):
        store.put(make_record(seed, prompt), tiny_image(seed), run=run)
    store.close()


def die_midway(folder: str, stage: str) -> None:
    """Store 3 images, then die (os._exit, as a killed kernel) while storing the 4th."""
    store = RunStore(folder)
    for seed in range(3):
        store.put(make_record(seed), tiny_image(seed))
    if stage == "writing-png":  # the temporary file is written, the rename never happens
        os.replace = lambda *args, **kwargs: os._exit(3)
    elif stage == "before-row":  # the PNG is in place, its row never gets inserted
        store._insert = lambda *args, **kwargs: os._exit(3)
    store.put(make_record(3), tiny_image(3))
    os._exit(0)  # not reached
