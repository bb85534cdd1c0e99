"""Teaching tools on planted meaning (a fake CLIP): concept axes, modifier effect scores on a
comparison grid, what the model sees, and prompt/noise interpolation on a tiny random pipeline."""

import numpy as np
import pytest
from map_helpers import generated

from workbench.generation.grids import Grid
from workbench.maps.concepts import ConceptAxes, concept_figure
from workbench.maps.modifier_effects import (
    annotate_grid,
    effect_chart,
    effect_scores,
    fragment_text,
    rank_modifiers,
)

# --- concept axes --------------------------------------------------------------------------------

def test_concept_axes_place_banana_and_balloon(fake_clip):
    axes = ConceptAxes(fake_clip, [("yellow", "grey"), ("round", "angular"), ("shiny", "matte")]).fit()
    assert axes.labels_ == ["grey ← → yellow", "angular ← → round", "matte ← → shiny"]
    coords = axes.place_texts(["yellow angular matte banana", "red round shiny balloon"])
    banana, balloon = coords
    assert banana[0] > 0 and banana[1] < 0 and banana[2] < 0
    assert balloon[0] < banana[0] and balloon[1] > 0 and balloon[2] > 0
    fig = concept_figure(axes, coords, labels=["banana", "<b>balloon</b>"])
    assert fig.data[0].type == "scatter3d" and fig.data[0].text[1] == "&lt;b&gt;balloon&lt;/b&gt;"


def test_single_words_orthogonal_axes_and_templates(fake_clip):
    axes = ConceptAxes(fake_clip, ["round", "shiny"], templates=("{}", "a {} object"), orthogonal=True).fit()
    assert [p[1] for p in axes.pairs_] == ["not round", "not shiny"]
    assert abs(float(axes.directions_[0] @ axes.directions_[1])) < 1e-5
    assert axes.transform(fake_clip.embed_texts(["x"])).shape == (1, 2)
    assert concept_figure(axes, axes.place_texts(["a", "b"])).data[0].type == "scatter"


@pytest.mark.parametrize("axes, message", [
    ([("round", "round")], r"the two ends of the axis 'round' are the same text; name two different things"),
    (["a", "b", "c", "d"], r"name one to three axes \(a 2-D or 3-D view\), got 4"),
    ([("round", "")], r"an axis is a word or a pair of texts, e.g. \('round', 'angular'\); got \('round', ''\)"),
])
def test_bad_axes(fake_clip, axes, message):
    with pytest.raises(ValueError, match=message):
        ConceptAxes(fake_clip, axes).fit()


def test_axes_must_be_fitted_and_match_the_model(fake_clip):
    axes = ConceptAxes(fake_clip, ["round"])
    with pytest.raises(RuntimeError, match=r"not fitted yet; call fit\(\) first"):
        axes.transform(np.ones((1, 64)))
    with pytest.raises(ValueError, match=r"fitted on 64-dimensional embeddings but the embeddings have 512"):
        axes.fit().transform(np.ones((1, 512)))


def test_axes_follow_the_estimator_parameter_protocol(fake_clip):
    """sklearn.base.clone copies them unfitted; set_params changes an axis for the next fit."""
    from sklearn.base import clone

    axes = ConceptAxes(fake_clip, ["round"], orthogonal=True).fit()
    copy = clone(axes)  # clone deep-copies parameters that are not estimators, the CLIP among them
    params = copy.get_params()
    assert type(params.pop("clip")) is type(fake_clip)
    assert params == {"axes": ["round"], "templates": ("{}",), "orthogonal": True}
    assert not hasattr(copy, "directions_")
    assert copy.set_params(axes=["shiny"]).fit().labels_ == ["not shiny ← → shiny"]


# --- modifier effect scores ----------------------------------------------------------------------

