"""Toy-world model plumbing with tiny random components: tokenizer, text-encoder conversion,
saving and loading through the ordinary loaders, and the training recipe in quick mode."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")
pytest.importorskip("diffusers")

from workbench.toyworld import models, paths

PROMPTS = [
    "a red circle on a blue background, octane render, 1960s",
    "",
    "A Doctor!! by georges seurat, kodak portra 400",
    "two shapes: a cyan diamond and a blue coloured heart on light blue, pixel-art",
    "café au lait   WITH   spaces, 1980s neon (x2) #hashtag",
]
TINY = models.DiffusionConfig(
    vae_channels=(8, 16), vae_groups=8, latent_channels=4,
    unet_channels=(16, 32), unet_attention=(False, True), unet_heads=2, unet_groups=8,
)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A registered tiny open_clip architecture (standard vocabulary and context)."""
    cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }
    path = tmp_path_factory.mktemp("cfg") / "tiny-toy-clip.json"
    path.write_text(json.dumps(cfg))
    name = models.register_clip_config_file(path)
    return name, path, models.build_clip(name, seed=0).eval()


def test_building_a_fresh_clip_does_not_warn_that_no_weights_loaded(tiny_clip, caplog):
    """A random start is what `build_clip` is for; open_clip's warning about it is dropped, and
    only while building: other warnings still reach the root logger afterwards."""
    import logging

    name, _, _ = tiny_clip
    with caplog.at_level(logging.WARNING):
        models.build_clip(name, seed=0)
        logging.warning("No pretrained weights loaded, said after building")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["No pretrained weights loaded, said after building"]


@pytest.fixture(scope="module")
def tokenizer():
    return models.build_tokenizer()


def _ids(tokenizer, texts):
    return tokenizer(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def test_tokenizer_gives_open_clip_ids_apart_from_padding(tokenizer):
    ours = _ids(tokenizer, PROMPTS)
    theirs = open_clip.get_tokenizer(paths.CLIP_MODEL_NAME)(PROMPTS)
    assert ours.shape == theirs.shape == (len(PROMPTS), 77)
    real = theirs != 0  # open_clip pads with 0, we pad with <|endoftext|>
    assert torch.equal(ours[real], theirs[real])
    assert (ours[~real] == tokenizer.eos_token_id).all()


def test_tokenizer_files_are_built_offline(tmp_path):
    vocab, merges = models.write_tokenizer_files(tmp_path)
    table = json.loads(vocab.read_text())
    assert len(table) == 49408
    assert table["<|startoftext|>"] == 49406 and table["<|endoftext|>"] == 49407
    assert merges.read_text().startswith("#version")


def test_converted_text_encoder_gives_identical_hidden_states(tiny_clip, tokenizer):
    _, _, clip = tiny_clip
    encoder = models.convert_text_tower(clip)
    assert encoder.dtype == torch.float32
    for ids in (open_clip.get_tokenizer(paths.CLIP_MODEL_NAME)(PROMPTS), _ids(tokenizer, PROMPTS)):
        with torch.no_grad():
            ours = encoder(ids).last_hidden_state
            theirs = models.clip_text_hidden_states(clip, ids)
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_shipped_clip_config_registers_idempotently():
    assert paths.register_clip_config() == paths.register_clip_config() == paths.CLIP_MODEL_NAME
    assert paths.CLIP_MODEL_NAME in open_clip.list_models()
    assert paths.CLIP_CONFIG_FILE.is_file()


def test_convolutional_clip_keeps_its_batchnorm_counters(tmp_path):
    """open_clip's `ModifiedResNet` image tower (a list of layers) has integer BatchNorm
    counters: float16 on disk must leave them exact integers, and the model must load and agree."""
    from safetensors.torch import load_file

    cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    cfg_path = tmp_path / "tiny-toy-resnet-clip.json"
    cfg_path.write_text(json.dumps(cfg))
    name = models.register_clip_config_file(cfg_path)
    clip = models.build_clip(name, seed=0)
    clip.visual.train()(torch.randn(4, 3, 64, 64))  # moves the BatchNorm statistics
    counters = [k for k, v in clip.state_dict().items() if k.endswith("num_batches_tracked")]
    for k in counters:
        clip.state_dict()[k].fill_(2_049)  # float16 cannot hold 2049
    path = models.save_clip(clip.eval(), tmp_path / "clip", config_file=cfg_path)
    stored = load_file(str(path))
    assert counters and all(stored[k].dtype == torch.int64 and int(stored[k]) == 2_049 for k in counters)
    loaded, _, _ = open_clip.create_model_and_transforms(name, pretrained=str(path))
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():  # open_clip hands the model back in training mode: BatchNorm needs eval()
        torch.testing.assert_close(loaded.eval().encode_image(image), clip.encode_image(image),
                                   atol=2e-2, rtol=2e-2)


def test_clip_checkpoint_loads_through_open_clip(tiny_clip, tmp_path):
    name, cfg_path, clip = tiny_clip
    path = models.save_clip(clip, tmp_path / "clip", config_file=cfg_path)
    loaded, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(path))
    assert next(loaded.parameters()).dtype == torch.float32
    for (k, a), b in zip(clip.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a.half().float(), b, msg=k)  # stored as float16 on disk
    # open_clip's preprocess equals the training transform on 64x64 images
    from PIL import Image

    from workbench.toyworld.recipe import to_clip_input

    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    torch.testing.assert_close(preprocess(Image.fromarray(img)), to_clip_input(img[None])[0],
                               atol=1e-5, rtol=1e-5)


