"""The generator on a tiny random SD model: batch invariance, store reuse, records, and resumption."""

import numpy as np
import pytest

from workbench.generation.engine import ImageGenerator
from workbench.store.catalogue import pixels_of


@pytest.fixture
def gen(tiny_model, tmp_path):
    return ImageGenerator(tiny_model, store=tmp_path / "store", progress=False)


def pixels(result):
    """A GeneratedImage's or a StoredImage's pixels (np.asarray of a StoredImage's old `image`
    method made an object array, unequal to any image: a check that could not fail)."""
    return np.asarray(pixels_of(result))


def test_image_does_not_depend_on_batch_size_or_position(tiny_model):
    alone = ImageGenerator(tiny_model, max_batch=1, progress=False)
    batched = ImageGenerator(tiny_model, max_batch=9, progress=False)
    reqs = alone.requests("a red circle", seeds="0-4", steps=3)
    singles = alone.generate(reqs)
    together = batched.generate(list(reversed(reqs)))[::-1]  # other positions in the batch
    for one, many in zip(singles, together):
        assert one.request.seed == many.request.seed
        assert np.array_equal(pixels(one), pixels(many)), f"seed {one.request.seed} changed with the batch"
    assert not np.array_equal(pixels(singles[0]), pixels(singles[1]))  # different seeds differ


def test_same_request_same_image_across_runs(tiny_model):
    a = ImageGenerator(tiny_model, progress=False)
    first = a.generate(a.requests("a blue star", seeds=3, steps=2))[0]
    again = a.generate(a.requests("a blue star", seeds=3, steps=2))[0]
    assert np.array_equal(pixels(first), pixels(again))


def test_identical_requests_are_served_from_the_store(gen):
    reqs = gen.requests("a green heart", seeds="0-2", steps=2)
    made = gen.generate(reqs)
    assert not any(r.cached for r in made) and len(gen.store) == 3
    again = gen.generate(reqs)
    assert all(r.cached for r in again) and len(gen.store) == 3
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(made, again))


def test_interrupted_run_keeps_finished_images_and_resumes(tiny_model, tmp_path):
    gen = ImageGenerator(tiny_model, store=tmp_path / "s", max_batch=1, progress=False)
    reqs = gen.requests("a pink square", seeds="0-8", steps=2)
    calls = {"n": 0}

    def interrupt_after_four(pipe, step, timestep, kwargs):
        if step == 0:
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
        return kwargs

    with pytest.raises(KeyboardInterrupt):
        gen.generate(reqs, callback_on_step_end=interrupt_after_four)
    assert len(gen.store) == 4
    calls["n"] = -100  # no more interrupts
    done = gen.generate(reqs, callback_on_step_end=interrupt_after_four)
    assert [r.cached for r in done] == [True] * 4 + [False] * 5 and len(gen.store) == 9


def test_record_carries_request_modifiers_and_provenance(gen):
    from workbench.prompts import compose

    c = compose("a red circle", ["render_engines:octane-render"])
    result = gen.generate(gen.requests(c, seeds=1, steps=2), compositions={c.prompt: c})[0]
    rec = result.record
    assert rec.request.modifiers == (("render_engines", "octane-render"),)
    assert rec.composition["prompt"] == c.prompt and rec.model_hash and rec.versions["torch"]
    assert rec.device == "cpu" and rec.dtype == "float32" and rec.request.scheduler == "DDIMScheduler"
    from workbench.store import read_png_metadata

    assert read_png_metadata(result.path).request == rec.request


def test_variation_seed_moves_the_image_gradually(gen):
    base = pixels(gen.generate(gen.requests("a red circle", seeds=1, steps=2))[0]).astype(float)
    near = pixels(gen.generate(gen.requests("a red circle", seeds=1, steps=2, variation_seed=9,
                                            variation_strength=0.1))[0]).astype(float)
    far = pixels(gen.generate(gen.requests("a red circle", seeds=1, steps=2, variation_seed=9,
                                           variation_strength=0.9))[0]).astype(float)
    assert 0 < np.abs(base - near).mean() < np.abs(base - far).mean()


def test_another_precision_is_not_served_the_stored_image(tiny_model, tiny_model_dir, tmp_path):
    from workbench.generation.loading import load_model

    full = ImageGenerator(tiny_model, store=tmp_path / "s", progress=False)
    half = ImageGenerator(load_model(tiny_model_dir, device="cpu", dtype="bfloat16"), store=tmp_path / "s",
                          progress=False)
    made = full.generate(full.requests("a red circle", seeds=0, steps=2))[0]
    other = half.generate(half.requests("a red circle", seeds=0, steps=2))[0]
    assert not other.cached and (made.record.dtype, other.record.dtype) == ("float32", "bfloat16")
    assert len(full.store) == 2 and other.path != made.path
    assert half.generate(half.requests("a red circle", seeds=0, steps=2))[0].cached


