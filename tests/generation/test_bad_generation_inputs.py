"""The catalogue of bad inputs, generation part: each gets an error naming the problem and the fix."""

import os
import sqlite3  # noqa: F401  (the store's errors wrap sqlite3's)

import pytest

from workbench.cli import main
from workbench.generation.engine import ImageGenerator
from workbench.generation.loading import ModelNotFoundError, UnsafeCheckpointError, load_model
from workbench.generation.seeds import parse_seeds
from workbench.prompts.policy import PolicyRefusal
from workbench.store.errors import StoreError
from workbench.store.png import read_png_metadata


@pytest.fixture
def gen(tiny_model):
    return ImageGenerator(tiny_model, progress=False)


def req(gen, **kwargs):
    return gen.generate(gen.requests("a red circle", **kwargs))


CASES = [
    ("unknown model path", lambda g, t: load_model(t / "no-such-model"), ModelNotFoundError,
     r"no model at '.*no-such-model': not a file, not a folder and not a hub id"),
    ("folder that is not a model", lambda g, t: load_model(t), ModelNotFoundError,
     r"is a folder but not a diffusers model \(no model_index.json\); save one with "
     r"pipeline.save_pretrained\(folder\) or pass a .safetensors file"),
    ("pickle checkpoint", lambda g, t: load_model(_file(t, "m.ckpt")), UnsafeCheckpointError,
     r"m.ckpt is not a .safetensors file, so it would be loaded with pickle, which can run arbitrary code.*"
     r"trust_pickle=True"),
    ("checkpoint suffix in capitals", lambda g, t: load_model(_file(t, "m.SAFETENSORS")), UnsafeCheckpointError,
     r"m.SAFETENSORS: rename it to end in '.safetensors' \(lower case\)"),
    ("model folder saved with pickle weights", lambda g, t: load_model(_pickled_folder(g, t)), UnsafeCheckpointError,
     r"has parts with pickle weights only \(.*unet/diffusion_pytorch_model.bin.*\), which can run arbitrary code "
     r"when loaded; save the pipeline again with save_pretrained"),
    ("CLIP weights in a pickle file", lambda g, t: _clip(_file(t, "clip.pkl")), UnsafeCheckpointError,
     r"clip.pkl is not a .safetensors file, so it would be loaded with pickle"),
    ("CLIP folder with pickle weights", lambda g, t: _clip_folder(t), UnsafeCheckpointError,
     r"open_clip_pytorch_model.bin is not a .safetensors file"),
    ("precision misspelled", lambda g, t: load_model(dtype="float64"), ValueError,
     r"dtype must be float32, float16 or bfloat16, not 'float64'"),
    ("precision a torch dtype it cannot run", lambda g, t: load_model(dtype=__import__("torch").float64), ValueError,
     r"dtype must be float32, float16 or bfloat16, not 'float64'"),
    ("unknown checkpoint type", lambda g, t: load_model(_file(t, "m.onnx")), ValueError, r"unknown checkpoint type"),
    ("hub id offline and not cached", lambda g, t: load_model("nobody/not-a-model"), ModelNotFoundError,
     r"model 'nobody/not-a-model' is not in the local cache.*hf download nobody/not-a-model"),
    ("CUDA asked for on a machine without one", lambda g, t: _without_cuda(lambda: load_model(device="cuda")),
     ValueError, r"device 'cuda' was asked for, but this machine has no usable CUDA GPU; use --device cpu"),
    ("device misspelled", lambda g, t: load_model(device="tpu"), ValueError,
     r"device must be cpu, cuda \(or cuda:N\) or mps, not 'tpu'"),
    ("model folder with a part missing", lambda g, t: load_model(_without_unet(t)), ModelNotFoundError,
     r"is not a complete diffusers model .*check that each part model_index.json names"),
    ("seed out of range", lambda g, t: parse_seeds("4294967296"), ValueError,
     r"seed 4294967296 is out of range; use a number from 0 to 4294967295"),
    ("negative seed", lambda g, t: parse_seeds([-1]), ValueError, r"seed -1 is out of range"),
    ("empty seed range", lambda g, t: parse_seeds("8-0"), ValueError, r"seed range '8-0' is empty.*write it as 0-8"),
    ("no seeds", lambda g, t: parse_seeds(" , "), ValueError, r"no seeds in"),
    ("seeds as a fraction", lambda g, t: parse_seeds(1.5), TypeError,
     r"seeds must be a whole number, a list of them or text like '0-8', not 1.5"),
    ("seeds as True", lambda g, t: parse_seeds(True), TypeError, r"seeds must be a whole number, .* not True"),
    ("no batch size", lambda g, t: ImageGenerator(t / "no-model", store=t / "s", max_batch=-1), ValueError,
     r"max_batch is the most images per pipeline call, a whole number of 1 or more .* got -1"),
    ("batch size as a fraction", lambda g, t: ImageGenerator(g.model, max_batch=2.5), ValueError,
     r"max_batch .* got 2.5"),
    ("seed not a number", lambda g, t: parse_seeds("one"), ValueError, r"seed must be a whole number"),
    ("zero steps", lambda g, t: req(g, seeds=0, steps=0), ValueError, r"steps must be a whole number from 1 to 1000"),
    ("negative guidance", lambda g, t: req(g, seeds=0, guidance=-1), ValueError, r"guidance must be a number, 0 or more"),
    ("negative prompt as a list", lambda g, t: req(g, seeds=0, negative_prompt=["a", "b"]), TypeError,
     r"negative_prompt must be text \(one for all the seeds\), not list; join several with ', '"),
    ("size not a multiple of 8", lambda g, t: req(g, seeds=0, width=17), ValueError,
     r"width 17 must be a positive multiple of 8 for this model \(e.g. 16\)"),
    ("size of zero", lambda g, t: req(g, seeds=0, width=0), ValueError, r"width 0 must be a positive multiple of 8"),
    ("infinite guidance", lambda g, t: req(g, seeds=0, guidance=float("inf")), ValueError,
     r"guidance must be a number, 0 or more"),
    ("seed in superscript digits", lambda g, t: parse_seeds("²"), ValueError, r"seed must be a whole number"),
    ("mistyped checkpoint path", lambda g, t: load_model("models/dreamshaper.safetensors"), ModelNotFoundError,
     r"no model at 'models/dreamshaper.safetensors': not a file, not a folder and not a hub id"),
    ("variation strength past 1", lambda g, t: req(g, seeds=0, variation_seed=1, variation_strength=1.5), ValueError,
     r"variation strength must be between 0 and 1"),
    ("empty prompt", lambda g, t: g.requests("  "), ValueError, r"prompt is empty"),
    ("variation strength without a variation seed", lambda g, t: req(g, seeds=0, variation_strength=0.8), ValueError,
     r"variation strength 0.8 needs a variation seed to move towards; pass variation_seed=N"),
    ("thread count in superscript digits", lambda g, t: _with_env("WORKBENCH_THREADS", "²", lambda: req(g, seeds=0)),
     ValueError, r"WORKBENCH_THREADS='²' must be a whole number of threads"),
    ("prompt walk to an opted-out artist", lambda g, t: _interpolate(g, "a fox", "a fox by greg rutkowski"),
     PolicyRefusal, r"'Greg Rutkowski' asked not to"),
    ("typed prompt naming an opted-out artist", lambda g, t: g.requests("a castle by greg rutkowski"), PolicyRefusal,
     r"'Greg Rutkowski' asked not to have their work imitated .*remove the name from the prompt"),
    ("thread count not a number", lambda g, t: _with_env("WORKBENCH_THREADS", "two", lambda: req(g, seeds=0)),
     ValueError, r"WORKBENCH_THREADS='two' must be a whole number of threads, 1 or more"),
    ("corrupted store file", lambda g, t: ImageGenerator(g.model, store=_corrupt_store(t)), StoreError,
     r"catalogue.sqlite is corrupt .*Move it aside .*RunStore.recover\(folder\) does both"),
]


