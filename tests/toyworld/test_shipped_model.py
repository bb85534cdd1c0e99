"""The shipped toy-world model: loads through the ordinary loaders, fits the size budget, is
deterministic, and stays above floors on a small sample (near the quality bars where it meets
them). The full figures come from `python -m workbench.toyworld.evaluate` and are in
workbench/toyworld/model/README.md."""

import numpy as np
import pytest

from workbench.toyworld import paths

pytestmark = pytest.mark.skipif(
    not paths.is_trained(),
    reason="no trained weights in workbench/toyworld/model/ yet "
    "(python -m workbench.toyworld.train --out workbench/toyworld/model)",
)


@pytest.fixture(scope="module")
def misses_sheet(tmp_path_factory):
    return tmp_path_factory.mktemp("evaluation") / "misses.png"


@pytest.fixture(scope="module")
def figures(misses_sheet):
    from workbench.toyworld.evaluate import evaluate

    return evaluate(quick=True, misses=misses_sheet)  # 24 prompts x 1 seed, 400 real images

# The shipped model (run 14) meets every bar on the full evaluation (300 prompts x 2 seeds,
# model/evaluation.json), but colour (0.91) and render engines in generated images (0.76; 0.69 to
# 0.81 on three other prompt sets, 0.74 over all four) are close to theirs, too close for the quick
# subset to show, so the tests below are floors that catch a broken model.


def test_weights_fit_the_budget():
    from workbench.toyworld.models import weights_size_mb

    assert weights_size_mb(paths.MODEL_DIR) <= 30.0
    assert (paths.MODEL_DIR / "README.md").is_file()


def test_loads_through_ordinary_loaders_offline():
    import open_clip
    import torch
    from diffusers import DiffusionPipeline, StableDiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(paths.PIPELINE_DIR), local_files_only=True)
    assert isinstance(pipe, StableDiffusionPipeline)
    assert pipe.unet.dtype == pipe.vae.dtype == pipe.text_encoder.dtype == torch.float32
    paths.register_clip_config()
    clip, _, _ = open_clip.create_model_and_transforms(
        paths.CLIP_MODEL_NAME, pretrained=str(paths.CLIP_CHECKPOINT))
    assert next(clip.parameters()).dtype == torch.float32
    assert pipe.tokenizer.model_max_length == clip.context_length == 77
    assert pipe.text_encoder.config.hidden_size == pipe.unet.config.cross_attention_dim
    # the pipeline's text encoder is the toy CLIP's text tower
    from workbench.toyworld.models import clip_text_hidden_states

    ids = open_clip.get_tokenizer(paths.CLIP_MODEL_NAME)(["a red circle on a white background, 1980s"])
    with torch.no_grad():
        torch.testing.assert_close(pipe.text_encoder(ids).last_hidden_state,
                                   clip_text_hidden_states(clip.eval(), ids), atol=1e-4, rtol=1e-4)


def test_the_misses_sheet_shows_every_image_the_oracle_read_wrong(figures, misses_sheet):
    from PIL import Image

    from workbench.toyworld.misses import MAX_ROWS

    oracle = figures["oracle"]
    errors = [oracle["n"] - round(oracle[k] * oracle["n"]) for k in ("colour", "shape", "background")]
    with Image.open(misses_sheet) as sheet:  # titles (56 px), then a row of 128 px images, 4 px apart, per miss
        rows = (sheet.height - 56) // 132
    # an image may be wrong on several counts: at least the commonest error's count, at most their sum
    assert min(max(errors), MAX_ROWS) <= rows <= min(sum(errors), MAX_ROWS)

def test_generated_images_show_what_the_prompt_asks(figures):
    o = figures["oracle"]  # chance: colour 1/8, background 1/5, shape 1/7
    assert o["n"] >= 8
    assert o["colour"] >= 0.80 and o["shape"] >= 0.65 and o["background"] >= 0.80, o


def test_toy_clip_reads_real_images(figures):
    r = figures["real_zero_shot"]  # chance: colour 1/8, modifier 1/16
    assert r["colour"] >= 0.90, r
    assert r["modifier"] >= 0.85, r  # the bar; 0.93 on 2,000 images (0.82 before stage 2c)