def test_numpy_sizes_and_seeds_make_plain_records(gen):
    """Notebooks pass numpy numbers; the record must stay JSON and the size must be honoured."""
    result = gen.generate(gen.requests("a red circle", np.int64(3), steps=np.int64(1), width=np.int64(24)))[0]
    assert (result.request.seed, result.request.width, result.image.width) == (3, 24, 24)
    assert type(result.request.width) is int and '"width": 24' in result.record.to_json()
    assert type(result.request.steps) is int and '"steps": 1' in result.record.to_json()


def test_a_scheduler_set_up_otherwise_is_not_served_the_stored_image(tiny_model_dir, tmp_path):
    """The same class with other settings gives another image; as loaded, the key is as before."""
    from workbench.generation.loading import load_model

    gen = ImageGenerator(load_model(tiny_model_dir, device="cpu"), store=tmp_path / "store", progress=False)
    plain = gen.requests("a red circle", 1, steps=3)
    assert plain[0].scheduler_settings == "" and gen.generate(plain)[0].record.key == plain[0].key(gen.model.hash)
    loaded = gen.pipeline.scheduler
    gen.pipeline.scheduler = type(loaded).from_config(loaded.config, timestep_spacing="trailing")
    other = gen.requests("a red circle", 1, steps=3)
    made = gen.generate(other)[0]
    assert other[0].scheduler_settings and not made.cached
    assert not np.array_equal(pixels(made), pixels(gen.store.get(plain[0].key(gen.model.hash))))
    gen.pipeline.scheduler = type(loaded).from_config(loaded.config)
    assert gen.generate(gen.requests("a red circle", 1, steps=3))[0].cached


def test_images_served_from_the_store_are_listed_in_the_run(gen):
    """A grid run that reuses earlier images holds every cell, so `map --run N` shows them all."""
    gen.generate(gen.requests("a red circle", seeds="0-1", steps=2))
    run = gen.store.start_run("grid")
    out = gen.generate(gen.requests("a red circle", seeds="0-3", steps=2), run=run)
    assert [g.cached for g in out] == [True, True, False, False]
    assert sorted(s.record.request.seed for s in gen.store.images(run=run)) == [0, 1, 2, 3]


def test_a_damaged_stored_png_is_set_aside_and_made_again(gen):
    first = gen.generate(gen.requests("a red circle", seeds=0, steps=2))[0]
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])  # a disk error, a copy cut short
    assert any("not a readable PNG" in p for p in gen.store.check())
    again = gen.generate(gen.requests("a red circle", seeds=0, steps=2))[0]
    assert not again.cached and np.array_equal(np.asarray(again.image), np.asarray(first.image))
    assert first.path.with_name(first.path.name + ".damaged").read_bytes() == data[: len(data) // 2]  # kept
    assert gen.store.check() == [] and gen.generate(gen.requests("a red circle", seeds=0, steps=2))[0].cached


def test_requests_built_before_a_sampler_swap_are_refused(tiny_model_dir):
    """Else the new sampler's image would be stored as the old one's, and served for it for good."""
    from diffusers import EulerDiscreteScheduler

    from workbench.generation.loading import load_model

    gen = ImageGenerator(load_model(tiny_model_dir, device="cpu"), progress=False)
    reqs = gen.requests("a red circle", seeds=0, steps=2)
    gen.pipeline.scheduler = EulerDiscreteScheduler.from_config(gen.pipeline.scheduler.config)
    with pytest.raises(ValueError, match=r"this request is for the sampler DDIMScheduler, but the pipeline now runs "
                                         r"EulerDiscreteScheduler; build the requests again"):
        gen.generate(reqs)
    assert gen.generate(gen.requests("a red circle", seeds=0, steps=2))[0].request.scheduler == "EulerDiscreteScheduler"
    import dataclasses

    earlier = dataclasses.replace(gen.requests("a red circle", seeds=0, steps=2)[0], step_noise="after-start")
    with pytest.raises(ValueError, match=r"this request says EulerDiscreteScheduler draws step noise 'after-start', "
                                         r"but it now draws it 'not at all'"):
        gen.generate([earlier])


def test_no_negative_prompt_reaches_the_pipeline_as_none(gen, monkeypatch):
    """As diffusers' own default: SDXL zeroes the negative embedding only for None, not for ''."""
    seen = []
    real = type(gen.pipeline).__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs["negative_prompt"])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(gen.pipeline), "__call__", spy)
    gen.generate(gen.requests("a red circle", seeds="0-1", steps=1) +
                 gen.requests("a red circle", seeds="0-1", steps=1, negative_prompt="blurry"))
    assert sorted(seen, key=str) == [None, ["blurry", "blurry"]]  # and never both kinds in one batch


