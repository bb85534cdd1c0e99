"""Real meaning, on the toy-world CLIP (skipped until the model is trained): colours sit near
their words, a concept axis separates what it names, and centring closes the modality gap."""

import numpy as np
from PIL import Image

from workbench.maps.concepts import ConceptAxes
from workbench.maps.projection import centre_modalities, modality_gap

SHAPES = ["circle", "square", "star", "heart", "triangle"]
BACKGROUNDS = ["white", "black", "gray"]


def render(prompts, seed=0):
    from workbench.toyworld.world import ToyWorld

    world = ToyWorld()
    return [Image.fromarray(world.render(world.scene_from_prompt(p, np.random.default_rng([seed, i])).scene))
            for i, p in enumerate(prompts)]


def scenes(colour):
    return [f"a {colour} {shape} on a {bg} background" for shape in SHAPES for bg in BACKGROUNDS]


def test_images_of_red_things_sit_nearer_red_than_images_of_blue_things(toy_clip):
    red, blue = toy_clip.embed_images(render(scenes("red"))), toy_clip.embed_images(render(scenes("blue")))
    words = toy_clip.embed_texts(["red", "blue"])
    assert (red @ words[0]).mean() > (blue @ words[0]).mean()
    assert (blue @ words[1]).mean() > (red @ words[1]).mean()
    # pair by pair: the same shape and background, only the colour differs
    assert ((red @ words[0]) > (blue @ words[0])).mean() >= 0.8


def test_a_concept_axis_separates_what_it_names(toy_clip):
    axes = ConceptAxes(toy_clip, [("red", "blue"), ("circle", "square")]).fit()
    red, blue = axes.place_images(render(scenes("red"))), axes.place_images(render(scenes("blue")))
    assert (red[:, 0] > blue[:, 0]).mean() >= 0.8
    circles = axes.place_images(render([f"a {c} circle on a white background" for c in ("red", "green", "blue")]))
    squares = axes.place_images(render([f"a {c} square on a white background" for c in ("red", "green", "blue")]))
    assert circles[:, 1].mean() > squares[:, 1].mean()


def test_centring_closes_the_toy_clip_modality_gap(toy_clip):
    prompts = scenes("red") + scenes("blue")
    X = np.vstack([toy_clip.embed_texts(prompts), toy_clip.embed_images(render(prompts))])
    is_image = np.r_[np.zeros(len(prompts), bool), np.ones(len(prompts), bool)]
    raw, centred = modality_gap(X, is_image), modality_gap(centre_modalities(X, is_image), is_image)
    assert centred < raw / 3, (raw, centred)


def test_rank_puts_the_colour_an_image_shows_first(toy_clip):
    """ClipEmbedder.rank, clip-interrogator's ranking: labels sorted by similarity to the image."""
    labels = ["a blue square", "a red circle", "a green star"]
    image = render(["a red circle on a white background"])[0]
    ranked = toy_clip.rank(image, labels)
    assert [label for label, _ in ranked][0] == "a red circle"
    assert sorted(labels) == sorted(label for label, _ in ranked)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert toy_clip.rank(image, labels, top=1) == ranked[:1]
