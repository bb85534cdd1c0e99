"""Loading diffusers folders: what the workbench tells the user that diffusers does not."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from workbench.generation.loading import load_model, pick_device, scheduler_mismatch


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


def test_a_torch_device_is_taken_like_its_name(tiny_model_dir):
    import torch

    model = load_model(tiny_model_dir, device=torch.device("cpu"))
    assert model.device == "cpu" and model.batch_invariant  # the CPU's guarantees, as for "cpu"


def test_a_folder_saved_as_an_fp16_variant_loads(tiny_model_dir, tmp_path):
    """`save_pretrained(variant="fp16")` writes only *.fp16.safetensors, which diffusers reads
    only when told the variant."""
    model = load_model(tiny_model_dir, device="cpu")
    model.pipeline.save_pretrained(str(tmp_path / "fp16"), variant="fp16")
    assert not list((tmp_path / "fp16").rglob("diffusion_pytorch_model.safetensors"))
    assert load_model(tmp_path / "fp16", device="cpu").hash == model.hash  # the same bytes, named otherwise


def test_a_trusted_checkpoint_with_training_state_loads(tiny_model_dir, tmp_path):
    """diffusers unpickles .ckpt files with weights_only=True, which refuses the training state
    many carry beside the weights; trust_pickle=True is the user's word that the file is safe."""
    import argparse

    import torch
    from safetensors.torch import load_file

    from workbench.generation.loading import UnsafeCheckpointError
    from workbench.generation.single_file import save_single_file

    weights = load_file(str(save_single_file(load_model(tiny_model_dir, device="cpu").pipeline, tmp_path / "m.safetensors")))
    torch.save({"state_dict": weights, "callbacks": {"cfg": argparse.Namespace(lr=1e-4)}}, tmp_path / "m.ckpt")
    with pytest.raises(UnsafeCheckpointError):
        load_model(tmp_path / "m.ckpt", device="cpu", config=str(tiny_model_dir))
    model = load_model(tmp_path / "m.ckpt", device="cpu", config=str(tiny_model_dir), trust_pickle=True)
    reference = load_model(tmp_path / "m.safetensors", device="cpu", config=str(tiny_model_dir)).pipeline
    assert torch.equal(model.pipeline.unet.conv_in.weight, reference.unet.conv_in.weight)


HUB_MODEL = """
import json, sys
from workbench.generation.loading import load_model
print(json.dumps(load_model("org/tiny", device="cpu").hash))
"""


def test_a_hub_model_is_keyed_by_the_weights_of_its_snapshot(tiny_model_dir, tmp_path):
    """A hub model updated in the cache (another snapshot) must not be served the old one's images."""
    import subprocess
    import sys

    from safetensors.torch import load_file, save_file

    repo = tmp_path / "hub" / "models--org--tiny"
    for commit in ("aaa", "bbb"):
        shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    unet = repo / "snapshots" / "bbb" / "unet" / "diffusion_pytorch_model.safetensors"
    save_file({k: v + 0.01 for k, v in load_file(str(unet)).items()}, str(unet))
    (repo / "refs").mkdir()
    env = {**__import__("os").environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    hashes = []
    for commit in ("aaa", "bbb"):
        (repo / "refs" / "main").write_text(commit)
        out = subprocess.run([sys.executable, "-c", HUB_MODEL], env=env, capture_output=True, text=True, check=True)
        hashes.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert hashes[0] == load_model(tiny_model_dir, device="cpu").hash and hashes[1] not in ("", hashes[0])


def test_a_folder_with_safetensors_beside_its_bin_files_is_not_called_pickled(tiny_model_dir, tmp_path):
    """Hub repos often hold both; a part missing elsewhere is what such a folder must be told."""
    from workbench.generation.loading import ModelNotFoundError

    folder = tmp_path / "both"
    shutil.copytree(tiny_model_dir, folder)
    for weights in folder.rglob("*.safetensors"):
        (weights.with_suffix(".bin")).write_bytes(b"pickled copy")
    shutil.rmtree(folder / "vae")
    with pytest.raises(ModelNotFoundError, match="is not a complete diffusers model"):
        load_model(folder, device="cpu")


def test_device_and_dtype_are_taken_as_names_or_as_torch_objects():
    import torch

    assert pick_device(torch.device("cpu"), torch.float32) == pick_device("cpu", "float32") == ("cpu", "float32")
    assert pick_device("cpu", torch.bfloat16) == ("cpu", "bfloat16")
