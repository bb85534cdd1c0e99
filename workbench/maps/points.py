"""The points of a latent map: one per distinct prompt, one per image, linked prompt -> images.

    points = points_from_store("runs/demo/store")            # every image in a run store
    points = points_from_images(generated, clip=clip)       # GeneratedImage / StoredImage lists
    points = MapPoints.build(prompts, text_vectors, images, image_vectors)  # your own vectors

Each point carries what the map colours by (`COLOUR_FIELDS`: modifier, category, seed,
model, source, kind) and what the side panel shows (prompt, record, image). Ids are
stable across rebuilds: "text:<hash of the prompt>" and "image:<record key>", so a
selection survives adding points. A missing image file is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.checks import is_whole

COLOUR_FIELDS = ("modifier", "category", "seed", "model", "source", "kind")
NONE = "(none)"


def check_colour_field(name: str) -> str:
    if name not in COLOUR_FIELDS:
        raise ValueError(f"unknown colour field {name!r}; colour by one of: {', '.join(COLOUR_FIELDS)}")
    return name


@dataclass
class MapPoint:
    """One point: a prompt (kind 'text') or an image (kind 'image'), with its colour fields."""

    id: str
    kind: str  # "text" | "image"
    prompt: str
    fields: dict = field(default_factory=dict)  # colour field -> value (a string)
    record: object | None = None  # ImageRecord, for images
    path: Path | None = None  # the PNG, when the image lives in a store
    pixels: object | None = None  # a PIL image held in memory (GeneratedImage without a store)
    links: list = field(default_factory=list)  # ids of the linked points (prompt <-> its images)

    def load_image(self):
        """The PIL image (None for a prompt), read from disk if it is not held in memory."""
        if self.pixels is not None or self.path is None:
            return self.pixels
        from PIL import Image

        with Image.open(self.path) as image:
            image.load()
            return image


def text_id(prompt: str) -> str:
    return "text:" + hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]


def image_fields(record) -> dict:
    """Colour fields of an image from its record (modifiers as 'id + id', categories likewise)."""
    if record is None:
        return {"modifier": NONE, "category": NONE, "seed": "?", "model": "?", "source": "?", "kind": "image"}
    request = record.request
    modifiers = request.modifiers
    categories = list(dict.fromkeys(c for c, _ in modifiers))
    return {"modifier": " + ".join(i for _, i in modifiers) or NONE, "category": " + ".join(categories) or NONE,
            "seed": str(request.seed), "model": request.model or "?", "source": record.source, "kind": "image"}


def _join(values) -> str:
    values = list(dict.fromkeys(v for v in values if v))
    return " | ".join(values) if values else NONE


def share_image_fields(prompts: Sequence[MapPoint], points: Sequence[MapPoint]) -> None:
    """Give each prompt point the colour fields of its images, joined (' | '): it is coloured by
    what its images have in common. Called again when images are added to a map."""
    by_id = {p.id: p for p in points}
    for prompt in prompts:
        mine = [by_id[i] for i in prompt.links if i in by_id]
        for name in ("modifier", "category", "model", "source"):
            prompt.fields[name] = _join(p.fields.get(name, NONE) for p in mine)
        prompt.fields["seed"] = "(prompt)"


class MapPoints:
    """Points and their embeddings, in the same order. Build with `build` or the helpers below."""

    def __init__(self, points: list[MapPoint], vectors: np.ndarray, model: str = ""):
        if len(points) != len(vectors):
            raise ValueError(f"{len(points)} points but {len(vectors)} embeddings; give one embedding per point")
        self.points, self.vectors, self.model = points, np.asarray(vectors, np.float32), model
        self.index = {p.id: i for i, p in enumerate(points)}

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, key) -> MapPoint:
        return self.points[self.index[key]] if isinstance(key, str) else self.points[key]

    def __repr__(self) -> str:
        texts = int((~self.is_image).sum())
        return f"MapPoints({texts} prompts, {len(self) - texts} images, model={self.model!r})"

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.points]

    @property
    def is_image(self) -> np.ndarray:
        return np.array([p.kind == "image" for p in self.points], bool)

    def values(self, colour_by: str) -> list[str]:
        check_colour_field(colour_by)
        return [p.fields.get(colour_by, NONE) for p in self.points]

    def links(self) -> list[tuple[int, int]]:
        """(prompt index, image index) pairs: the lines from each prompt to its images."""
        return [(i, self.index[j]) for i, p in enumerate(self.points) if p.kind == "text"
                for j in p.links if j in self.index]

    # --- building ---------------------------------------------------------------------------------
    @classmethod
    def build(cls, prompts: Sequence[str], text_vectors, images: Sequence = (), image_vectors=None, *,
              model: str = "", text_model: str = "", image_model: str = "") -> MapPoints:
        """Points from prompts and images (GeneratedImage, StoredImage, or MapPoint-like) and their vectors.

        Each image links to the text point of its record's prompt. An image whose prompt is not in
        `prompts` gets no text point (`points_from_images` lists every image's prompt for you).
        """
        text_vectors = np.asarray(text_vectors, np.float32) if len(prompts) else np.zeros((0, 0), np.float32)
        if len(prompts) and (text_vectors.ndim != 2 or len(text_vectors) != len(prompts)):
            raise ValueError(f"{len(prompts)} prompts but text embeddings of shape {text_vectors.shape}; give one "
                             "embedding per prompt, (prompts, dimensions)")
        image_vectors = np.asarray(image_vectors if image_vectors is not None else np.zeros((0, 0)), np.float32)
        if len(images) != len(image_vectors):
            raise ValueError(f"{len(images)} images but {len(image_vectors)} image embeddings; give one per image")
        if len(prompts) and len(images) and text_vectors.shape[1] != image_vectors.shape[1]:
            names = f" ({text_model or 'text model'} vs {image_model or 'image model'})" \
                if text_model or image_model else ""
            raise ValueError(f"text embeddings have {text_vectors.shape[1]} dimensions but image embeddings have "
                             f"{image_vectors.shape[1]}: they come from different CLIP models{names}; embed "
                             "prompts and images with the same ClipEmbedder")
        points: list[MapPoint] = []
        vectors: list[np.ndarray] = []
        by_prompt: dict[str, MapPoint] = {}
        for prompt, vector in zip(prompts, text_vectors):
            if prompt in by_prompt:
                continue
            point = MapPoint(text_id(prompt), "text", prompt, {"kind": "text"})
            by_prompt[prompt] = point
            points.append(point), vectors.append(vector)
        seen = set()
        for item, vector in zip(images, image_vectors):
            point = _image_point(item)
            if point.id in seen:
                continue
            seen.add(point.id)
            owner = by_prompt.get(point.prompt)
            if owner is not None:
                owner.links.append(point.id)
                point.links.append(owner.id)
            points.append(point), vectors.append(vector)
        share_image_fields(list(by_prompt.values()), points)
        dim = max((len(v) for v in vectors), default=0)
        return cls(points, np.stack(vectors) if vectors else np.zeros((0, dim), np.float32), model)


def _image_point(item) -> MapPoint:
    if isinstance(item, MapPoint):
        return MapPoint(item.id, "image", item.prompt, dict(item.fields), item.record, item.path, item.pixels)
    record = getattr(item, "record", None)
    path = getattr(item, "path", None)
    pixels = getattr(item, "image", None)  # a StoredImage has none: its PNG loads on demand
    if record is not None:
        key = record.key
    else:  # a bare PIL image: address it by its pixels
        pixels = item
        key = hashlib.sha1(np.asarray(item).tobytes()).hexdigest()
    prompt = record.request.prompt if record is not None else ""
    return MapPoint(f"image:{key[:16]}", "image", prompt, image_fields(record), record,
                    Path(path) if path else None, pixels)


def _load(item):
    """The item's PIL image, or None with a warning when its file is gone."""
    from workbench.store.catalogue import pixels_of

    try:
        return pixels_of(item)
    except (FileNotFoundError, OSError) as err:
        warnings.warn(f"skipped an image whose file is missing or unreadable: {getattr(item, 'path', '?')} "
                      f"({getattr(err, 'strerror', None) or err}); run store.rebuild() to drop it from the catalogue",
                      stacklevel=3)
        return None


def points_from_images(images: Sequence, clip=None, prompts: Sequence[str] = ()) -> MapPoints:
    """Points for images (GeneratedImage / StoredImage) and their prompts (plus any extra `prompts`)."""
    if clip is None:
        from workbench.embeddings.clip import ClipEmbedder

        clip = ClipEmbedder()
    kept, pixels = [], []
    for item in images:
        img = _load(item)
        if img is not None:
            kept.append(item), pixels.append(img)
    texts = list(dict.fromkeys([*prompts, *(i.record.request.prompt for i in kept if getattr(i, "record", None))]))
    if not texts and not kept:
        raise ValueError("nothing to map: no prompts and no readable images; generate some images first")
    text_vectors = clip.embed_texts(texts) if texts else None
    image_vectors = clip.embed_images(pixels) if pixels else None
    return MapPoints.build(texts, text_vectors if texts else [], kept, image_vectors, model=clip.model_id)


def points_from_store(store, clip=None, run: int | None = None, limit: int | None = None) -> MapPoints:
    """Points for every image of a run store (or one run of it) and for each distinct prompt."""
    from workbench.store.catalogue import RunStore

    if isinstance(store, (str, Path)):
        folder = Path(store)
        if not (folder / "catalogue.sqlite").is_file():
            raise FileNotFoundError(f"{folder} is not a run store (it has no catalogue.sqlite); pass the store "
                                    "folder that ImageGenerator(store=...) or `workbench generate --out DIR` wrote "
                                    "(DIR/store)")
        store = RunStore(folder)
    if limit is not None and not is_whole(limit, 1):
        raise ValueError(f"limit is the most images to map, a whole number of 1 or more; got {limit!r}")
    runs = [r["id"] for r in store.runs()] if run is not None else []  # listed only to check `run`
    if run is not None and run not in runs:
        raise ValueError(f"the store {store.folder} has no run {run!r}; its runs are "
                         f"{', '.join(map(str, runs)) or 'none yet'} (RunStore(folder).runs() names them)")
    limit = None if limit is None else int(limit)  # sqlite takes no numpy integers
    stored = store.images(run=run, limit=limit)
    catalogued = len(store) if run is None and limit is None else len(stored)
    if catalogued > len(stored):  # rows whose PNG is gone: RunStore.images() already left them out
        problems = [p for p in store.check() if "missing PNG" in p]
        warnings.warn(f"skipped {catalogued - len(stored)} image(s) whose file is missing on disk: "
                      f"{'; '.join(problems[:3])}; run store.rebuild() to drop them", stacklevel=2)
    if not stored:
        raise ValueError(f"the store {store.folder} has no images{' in run ' + str(run) if run is not None else ''} "
                         "to map; generate some first (e.g. `workbench generate \"a red circle\" --out DIR`)")
    if clip is None:
        from workbench.embeddings.clip import ClipEmbedder

        clip = ClipEmbedder(store=store)
    return points_from_images(stored, clip)
