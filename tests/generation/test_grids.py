"""Grids, comparisons, search/replace, filmstrip on the tiny random model."""

import numpy as np
import pytest

from workbench.generation.engine import ImageGenerator
from workbench.generation.grids import compare_modifiers, compare_prompts, grid_image, search_replace, variation_grid
from workbench.generation.variations import filmstrip


@pytest.fixture
def gen(tiny_model):
    return ImageGenerator(tiny_model, progress=False)


def test_variation_grid_is_3x3_by_default(gen):
    grid = variation_grid(gen, "a red circle", steps=2)
    assert (grid.rows, grid.cols) == (3, 3) and [r.request.seed for r in grid.results] == list(range(9))
    img = grid.image()
    assert img.width >= 3 * 160 and img.height >= 3 * 160


@pytest.mark.parametrize("seeds, shape", [("1,5,9", (1, 3)), ("0-4", (2, 3)), ("0-6", (3, 3)), ("0-7", (3, 3))])
def test_any_number_of_seeds_makes_a_grid(gen, seeds, shape):
    """The CLI's own example, --seeds 1,5,9, once failed after making its images."""
    grid = variation_grid(gen, "a red circle", seeds, steps=1)
    assert (grid.rows, grid.cols) == shape
    corner = np.asarray(grid.image())[-30:-10, -30:-10]  # inside the last cell of the last row
    assert (corner == 255).all() == (len(grid.results) < shape[0] * shape[1]), "a missing cell is left blank"


def test_comparison_rows_share_seeds_and_differ_only_by_the_modifier(gen, library):
    grid = compare_modifiers(gen, "a red circle", ["render_engines:octane-render", "decades:1980s"], "0-3", steps=2)
    labels = [library.get(r).label for r in ("render_engines:octane-render", "decades:1980s")]
    assert grid.rows == 3 and grid.row_titles == ["(none)", *labels]
    for r in range(grid.rows):
        assert [g.request.seed for g in grid.row(r)] == [0, 1, 2, 3]
    prompts = [grid.row(r)[0].request.prompt for r in range(3)]
    assert prompts == ["a red circle", "a red circle, octane render", "a red circle, 1980s"]
    assert grid.row(1)[0].request.modifiers == (("render_engines", "octane-render"),)
    # the same seed with the same prompt is the same image: the baseline row equals a fresh render
    again = gen.generate(gen.requests("a red circle", seeds=2, steps=2))[0]
    assert np.array_equal(np.asarray(again.image), np.asarray(grid.row(0)[2].image))


def test_search_replace_requires_the_search_text():
    assert search_replace("a red fox", "red", ["red", "blue"]) == ["a red fox", "a blue fox"]
    with pytest.raises(ValueError, match="'green' does not occur in the prompt"):
        search_replace("a red fox", "green", ["blue"])


def test_prompt_comparison_grid(gen):
    grid = compare_prompts(gen, "a red fox", "red", ["red", "blue, with commas, in it"], "0-1", steps=2)
    assert grid.row(1)[0].request.prompt == "a blue, with commas, in it fox"


def test_grid_image_checks_its_count():
    from PIL import Image

    with pytest.raises(ValueError, match="a 2x2 grid needs 4 images, got 3"):
        grid_image([Image.new("RGB", (8, 8))] * 3, 2, 2)


def test_filmstrip_goes_from_noise_to_the_final_image(gen):
    frames = filmstrip(gen, "a red circle", seed=1, steps=6, at=[0, 5])
    final = gen.generate(gen.requests("a red circle", seeds=1, steps=6))[0]
    first, last = (np.asarray(f, dtype=float) for _, f in frames)
    target = np.asarray(final.image, dtype=float)
    assert np.abs(last - target).mean() < np.abs(first - target).mean()


def test_filmstrip_keeps_the_generators_policy(tiny_model):
    """A generator that only warns must not refuse inside the filmstrip (it makes its own, storeless one)."""
    from workbench.prompts import Policy

    gen = ImageGenerator(tiny_model, progress=False, policy=Policy.default(mode="warn"))
    with pytest.warns(UserWarning, match="Greg Rutkowski"):
        frames = filmstrip(gen, "a castle by greg rutkowski", seed=1, steps=2, at=[0, 1])
    assert len(frames) == 2


def test_filmstrip_reads_the_embedded_models_velocity_prediction():
    """The embedded model predicts v under DPM-Solver, which reports no clean image: the last
    frame's guess must near the image the model ends on as the steps go (epsilon's formula read
    it 12 and 6 levels off at steps 4 and 6 of 8, against 5 and 1.6)."""
    from workbench.generation.engine import ImageGenerator

    gen = ImageGenerator(progress=False)
    frames = filmstrip(gen, "a red circle on a blue background", seed=3, steps=8, at=[2, 4, 6])
    final = np.asarray(gen.generate(gen.requests("a red circle on a blue background", seeds=3, steps=8))[0].image,
                       dtype=float)
    distance = [np.abs(np.asarray(f, dtype=float) - final).mean() for _, f in frames]
    assert distance[0] > distance[1] > distance[2] and distance[1] < 10 and distance[2] < 4, distance


@pytest.mark.parametrize("sampler", ["HeunDiscreteScheduler", "KDPM2DiscreteScheduler"])
def test_a_second_order_samplers_last_frame_is_its_final_image(tiny_model_dir, sampler):
    """Heun and KDPM2 call scheduler.step twice a step; frames counted per call showed mid-run
    latents as the last steps."""
    import diffusers

    from workbench.generation.engine import ImageGenerator
    from workbench.generation.loading import load_model

    heun = ImageGenerator(load_model(tiny_model_dir, device="cpu"), progress=False)
    heun.pipeline.scheduler = getattr(diffusers, sampler).from_config(heun.pipeline.scheduler.config)
    frames = filmstrip(heun, "a red circle", seed=1, steps=6, at=[0, 5])
    final = np.asarray(heun.generate(heun.requests("a red circle", seeds=1, steps=6))[0].image, dtype=float)
    first, last = (np.abs(np.asarray(f, dtype=float) - final).mean() for _, f in frames)
    assert last < 0.5 < first  # the last step's clean estimate is the image itself


def test_rerank_keeps_the_best_scored_seeds_best_first(gen):
    """A reader we control: the score is the image's mean grey level, so the ranking is known."""
    from types import SimpleNamespace

    from workbench.generation.variations import rerank

    def brightness(images, text):
        assert text == "a red circle"
        return np.array([np.asarray(i.convert("L"), np.float64).mean() for i in images])

    ranked = rerank(gen, SimpleNamespace(clip_score=brightness), "a red circle", seeds="0-5", keep=2, steps=2)
    everything = ranked.kept + ranked.rejected
    scores = [s for _, s in everything]
    assert len(ranked.kept) == 2 and sorted(scores, reverse=True) == scores
    assert sorted(g.request.seed for g, _ in everything) == list(range(6))
    assert scores[0] == brightness([ranked.kept[0][0].image], "a red circle")[0]
    assert ranked.image().width > 0
    for keep in (0, 7, 2.5):
        with pytest.raises(ValueError, match=rf"keep must be a whole number from 1 to the 6 seeds given, not {keep}"):
            rerank(gen, None, "a red circle", seeds="0-5", keep=keep)
