"""Evaluation oracle: accuracy on clean and degraded renders, pairs, roles, modifiers."""
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from workbench.toyworld import effects
from workbench.toyworld.oracle import Oracle
from workbench.toyworld.world import PromptSpec, ToyWorld


@pytest.fixture(scope="module")
def world():
    return ToyWorld()


@pytest.fixture(scope="module")
def oracle(world):
    return Oracle(world.vocab)


@pytest.fixture(scope="module")
def singles(world):
    """500 random single-shape, modifier-free scenes and their renders."""
    rng = np.random.default_rng(123)
    scenes = [world.sample_scene(rng, PromptSpec()) for _ in range(500)]
    return scenes, [world.render(s) for s in scenes]


def degrade(image, rng, sigma=1.0, noise=12.0):
    """What a small diffusion model might leave: gaussian blur plus gaussian noise."""
    x = effects.blur(image.astype(np.float32), sigma) + rng.normal(0, noise, image.shape)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def accuracy(oracle, scenes, images, modifiers=()):
    hits = Counter()
    for scene, image in zip(scenes, images):
        r, obj = oracle.read(image, modifiers), scene.objects[0]
        hits["background"] += r.background == scene.background
        hits["colour"] += r.colour == obj.colour
        hits["shape"] += r.shape == obj.shape
    return {k: hits[k] / len(scenes) for k in ("background", "colour", "shape")}


def test_clean_renders(oracle, singles):
    acc = accuracy(oracle, *singles)
    assert acc["background"] >= 0.98 and acc["colour"] >= 0.98 and acc["shape"] >= 0.95, acc


def test_blurred_noisy_renders(oracle, singles):
    rng = np.random.default_rng(0)
    scenes, images = singles
    acc = accuracy(oracle, scenes, [degrade(im, rng) for im in images])
    assert min(acc.values()) >= 0.90, acc


def test_two_objects_read_left_to_right(world, oracle):
    rng = np.random.default_rng(8)
    right = 0
    for _ in range(100):
        scene = world.sample_scene(rng, PromptSpec(objects=((None, None), (None, None))))
        got = [(o.colour, o.shape) for o in oracle.read(world.render(scene)).objects]
        right += got == [(o.colour, o.shape) for o in sorted(scene.objects, key=lambda o: o.cx)]
    assert right >= 95


def test_role_colour(world, oracle):
    rng = np.random.default_rng(4)
    right, shapes = 0, Counter()
    for i in range(210):
        scene = world.sample_scene(rng, PromptSpec(role=world.vocab.roles[i % 7].name))
        image = world.render(scene)
        right += oracle.read_role_colour(image) == scene.objects[0].colour
        shapes[oracle.read(image).shape] += 1
    assert right >= 206 and shapes["person"] >= 200


@pytest.mark.parametrize("ref", ["render_engines:octane-render", "mediums:watercolor",
                                 "artists:piet-mondrian", "artists:katsushika-hokusai",
                                 "film:fujifilm-velvia"])
def test_reading_with_the_prompts_modifiers(world, oracle, singles, ref):
    scenes = [replace(s, modifiers=(ref,)) for s in singles[0][:60]]
    acc = accuracy(oracle, scenes, [world.render(s) for s in scenes], modifiers=(ref,))
    assert min(acc.values()) >= 0.9, acc


def test_blank_and_bad_inputs(oracle):
    blank = np.full((64, 64, 3), 242, np.uint8)
    r = oracle.read(blank)
    assert (r.background, r.colour, r.shape, r.n_objects) == ("white", None, None, 0)
    with pytest.raises(ValueError, match="RGB"):
        oracle.read(np.zeros((64, 64), np.uint8))


def test_foreground_finds_the_object_and_names_the_background_colour(world, oracle):
    from workbench.toyworld.world import Scene, SceneObject

    for background in ("white", world.vocab.backgrounds[-1].name):
        scene = Scene((SceneObject("square", world.vocab.colours[0].name, 20.0, 40.0, 10.0),), background)
        bg, mask = oracle.foreground(world.render(scene))
        assert bg.tolist() == list(next(c.rgb for c in world.vocab.backgrounds if c.name == background))
        ys, xs = np.nonzero(mask)
        assert mask[40, 20] and abs(xs.mean() - 20) < 2 and abs(ys.mean() - 40) < 2
        assert 0.6 < mask.sum() / 400 < 1.4  # a square of half-side 10 covers about 400 pixels
