"""Toy world: determinism, captions, prompt parsing, planted role rates, vocabulary checks."""
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from workbench.toyworld.world import PromptSpec, Scene, SceneObject, ToyWorld, Vocabulary, VocabularyError

SHIPPED = Path(__file__).parents[2] / "workbench" / "toyworld" / "vocabulary.yaml"


@pytest.fixture(scope="module")
def world():
    return ToyWorld()


@pytest.fixture(scope="module")
def samples(world):
    rngs = [np.random.default_rng([99, i]) for i in range(600)]
    scenes = [world.sample_scene(r) for r in rngs]
    return [(s, world.caption(s, r)) for s, r in zip(scenes, rngs)]


# 1. determinism ---------------------------------------------------------------

def test_same_seed_same_batch(world):
    a_img, a_cap, a_sc = world.batch(7, 12)
    b_img, b_cap, b_sc = ToyWorld().batch(7, 12)
    assert a_img.shape == (12, 64, 64, 3) and a_img.dtype == np.uint8
    assert np.array_equal(a_img, b_img) and a_cap == b_cap and a_sc == b_sc


def test_item_depends_only_on_seed_and_index(world):
    small_img, small_cap, _ = world.batch(3, 4)
    big_img, big_cap, _ = world.batch(3, 9)
    assert np.array_equal(small_img, big_img[:4]) and small_cap == big_cap[:4]
    image, caption, scene = world.sample(3, 2)
    assert np.array_equal(image, big_img[2]) and caption == big_cap[2]
    other_img, other_cap, _ = world.batch(4, 4)
    assert not np.array_equal(other_img, small_img)


def test_render_is_a_function_of_the_scene(world):
    scene = world.sample_scene(np.random.default_rng(1))
    assert np.array_equal(world.render(scene), world.render(scene))


def test_effect_order_does_not_depend_on_modifier_order(world):
    obj = SceneObject("star", "red", 30.0, 34.0, 18.0)
    mods = ("artists:georges-seurat", "mediums:watercolor", "film:kodak-portra-400")
    a = world.render(Scene((obj,), "white", mods, seed=5))
    b = world.render(Scene((obj,), "white", tuple(reversed(mods)), seed=5))
    assert np.array_equal(a, b)


def test_every_modifier_visibly_changes_the_image(world):
    for bg in ("white", "gray"):
        plain = Scene((SceneObject("circle", "green", 30.0, 30.0, 18.0),), bg, seed=3)
        base = world.render(plain).astype(float)
        for m in world.vocab.modifiers:
            img = world.render(replace(plain, modifiers=(m.ref,))).astype(float)
            changed = (np.abs(img - base).max(-1) > 40).mean()        # share of pixels
            assert changed > 0.04, f"{m.ref} is too weak on {bg}: {changed:.3f}"


# 2. scenes --------------------------------------------------------------------

def test_scenes_stay_in_frame_and_obey_the_modifier_rules(world, samples):
    cats = Counter()
    for scene, _ in samples:
        assert len(scene.modifiers) <= 3
        categories = [world.vocab.modifier(r).category for r in scene.modifiers]
        assert len(set(categories)) == len(categories)                # one per category
        order = [m.ref for m in world.vocab.modifiers]
        assert list(scene.modifiers) == sorted(scene.modifiers, key=order.index)
        for o in scene.objects:
            assert 0 <= o.cx - o.size and o.cx + o.size <= 64
            assert 0 <= o.cy - o.size and o.cy + o.size <= 64 and o.size >= 10
        cats[len(scene.objects) == 2 and "pair" or scene.role and "role" or "single"] += 1
    assert 0.13 < cats["role"] / len(samples) < 0.23                   # role scenes ~18%
    assert cats["pair"] > 0.1 * len(samples)


# 3. captions --------------------------------------------------------------------

def test_captions_contain_the_exact_modifier_fragments(world, samples):
    composed = 0
    for scene, caption in samples:
        phrases = [world.vocab.modifier(r).phrase for r in scene.modifiers]
        for p in phrases:
            assert p in caption, (p, caption)
        others = [m.phrase for m in world.vocab.modifiers if m.ref not in scene.modifiers]
        assert not any(p in caption for p in others), caption
        if phrases and sorted(caption.split(", ")[-len(phrases):]) == sorted(phrases):
            composed += 1                                              # "subject, frag, frag"
    with_mods = sum(1 for s, _ in samples if s.modifiers)
    assert composed > 0.4 * with_mods


