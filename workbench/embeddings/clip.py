"""CLIP embeddings of prompts and images through open_clip, batched and cached by content.

    clip = ClipEmbedder()                               # the embedded toy-world CLIP
    clip = ClipEmbedder("ViT-B-32", "laion2b_s34b_b79k")  # an open_clip name and pretrained tag (online)
    clip = ClipEmbedder("ViT-B-32", "weights/vit-b-32.safetensors")  # a local checkpoint
    clip.embed_texts(["a red circle"]); clip.embed_images([img]); clip.rank(img, labels)

Vectors are L2-normalised, so a dot product is the cosine similarity. With a run store,
each vector is cached under (content hash, model), so nothing is embedded twice; a local
checkpoint is named there by a hash of its bytes, since two folders' `model.safetensors` are
different models, and a model with random weights is not cached at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.toyworld.paths import TOY_WORLD


def content_key(item) -> str:
    """sha256 of a text's UTF-8 bytes or an image's PNG bytes (the cache key)."""
    if isinstance(item, str):
        return "text:" + hashlib.sha256(item.encode("utf-8")).hexdigest()
    from workbench.store.png import png_bytes

    return "image:" + hashlib.sha256(png_bytes(item.convert("RGB"))).hexdigest()


def _cache_id(model_id: str, pretrained: str | None) -> str | None:
    """The model's name in the embedding cache: a local file by its bytes; None (no caching) for
    random weights, which differ in every process."""
    if not pretrained:
        return None
    if Path(pretrained).is_file():
        from workbench.generation.loading import weights_hash

        return f"{model_id}@{weights_hash([Path(pretrained)])}"
    return model_id  # an open_clip pretrained tag names fixed weights


def _checked(items, what: str, kind, hint: str) -> list:
    items = list(items)
    bad = next((i for i, item in enumerate(items) if not isinstance(item, kind)), None)
    if bad is not None:
        raise TypeError(f"{what}[{bad}] is {type(items[bad]).__name__}; {hint}")
    return items


def _check_not_pickle(model: str, pretrained: str | None, trust_pickle: bool) -> None:
    """Refuse weights open_clip would unpickle: a local file that is not .safetensors, or the
    file open_clip picks in a `local-dir:` folder. (Pretrained tags come from the hub cache.)"""
    from workbench.generation.loading import PICKLE_SUFFIXES, check_weights_file

    # a missing pickle file too: refused before open_clip's own message
    if pretrained and (Path(pretrained).is_file() or Path(pretrained).suffix.lower() in PICKLE_SUFFIXES):
        check_weights_file(Path(pretrained), trust_pickle)
    if str(model).startswith("local-dir:"):
        from open_clip import factory

        folder = Path(str(model)[len("local-dir:"):])
        pick = getattr(factory, "_find_checkpoint_in_dir", None)  # open_clip's own choice, where it has one
        chosen = pick(folder) if pick and folder.is_dir() else None
        for path in [Path(chosen)] if chosen else [p for p in folder.glob("*") if p.suffix in (".bin", ".pth")]:
            check_weights_file(path, trust_pickle)


class ClipEmbedder:
    """An open_clip model that turns texts and images into unit vectors."""

    def __init__(self, model: str | None = None, pretrained: str | None = None, *, device: str = "cpu",
                 batch_size: int = 64, store=None, trust_pickle: bool = False, progress: bool = True):
        import open_clip
        import torch

        if model in (None, TOY_WORLD) and pretrained is not None:
            raise ValueError(f"pretrained={pretrained!r} names weights for an open_clip model, but no model was "
                             "given; pass both, e.g. ClipEmbedder('ViT-B-32', 'weights.safetensors')")
        if model in (None, TOY_WORLD):
            from workbench.toyworld.paths import CLIP_CHECKPOINT, is_trained, register_clip_config

            if not is_trained():
                raise FileNotFoundError(f"the embedded toy-world CLIP is missing ({CLIP_CHECKPOINT}); reinstall "
                                        "prompt-workbench or run `workbench toyworld train`")
            model, pretrained = register_clip_config(), str(CLIP_CHECKPOINT)
            self.model_id = TOY_WORLD
        else:
            self.model_id = f"{model}/{Path(pretrained).name if pretrained else 'random'}"
        self.cache_id = _cache_id(self.model_id, pretrained)
        _check_not_pickle(model, pretrained, trust_pickle)
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(model, pretrained=pretrained,
                                                                                    device=device)
        except RuntimeError as err:
            raise ValueError(f"could not load open_clip model {model!r} with pretrained={pretrained!r}: {err}. "
                             "Check the name with open_clip.list_models() and the tag with "
                             "open_clip.list_pretrained()") from None
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(model)
        from workbench.store.catalogue import RunStore

        self.device, self.batch_size, self.store, self.progress = device, batch_size, RunStore.of(store), progress
        self.dim = int(self.model.text_projection.shape[1]) if getattr(self.model, "text_projection", None) is not None \
            else None
        self._torch = torch

    # --- embedding ---------------------------------------------------------------------------------
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32 unit vectors for the texts."""
        if isinstance(texts, str):
            texts = [texts]
        return self._embed(_checked(texts, "texts", str, "give text (str) only"), self._text_batch, "texts")

    def embed_images(self, images: Sequence) -> np.ndarray:
        """(N, D) float32 unit vectors for PIL images, GeneratedImages or StoredImages."""
        from PIL import Image

        from workbench.store.catalogue import pixels_of

        images = _checked((pixels_of(i) for i in images), "images", Image.Image,
                          "give PIL images: Image.open(path), or Image.fromarray(array) for a uint8 array")
        return self._embed(images, self._image_batch, "images")

    def _threads(self):
        from workbench.threads import cpu_threads, default_threads

        return cpu_threads(default_threads(self.device))  # see workbench/threads.py

    def _text_batch(self, texts):
        with self._torch.no_grad(), self._threads():
            return self.model.encode_text(self.tokenizer(texts).to(self.device))

    def _image_batch(self, images):
        with self._torch.no_grad(), self._threads():
            pixels = self._torch.stack([self.preprocess(img.convert("RGB")) for img in images]).to(self.device)
            return self.model.encode_image(pixels)

    def _embed(self, items: list, encode, what: str) -> np.ndarray:
        from tqdm.auto import tqdm

        keys = [content_key(i) for i in items]
        store = self.store if self.cache_id is not None else None
        cached = store.get_embeddings(keys, self.cache_id) if store is not None else {}
        todo = [i for i, k in enumerate(keys) if k not in cached]
        new: dict[str, np.ndarray] = {}
        starts = range(0, len(todo), self.batch_size)
        for s in tqdm(starts, desc=f"embedding {what}", unit="batch", disable=not self.progress or len(starts) < 4):
            chunk = todo[s:s + self.batch_size]
            vectors = encode([items[i] for i in chunk]).float()
            vectors = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            for i, v in zip(chunk, vectors.cpu().numpy()):
                new[keys[i]] = v.astype(np.float32)
                if store is not None:
                    store.put_embedding(keys[i], self.cache_id, new[keys[i]])
        if not items:
            return np.zeros((0, self.dim or 0), np.float32)
        return np.stack([cached.get(k, new.get(k)) for k in keys])

    # --- scoring -----------------------------------------------------------------------------------
    def similarity(self, images: Sequence, texts: Sequence[str]) -> np.ndarray:
        """(N_images, N_texts) cosine similarities."""
        return self.embed_images(images) @ self.embed_texts(texts).T

    def clip_score(self, images: Sequence, prompts: Sequence[str] | str) -> np.ndarray:
        """CLIPScore per image against its prompt: 100 * max(cos, 0), as torchmetrics defines it."""
        prompts = [prompts] * len(images) if isinstance(prompts, str) else list(prompts)
        if len(prompts) != len(images):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts; give one prompt or one per image")
        cos = np.sum(self.embed_images(images) * self.embed_texts(prompts), axis=1)
        return 100.0 * np.maximum(cos, 0.0)

    def rank(self, image, labels: Sequence[str], top: int | None = None) -> list[tuple[str, float]]:
        """Labels sorted by cosine similarity to the image (clip-interrogator's ranking)."""
        sims = self.similarity([image], list(labels))[0]
        order = np.argsort(-sims)[: top or len(labels)]
        return [(labels[i], float(sims[i])) for i in order]

    def zero_shot(self, images: Sequence, labels: Sequence[str], template: str = "{}") -> list[str]:
        """The best label for each image (labels formatted into `template`, e.g. 'a {} shape')."""
        sims = self.similarity(images, [template.format(label) for label in labels])
        return [labels[i] for i in sims.argmax(axis=1)]
