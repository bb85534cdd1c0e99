"""The render-engine reader: it reads the world's own renders (sharp, softened, held out) and
finds nothing where there is no object."""

import numpy as np
import pytest

from workbench.toyworld.effects import blur
from workbench.toyworld.render_oracle import ENGINES, NO_OBJECT, RenderEngineOracle, scores


@pytest.fixture(scope="module")
def reader():
    return RenderEngineOracle(scenes_per_option=80)


@pytest.fixture(scope="module")
def held_out(reader):
    return reader.probe(777_777, 40)  # another world seed than the reader was fitted on


def test_probe_draws_each_scene_plain_and_with_each_engine(reader, held_out):
    assert held_out.labels[:4] == [None, *ENGINES] and len(held_out.images) == 160
    plain, octane = held_out.prompts[:2]
    assert octane == plain + ", octane render" and " on a " in plain
    assert not np.array_equal(held_out.images[0], held_out.images[1])  # the engine shows


def test_reads_held_out_world_renders(reader, held_out):
    figures = reader.accuracy(held_out.images, held_out.labels)
    # the evaluation's reader (200 scenes per option) reads 0.99 of 400 such pictures; unreal on a
    # black background is the hard case: its dimming is invisible there, and its glow can hide the
    # object's edge (3 of the 400 had no object to read)
    assert figures["accuracy"] >= 0.9 and min(figures["per_engine"].values()) >= 0.75, figures
    assert figures["no_object"] <= 0.02 * figures["n"], figures


def test_reads_softened_renders(reader, held_out):
    soft = np.stack([np.clip(blur(im.astype(np.float32), 1.0) + 0.5, 0, 255).astype(np.uint8)
                     for im in held_out.images])
    assert reader.accuracy(soft, held_out.labels)["accuracy"] >= 0.8


def test_an_empty_picture_has_no_object_to_read(reader, held_out):
    assert reader.read(np.full((64, 64, 3), 242, np.uint8)) == NO_OBJECT
    assert reader.read(held_out.images[0]) is None  # a plain render: an object, and no engine


def test_scores_count_none_as_an_option_and_no_object_as_wrong():
    f = scores([None, "octane", None, "blender", NO_OBJECT], [None, "octane", "unreal", "unreal", None])
    assert f["accuracy"] == 0.4 and f["no_object"] == 1
    assert f["per_engine"] == {"none": 0.5, "octane": 1.0, "unreal": 0.0}

# bad pictures: tests/test_bad_inputs.py