def test_captions_vary_their_wording(world, samples):
    captions = [c for _, c in samples]
    assert len(set(captions)) > 0.95 * len(captions)
    for needle in ("a photo of", "background", "two shapes:", "in the style of", "an orange",
                   "to the left of", "a portrait of", "shot on"):
        assert any(needle in c for c in captions), needle
    assert any(c.startswith(p) for c in captions for p in ("red ", "blue ", "green "))


def test_parser_reads_back_every_caption(world, samples):
    for scene, caption in samples:
        spec = world.scene_from_prompt(caption)
        assert spec.modifiers == scene.modifiers, caption
        assert spec.background in (None, scene.background), caption
        if scene.role:
            assert spec.role == scene.role and spec.shape == "person", caption
            assert spec.colour in (None, scene.objects[0].colour), caption
        else:
            want = sorted((o.colour, o.shape) for o in scene.objects)
            assert sorted(spec.objects) == want and spec.role is None, caption


def test_parser_on_hand_written_prompts(world):
    spec = world.scene_from_prompt("a red circle on a light blue background, octane render, 1980s")
    assert (spec.colour, spec.shape, spec.background) == ("red", "circle", "light blue")
    assert spec.modifiers == ("render_engines:octane-render", "decades:1980s")
    spec = world.scene_from_prompt("Linocut of a small teal disc on grey, Octane, a dragon")
    assert (spec.colour, spec.shape, spec.background, spec.size) == ("cyan", "circle", "gray", "small")
    assert spec.modifiers == ("render_engines:octane-render", "mediums:lino-cut")
    spec = world.scene_from_prompt("a photo of a kind CEO wearing red")
    assert (spec.role, spec.colour, spec.adjective, spec.shape) == ("ceo", "red", "kind", "person")
    assert world.scene_from_prompt("a cat in a hat") == PromptSpec()


def test_parser_with_rng_gives_a_matching_scene(world):
    spec = world.scene_from_prompt("a yellow heart on black, pixel art", np.random.default_rng(0))
    s = spec.scene
    assert s.objects[0][:2] == ("heart", "yellow") and s.background == "black"
    assert s.modifiers == ("mediums:pixel-art",)


def test_shape_variants_differ_only_in_the_first_shape(world):
    """The CLIP hard negatives: one scene per shape, worded alike, parsed back to its own shape."""
    for index in range(12):
        group = world.shape_variants(5, index)
        assert [s.scene.objects[0].shape for s in group] == [s.name for s in world.vocab.shapes]
        first = group[0].scene
        for s in group:
            assert s.scene.role is None and s.scene.background == first.background
            assert s.scene.modifiers == first.modifiers and s.scene.objects[1:] == first.objects[1:]
            assert s.scene.objects[0][1:] == first.objects[0][1:]  # colour, place, size
            said = [shape for _, shape in world.scene_from_prompt(s.caption).objects]
            assert s.scene.objects[0].shape in said and len(said) == len(s.scene.objects)
        # the same words around the shape word (aliases of a shape may differ)
        assert len({len(s.caption.split(",")) for s in group}) == 1
        assert len({np.asarray(s.image).tobytes() for s in group}) == len(group)
    again = world.shape_variants(5, 3)
    assert [s.caption for s in again] == [s.caption for s in world.shape_variants(5, 3)]


def test_modifier_variants_differ_only_in_the_modifier(world):
    """The CLIP hard negatives for style: one scene plain and with each modifier alone."""
    options = [()] + [(m.ref,) for m in world.vocab.modifiers]
    for index in range(6):
        group = world.modifier_variants(5, index)
        assert [s.scene.modifiers for s in group] == options
        first = group[0].scene
        for s in group:
            assert s.scene.role is None and s.scene.objects == first.objects
            assert s.scene.background == first.background
            assert world.scene_from_prompt(s.caption).modifiers == s.scene.modifiers
        assert len({np.asarray(s.image).tobytes() for s in group}) == len(group)
    assert [s.caption for s in world.modifier_variants(5, 2)] == [s.caption for s in world.modifier_variants(5, 2)]
    assert world.modifier_variants(5, 2)[0].caption != world.shape_variants(5, 2)[0].caption


def test_eval_prompts(world):
    prompts = world.eval_prompts()
    assert len(prompts) >= 300 and prompts == world.eval_prompts()
    assert len({p.prompt for p in prompts}) > 250
    for prompt, spec in prompts:
        assert spec.colour and spec.shape and spec.background and spec.role is None
        assert all(world.vocab.modifier(r).phrase in prompt for r in spec.modifiers)
    counts = Counter(len(spec.modifiers) for _, spec in prompts)
    assert set(counts) == {0, 1, 2}
    assert len({r for _, spec in prompts for r in spec.modifiers}) == len(world.vocab.modifiers)


