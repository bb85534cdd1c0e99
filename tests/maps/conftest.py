"""Fixtures for the map tests: a fake CLIP, GeneratedImage-like items, a tiny store, the toy CLIP
(skipped until trained), and the tiny random SD pipeline of the generation tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from map_helpers import PROMPTS, FakeClip, generated, picture, record

from workbench.store import RunStore


@pytest.fixture
def fake_clip():
    return FakeClip()

@pytest.fixture
def items():
    """Three prompts x three seeds of GeneratedImage-like items."""
    return [generated(p, s, mods) for p, mods in PROMPTS.items() for s in range(3)]


@pytest.fixture
def points(items, fake_clip):
    from workbench.maps.points import points_from_images

    return points_from_images(items, fake_clip)


@pytest.fixture
def store(tmp_path):
    """A run store holding the nine images of PROMPTS."""
    store = RunStore(tmp_path / "store")
    for prompt, mods in PROMPTS.items():
        for seed in range(3):
            store.put(record(prompt, seed, mods), picture(prompt, seed))
    yield store
    store.close()


@pytest.fixture(scope="session")
def toy_clip():
    from workbench.toyworld.paths import is_trained

    if not is_trained():
        pytest.skip("the toy-world model is not trained yet (run `workbench toyworld train`); "
                    "tests of real meaning need its CLIP")
    from workbench.embeddings.clip import ClipEmbedder

    return ClipEmbedder(progress=False)


# The tiny random SD pipeline of the generation tests, reused (not copied).
_spec = importlib.util.spec_from_file_location("generation_fixtures",
                                               Path(__file__).parent.parent / "generation" / "conftest.py")
_generation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_generation)
tiny_model_dir = _generation.tiny_model_dir
tiny_model = _generation.tiny_model
