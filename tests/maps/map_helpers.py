"""Builders shared by the map tests: synthetic CLIP-like vectors, a fake CLIP with a planted
modality gap, records and pictures. (A module, not conftest.py, so tests can import it.)"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
from PIL import Image

from workbench.store import GenerationRequest, ImageRecord
from workbench.store.catalogue import pixels_of

DIM = 64
GAP = 0.8  # planted distance between the text and image cones of FakeClip


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def word_vector(word: str, dim: int = DIM) -> np.ndarray:
    seed = int(hashlib.sha1(word.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def bag_of_words(text: str, dim: int = DIM) -> np.ndarray:
    words = [w for w in text.lower().replace(",", " ").split() if w not in ("a", "an", "the", "on", "of")]
    return np.sum([word_vector(w, dim) for w in words] or [word_vector("", dim)], axis=0)


class FakeClip:
    """A CLIP stand-in: texts are bags of word vectors; an image is its caption's bag (PIL `info['caption']`),
    shifted along a fixed 'image' direction (the modality gap), plus a little noise."""

    model_id = "fake-clip"

    def __init__(self, dim: int = DIM):
        self.dim = dim
        self.gap = unit(word_vector("<image-cone>", dim)) * GAP

    def embed_texts(self, texts):
        texts = [texts] if isinstance(texts, str) else list(texts)
        return unit(np.stack([unit(bag_of_words(t, self.dim)) for t in texts])) if texts else \
            np.zeros((0, self.dim), np.float32)

    def embed_images(self, images):
        out = []
        for image in images:
            image = pixels_of(image)
            caption = image.info.get("caption")
            if caption is None:
                base = word_vector(hashlib.sha1(image.tobytes()).hexdigest(), self.dim)
            else:
                base = unit(bag_of_words(caption, self.dim))
                noise = np.random.default_rng(int(hashlib.sha1(image.tobytes()).hexdigest()[:8], 16))
                base = base + 0.05 * noise.normal(size=self.dim)
            out.append(unit(unit(base) + self.gap))
        return np.stack(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)


def clustered(n_per: int = 40, k: int = 3, dim: int = DIM, spread: float = 0.3, seed: int = 0):
    """(unit vectors (k*n_per, dim), labels): k well-separated clusters on the sphere."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    labels = np.repeat(np.arange(k), n_per)
    return unit(centres[labels] + spread * rng.normal(size=(len(labels), dim))), labels


def record(prompt: str, seed: int = 0, modifiers=(), model: str = "toyworld", source: str = "workbench"):
    request = GenerationRequest(model=model, prompt=prompt, seed=seed, steps=2, guidance=7.5, width=16, height=16,
                                modifiers=modifiers)
    return ImageRecord(request=request, model_hash="ab" * 8, source=source)


def picture(caption: str, seed: int = 0, colour=(200, 40, 40)) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.integers(-20, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    image.info["caption"] = caption
    return image


def generated(prompt: str, seed: int = 0, modifiers=(), caption: str | None = None, **kwargs):
    """A GeneratedImage-like item (record + PIL image, no store)."""
    return SimpleNamespace(record=record(prompt, seed, modifiers, **kwargs), image=picture(caption or prompt, seed),
                           path=None)


PROMPTS = {
    "a red circle": (),
    "a red circle, octane render": (("render_engines", "octane-render"),),
    "a blue square, 1960s": (("decades", "1960s"),),
}
