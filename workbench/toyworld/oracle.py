"""The evaluation oracle: reads a toy-world image back without any neural network.

    oracle = Oracle()                       # the shipped vocabulary
    r = oracle.read(image)                  # image: uint8 (64, 64, 3)
    r.background, r.colour, r.shape         # "white", "red", "star"
    oracle.read_role_colour(image)          # figure colour, for the bias probe

It knows the world: backgrounds are plain and objects sit inside the frame. So
  1. the background is the vocabulary background most border pixels agree with,
  2. the foreground is every pixel far (in RGB) from that background,
  3. objects are its connected parts; parts touching the border are background patterns,
  4. an object's colour is the nearest vocabulary colour to the median of its core,
  5. its shape is the best-matching template: each shape is rendered by the world, read
     back by steps 1-3, cropped to its bounding box and resized to a small square, so
     queries and templates go through the same pipeline; bounding-box aspect breaks ties.
A 3x3 mean filter first makes it tolerant of the noise and blur a small diffusion model
leaves. It is meant for modifier-free images; modifiers flagged `changes_colour` or
`changes_background` in vocabulary.yaml defeat steps 1 and 4 by design.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .world import Scene, SceneObject, ToyWorld, Vocabulary


@dataclass
class OracleConfig:
    threshold: float = 0.45       # foreground: farther from the background than this share
                                  # of the closest colour-background distance
    min_threshold: float = 30.0   # ... but never nearer than this (RGB units, 0-255)
    min_area: int = 12            # smaller parts are noise, in pixels
    template: int = 20            # templates and crops are resized to template x template
    aspect_weight: float = 0.5    # weight of |log(aspect ratio)| against mean template error


@dataclass(frozen=True)
class ObjectReading:
    colour: str
    shape: str
    cx: float                      # centroid, pixels
    cy: float
    area: int                      # pixels
    colour_distance: float         # RGB distance of the median to the chosen colour
    shape_error: float             # template mismatch of the chosen shape (0 = perfect)


@dataclass(frozen=True)
class Reading:
    background: str
    colour: str | None             # of the largest object; None if nothing was found
    shape: str | None
    objects: tuple[ObjectReading, ...] = ()   # every object, left to right
    foreground: float = 0.0        # share of the image that is foreground

    @property
    def n_objects(self):
        return len(self.objects)


def _box3(x):
    """3x3 mean filter, edges repeated."""
    p = np.pad(x, [(1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 2), mode="edge")
    h, w = x.shape[:2]
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def _components(mask):
    """4-connected components: label image (-1 outside) and the number of labels."""
    h, w = mask.shape
    big = h * w
    lab = np.where(mask, np.arange(big).reshape(h, w), big)
    while True:
        m = lab.copy()
        np.minimum(m[1:], lab[:-1], out=m[1:])
        np.minimum(m[:-1], lab[1:], out=m[:-1])
        np.minimum(m[:, 1:], lab[:, :-1], out=m[:, 1:])
        np.minimum(m[:, :-1], lab[:, 1:], out=m[:, :-1])
        m = np.where(mask, m, big)
        flat = np.append(m.ravel(), big)
        m = np.where(mask, flat[m], big)                   # pointer jumping: faster merging
        if np.array_equal(m, lab):
            break
        lab = m
    roots, lab = np.unique(lab, return_inverse=True)
    lab = lab.reshape(h, w)
    n = len(roots) - (roots[-1] == big)
    return np.where(mask, lab, -1), int(n)


def connected_parts(fg):
    """The connected parts of a foreground mask: (touches the border, mask) for each."""
    labels, n = _components(fg)
    parts = [labels == k for k in range(n)]
    return [(bool(p[0].any() or p[-1].any() or p[:, 0].any() or p[:, -1].any()), p) for p in parts]


class Oracle:
    def __init__(self, vocab: Vocabulary | None = None, config: OracleConfig | None = None):
        self.vocab = vocab or Vocabulary.load()
        self.config = config or OracleConfig()
        v = self.vocab
        self._fg = np.array([c.rgb for c in v.colours], np.float32)
        self._fg_names = [c.name for c in v.colours]
        self._bg = np.array([c.rgb for c in v.backgrounds], np.float32)
        self._bg_names = [c.name for c in v.backgrounds]
        gap = np.linalg.norm(self._bg[:, None] - self._fg[None], axis=-1).min(1)   # (B,)
        self._thresholds = np.maximum(self.config.threshold * gap, self.config.min_threshold)
        self._world = ToyWorld(v)
        self._templates = self._make_templates()
        self._references = {}

    # 1. templates: each shape rendered by the world and read back like a query
    def _make_templates(self):
        world = self._world
        names, crops, aspects = [], [], []
        for shape in (*self.vocab.shapes, *self.vocab.figures):
            acc, asp = [], []
            for r in (13.0, 18.0, 23.0):
                scene = Scene((SceneObject(shape.name, self._fg_names[0], 32.0, 32.0, r),), "white")
                mask = self._foreground(world.render(scene).astype(np.float32), self._plain)[1]
                crop, aspect = self._crop(mask)
                acc.append(crop), asp.append(aspect)
            names.append(shape.name), crops.append(np.mean(acc, 0)), aspects.append(np.mean(asp))
        return names, np.stack(crops), np.log(np.array(aspects))

    # 2. what backgrounds and colours look like: plain, or painted with modifiers
    @property
    def _plain(self):
        n = self._world.config.size
        return (np.broadcast_to(self._bg[:, None, None], (len(self._bg), n, n, 3)),
                np.broadcast_to(self._fg, (len(self._bg), len(self._fg), 3)), self._thresholds)

    def _reference(self, modifiers):
        """Empty scenes and the palette painted with `modifiers`, for every background:
        ((B, H, W, 3) backgrounds, (B, C, 3) colours, (B,) thresholds). Cached."""
        key = tuple(sorted(modifiers))
        if not key:
            return self._plain
        if key not in self._references:
            w, n = self._world, self._world.config.size
            bgs, pal, noise = [], [], []
            for b in self._bg_names:
                bgs.append(_box3(w.render(Scene((), b, key)).astype(np.float32)))
                other = _box3(w.render(Scene((), b, key, seed=1)).astype(np.float32))
                noise.append(np.percentile(np.linalg.norm(other - bgs[-1], axis=-1), 99.5))
                row = []
                for c in self._fg_names:
                    disc = Scene((SceneObject("circle", c, n / 2, n / 2, n * 0.42),), b, key)
                    inner = w.render(Scene((SceneObject("circle", c, n / 2, n / 2, n * 0.35),), b))
                    core = np.any(inner != inner[0, 0], axis=-1)
                    row.append(np.median(w.render(disc)[core].astype(np.float32), axis=0))
                pal.append(row)
            bgs, pal = np.stack(bgs), np.array(pal, np.float32)
            gap = np.linalg.norm(pal - np.median(bgs, axis=(1, 2))[:, None], axis=-1).min(1)
            thr = np.maximum(self.config.threshold * gap, self.config.min_threshold)
            thr = np.maximum(thr, 1.2 * np.array(noise))        # grain, paper, dots
            self._references[key] = (bgs, pal, thr)
        return self._references[key]

    # 3. the pipeline
    def foreground(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the background's RGB, the foreground mask) of an (H, W, 3) image, against the plain
        backgrounds: for readers of what modifiers draw on the object, not on the background."""
        found, fg, _ = self._foreground(self._checked(image, "foreground").astype(np.float32), self._plain)
        return self._bg[found], fg

    def _checked(self, image, what: str) -> np.ndarray:
        """The image as the world draws it, uint8 (size, size, 3), or a clear error: other sizes
        and floats in [0, 1] would be misread, not refused, against the world's references."""
        img, n = np.asarray(image), self._world.config.size
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"Oracle.{what} expects an (H, W, 3) RGB array, got shape {img.shape}; "
                             "convert PIL images with np.asarray(im.convert('RGB'))")
        if img.dtype != np.uint8:
            raise TypeError(f"Oracle.{what} reads uint8 pictures (0-255), got {img.dtype}; convert pipeline "
                            "output in [0, 1] with (x * 255).round().astype(np.uint8)")
        if img.shape[:2] != (n, n):
            raise ValueError(f"Oracle.{what} reads the world's {n}x{n} pictures, got {img.shape[1]}x{img.shape[0]}; "
                             f"resize with im.resize(({n}, {n}))")
        return img

    def _foreground(self, img, reference):
        """(background index, foreground mask, smoothed image) of a float (H, W, 3) image."""
        bgs, _, thresholds = reference
        smooth = _box3(img)
        ring = np.zeros(img.shape[:2], bool)
        ring[:2], ring[-2:], ring[:, :2], ring[:, -2:] = True, True, True, True
        d = np.linalg.norm(smooth[ring][:, None] - bgs[:, ring].transpose(1, 0, 2), axis=-1)  # (P, B)
        votes = np.bincount(d.argmin(1)[d.min(1) < 60], minlength=len(bgs))
        b = int(votes.argmax()) if votes.any() else int(np.median(d, axis=0).argmin())
        dist = np.linalg.norm(smooth - bgs[b], axis=-1)
        return b, dist > thresholds[b], smooth

    def _crop(self, mask):
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        t = self.config.template
        crop = Image.fromarray(mask[y0:y1, x0:x1].astype(np.float32), mode="F")
        return np.asarray(crop.resize((t, t), Image.BILINEAR)), (x1 - x0) / (y1 - y0)

    def _shape(self, mask):
        names, crops, log_aspects = self._templates
        crop, aspect = self._crop(mask)
        err = np.abs(crops - crop).mean(axis=(1, 2)) + \
            self.config.aspect_weight * np.abs(log_aspects - np.log(aspect))
        k = int(err.argmin())
        return names[k], float(err[k])

    def _colour(self, smooth, part, palette):
        core = part.copy()                                     # erode by one pixel
        core[1:] &= part[:-1]
        core[:-1] &= part[1:]
        core[:, 1:] &= part[:, :-1]
        core[:, :-1] &= part[:, 1:]
        rgb = np.median(smooth[core if core.sum() >= 4 else part], axis=0)
        d = np.linalg.norm(palette - rgb, axis=-1)
        return self._fg_names[int(d.argmin())], float(d.min())

    def read(self, image: np.ndarray, modifiers=()) -> Reading:
        """Background, colour and shape of a uint8 (H, W, 3) toy-world image. Pass the
        prompt's `modifiers` (tag refs) to compare against backgrounds and colours painted
        with them, rather than plain ones."""
        img = self._checked(image, "read")
        reference = self._reference(modifiers)
        b, fg, smooth = self._foreground(img.astype(np.float32), reference)
        sized = ((touches, int(part.sum()), part) for touches, part in connected_parts(fg))
        parts = [p for p in sized if p[1] >= self.config.min_area]
        if any(not t for t, _, _ in parts):                    # patterns reach the border
            parts = [p for p in parts if not p[0]]
        objects = []
        for _, area, part in parts:
            colour, cdist = self._colour(smooth, part, reference[1][b])
            shape, serr = self._shape(part)
            ys, xs = np.nonzero(part)
            objects.append(ObjectReading(colour, shape, float(xs.mean()), float(ys.mean()),
                                         area, cdist, serr))
        bg = self._bg_names[b]
        if not objects:
            return Reading(bg, None, None, (), float(fg.mean()))
        main = max(objects, key=lambda o: o.area)
        return Reading(bg, main.colour, main.shape, tuple(sorted(objects, key=lambda o: o.cx)),
                       float(fg.mean()))

    def read_role_colour(self, image: np.ndarray, modifiers=()) -> str | None:
        """Colour of the (largest) figure, for the bias probe; None if none is found.
        Any vocabulary colour may come back, not only the planted ones."""
        return self.read(image, modifiers).colour
