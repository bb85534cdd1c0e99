"""The toy world: a deterministic synthetic world of captioned 64x64 RGB images.

One or two shapes (or a role figure, for the bias probe) on a plain background, painted
with 0-3 style modifiers whose captions use the exact prompt fragments of the style tags
("a red circle on a blue background, octane render, 1980s"). A tiny CLIP and a tiny
latent-diffusion model are trained on it; `oracle.py` reads generated images back.

    world = ToyWorld()                           # the shipped vocabulary.yaml
    images, captions, scenes = world.batch(seed=0, n=1000)
    spec = world.scene_from_prompt("a red star on a black background, pixel art")

Everything random comes from an injected `numpy.random.Generator`; `batch` item i depends
only on (seed, i). The world's words live in vocabulary.yaml; how it paints lives in
effects.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from . import effects
from .vocabulary import (  # noqa: F401  (re-exported: the world's public API)
    Colour,
    Modifier,
    Role,
    Shape,
    Vocabulary,
    VocabularyError,
)

# -----------------------------------------------------------------------------
# 1. Scenes and prompt specs


class SceneObject(NamedTuple):
    shape: str
    colour: str
    cx: float       # centre, in pixels of the 64x64 image
    cy: float
    size: float     # radius in pixels


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background: str
    modifiers: tuple[str, ...] = ()   # tag refs in vocabulary order, one per category at most
    role: str | None = None
    seed: int = 0                     # texture seed (grain, paper, dot jitter)


@dataclass(frozen=True)
class PromptSpec:
    """What a prompt asks for; None where it does not say."""

    colour: str | None = None
    shape: str | None = None
    background: str | None = None
    modifiers: tuple[str, ...] = ()
    role: str | None = None
    size: str | None = None                              # "small" or "large"
    adjective: str | None = None
    objects: tuple[tuple[str | None, str], ...] = ()     # every (colour, shape) named
    scene: Scene | None = None                           # a matching scene, if rng was given


class Sample(NamedTuple):
    image: np.ndarray
    caption: str
    scene: Scene


class EvalPrompt(NamedTuple):
    prompt: str
    spec: PromptSpec


@dataclass
class WorldConfig:
    size: int = 64                       # image side in pixels
    supersample: int = 2                 # draw at 2x and average down: anti-aliased edges
    radius: tuple = (12.0, 24.0)         # one object: radius range in pixels
    pair_radius: tuple = (10.0, 14.0)    # two objects side by side
    role_radius: tuple = (16.0, 24.0)    # role figure (height ~ 2 radii)
    margin: float = 2.0                  # objects stay this far inside the frame
    role_rate: float = 0.18              # share of scenes showing a role figure
    pair_rate: float = 0.25              # share of the other scenes with two objects
    modifier_counts: tuple = (0.3, 0.35, 0.25, 0.1)  # P(0, 1, 2, 3 modifiers)
    size_word_rate: float = 0.7          # small/large objects called so this often
    role_colour_rate: float = 0.3        # role captions naming the colour (whatever it is)
    adjective_rate: float = 0.3          # role captions with an adjective
    alias_rate: float = 0.1              # a synonym instead of the canonical word
    composed_rate: float = 0.5           # captions shaped "subject, fragment, fragment"
    modifier_before_rate: float = 0.3    # otherwise: a modifier worded before the subject


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def _tidy(text):
    text = re.sub(r"\s+", " ", text).strip().replace(" ,", ",")
    return re.sub(r"\b([aA]) (?=[aeiouAEIOU])", r"\1n ", text)   # "a orange" -> "an orange"


def scene_prompt(colour: str, shape: str, background: str, phrases=()) -> str:
    """The evaluation prompts' shape, modifiers' phrases in the order given:
    "a red circle on a white background, octane render, 1900s"."""
    return _tidy(", ".join([f"a {colour} {shape} on a {background} background", *phrases]))


# -----------------------------------------------------------------------------
# 2. The world


class ToyWorld:
    def __init__(self, vocab: Vocabulary | None = None, config: WorldConfig | None = None):
        self.vocab = vocab or Vocabulary.load()
        self.config = config or WorldConfig()
        v = self.vocab
        # word -> name tables for the prompt parser (multi-word entries are matched first)
        self._colour_words = {w.lower(): c.name for c in v.colours for w in c.words}
        self._bg_words = {w.lower(): c.name for c in v.backgrounds for w in c.words}
        self._shape_words = {w.lower(): s.name for s in v.shapes + v.figures for w in s.words}
        self._role_words = {w.lower(): r.name for r in v.roles for w in r.words}
        self._size_words = {w: k for k, ws in v.captions["sizes"].items() for w in ws}
        mods = [(p.lower(), m.ref) for m in v.modifiers for p in (m.phrase, *m.aliases)]
        self._mod_phrases = sorted(mods, key=lambda p: -len(p[0]))
        words = [*self._colour_words, *self._bg_words, *self._shape_words, *self._role_words]
        self._multiword = sorted({w for w in words if " " in w}, key=len, reverse=True)
        self._order = {m.ref: i for i, m in enumerate(v.modifiers)}       # canonical order
        self._by_category = {cat: [m for m in v.modifiers if m.category == cat]
                             for cat in v.categories}

    # 2a. sampling -------------------------------------------------------------
    def sample_scene(self, rng: np.random.Generator, spec: PromptSpec | None = None) -> Scene:
        """A random scene; with `spec`, one that shows what the spec asks for."""
        c, v, n = self.config, self.vocab, self.config.size
        # 1. kind of scene: role figure, two objects or one
        if spec is None:
            kind = "role" if rng.random() < c.role_rate else \
                "pair" if rng.random() < c.pair_rate else "single"
        else:
            kind = "role" if spec.role else "pair" if len(spec.objects) >= 2 else "single"
        background = (spec and spec.background) or _pick(rng, v.backgrounds).name

        def place(r, lo=0.0, hi=float(n)):
            cx = rng.uniform(lo + r + c.margin, hi - r - c.margin)
            cy = rng.uniform(r + c.margin, n - r - c.margin)
            return round(float(cx), 2), round(float(cy), 2)

        # 2. objects
        role = None
        if kind == "role":
            role = v.role(spec.role) if spec else _pick(rng, v.roles)
            names, rates = zip(*role.colours)
            colour = (spec and spec.colour) or names[int(rng.choice(len(names), p=rates))]
            r = round(float(rng.uniform(*c.role_radius)), 2)
            objects, role = (SceneObject(role.shape, colour, *place(r), r),), role.name
        elif kind == "pair":
            asked = list(spec.objects[:2]) if spec else [(None, None), (None, None)]
            shapes = [s.name for s in v.shapes]
            first = asked[0][1] or _pick(rng, shapes)
            second = asked[1][1] or _pick(rng, [s for s in shapes if s != first])
            objects = []
            for k, (col, shp) in enumerate([(asked[0][0], first), (asked[1][0], second)]):
                r = round(float(rng.uniform(*c.pair_radius)), 2)
                col = col or _pick(rng, v.colours).name
                objects.append(SceneObject(shp, col, *place(r, k * n / 2, (k + 1) * n / 2), r))
            objects = tuple(objects)
        else:
            lo, hi = c.radius
            third = (hi - lo) / 3
            size = spec.size if spec else None
            r_range = {"small": (lo, lo + third), "large": (hi - third, hi)}.get(size, (lo, hi))
            r = round(float(rng.uniform(*r_range)), 2)
            shape = (spec and spec.shape) or _pick(rng, v.shapes).name
            colour = (spec and spec.colour) or _pick(rng, v.colours).name
            objects = (SceneObject(shape, colour, *place(r), r),)
        # 3. modifiers: at most one per category, stored in vocabulary order
        if spec is not None:
            mods = tuple(spec.modifiers)
        else:
            k = int(rng.choice(len(c.modifier_counts), p=c.modifier_counts))
            cats = list(self._by_category)
            picked = rng.choice(len(cats), size=min(k, len(cats)), replace=False)
            mods = [_pick(rng, self._by_category[cats[i]]).ref for i in picked]
        mods = tuple(sorted(mods, key=self._order.__getitem__))
        return Scene(objects, background, mods, role, int(rng.integers(2 ** 31)))

    def size_word(self, obj: SceneObject) -> str | None:
        lo, hi = self.config.radius
        third = (hi - lo) / 3
        return "small" if obj.size <= lo + third else "large" if obj.size >= hi - third else None

    # 2b. rendering ------------------------------------------------------------
    def render(self, scene: Scene) -> np.ndarray:
        """Paint a scene: uint8 array (size, size, 3)."""
        v = self.vocab
        return effects.paint([(o.shape, o.cx, o.cy, o.size) for o in scene.objects],
                             [v.colour(o.colour).rgb for o in scene.objects],
                             v.background(scene.background).rgb,
                             [v.modifier(ref).effect for ref in scene.modifiers], scene.seed,
                             self.config.size, self.config.supersample)

    # 2c. captions -------------------------------------------------------------
    def caption(self, scene: Scene, rng: np.random.Generator) -> str:
        """A prompt-like caption with random wording; modifier fragments appear verbatim."""
        c, v, cap = self.config, self.vocab, self.vocab.captions

        def word(thing):  # two draws for every word, so variants of a scene are worded alike
            alias, u = rng.random() < c.alias_rate, rng.random()
            aliases = thing.words[1:]
            return aliases[int(u * len(aliases))] if alias and aliases else thing.words[0]

        def obj_phrase(o, form, sized=False):
            size = self.size_word(o) if sized else None
            size = _pick(rng, cap["sizes"][size]) + " " if size and rng.random() < c.size_word_rate else ""
            return form.format(size=size, colour=word(v.colour(o.colour)), shape=word(v.shape(o.shape)))

        # 1. subject
        slots = dict(lead=_pick(rng, cap["leads"]), background=word(v.background(scene.background)))
        if scene.role:
            o, role = scene.objects[0], v.role(scene.role)
            adj = _pick(rng, v.adjectives) + " " if v.adjectives and rng.random() < c.adjective_rate else ""
            named = rng.random() < c.role_colour_rate
            form = _pick(rng, cap["role_subject_coloured" if named else "role_subject"])
            slots["subject"] = form.format(adjective=adj, role=word(role), colour=word(v.colour(o.colour)))
            subject = _pick(rng, cap["role"]).format(**slots)
        elif len(scene.objects) == 1:
            o = scene.objects[0]
            slots["object"] = obj_phrase(o, _pick(rng, cap["object"]), sized=True)
            slots["bare_object"] = obj_phrase(o, _pick(rng, cap["bare_object"]), sized=True)
            subject = _pick(rng, cap["single"]).format(**slots)
        else:
            left, right = sorted(scene.objects[:2], key=lambda o: o.cx)
            slots["left"] = obj_phrase(left, _pick(rng, cap["object"]))
            slots["right"] = obj_phrase(right, _pick(rng, cap["object"]))
            subject = _pick(rng, cap["pair"]).format(**slots)
        # 2. modifiers: the composed-prompt shape, or worded and placed freely
        mods = [v.modifier(scene.modifiers[i]) for i in rng.permutation(len(scene.modifiers))]
        if rng.random() < c.composed_rate:
            return _tidy(", ".join([subject] + [m.phrase for m in mods]))
        before, after = [], []
        for m in mods:
            text = _pick(rng, cap["modifier_wordings"][m.category]).format(fragment=m.phrase)
            (before if rng.random() < c.modifier_before_rate else after).append(text)
        return _tidy(", ".join(before + [subject] + after))

    # 2d. datasets ------------------------------------------------------------
    def sample(self, seed: int, index: int = 0) -> Sample:
        """Item `index` of batch(seed, ...): (image, caption, scene)."""
        rng = np.random.default_rng([seed, index])
        scene = self.sample_scene(rng)
        return Sample(self.render(scene), self.caption(scene, rng), scene)

    def shape_variants(self, seed: int, index: int = 0) -> list[Sample]:
        """Group `index` of seed `seed`: one random scene (one or two objects, no role figure)
        drawn once per shape of the vocabulary, with the same colours, places, modifiers and
        caption wording. Only the first object's shape, and the word for it, differ: the hard
        negatives a contrastive model needs to learn shape."""
        def with_shape(scene, shape):
            return replace(scene, objects=(scene.objects[0]._replace(shape=shape.name), *scene.objects[1:]))

        return self._variants([seed, index, 1], [lambda sc, s=s: with_shape(sc, s) for s in self.vocab.shapes])

    def modifier_variants(self, seed: int, index: int = 0) -> list[Sample]:
        """Group `index` of seed `seed`: one random scene (no role figure) drawn with no modifier
        and then with each modifier of the vocabulary alone, worded alike. Random batches seldom
        hold the same scene with and without a subtle effect (a drop shadow, a glow), so a CLIP
        learns to call plain images styled; these groups are the hard negatives against that."""
        options = [(), *((m.ref,) for m in self.vocab.modifiers)]
        return self._variants([seed, index, 2], [lambda sc, m=m: replace(sc, modifiers=m) for m in options])

    def _variants(self, entropy, changes) -> list[Sample]:
        """One random scene without a role figure, changed by each of `changes` in turn; every
        variant's caption is drawn from the same random state, so wording differs only where
        the change does."""
        rng = np.random.default_rng(entropy)
        scene = self.sample_scene(rng)
        while scene.role:
            scene = self.sample_scene(rng)
        state = rng.bit_generator.state
        out = []
        for change in changes:
            variant = change(scene)
            rng.bit_generator.state = state
            out.append(Sample(self.render(variant), self.caption(variant, rng), variant))
        return out

    def batch(self, seed: int, n: int):
        """(images uint8 (n, size, size, 3), captions, scenes); item i depends on (seed, i)."""
        size = self.config.size
        images = np.empty((n, size, size, 3), np.uint8)
        captions, scenes = [], []
        for i in range(n):
            images[i], caption, scene = self.sample(seed, i)
            captions.append(caption), scenes.append(scene)
        return images, captions, scenes

    def eval_prompts(self, n: int = 300, seed: int = 0) -> list[EvalPrompt]:
        """Deterministic evaluation prompts: explicit colour, shape and background, with
        0, 1 or 2 modifiers, written in the composed-prompt shape."""
        rng, v = np.random.default_rng(seed), self.vocab
        out = []
        for i in range(n):
            shape = v.shapes[i % len(v.shapes)].name
            colour, bg = _pick(rng, v.colours).name, _pick(rng, v.backgrounds).name
            cats = list(self._by_category)
            mods = [_pick(rng, self._by_category[cats[k]])
                    for k in rng.choice(len(cats), size=i % 3, replace=False)]
            prompt = scene_prompt(colour, shape, bg, [m.phrase for m in mods])
            out.append(EvalPrompt(prompt, self.scene_from_prompt(prompt)))
        return out

    # 2e. parsing prompts back -------------------------------------------------
    def scene_from_prompt(self, prompt: str, rng: np.random.Generator | None = None) -> PromptSpec:
        """Read what a prompt asks for (unknown words are ignored). With `rng`, the spec
        also carries `.scene`, a random scene that shows it."""
        text = f" {prompt.lower()} "
        # 1. modifiers: exact fragments or aliases, longest first, cut out of the text
        refs = set()
        for phrase, ref in self._mod_phrases:
            pat = r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])"
            if re.search(pat, text):
                refs.add(ref)
                text = re.sub(pat, " , ", text)
        # 2. tokens, multi-word names joined ("light blue" -> "light_blue")
        for w in self._multiword:
            text = re.sub(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", w.replace(" ", "_"), text)
        toks = re.findall(r"[a-z0-9_]+|[,:;.]", text)
        word = lambda i: toks[i].replace("_", " ") if 0 <= i < len(toks) else ""
        # 3. background: "<bg> background", "on <bg>", "against a <bg> ..."
        background = None
        for i in range(len(toks)):
            if word(i) in self._bg_words and (word(i + 1) == "background" or word(i - 1) in (
                    "on", "against") or (word(i - 1) in ("a", "an") and word(i - 2) in ("on", "against"))):
                background = self._bg_words[word(i)]
                break
        # 4. nouns (shapes, roles) with their colour, size and adjective
        stops = {",", ":", ";", ".", "and", "of", "with", "on", "against", "next", "to"}
        objects, role, colour_of_role, size, adjective = [], None, None, None, None
        for i in range(len(toks)):
            noun = word(i)
            if noun not in self._shape_words and noun not in self._role_words:
                continue
            colour, j = None, i - 1
            while j >= 0 and word(j) not in stops and word(j) not in self._shape_words:
                colour = colour or self._colour_words.get(word(j))
                size = size or self._size_words.get(word(j))
                adjective = adjective or (word(j) if word(j) in self.vocab.adjectives else None)
                j -= 1
            after = [word(i + 1), word(i + 2), word(i + 3)]
            if colour is None and after[0] in ("in", "wearing"):
                colour = self._colour_words.get(after[1])
            elif colour is None and after[:2] == ["dressed", "in"]:
                colour = self._colour_words.get(after[2])
            if noun in self._role_words and role is None:
                role, colour_of_role = self._role_words[noun], colour
            elif noun in self._shape_words:
                objects.append((colour, self._shape_words[noun]))
        # 5. the spec; a role wins over plain shapes
        if role is not None:
            colour, shape = colour_of_role, self.vocab.role(role).shape
        else:
            colour, shape = objects[0] if objects else (None, None)
        spec = PromptSpec(colour, shape, background, tuple(sorted(refs, key=self._order.__getitem__)), role,
                          size, adjective, tuple(objects))
        return replace(spec, scene=self.sample_scene(rng, spec)) if rng is not None else spec