def test_more_eval_prompts_begin_with_the_fewer_so_a_second_sample_needs_another_seed(world):
    assert world.eval_prompts(600)[:300] == world.eval_prompts(300)
    other = {p.prompt for p in world.eval_prompts(300, seed=1)}
    assert len(other & {p.prompt for p in world.eval_prompts(300)}) < 30


# 4. planted role rates ---------------------------------------------------------

def test_planted_role_rates_hold(world):
    for role in world.vocab.roles:
        rng = np.random.default_rng(2024)
        colours = Counter(world.sample_scene(rng, PromptSpec(role=role.name)).objects[0].colour
                          for _ in range(2000))
        for colour, rate in role.rates.items():
            assert abs(colours[colour] / 2000 - rate) < 0.03, (role.name, colour)


def test_named_colour_and_adjectives(world):
    rng = np.random.default_rng(0)
    reds = [world.scene_from_prompt("a red doctor", rng).scene.objects[0].colour for _ in range(50)]
    assert set(reds) == {"red"}
    plain = world.scene_from_prompt("a photo of a doctor")
    kind = world.scene_from_prompt("a photo of a kind doctor")
    assert replace(kind, adjective=None) == plain                      # no planted effect


# 5. vocabulary checks ----------------------------------------------------------

def _broken(tmp_path, old, new):
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "vocab.yaml"
    path.write_text(text.replace(old, new, 1))
    line = text[: text.index(old)].count("\n") + 1
    return path, line


@pytest.mark.parametrize("old,new,message", [
    ("shape: person, colours: {blue: 0.8", "shape: robot, colours: {blue: 0.8", "unknown shape 'robot'"),
    ("{blue: 0.8, red: 0.2}", "{blue: 0.8, red: 0.3}", "sum to 1.1, not 1"),
    ("{blue: 0.8, red: 0.2}", "{blue: 0.8, mauve: 0.2}", "unknown colour 'mauve'"),
    ('ref: "render_engines:octane-render"', 'ref: "Octane Render"', "not 'category:tag-id'"),
    ("effect: octane,", "effect: shiny,", "unknown effect 'shiny'"),
    ("rgb: [220, 30, 30]", "rgb: [220, 30]", "needs rgb: [r, g, b]"),
    # a bare string would be read letter by letter: "a" in any prompt then named octane
    ("aliases: [octane],", "aliases: octane,", "'aliases' must be a list of phrases"),
    ("{blue: 0.8, red: 0.2}", "{blue: 0.8, red: 0.2, blue: 0.1}", "duplicate key 'blue'"),
    ("{small: [small, little], large: [large, big]}", "{small: [small, little], big: [large, big]}",
     "captions.sizes needs small: [...] and large: [...]"),
    ('    - "a {size}{shape} in {colour}"', '    - "a {size}{shap} in {colour}"', "unknown slot(s) ['shap']"),
    ('  bare_object: ["{size}{colour} {shape}"]', '  bare_object: "{size}{colour} {shape}"',
     "captions.bare_object must be a list of wordings"),
])
def test_vocabulary_errors_name_file_line_and_problem(tmp_path, old, new, message):
    path, line = _broken(tmp_path, old, new)
    with pytest.raises(VocabularyError) as err:
        Vocabulary.load(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert f":{line}:" in str(err.value)


def test_empty_optional_lists_mean_none(tmp_path):
    """`adjectives:` left empty is YAML's null: no adjectives, as before, not an error."""
    text = SHIPPED.read_text()
    start = text.index("adjectives:")
    end = text.index("\n", start)
    path = tmp_path / "vocab.yaml"
    path.write_text(text[:start] + "adjectives:" + text[end:])
    assert Vocabulary.load(path).adjectives == ()


def test_shipped_vocabulary(world):
    v = Vocabulary.load(SHIPPED)
    assert len(v.shapes) >= 6 and len(v.colours) >= 8 and len(v.backgrounds) >= 4
    assert len(v.modifiers) == 15 and [f.name for f in v.figures] == ["person"]
    assert {m.ref for m in v.modifiers if m.changes_colour} >= {"decades:1980s", "film:ilford-hp5"}
    assert str(v.colours[0]) == v.colours[0].name


def test_toyworld_imports_no_torch():
    code = ("import sys, workbench.toyworld, workbench.toyworld.world, workbench.toyworld.oracle; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