def _tiny_pipeline(tiny_clip, tokenizer):
    torch.manual_seed(0)
    _, _, clip = tiny_clip
    encoder = models.convert_text_tower(clip)
    return models.assemble_pipeline(
        models.build_vae(TINY), models.build_unet(TINY, encoder.config.hidden_size),
        encoder, tokenizer, models.build_inference_scheduler(TINY),
    )


def _run(pipe, seed=0):
    from workbench.toyworld.evaluate import generate

    pipe.set_progress_bar_config(disable=True)
    return generate(pipe, ["a red circle on a white background"], [seed], steps=2, guidance=3.0)


@pytest.mark.parametrize("fp16", [False, True])
def test_pipeline_folder_round_trips_through_from_pretrained(tiny_clip, tokenizer, tmp_path, fp16):
    from diffusers import DiffusionPipeline, StableDiffusionPipeline

    pipe = _tiny_pipeline(tiny_clip, tokenizer)
    models.save_pipeline(pipe, tmp_path / "pipeline", fp16=fp16)
    loaded = DiffusionPipeline.from_pretrained(str(tmp_path / "pipeline"), local_files_only=True)
    assert isinstance(loaded, StableDiffusionPipeline)
    assert loaded.safety_checker is None and loaded.feature_extractor is None
    for part in ("unet", "vae", "text_encoder"):
        assert getattr(loaded, part).dtype == torch.float32, part
        for (k, a), b in zip(getattr(pipe, part).state_dict().items(), getattr(loaded, part).state_dict().values()):
            torch.testing.assert_close(a.half().float() if fp16 else a, b, msg=k)
    assert _ids(loaded.tokenizer, PROMPTS).tolist() == _ids(tokenizer, PROMPTS).tolist()
    image = _run(loaded)
    assert image.shape == (1, 64, 64, 3) and image.dtype == np.uint8
    if not fp16:
        assert np.array_equal(image, _run(pipe))
    assert models.load_pipeline(tmp_path / "pipeline").unet.dtype == torch.float32
    from workbench.generation.defaults import read_defaults  # the folder says how to run it

    defaults = read_defaults(tmp_path / "pipeline")
    assert (defaults.steps, defaults.guidance) == (models.INFERENCE_STEPS, models.INFERENCE_GUIDANCE)
    assert defaults.source


def test_generation_is_seeded_per_image(tiny_clip, tokenizer):
    from workbench.toyworld.evaluate import generate

    pipe = _tiny_pipeline(tiny_clip, tokenizer)
    pipe.set_progress_bar_config(disable=True)
    p = "a red circle on a white background"
    alone = generate(pipe, [p], [5], steps=2, guidance=3.0)
    batched = generate(pipe, ["a blue star", p], [9, 5], steps=2, guidance=3.0)
    assert np.abs(alone[0].astype(int) - batched[1].astype(int)).max() <= 1
    assert np.array_equal(alone, generate(pipe, [p], [5], steps=2, guidance=3.0))
    with pytest.raises(ValueError, match="one seed per prompt"):
        generate(pipe, [p, p], [1], steps=2)