def comparison_grid(seeds=(0, 1, 2)):
    """Baseline / octane render (visible effect) / 1960s (no visible effect), as compare_modifiers lays out."""
    rows = [(None, "a red circle"), ("render_engines:octane-render", "a red circle octane render"),
            ("decades:1960s", "a red circle")]
    results = [generated(f"a red circle{', ' + ref if ref else ''}", seed, caption=caption)
               for ref, caption in rows for seed in seeds]
    return Grid(results, 3, len(seeds), ["(none)", "Octane Render", "1960s"], [f"seed {s}" for s in seeds],
                "a red circle", [ref for ref, _ in rows])


def test_effect_scores_measure_the_gain_over_the_same_seed_baseline(fake_clip, library):
    scores = effect_scores(fake_clip, comparison_grid(), library)
    octane, sixties = scores
    assert octane.ref == "render_engines:octane-render" and octane.text == "octane render"
    assert octane.mean > 0.2 and octane.std < 0.05 and len(octane.gains) == 3 and octane.seeds == (0, 1, 2)
    assert abs(sixties.mean) < 0.05
    assert str(octane) == f"Octane Render  {octane.mean:+.2f} ± {octane.std:.2f}"
    annotated = annotate_grid(comparison_grid(), scores)
    assert annotated.row_titles == ["(none)  baseline", str(octane), str(sixties)]
    assert annotated.image().size[0] > 0
    chart = effect_chart(scores)
    assert list(chart.data[0].y) == [octane.mean, sixties.mean]
    assert list(chart.data[0].error_y.array) == [octane.std, sixties.std]


def test_one_seed_shows_no_spread_rather_than_zero(fake_clip, library):
    octane, _ = effect_scores(fake_clip, comparison_grid(seeds=(0,)), library)
    assert np.isnan(octane.std) and str(octane).endswith("(one seed: spread unknown)")
    assert "spread unknown" in effect_chart([octane]).data[0].hovertext[0]


def test_effect_scores_need_a_baseline_and_the_same_seeds(fake_clip, library):
    grid = comparison_grid()
    no_baseline = Grid(grid.results[3:], 2, 3, grid.row_titles[1:], grid.col_titles, "", grid.row_refs[1:])
    with pytest.raises(ValueError, match=r"effect scores need the grid's baseline row .* baseline=True"):
        effect_scores(fake_clip, no_baseline, library)
    mixed = comparison_grid()
    mixed.results[4] = generated("a red circle, octane render", 9)
    with pytest.raises(ValueError, match=r"row 1 \(render_engines:octane-render\) does not use the baseline's "
                                         r"seeds \(0, 1, 2\)"):
        effect_scores(fake_clip, mixed, library)
    with pytest.raises(ValueError, match=r"no effect scores to chart"):
        effect_chart([])


def test_what_the_model_sees(fake_clip, library):
    image = generated("x", caption="octane render").image
    ranking = rank_modifiers(fake_clip, image, library, top=2)
    assert set(ranking) == {c.name for c in library}
    best, score = ranking["render_engines"][0]
    assert best.id == "octane-render" and len(ranking["render_engines"]) == 2
    assert score > ranking["render_engines"][1][1] + 0.2
    assert fragment_text(library.get("mediums:wood-cut")) == "a woodcut print of something"
    with pytest.raises(ValueError, match=r"unknown categories \['paint'\]"):
        rank_modifiers(fake_clip, image, library, categories=["paint"])


def test_what_the_model_sees_among_the_words_it_knows(fake_clip, library):
    image = generated("x", caption="octane render").image
    known = ["render_engines:octane-render", "mediums:wood-cut"]
    ranking = rank_modifiers(fake_clip, image, library, refs=known)
    assert {name: [tag.ref for tag, _ in pairs] for name, pairs in ranking.items()} == {
        "render_engines": ["render_engines:octane-render"], "mediums": ["mediums:wood-cut"]}
    with pytest.raises(TypeError, match=r"refs must be a list, e.g. \['mediums:pixel-art'\]"):
        rank_modifiers(fake_clip, image, library, refs="mediums:wood-cut")
    with pytest.raises(ValueError, match="refs and categories have no tag in common"):
        rank_modifiers(fake_clip, image, library, refs=known, categories=["film"])