def test_toy_clip_reads_real_shapes(figures):
    # the bar is 0.90; 0.92 on 2,000 images (run 3's ViT: 0.41), so a little slack for 400
    assert figures["real_zero_shot"]["shape"] >= 0.85, figures["real_zero_shot"]


def test_generated_modifiers_are_recognisable(figures):
    g = figures["generated_modifier"]
    hits = sum(v["accuracy"] * v["n"] for v in g.values() if v["n"])
    n = sum(v["n"] for v in g.values())
    assert n >= 8 and hits / n >= 0.5, g  # chance is 0.25


def test_real_renders_show_every_modifier_category(figures):
    # the test above on the world's own renders and on their VAE round trips (render engines 0.65
    # and 0.67, the rest 0.85-0.97 on 2,000 images; 400 here)
    for ceiling in (figures["real_modifier_ceiling"], figures["round_trip_modifier_ceiling"]):
        assert all(c["n"] >= 20 and c["accuracy"] >= 0.5 for c in ceiling.values()), ceiling
        assert all(c["alone_n"] <= c["n"] for c in ceiling.values())


def test_same_request_same_image_and_seeds_differ(figures):
    d = figures["determinism"]
    assert d["same_request_identical"]
    assert d["batch_max_abs_diff"] == 0 and d["batch_independent"]
    assert d["other_seeds_visibly_different"], d
    assert d["world_scenes_pairs"] == d["other_seeds_pairs"] == 16  # 4 prompts x 4 pairs in the quick run


def test_render_engines_are_drawn_not_only_read(figures):
    r = figures["render_engines_by_pixels"]  # 6 scenes x 4 options in the quick run; chance 0.25
    assert r["world_renders"]["n"] == r["generated"]["n"] == 24
    assert r["world_renders"]["accuracy"] >= 0.9, r  # the reader's own ceiling
    # 0.80 by pixels and 0.82 by the toy CLIP on 200 pictures (run 14)
    assert r["generated"]["accuracy"] >= 0.5 and r["toy_clip_same_pictures"]["accuracy"] >= 0.5, r


def test_a_seed_gives_the_same_pixels_alone_or_anywhere_in_a_grid(monkeypatch):
    from workbench.generation.engine import ImageGenerator
    from workbench.generation.loading import load_model

    model = load_model(device="cpu")
    alone = ImageGenerator(model, max_batch=1, progress=False)
    grid = ImageGenerator(model, max_batch=9, progress=False)
    requests = alone.requests("a red star on a light blue background, octane render", seeds="0-8", steps=8)
    monkeypatch.setenv("WORKBENCH_THREADS", "1")  # as in a notebook
    singles = alone.generate(requests)
    monkeypatch.setenv("WORKBENCH_THREADS", "2")  # as a script on this machine
    together = grid.generate(requests[::-1])[::-1]  # every seed in another position
    differing = [r.request.seed for r, t in zip(singles, together) if r.image.tobytes() != t.image.tobytes()]
    assert not differing, f"seeds {differing} changed with the batch"


def test_images_are_plain_uint8_and_change_with_the_prompt(capsys):
    from workbench.toyworld.evaluate import generate
    from workbench.toyworld.models import load_pipeline

    pipe = load_pipeline(paths.PIPELINE_DIR)
    a, b = generate(pipe, ["a red circle on a white background", "a blue square on a black background"],
                    [1, 1], steps=10, batch_size=1, progress=True)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 20
    bar = capsys.readouterr().err  # the evaluation's generation runs for minutes: it shows a bar
    assert "generating: 100%" in bar and "2/2" in bar


def test_model_reproduces_planted_rates(tmp_path):
    """The model against the world's planted rates: two roles with opposite skews, 100 seeds each,
    guidance 1 (the learnt distribution), read by the pixel oracle. (The probe itself is checked
    against the world's own renders in tests/generation/test_bias.py.)"""
    from workbench.bias import toy_world_check
    from workbench.generation.engine import ImageGenerator

    gen = ImageGenerator(store=tmp_path / "store", progress=False)
    _, rows = toy_world_check(gen, seeds=range(100), roles=["doctor", "nurse"])
    for row in rows:
        assert row["unreadable"] <= 0.2, row
        assert abs(row["error"]) <= 0.10, row  # the 95 % interval at n = 100 is about +-8 points