TRAINED_FILES = [  # what paths.is_trained looks for, written out here so that a part it stops checking is noticed
    "clip/open_clip_model.safetensors",
    "pipeline/model_index.json",
    "pipeline/unet/diffusion_pytorch_model.safetensors",
    "pipeline/vae/diffusion_pytorch_model.safetensors",
    "pipeline/text_encoder/model.safetensors",
    "pipeline/tokenizer/tokenizer_config.json",
]


def test_is_trained_needs_every_part(tmp_path):
    """A half-written model folder (a training run killed midway) must not pass for a trained model."""
    assert not paths.is_trained(tmp_path)
    for name in TRAINED_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert paths.is_trained(tmp_path)
    for name in TRAINED_FILES:
        (tmp_path / name).unlink()
        assert not paths.is_trained(tmp_path), f"trained without {name}"
        (tmp_path / name).touch()


@pytest.mark.parametrize("stage", ["2c", "5"])
def test_image_tower_stages_train_it_and_leave_the_text_tower_exact(stage):
    """Stages 2c and 5 must not touch what the UNet cross-attends to: the text tower, bit for bit."""
    from workbench.toyworld.clip_stages import clip_tokens, train_clip_on_modifiers, train_clip_on_round_trips
    from workbench.toyworld.recipe import TrainConfig, draw_dataset

    images, captions, shapes = draw_dataset(11, 48, workers=1, progress=False)
    clip = models.build_clip()
    before = {k: v.clone() for k, v in clip.state_dict().items()}
    args = (images, clip_tokens(captions), shapes, TrainConfig.quick(), 5, "cpu")
    if stage == "2c":
        clip = train_clip_on_modifiers(clip, *args, progress=False)
    else:
        clip = train_clip_on_round_trips(clip, models.build_vae(models.DiffusionConfig()), *args, progress=False)
    after = clip.state_dict()
    trained = [k for k in after if not torch.equal(before[k], after[k])]
    assert trained and all(k.startswith("visual.") or k in ("text_projection", "logit_scale") for k in trained)
    assert "text_projection" in trained and any(k.startswith("visual.") for k in trained)
    assert all(p.requires_grad for p in clip.parameters()) and not clip.training


def test_decoder_stage_trains_the_decoder_and_leaves_the_encoder_exact():
    """Stage 4c must not move the latents the UNet learnt: the encoder, bit for bit."""
    from workbench.toyworld.diffusion_stages import train_decoder
    from workbench.toyworld.recipe import TrainConfig, draw_dataset

    images, _, _ = draw_dataset(11, 16, workers=1, progress=False)
    vae = models.build_vae(models.DiffusionConfig())
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    after = train_decoder(vae, images, TrainConfig.quick(), 5, "cpu", progress=False).state_dict()
    trained = [k for k in after if not torch.equal(before[k], after[k])]
    assert trained and all(k.startswith(("decoder.", "post_quant_conv.")) for k in trained)
    assert any(k.startswith("decoder.") for k in trained)
    assert all(torch.equal(before[k], v) for k, v in vae.state_dict().items())  # the VAE passed in is kept


def test_a_round_trip_through_unit_range_keeps_every_pixel():
    from workbench.toyworld.recipe import from_unit, to_unit

    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    assert np.array_equal(from_unit(to_unit(x)), x)


def test_shape_ids_name_the_shape_of_one_shape_images_only():
    """The shape prompts are matched only against images that hold one plain shape."""
    from workbench.toyworld.clip_stages import shape_prompts
    from workbench.toyworld.recipe import draw_dataset, draw_groups
    from workbench.toyworld.world import ToyWorld

    world = ToyWorld()
    names = [s.name for s in world.vocab.shapes]
    assert shape_prompts() == [f"a {n}" for n in names]
    images, captions, shapes = draw_dataset(11, 60, workers=1, progress=False)
    _, _, scenes = world.batch(11, 60)
    assert len(images) == len(captions) == len(shapes) == 60
    for sc, k in zip(scenes, shapes):
        one = not sc.role and len(sc.objects) == 1
        assert k == (names.index(sc.objects[0].shape) if one else -1)
    assert (shapes >= 0).any() and (shapes == -1).any()  # both kinds occur in 60 images
    # a shape-variant group: the first object takes each shape in turn
    _, _, g_shapes, k = draw_groups("shape_variants", 11, 6, workers=1, progress=False)
    groups = g_shapes.reshape(6, k)
    for row in groups:
        assert (row == -1).all() or row.tolist() == list(range(k))


