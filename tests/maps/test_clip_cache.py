"""The embedding cache names a model by what it is, not by its file name."""

import numpy as np
import pytest
from PIL import Image

from workbench.store import RunStore


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """Two toy-CLIP-shaped models with different random weights, each saved as model.safetensors."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from workbench.toyworld.paths import register_clip_config

    name, root = register_clip_config(), tmp_path_factory.mktemp("clips")
    paths = []
    for seed, folder in enumerate(("a", "b")):
        torch.manual_seed(seed)
        model = open_clip.create_model(name)
        path = root / folder / "model.safetensors"
        path.parent.mkdir()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        paths.append(path)
    return name, paths


def test_two_files_of_one_name_do_not_share_cached_vectors(two_checkpoints, tmp_path):
    from workbench.embeddings.clip import ClipEmbedder

    name, (a, b) = two_checkpoints
    store = RunStore(tmp_path / "store")
    first = ClipEmbedder(name, str(a), store=store, progress=False)
    second = ClipEmbedder(name, str(b), store=store, progress=False)
    assert first.model_id == second.model_id and first.cache_id != second.cache_id
    from_a = first.embed_texts(["a red circle"])
    assert np.array_equal(first.embed_texts(["a red circle"]), from_a)  # served from the cache
    fresh = ClipEmbedder(name, str(b), progress=False).embed_texts(["a red circle"])
    np.testing.assert_allclose(second.embed_texts(["a red circle"]), fresh, atol=1e-6)
    assert not np.allclose(fresh, from_a, atol=1e-3)
    store.close()


def test_random_weights_are_never_cached(two_checkpoints, tmp_path):
    from workbench.embeddings.clip import ClipEmbedder

    name, _ = two_checkpoints
    store = RunStore(tmp_path / "store")
    clip = ClipEmbedder(name, store=store, progress=False)
    clip.embed_images([Image.new("RGB", (64, 64), "red")])
    assert clip.cache_id is None
    assert store._catalogue.query("SELECT COUNT(*) FROM embeddings") == [(0,)]
    store.close()


def test_a_store_may_be_given_as_its_folder(two_checkpoints, tmp_path):
    """As ImageGenerator takes it: ClipEmbedder(store="runs") caches into that folder's store."""
    from workbench.embeddings.clip import ClipEmbedder

    name, (a, _) = two_checkpoints
    clip = ClipEmbedder(name, str(a), store=str(tmp_path / "runs"), progress=False)
    assert isinstance(clip.store, RunStore) and clip.store.folder == tmp_path / "runs"
    assert RunStore.of(clip.store) is clip.store and RunStore.of(None) is None
