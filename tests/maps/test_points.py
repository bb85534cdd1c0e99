"""Map points: one per prompt and per image, linked; colour fields; stores with missing files;
and the bad inputs (empty store, unknown colour field, embeddings of two models)."""

import numpy as np
import pytest
from map_helpers import PROMPTS, generated

from workbench.maps.points import (
    COLOUR_FIELDS,
    MapPoints,
    points_from_images,
    points_from_store,
    text_id,
)


def test_one_text_point_per_prompt_one_image_point_per_image_with_links(points):
    texts = [p for p in points.points if p.kind == "text"]
    images = [p for p in points.points if p.kind == "image"]
    assert sorted(p.prompt for p in texts) == sorted(PROMPTS) and len(images) == 9
    assert points.vectors.shape == (12, 64) and len(set(points.ids)) == 12
    for t in texts:
        assert sorted(points[i].prompt for i in t.links) == [t.prompt] * 3
    assert len(points.links()) == 9
    assert all(points.points[a].kind == "text" and points.points[b].kind == "image" for a, b in points.links())


def test_colour_fields_come_from_the_records(points):
    octane = points[text_id("a red circle, octane render")]
    assert octane.fields == {"kind": "text", "modifier": "octane-render", "category": "render_engines",
                             "model": "toyworld", "source": "workbench", "seed": "(prompt)"}
    image = points[octane.links[0]]
    assert image.fields["seed"] in {"0", "1", "2"} and image.fields["modifier"] == "octane-render"
    assert set(points.values("modifier")) == {"(none)", "octane-render", "1960s"}
    assert points.values("kind").count("text") == 3


def test_unknown_colour_field_lists_the_valid_ones(points):
    with pytest.raises(ValueError, match=r"unknown colour field 'colour'; colour by one of: modifier, category, "
                                         r"seed, model, source, kind"):
        points.values("colour")


def test_duplicates_are_merged_and_ids_are_stable(items, fake_clip):
    a = points_from_images(items + items[:2], fake_clip)
    b = points_from_images(list(reversed(items)), fake_clip)
    assert len(a) == 12 and sorted(a.ids) == sorted(b.ids)


def test_one_text_embedding_per_prompt_is_required():
    from workbench.maps.points import MapPoints

    with pytest.raises(ValueError, match=r"4 prompts but text embeddings of shape \(2, 64\); give one embedding per"):
        MapPoints.build(["a", "b", "c", "d"], np.ones((2, 64)))


def test_texts_and_images_from_different_models_are_refused(items):
    message = (r"text embeddings have 512 dimensions but image embeddings have 64: they come from different CLIP "
               r"models \(ViT-B-32 vs toyworld\); embed prompts and images with the same ClipEmbedder")
    with pytest.raises(ValueError, match=message):
        MapPoints.build(["a red circle"], np.ones((1, 512)), items[:2], np.ones((2, 64)),
                        text_model="ViT-B-32", image_model="toyworld")


def test_store_points_and_a_missing_file_is_skipped_with_a_warning(store, fake_clip):
    points = points_from_store(store, fake_clip)
    assert len(points) == 12 and all(p.path is not None for p in points.points if p.kind == "image")
    assert points[points.ids[-1]].load_image().size == (16, 16)
    gone = store.images()[4].path
    gone.unlink()
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\) whose file is missing on disk: .*missing PNG "
                                         r"images/.*; run store.rebuild\(\) to drop them"):
        points = points_from_store(store, fake_clip)
    assert len(points) == 11


def test_an_image_deleted_after_listing_is_skipped_with_a_warning(store, fake_clip):
    stored = store.images()
    stored[0].path.unlink()
    with pytest.warns(UserWarning, match=r"skipped an image whose file is missing or unreadable: .*\.png"):
        points = points_from_images(stored, fake_clip)
    assert sum(p.kind == "image" for p in points.points) == 8


def test_empty_store_and_not_a_store(tmp_path, fake_clip):
    from workbench.store import RunStore

    with pytest.raises(ValueError, match=r"the store .* has no images to map; generate some first"):
        points_from_store(RunStore(tmp_path / "empty"), fake_clip)
    with pytest.raises(FileNotFoundError, match=r"is not a run store \(it has no catalogue.sqlite\); pass the store"):
        points_from_store(tmp_path / "nowhere", fake_clip)
    assert not (tmp_path / "nowhere").exists(), "a typo must not create an empty store"


def test_a_run_the_store_lacks_or_no_limit_is_named(store, fake_clip):
    """Not 'generate some first': the store has images, the run number or the limit is wrong."""
    run = store.start_run("grid")
    with pytest.raises(ValueError, match=rf"has no run 999; its runs are {run} \(RunStore\(folder\).runs\(\) names"):
        points_from_store(store, fake_clip, run=999)
    with pytest.raises(ValueError, match=r"limit is the most images to map, a whole number of 1 or more; got 0"):
        points_from_store(store, fake_clip, limit=0)


def test_extra_prompts_without_images_are_points_too(fake_clip):
    points = points_from_images([generated("a red circle")], fake_clip, prompts=["a green star"])
    assert sorted(p.prompt for p in points.points if p.kind == "text") == ["a green star", "a red circle"]
    assert points[text_id("a green star")].fields["modifier"] == "(none)"


def test_cli_colour_fields_match():
    from workbench.maps import commands

    assert commands.COLOUR_FIELDS == COLOUR_FIELDS