def test_shape_prompt_term_adds_to_the_caption_loss_only_when_asked():
    from workbench.toyworld.clip_stages import (
        _contrastive_step,
        _cut,
        _encode_text,
        clip_tokens,
        shape_prompts,
    )
    from workbench.toyworld.recipe import draw_dataset

    images, captions, shapes = draw_dataset(11, 16, workers=1, progress=False)
    tokens, prompts = _cut(clip_tokens(captions)), _cut(clip_tokens(shape_prompts()))
    idx, labels = torch.arange(16), torch.arange(16)

    def loss(weight, shape_ids):
        torch.manual_seed(0)
        clip = models.build_clip().eval()  # eval: BatchNorm statistics do not depend on the batch
        opt = torch.optim.SGD(clip.parameters(), lr=0.0)
        return _contrastive_step(clip, opt, images, lambda i: _encode_text(clip, tokens[i]), idx, labels, "cpu",
                                 shape_ids, lambda: _encode_text(clip, prompts), weight).item()

    plain = loss(0.0, shapes)
    assert loss(1.0, shapes) > plain  # cross-entropy over 7 prompts is positive
    assert loss(1.0, np.full_like(shapes, -1)) == plain  # no one-shape image: nothing added


STAGES = {"data", "clip", "clip_shape_groups", "clip_modifier_groups", "vae", "unet", "unet_second_cycle",
          "vae_decoder", "clip_round_trips"}


def test_vae_chroma_term_charges_colour_error_and_not_gray_error():
    """Off by default (the shipped recipe's loss, unchanged); when on, an error that tints an
    image costs its weight times the colour error, and an error that keeps it gray costs nothing."""
    from dataclasses import replace

    from workbench.toyworld.diffusion_stages import vae_loss
    from workbench.toyworld.recipe import TrainConfig

    x = torch.rand(2, 3, 8, 8) * 2 - 1
    gray_error = x + 0.1                                             # the same shift in R, G, B
    tint = x + torch.tensor([0.2, -0.1, -0.1]).view(1, 3, 1, 1)      # a red cast, mean shift 0
    kl = torch.tensor(3.0)
    off, on = TrainConfig(), replace(TrainConfig(), vae_chroma_weight=2.0)
    assert off.vae_chroma_weight == 0
    assert vae_loss(gray_error, x, kl, on) == pytest.approx(float(vae_loss(gray_error, x, kl, off)))
    extra = float(vae_loss(tint, x, kl, on) - vae_loss(tint, x, kl, off))
    assert extra == pytest.approx(2.0 * (0.2 + 0.1 + 0.1) / 3, rel=1e-5)


