"""The single-file path: a tiny random SD pipeline saved in the original layout loads back identically."""

import numpy as np
import pytest
import torch

from workbench.generation.engine import ImageGenerator
from workbench.generation.loading import load_model
from workbench.generation.single_file import save_single_file


@pytest.fixture(scope="module")
def single_file(tiny_model, tmp_path_factory):
    return save_single_file(tiny_model.pipeline, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_single_file_loads_with_the_same_weights(tiny_model, tiny_model_dir, single_file):
    loaded = load_model(single_file, config=str(tiny_model_dir), device="cpu")
    for part in ("unet", "vae", "text_encoder"):
        ours, theirs = getattr(tiny_model.pipeline, part).state_dict(), getattr(loaded.pipeline, part).state_dict()
        assert ours.keys() == theirs.keys(), part
        for key in ours:
            assert torch.equal(ours[key], theirs[key].reshape(ours[key].shape)), f"{part}.{key}"
    assert loaded.hash and loaded.hash != tiny_model.hash


def test_single_file_generates_the_same_image(tiny_model, tiny_model_dir, single_file):
    a = ImageGenerator(tiny_model, progress=False)
    b = ImageGenerator(load_model(single_file, config=str(tiny_model_dir), device="cpu"), progress=False)
    img_a = a.generate(a.requests("a red circle", seeds=3, steps=2))[0].image
    img_b = b.generate(b.requests("a red circle", seeds=3, steps=2))[0].image
    assert np.array_equal(np.asarray(img_a), np.asarray(img_b))
