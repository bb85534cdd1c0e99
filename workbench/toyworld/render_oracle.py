"""Which render engine a toy-world picture shows, read from its pixels: a check on the toy
CLIP's reading of render engines that uses no neural network.

    reader = RenderEngineOracle()                     # fitted on world renders, a few seconds
    reader.read(image)                                # "octane", "unreal", "blender", None,
                                                      # or NO_OBJECT where it finds no object

The toy CLIP reads render engines in generated images well since recipe stage 5 taught it how
the VAE softens them; that alone does not show the UNet draws them. The three engines leave
low-frequency marks that survive a small VAE (`effects.py`):

    octane   the object is lit from the top left: darker toward the bottom right, with a
             white highlight near its top left
    unreal   the scene is dimmed by 12 %, with a bright halo around the object and a white rim
    blender  a drop shadow down-right of the object, and a floor that darkens toward the bottom

`features` measures each mark around the object the plain oracle finds, against the background
colour it finds (what was drawn, not what was asked for). A logistic regression
fitted on world renders (random single-object scenes, no engine or one) weighs them; it sees
neither the toy CLIP nor any model's pictures.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .effects import blur, luminance
from .oracle import Oracle, _box3, connected_parts
from .world import PromptSpec, Scene, ToyWorld, scene_prompt

ENGINES = ("octane", "unreal", "blender")  # effect keys of the render_engines tags
FIT_SEED = 424_242                         # world seed of the scenes the reader is fitted on
FIT_SCENES = 200                           # per option (none and each engine)
NO_OBJECT = "no object"                    # the reading of a picture with no object to measure
N_FEATURES = 7
SOFTEN = 0.8                               # blur (pixels) of the fitting renders' softened copies


class Probe(NamedTuple):
    """Single-object scenes, each drawn plain and with each engine, as the world renders them."""

    images: np.ndarray                 # uint8 (N, H, W, 3)
    prompts: list[str]                 # "a red circle on a white background, octane render"
    labels: list[str | None]           # the engine's effect key, or None


def _grow(mask: np.ndarray, k: int) -> np.ndarray:
    for _ in range(k):
        mask = _box3(mask.astype(np.float32)) > 0
    return mask


def _shrink(mask: np.ndarray, k: int) -> np.ndarray:
    return ~_grow(~mask, k)


def features(oracle: Oracle, image: np.ndarray) -> np.ndarray | None:
    """The engines' marks in a uint8 (H, W, 3) picture; None when no object is found.
    Luminances are in units of 255."""
    bg, fg = oracle.foreground(image)
    img = np.asarray(image).astype(np.float32)
    # how much darker than the background each pixel is, where its colour is the background's
    scale = img @ bg / max(float(bg @ bg), 1.0)
    bg_like = np.linalg.norm(img - scale[..., None] * bg, axis=-1) < 24
    darker = np.where(bg_like, np.clip(1 - scale, 0, 1), 0.0)
    shadowed = bg_like & (scale < 0.92)
    parts = connected_parts(fg & ~shadowed)         # a drop shadow is not the object
    inner = [p for touches, p in parts if not touches]
    inner = inner or [p for _, p in parts if p.mean() < 0.5]  # a glow may carry the object to the edge
    if not inner:
        return None
    obj = max(inner, key=np.sum)
    if obj.sum() < oracle.config.min_area:
        return None
    lum = luminance(img) / 255.0
    h, w = obj.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = ys[obj].mean(), xs[obj].mean()
    radius = max(np.sqrt(obj.sum() / np.pi), 1.0)

    grown1 = _grow(obj, 1)                                 # the object grown by 1, 3, 8, 10 pixels
    grown3 = _grow(grown1, 2)
    grown8 = _grow(grown3, 5)
    grown10 = _grow(grown8, 2)

    # blender's floor darkens toward the bottom as (y / h)^2; unreal dims the whole scene
    far = ~grown8 & ~(shadowed & grown10)
    expected = float(luminance(bg)) / 255.0
    if far.sum() >= 20:
        depth = (ys[far] / (h - 1)) ** 2
        slope, level = np.polyfit(depth, lum[far], 1)
    else:
        slope, level = 0.0, expected
    floor = -slope / (level + 0.03)                        # blender: about 0.22; else about 0
    # unreal: 12 % of the background's luminance; a difference, not a ratio, so that a black
    # background a few levels off does not read as dimmed
    dimmed = level - expected

    near = grown8 & ~grown1
    down_right = (ys - cy) + (xs - cx) > 0
    shadow = darker[near & down_right].mean() - darker[near & ~down_right].mean() \
        if (near & down_right).any() and (near & ~down_right).any() else 0.0
    ring = grown3 & ~grown1
    far_rgb = np.median(img[far], axis=0) if far.any() else bg
    halo = np.linalg.norm(img[ring].mean(0) - far_rgb) / 255.0 if ring.any() else 0.0

    core = _shrink(obj, 2)
    core = core if core.sum() >= 6 else obj
    edge = obj & ~_shrink(obj, 1)
    rim = lum[edge].mean() - lum[core].mean() if edge.any() else 0.0
    # octane's light comes from the top left: luminance against position along (-0.55, -0.65)
    along = (-(xs - cx) * 0.646 - (ys - cy) * 0.763)[core] / radius
    c = lum[core]
    lit = float(np.polyfit(along, c, 1)[0]) if along.std() > 1e-3 else 0.0
    highlight = float(np.percentile(c, 95) - np.median(c))
    return np.array([floor, dimmed, halo, shadow, rim, lit, highlight], np.float32)


class RenderEngineOracle:
    """Reads which render engine (or none) a single-object toy-world picture shows."""

    def __init__(self, world: ToyWorld | None = None, scenes_per_option: int = FIT_SCENES, seed: int = FIT_SEED):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.world = world or ToyWorld()
        self.oracle = Oracle(self.world.vocab)
        self.refs = {m.effect: m.ref for m in self.world.vocab.modifiers if m.effect in ENGINES}
        fit = self.probe(seed, scenes_per_option)
        # every decoder softens what it draws: the reader also sees the renders slightly blurred
        soft = np.stack([np.clip(blur(im.astype(np.float32), SOFTEN) + 0.5, 0, 255).astype(np.uint8)
                         for im in fit.images])
        x, y = self._features(np.concatenate([fit.images, soft]), fit.labels * 2)
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000)).fit(x, y)

    def probe(self, seed: int, scenes: int) -> Probe:
        """`scenes` random single-object scenes, each drawn plain and with each engine (4 x
        `scenes` pictures), with the prompts that ask for them."""
        rng, v = np.random.default_rng(seed), self.world.vocab
        images, prompts, labels = [], [], []
        for _ in range(scenes):
            spec = PromptSpec(colour=v.colours[rng.integers(len(v.colours))].name,
                              shape=v.shapes[rng.integers(len(v.shapes))].name,
                              background=v.backgrounds[rng.integers(len(v.backgrounds))].name)
            scene = self.world.sample_scene(rng, spec)
            for engine in (None, *ENGINES):
                mods = (self.refs[engine],) if engine else ()
                images.append(self.world.render(Scene(scene.objects, scene.background, mods, seed=scene.seed)))
                prompts.append(scene_prompt(spec.colour, spec.shape, spec.background, [v.modifier(m).phrase for m in mods]))
                labels.append(engine)
        return Probe(np.stack(images), prompts, labels)

    def _features(self, images, labels=None):
        rows, keep = [], []
        for i, im in enumerate(images):
            f = features(self.oracle, im)
            if f is not None:
                rows.append(f), keep.append(i)
        x = np.stack(rows) if rows else np.zeros((0, N_FEATURES), np.float32)
        y = [labels[i] or "none" for i in keep] if labels is not None else keep
        return x, y

    def read_many(self, images) -> list[str | None]:
        """The engine each of uint8 (N, H, W, 3) pictures shows: an effect key, None for none,
        or NO_OBJECT."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"read_many expects a stack of RGB pictures (N, H, W, 3), got shape {images.shape}; "
                             "for one (H, W, 3) picture call read(image)")
        _check_uint8(images)
        x, keep = self._features(images)
        out: list[str | None] = [NO_OBJECT] * len(images)
        if len(keep):
            for i, label in zip(keep, self.model.predict(x)):
                out[i] = None if label == "none" else str(label)
        return out

    def read(self, image) -> str | None:
        """The engine a uint8 (H, W, 3) picture shows: an effect key, None, or NO_OBJECT."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"read expects one RGB picture (H, W, 3), got shape {image.shape}; "
                             "convert PIL images with np.asarray(im.convert('RGB'))")
        return self.read_many(image[None])[0]

    def accuracy(self, images, labels) -> dict:
        return scores(self.read_many(images), labels)


def _check_uint8(images: np.ndarray) -> None:
    if images.dtype != np.uint8:
        raise TypeError(f"the render-engine reader reads uint8 pictures (0-255), got {images.dtype}; convert "
                        "pipeline output in [0, 1] with (x * 255 + 0.5).clip(0, 255).astype(np.uint8)")


def scores(said, labels) -> dict:
    """Share read right, overall and per option (chance 1/4). A picture with no object to
    measure counts as wrong, whatever was asked; `no_object` says how many there were."""
    right = np.array([s == t and s != NO_OBJECT for s, t in zip(said, labels)])
    per = {(e or "none"): round(float(right[[t == e for t in labels]].mean()), 4)
           for e in (None, *ENGINES) if e in labels}
    return {"accuracy": round(float(right.mean()), 4), "n": len(labels), "chance": 0.25, "per_engine": per,
            "no_object": sum(s == NO_OBJECT for s in said)}


def drawn_render_engines(pipe, zero_shot, scenes: int, seed: int, steps: int, guidance: float,
                         world: ToyWorld | None = None) -> dict:
    """Are render engines drawn? A probe of `scenes` scenes, each asked for plain and with each
    engine at one seed, generated by `pipe` and read by the pixel reader and, on the same
    pictures, by the toy CLIP (`zero_shot`, choosing among the scene's four prompts). Beside
    them the reader on the world's renders of the same scenes and on their round trips through
    the pipeline's VAE: the ceilings for a UNet that drew like the world."""
    from .evaluate import generate
    from .recipe import round_trip

    reader = RenderEngineOracle(world)
    probe = reader.probe(seed, scenes)
    options = (None, *ENGINES)
    seeds = [seed + i // len(options) for i in range(len(probe.prompts))]  # one seed per scene
    images = generate(pipe, probe.prompts, seeds, steps, guidance)
    feats = zero_shot.image_features(images)
    said = [options[zero_shot.choose(f, probe.prompts[i - i % len(options):][:len(options)])]
            for i, f in enumerate(feats)]
    return {
        "generated": reader.accuracy(images, probe.labels),
        "toy_clip_same_pictures": scores(said, probe.labels),
        "world_renders": reader.accuracy(probe.images, probe.labels),
        "round_trips": reader.accuracy(round_trip(pipe.vae, probe.images), probe.labels),
    }