def test_an_ancestral_samplers_image_is_diffusers_own_for_that_seed(tiny_model_dir):
    """Its step noise comes from the seed's generator after the starting noise, as when diffusers
    draws both; from a freshly seeded one, the first noise added was the starting noise again."""
    import torch
    from diffusers import DDIMScheduler, EulerAncestralDiscreteScheduler

    from workbench.generation.loading import load_model

    gen = ImageGenerator(load_model(tiny_model_dir, device="cpu"), progress=False)
    assert gen.requests("a red circle", seeds=0, steps=2)[0].step_noise == ""  # DDIM adds none: keys as before
    gen.pipeline.scheduler = EulerAncestralDiscreteScheduler.from_config(gen.pipeline.scheduler.config)
    ours = gen.generate(gen.requests("a red circle", seeds=[3, 4], steps=3))
    assert {r.request.step_noise for r in ours} == {"after-start"}
    with torch.inference_mode():
        bare = gen.pipeline("a red circle", num_inference_steps=3, guidance_scale=ours[0].request.guidance,
                            width=ours[0].request.width, height=ours[0].request.height,
                            generator=[torch.Generator().manual_seed(3)]).images[0]
    assert np.array_equal(pixels(ours[0]), np.asarray(bare))
    gen.pipeline.scheduler = DDIMScheduler.from_config(gen.pipeline.scheduler.config)
    assert gen.requests("a red circle", seeds=0, steps=2)[0].step_noise == ""


def test_a_lora_loaded_after_the_model_is_part_of_the_key(tiny_model_dir, tmp_path):
    """The base weights are hashed at load; a LoRA added later must not be served the plain
    model's images, nor the plain model a LoRA's."""
    import torch
    from peft import LoraConfig

    from workbench.generation.loading import load_model

    gen = ImageGenerator(load_model(tiny_model_dir, device="cpu"), store=tmp_path / "s", progress=False)
    plain = gen.generate(gen.requests("a red circle", seeds=0, steps=2))[0]
    assert plain.request.adapters == ""  # keys of images made without adapters are as before
    before = gen.requests("a red circle", seeds=0, steps=2)
    unet = gen.pipeline.unet
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]), "ink")
    with torch.no_grad():
        for name, weight in unet.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match="the LoRA adapters loaded or active changed since this request was made"):
        gen.generate(before)
    ink = gen.generate(gen.requests("a red circle", seeds=0, steps=2))[0]
    assert not ink.cached and ink.request.adapters and not np.array_equal(pixels(ink), pixels(plain))
    unet.set_adapters(["ink"], weights=[0.5])
    assert gen.requests("a red circle", seeds=0, steps=2)[0].adapters not in ("", ink.request.adapters)
    unet.disable_adapters()
    again = gen.generate(gen.requests("a red circle", seeds=0, steps=2))[0]
    assert again.cached and again.request.adapters == "" and np.array_equal(pixels(again), pixels(plain))


def test_a_sampler_the_probe_cannot_drive_is_taken_to_add_noise():
    """Its requests then never share keys with images made otherwise; a learned-variance DDPM,
    whose model predicts twice the channels, is driven and found to add noise."""
    from diffusers import DDIMScheduler, DDPMScheduler

    from workbench.generation.seeds import draws_step_noise

    assert draws_step_noise(DDPMScheduler(variance_type="learned_range"))
    assert not draws_step_noise(DDIMScheduler())

    class Broken(DDIMScheduler):
        def step(self, *args, **kwargs):
            raise RuntimeError("cannot step")

    assert draws_step_noise(Broken())


def test_a_prompt_the_models_tokenizer_cuts_short_is_warned_about(gen):
    """The composer counts with CLIP's original cleaning; the model reads its own tokenizer's
    tokens, and the end of a long prompt never reaches it."""
    with pytest.warns(UserWarning, match=r"the prompt is \d+ tokens for this model's tokenizer, which reads 75; "
                                         r"the model never sees the end: .*blue"):
        gen.requests("a red circle, " * 30 + "a blue square", seeds=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        gen.requests("a red circle", seeds=0)  # one that fits says nothing


def test_a_lora_fused_into_the_weights_still_keys_its_images():
    """After fuse_lora and unload_lora_weights no adapter layer is left, but the base weights
    that load_model hashed have changed; diffusers keeps the names in fused_loras."""
    from types import SimpleNamespace

    from workbench.generation.adapters import adapters_hash

    assert adapters_hash(SimpleNamespace()) == ""
    fused = adapters_hash(SimpleNamespace(fused_loras={"ink"}))
    assert fused and fused != adapters_hash(SimpleNamespace(fused_loras={"ink", "paper"}))