def test_timesteps_logit_normal_mid_schedule_or_uniform_as_before():
    """"logit_normal" (the recipe's default since run 14) puts about 73 % of its timesteps in the
    middle half of the schedule (uniform: 50 %), and none outside it; "uniform" is runs 1 to 7's
    draw, number for number."""
    from workbench.toyworld.recipe import TrainConfig, draw_timesteps

    assert TrainConfig().timesteps == "logit_normal"
    before = torch.randint(0, 1000, (64,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(draw_timesteps("uniform", 64, 1000, torch.Generator().manual_seed(3)), before)
    t = draw_timesteps("logit_normal", 20_000, 1000, torch.Generator().manual_seed(3))
    middle = ((t >= 250) & (t < 750)).float().mean().item()
    assert 0.70 < middle < 0.76 and t.min() >= 0 and t.max() <= 999


@pytest.mark.parametrize("timesteps", ["logit_normal", "uniform"])
def test_the_unet_stage_trains_with_either_timestep_draw(timesteps):
    from dataclasses import replace

    from workbench.toyworld.diffusion_stages import train_unet
    from workbench.toyworld.recipe import TrainConfig

    cfg = replace(TrainConfig.quick(), unet_steps=2, unet_batch=4, timesteps=timesteps)
    latents, states = torch.randn(8, 4, 16, 16), torch.randn(8, 77, 64)
    unet = train_unet(latents, states, states[0], cfg, models.DiffusionConfig(), 0, "cpu", progress=False)
    torch.manual_seed(0)  # the weights train_unet starts from
    start = models.build_unet(models.DiffusionConfig(), cross_attention_dim=64)
    assert not all(torch.equal(a, b) for a, b in zip(unet.parameters(), start.parameters()))


@pytest.mark.slow
def test_quick_training_writes_a_loadable_deterministic_model(tmp_path):
    from workbench.toyworld.train import train

    record = train(tmp_path / "a", seed=3, quick=True, progress=False, device="cpu")
    assert paths.is_trained(tmp_path / "a")
    assert record["weights_mb"] <= 30
    assert set(record["seconds"]) == STAGES
    pipe = models.load_pipeline(tmp_path / "a" / "pipeline")
    assert pipe.vae.config.scaling_factor == pytest.approx(record["latent_scaling_factor"])
    clip, _ = models.load_clip(tmp_path / "a" / "clip" / "open_clip_model.safetensors")
    assert clip.encode_image(torch.zeros(2, 3, 64, 64)).shape == (2, clip.text_projection.shape[1])
    # the same seed reproduces the same weights
    train(tmp_path / "b", seed=3, quick=True, progress=False, device="cpu")
    from safetensors.torch import load_file

    for f in ("clip/open_clip_model.safetensors", "pipeline/vae/diffusion_pytorch_model.safetensors",
              "pipeline/unet/diffusion_pytorch_model.safetensors"):
        a, b = load_file(tmp_path / "a" / f), load_file(tmp_path / "b" / f)  # (header order varies)
        assert a.keys() == b.keys(), f
        assert all(torch.equal(a[k], b[k]) for k in a), f


@pytest.fixture(scope="module")
def whole_quick_run(tmp_path_factory):
    """The quick recipe in one go, seed 2: what every resumed run must equal."""
    from workbench.toyworld.train import train

    out = tmp_path_factory.mktemp("whole")
    train(out, seed=2, quick=True, progress=False, device="cpu")
    return out


def _weights(model_dir, part):
    from safetensors.torch import load_file

    files = {"unet": "pipeline/unet/diffusion_pytorch_model.safetensors", "clip": "clip/open_clip_model.safetensors",
             "vae": "pipeline/vae/diffusion_pytorch_model.safetensors"}
    return load_file(Path(model_dir) / files[part])


def _same(a, b, keys=None):
    return all(torch.equal(a[k], b[k]) for k in (keys if keys is not None else a))


@pytest.mark.slow
def test_second_cycle_resumed_from_a_first_cycle_folder_equals_one_run(tmp_path, whole_quick_run):
    """How run 5 was made: stage 4b from run 4's folder. It must equal the recipe in one go."""
    from dataclasses import replace

    from workbench.toyworld.recipe import TrainConfig
    from workbench.toyworld.train import train

    first = replace(TrainConfig.quick(), unet_second_steps=0, decoder_steps=0, round_trip_steps=0)
    before = train(tmp_path / "first", seed=2, progress=False, device="cpu", config=first)
    assert "unet_second_cycle" not in before["seconds"] and "clip_round_trips" not in before["seconds"]
    record = train(tmp_path / "resumed", seed=2, quick=True, progress=False, device="cpu",
                   first_cycle=tmp_path / "first")
    assert set(record["seconds"]) == STAGES
    assert record["seconds"]["unet"] == before["seconds"]["unet"]  # the earlier run's times are kept
    a, b, c = (_weights(run, "unet") for run in (whole_quick_run, tmp_path / "resumed", tmp_path / "first"))
    assert _same(a, b)
    assert not _same(a, c)  # and the second cycle did change the UNet
    assert _same(_weights(whole_quick_run, "clip"), _weights(tmp_path / "resumed", "clip"))
    with pytest.raises(FileNotFoundError, match="no trained model in .* to resume from"):
        train(tmp_path / "x", seed=2, quick=True, progress=False, device="cpu", first_cycle=tmp_path / "nothing")


@pytest.mark.slow
def test_stages_after_the_second_cycle_resumed_equal_one_run_and_keep_what_the_unet_learnt(tmp_path,
                                                                                           whole_quick_run):
    """How run 7 was made: stages 4c and 5 from run 5's folder. They train the VAE's decoder and
    the CLIP's image tower only, so the latents and the text states the UNet learnt on stay
    exactly as they were."""
    from dataclasses import replace

    from workbench.toyworld.recipe import TrainConfig
    from workbench.toyworld.train import train

    upto_4b = replace(TrainConfig.quick(), decoder_steps=0, round_trip_steps=0)
    before = train(tmp_path / "4b", seed=2, progress=False, device="cpu", config=upto_4b)
    record = train(tmp_path / "resumed", seed=2, quick=True, progress=False, device="cpu",
                   second_cycle=tmp_path / "4b")
    assert set(record["seconds"]) == STAGES
    assert record["seconds"]["unet_second_cycle"] == before["seconds"]["unet_second_cycle"]
    whole, resumed, earlier = (_weights(run, "clip") for run in (whole_quick_run, tmp_path / "resumed", tmp_path / "4b"))
    assert _same(whole, resumed)
    text = [k for k in whole if not k.startswith("visual.") and k not in ("text_projection", "logit_scale")]
    visual = [k for k in whole if k.startswith("visual.") and whole[k].is_floating_point()]
    assert text and _same(whole, earlier, text)  # the UNet's conditioning is untouched
    assert not _same(whole, earlier, visual)  # and the image tower did train
    assert _same(_weights(whole_quick_run, "unet"), _weights(tmp_path / "4b", "unet"))
    whole, resumed, earlier = (_weights(run, "vae") for run in (whole_quick_run, tmp_path / "resumed", tmp_path / "4b"))
    assert _same(whole, resumed)
    encoder = [k for k in whole if k.startswith(("encoder.", "quant_conv."))]
    assert encoder and _same(whole, earlier, encoder)  # the latents are untouched
    assert not _same(whole, earlier, [k for k in whole if k.startswith("decoder.")])  # the decoder trained
    with pytest.raises(ValueError, match="not both"):
        train(tmp_path / "x", seed=2, quick=True, progress=False, device="cpu", first_cycle=tmp_path / "4b",
              second_cycle=tmp_path / "4b")


def test_estimate_times_every_stage_that_training_records():
    from dataclasses import replace

    from workbench.toyworld.estimate import estimate
    from workbench.toyworld.recipe import TrainConfig

    small = replace(TrainConfig.quick(), clip_batch=24, refine_groups=1, vae_batch=2, unet_batch=2, modifier_steps=0)
    seconds = estimate(small, device="cpu", sample=32)
    assert set(seconds) == STAGES | {"total"}
    assert all(v >= 0 for v in seconds.values()) and seconds["data"] > 0
    assert seconds["clip_modifier_groups"] == 0  # a stage with no steps costs nothing
    assert seconds["total"] == pytest.approx(sum(v for k, v in seconds.items() if k != "total"), abs=0.5)


def test_estimate_report_warns_only_over_the_budget():
    from workbench.toyworld.estimate import report

    over = report({"clip": 3_000.0, "unet": 1_200.0, "total": 4_200.0})
    assert "70.0 min (budget 60 min)" in over and "too slow" in over
    assert "too slow" not in report({"clip": 600.0, "total": 600.0})


def test_estimate_per_step_time_shrugs_off_one_stalled_run(monkeypatch):
    """A step costs 0.3 s; the first timed pair's longer run stalls for 0.8 s."""
    import types

    import workbench.toyworld.estimate as estimate

    clock = [0.0]
    monkeypatch.setattr(estimate, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    def stalled_run():
        stalls = iter([0.0, 0.0, 0.8] + [0.0] * 10)  # the untimed warm-up run, a pair's short and long run

        def run(steps):
            clock[0] += 0.3 * steps + 0.1 + next(stalls)  # 0.1 s of set-up, which the difference cancels
        return run

    assert estimate._per_step(stalled_run()) == pytest.approx(0.3)
    assert estimate._per_step(stalled_run(), repeats=1) == pytest.approx(0.5)  # what one pair reads