def _with_env(name, value, action):
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        return action()
    finally:
        if before is None:
            os.environ.pop(name)
        else:
            os.environ[name] = before


def _interpolate(gen, a, b):
    from workbench.maps.interpolation import interpolate_prompts

    return interpolate_prompts(gen, a, b, n=2, steps=1)


def _without_cuda(action):
    import torch

    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: False  # so the case reads the same on a GPU machine
    try:
        return action()
    finally:
        torch.cuda.is_available = real


def _without_unet(folder):
    """A model_index.json that names a UNet and a scheduler, with neither folder beside it."""
    target = folder / "broken"
    target.mkdir()
    (target / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", '
                                             '"UNet2DConditionModel"], "scheduler": ["diffusers", "DDIMScheduler"]}')
    return target


def _pickled_folder(gen, folder):
    gen.model.pipeline.save_pretrained(str(folder / "pickled"), safe_serialization=False)
    return folder / "pickled"


def _clip(weights):
    from workbench.embeddings.clip import ClipEmbedder
    from workbench.toyworld.paths import register_clip_config

    return ClipEmbedder(register_clip_config(), str(weights), progress=False)


def _clip_folder(folder):
    from workbench.embeddings.clip import ClipEmbedder

    (folder / "clip").mkdir()
    _file(folder / "clip", "open_clip_pytorch_model.bin")
    return ClipEmbedder(f"local-dir:{folder / 'clip'}", progress=False)