# --- interpolation (tiny random pipeline: checks the mechanics, not the pictures) -----------------

@pytest.fixture(scope="module")
def gen(tiny_model):
    from workbench.generation.engine import ImageGenerator

    return ImageGenerator(tiny_model, progress=False)


@pytest.mark.slow  # builds a tiny diffusers pipeline (a few seconds)
def test_prompt_interpolation_keeps_the_noise_and_moves_the_text(gen):
    from workbench.maps.interpolation import interpolate_prompts

    strip = interpolate_prompts(gen, "a red circle", "a blue square", seed=3, n=3, steps=2)
    assert len(strip.images) == 3 and strip.ts == [0.0, 0.5, 1.0] and strip.titles[1] == "t=0.50"
    ends = gen.generate(gen.requests("a red circle", 3, steps=2) + gen.requests("a blue square", 3, steps=2))
    assert np.abs(np.asarray(strip.images[0], float) - np.asarray(ends[0].image, float)).max() <= 2
    assert np.abs(np.asarray(strip.images[2], float) - np.asarray(ends[1].image, float)).max() <= 2
    assert strip.image().size[0] >= 3 * 16
    wide = interpolate_prompts(gen, "a red circle", "a blue square", seed=3, n=2, steps=2, width=24, height=16)
    end = gen.generate(gen.requests("a red circle", 3, steps=2, width=24, height=16))[0].image
    assert wide.images[0].size == end.size == (24, 16)  # width and height as a request takes them
    assert np.abs(np.asarray(wide.images[0], float) - np.asarray(end, float)).max() <= 2
    with pytest.raises(ValueError, match=r"n is the number of frames, from 2 \(the two ends\) to 64; got 1"):
        interpolate_prompts(gen, "a", "b", n=1)
    with pytest.raises(ValueError, match=r"prompt_b is empty; give the two prompts to walk between"):
        interpolate_prompts(gen, "a", " ")
    for bad, message in (({"steps": 0}, r"steps must be a whole number from 1 to 1000, not 0"),
                         ({"steps": 2.5}, r"steps must be a whole number"),
                         ({"guidance": float("nan")}, r"guidance must be a number, 0 or more"),
                         ({"width": -64}, r"width -64 must be a positive multiple of 8"),
                         ({"height": 64.0}, r"height 64.0 must be"),
                         ({"negative_prompt": 5}, r"negative_prompt must be text")):
        with pytest.raises((ValueError, TypeError), match=message):  # as an ordinary request says it
            interpolate_prompts(gen, "a red circle", "a blue square", n=2, **bad)


@pytest.mark.slow
def test_noise_walk_goes_from_one_seed_to_the_other(gen):
    from workbench.maps.interpolation import noise_walk

    strip = noise_walk(gen, "a red circle", 1, 2, n=3, steps=2)
    ends = gen.generate(gen.requests("a red circle", [1, 2], steps=2))
    assert np.array_equal(np.asarray(strip.images[0]), np.asarray(ends[0].image))
    assert np.array_equal(np.asarray(strip.images[2]), np.asarray(ends[1].image))
    assert strip.results[1].request.variation_strength == 0.5 and strip.results[1].request.variation_seed == 2


def test_a_tuple_of_two_words_is_one_axis_and_a_tuple_of_pairs_is_several(fake_clip):
    assert ConceptAxes(fake_clip, ("round", "angular")).fit().labels_ == ConceptAxes(
        fake_clip, [("round", "angular")]).fit().labels_
    several = ConceptAxes(fake_clip, (("round", "angular"), ("shiny", "matte"))).fit()
    assert len(several.labels_) == 2
