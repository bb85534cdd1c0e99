"""The shipped toy-world model: loads through the ordinary loaders, fits the size budget, and
meets (slightly looser, small-sample) versions of its quality bars. The full figures come
from `python -m workbench.toyworld.evaluate` and are in workbench/toyworld/model/README.md."""

import numpy as np
import pytest

from workbench.toyworld import paths

pytestmark = pytest.mark.skipif(
    not paths.is_trained(),
    reason="no trained weights in workbench/toyworld/model/ yet "
    "(python -m workbench.toyworld.train --out workbench/toyworld/model)",
)


@pytest.fixture(scope="module")
def figures():
    from workbench.toyworld.evaluate import evaluate

    return evaluate(quick=True)  # 24 prompts x 1 seed, 400 real images

# The shipped model (run 1) misses these bars; measured on 300 prompts x 2 seeds (model/evaluation.json):
# oracle colour 0.53, shape 0.15, background 0.78; toy CLIP shape on real images 0.32. Issue 3 stays open
# until a retrained model passes. strict=True: the day a model passes, these turn red and must be un-marked.
BELOW_BAR = pytest.mark.xfail(strict=True, reason="shipped toy-world model is below the quality bar (issue 3)")


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
    clip, _, preprocess = open_clip.create_model_and_transforms(
        paths.CLIP_MODEL_NAME, pretrained=str(paths.CLIP_CHECKPOINT))
    assert next(clip.parameters()).dtype == torch.float32
    # the pipeline's text encoder is a toy-CLIP text tower (the stage-2 one, see the model
    # card) reading open_clip's token ids; its width is the UNet's cross-attention width
    assert pipe.text_encoder.config.vocab_size == clip.token_embedding.weight.shape[0] == 49408
    assert pipe.text_encoder.config.hidden_size == pipe.unet.config.cross_attention_dim
    assert pipe.tokenizer.model_max_length == clip.context_length == 77


@BELOW_BAR
def test_generated_images_show_what_the_prompt_asks(figures):
    o = figures["oracle"]
    assert o["n"] >= 8
    assert o["colour"] >= 0.80, figures
    assert o["shape"] >= 0.65, figures
    assert o["background"] >= 0.80, figures


@BELOW_BAR
def test_toy_clip_reads_real_images(figures):
    r = figures["real_zero_shot"]
    assert r["colour"] >= 0.90, r
    assert r["shape"] >= 0.85, r
    assert r["modifier"] >= 0.75, r


def test_generated_modifiers_are_recognisable(figures):
    g = figures["generated_modifier"]
    hits = sum(v["accuracy"] * v["n"] for v in g.values() if v["n"])
    n = sum(v["n"] for v in g.values())
    assert n >= 8 and hits / n >= 0.55, g  # chance is 0.25


def test_same_request_same_image_and_seeds_differ(figures):
    d = figures["determinism"]
    assert d["same_request_identical"]
    assert d["batch_max_abs_diff"] <= 2
    assert d["other_seeds_visibly_different"], d


def test_images_are_plain_uint8_and_change_with_the_prompt():
    from workbench.toyworld.evaluate import generate
    from workbench.toyworld.models import load_pipeline

    pipe = load_pipeline(paths.PIPELINE_DIR)
    a, b = generate(pipe, ["a red circle on a white background", "a blue square on a black background"],
                    [1, 1], steps=10)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 20