def _file(folder, name):
    path = folder / name
    path.write_bytes(b"not really a checkpoint")
    return path


def _corrupt_store(folder):
    store = folder / "store"
    store.mkdir()
    (store / "catalogue.sqlite").write_bytes(os.urandom(4096))
    return store


@pytest.mark.parametrize("action,error,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_generation_input(gen, tmp_path, monkeypatch, action, error, pattern):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(error, match=pattern):
        action(gen, tmp_path)


def test_unwritable_output_folder_exits_2(tmp_path, capsys, tiny_model_dir):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions: use a path under a file instead
        target = str(tmp_path / "afile" / "out")
        (tmp_path / "afile").write_text("")
    else:
        target = str(locked / "out")
    code = main(["generate", "a red circle", "--seeds", "0", "--steps", "1", "--out", target,
                 "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write to the output folder" in err


def test_cli_generate_and_compare(tmp_path, capsys, tiny_model_dir):
    import json

    code = main(["generate", "a red circle", "--tag", "decades:1980s", "--seeds", "0-3", "--steps", "2",
                 "--out", str(tmp_path), "--model", str(tiny_model_dir), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["images"]) == 4 and (tmp_path / "grid.png").is_file()
    assert out["prompt"] == "a red circle, 1980s"
    code = main(["generate", "a red circle", "--tag", "decades:1980s", "--seeds", "0-3", "--steps", "2",
                 "--out", str(tmp_path), "--model", str(tiny_model_dir), "--json"])
    assert all(i["cached"] for i in json.loads(capsys.readouterr().out)["images"])
    code = main(["compare", "a red circle", "--vary", "decades:1900s,1980s", "--seeds", "0-1", "--steps", "2",
                 "--out", str(tmp_path), "--model", str(tiny_model_dir)])
    assert code == 0 and (tmp_path / "comparison.png").is_file()
    code = main(["store", "list", "--store", str(tmp_path / "store")])
    assert code == 0 and "8 image(s)" in capsys.readouterr().out
    for how in (["--vary", "decades:1980s"], ["--replace", "red", "--with", "red,blue"]):  # every row's negative
        code = main(["compare", "a red circle", *how, "--seeds", "0", "--steps", "1", "--negative-prompt", "blurry",
                     "--out", str(tmp_path), "--model", str(tiny_model_dir), "--json"])
        images = json.loads(capsys.readouterr().out)["images"]
        assert code == 0 and [read_png_metadata(p).request.negative_prompt for p in images] == ["blurry"] * 2


def test_cli_replace_cannot_bring_in_an_opted_out_artist(tmp_path, capsys, tiny_model_dir):
    """Search and replace builds prompts that were never composed; the generator checks them too."""
    code = main(["compare", "a castle by a painter", "--replace", "a painter", "--with", "greg rutkowski,monet",
                 "--seeds", "0", "--steps", "1", "--out", str(tmp_path), "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "'Greg Rutkowski' asked not to" in err
    assert not list((tmp_path / "store" / "images").glob("*.png")), "nothing is made for a refused row"


def test_cli_generation_takes_the_users_tags_and_policy(tmp_path, capsys, tiny_model_dir, write):
    tags = write("my_tags/styles.yaml", """
        category: styles
        tags:
          - id: my-glow
            label: My glow
            prompt: soft glow
            description: Mine.
    """)
    policy = write("org/blocked.yaml", """
        kind: blocklist
        entries:
          - keyword: soft glow
            reason: Our house style is reserved.
    """)
    common = ["--seeds", "0", "--steps", "1", "--out", str(tmp_path), "--model", str(tiny_model_dir)]
    assert main(["--tags-dir", str(tags.parent), "compare", "a red star", "--vary", "styles:my-glow", *common]) == 0
    code = main(["--tags-dir", str(tags.parent), "generate", "a red star", "--tag", "styles:my-glow",
                 "--policy", str(policy.parent), *common])
    assert code == 2 and "the keyword 'soft glow' is blocked (Our house style is reserved.)" in capsys.readouterr().err
    code = main(["--tags-dir", str(tags.parent), "generate", "a red star", "--tag", "styles:my-glow",
                 "--policy", str(policy.parent), "--warn-only", *common])
    assert code == 0 and "warning: the keyword 'soft glow' is blocked" in capsys.readouterr().err
    code = main(["--tags-dir", str(tags.parent), "compare", "a red star", "--vary", "styles:my-glow",
                 "--policy", str(policy.parent), "--warn-only", *common])
    assert code == 0 and "warning: the keyword 'soft glow' is blocked" in capsys.readouterr().err
    code = main(["compare", "a red star, x", "--replace", "x", "--with", "x,soft glow", "--policy", str(policy.parent),
                 "--warn-only", *common])
    assert code == 0 and "warning: the keyword 'soft glow' is blocked" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["compare", "a red circle"], "say what to vary: --vary CATEGORY:ID1,ID2 or --replace TEXT --with A,B"),
    (["compare", "a red circle", "--replace", "red"], "--replace needs --with"),
    (["generate", "a red circle", "--seeds", "1 to 5"], "seed must be a whole number"),
    (["generate", "a red circle", "--steps", "5000"], "--steps must be a whole number from 1 to 1000, not 5000"),
    (["generate", "a red circle", "--size", "17"], "--size must be a multiple of 8, got 17; try 16"),
    (["compare", "a red circle", "--vary", "decades:1960s,1960s"], "--vary lists decades:1960s more than once"),
    (["compare", "a red circle", "--vary", "decades:1960s", "--replace", "red", "--with", "a,b"],
     "give --vary (modifiers) or --replace with --with (text), not both"),
], ids=["compare without what to vary", "replace without --with", "seeds in words", "too many steps",
        "size not a multiple of 8", "a modifier twice", "vary and replace"])
def test_bad_arguments_are_refused_before_the_model_loads(tmp_path, capsys, monkeypatch, argv, message):
    """Loading a real model takes minutes; a typo must not cost them, nor leave an --out folder."""
    import workbench.generation.loading

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(workbench.generation.loading, "load_model", must_not_load)
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_an_overflowing_guidance_stores_no_black_image(tiny_model, tmp_path):
    """Guidance 1e30 drives the latents to NaN, which diffusers turns into a black picture; that
    must not be stored as the request's image. The other images of the call are made and kept,
    before the overflowing batch and after it."""
    from workbench.generation.engine import OverflowedImageError
    from workbench.store.catalogue import RunStore

    gen = ImageGenerator(tiny_model, store=tmp_path / "store", progress=False)
    requests = (gen.requests("a red circle", [0], steps=2) + gen.requests("a red circle", [1, 2], steps=2, guidance=1e30)
                + gen.requests("a red circle", [3], steps=3))
    with pytest.raises(OverflowedImageError, match=r"output for seed\(s\) 1, 2 is not a number .* lower the guidance "
                                                   r"\(1e\+30 now"):
        gen.generate(requests)
    with RunStore(tmp_path / "store") as store:
        assert sorted(s.record.request.seed for s in store.images()) == [0, 3]
