"""Loading diffusers folders: what the workbench tells the user that diffusers does not."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from workbench.generation.loading import load_model, scheduler_mismatch


def _with_index_scheduler(source, folder, cls):
    shutil.copytree(source, folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["scheduler"] = ["diffusers", cls]
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def test_a_sampler_swapped_in_one_file_only_is_named(tiny_model_dir, tmp_path):
    folder = _with_index_scheduler(tiny_model_dir, tmp_path / "swapped", "EulerDiscreteScheduler")
    with pytest.warns(UserWarning, match="names the scheduler EulerDiscreteScheduler.*saved by DDIMScheduler"):
        loaded = load_model(folder, device="cpu")
    # what the warning says diffusers does: the class of model_index.json, not the config's
    assert type(loaded.pipeline.scheduler).__name__ == "EulerDiscreteScheduler"


def test_a_consistent_folder_loads_without_that_warning(tiny_model_dir):
    assert scheduler_mismatch(tiny_model_dir) is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model(tiny_model_dir, device="cpu")
    assert not [w for w in caught if "names the scheduler" in str(w.message)]


def test_a_folder_without_a_scheduler_config_is_left_to_diffusers(tiny_model_dir, tmp_path):
    folder = tmp_path / "no-config"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "scheduler" / "scheduler_config.json").unlink()
    assert scheduler_mismatch(folder) is None
