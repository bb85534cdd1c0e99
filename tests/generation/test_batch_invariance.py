"""Batch-invariant layers: the same numbers as the plain layers, and the same bits in any batch."""

import pytest
import torch
from torch import nn

from workbench.generation.batch_invariance import (
    PairedConv2d,
    PerImageLinear,
    StandardLayoutGroupNorm,
    make_batch_invariant,
)

# Layer shapes of the embedded model's UNet and VAE where the plain CPU kernels were seen to vary
LAYERS = {
    "time embedding (2-D input)": (lambda: nn.Linear(128, 128), (18, 128)),
    "3x3 convolution": (lambda: nn.Conv2d(64, 64, 3, padding=1), (18, 64, 16, 16)),
    "1x1 convolution": (lambda: nn.Conv2d(32, 64, 1), (18, 32, 8, 8)),
    "4-channel 1x1 convolution (VAE post-quant)": (lambda: nn.Conv2d(4, 4, 1), (18, 4, 16, 16)),
    "strided convolution": (lambda: nn.Conv2d(64, 64, 3, stride=2, padding=1), (18, 64, 16, 16)),
    "GroupNorm, one group, channels-last input": (lambda: nn.GroupNorm(1, 16), (18, 16, 64, 64)),
}


def invariant(layer):
    make_batch_invariant(layer)
    return layer


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", list(LAYERS))
def test_a_row_is_the_same_alone_or_anywhere_in_a_batch(name, threads):
    make, shape = LAYERS[name]
    torch.manual_seed(0)
    layer = invariant(make())
    x = torch.randn(shape)
    if x.dim() == 4 and "channels-last" in name:
        x = x.contiguous(memory_format=torch.channels_last)  # as an attention block hands it on
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            full = layer(x)
            for start, size in [(0, 1), (5, 1), (3, 2), (0, 7), (11, 7), (9, 9)]:
                part = layer(x[start:start + size])
                assert torch.equal(part, full[start:start + size]), f"{name}: rows {start}..{start + size - 1}"
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(LAYERS))
def test_same_numbers_as_the_plain_layer(name):
    make, shape = LAYERS[name]
    torch.manual_seed(1)
    plain = make()
    swapped = invariant(make())
    swapped.load_state_dict(plain.state_dict())
    x = torch.randn(shape)
    with torch.inference_mode():
        torch.testing.assert_close(swapped(x), plain(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(swapped(x[:1]), plain(x[:1]), rtol=1e-5, atol=1e-5)


def test_swaps_plain_layers_only_once_and_keeps_the_weights():
    class MyLinear(nn.Linear):  # a layer with behaviour of its own is left alone
        pass

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8), nn.Flatten(), nn.Linear(8, 4), MyLinear(4, 4))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert make_batch_invariant(model) == 3 and make_batch_invariant(model) == 0
    assert [type(m) for m in model] == [PairedConv2d, StandardLayoutGroupNorm, nn.Flatten, PerImageLinear, MyLinear]
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_load_model_swaps_on_the_cpu_unless_told(tiny_model_dir):
    from workbench.generation.loading import load_model

    assert type(load_model(tiny_model_dir, device="cpu").pipeline.unet.conv_in) is PairedConv2d
    assert type(load_model(tiny_model_dir, device="cpu", batch_invariant=False).pipeline.unet.conv_in) is nn.Conv2d


def test_edge_inputs_behave_as_the_plain_layers():
    torch.manual_seed(2)
    linear, conv, same = nn.Linear(8, 4), nn.Conv2d(8, 4, 1), nn.Conv2d(8, 4, 1, padding="same", bias=False)
    plain = [nn.Linear(8, 4), nn.Conv2d(8, 4, 1), nn.Conv2d(8, 4, 1, padding="same", bias=False)]
    for p, s in zip(plain, (linear, conv, same)):
        p.load_state_dict(s.state_dict())
    make_batch_invariant(linear, conv, same)
    with torch.inference_mode():
        assert linear(torch.randn(0, 8)).shape == (0, 4) and conv(torch.randn(0, 8, 3, 3)).shape == (0, 4, 3, 3)
        x = torch.randn(3, 8, 5, 5)
        torch.testing.assert_close(same(x), plain[2](x))  # 'same' padding of a 1x1 kernel is none
        many = torch.randn(5000, 8)  # more rows than any batch of images: the plain product
        assert torch.equal(linear(many), plain[0](many))


def test_the_generator_swaps_layers_added_after_loading(tiny_model_dir):
    from workbench.generation.engine import ImageGenerator
    from workbench.generation.loading import load_model

    model = load_model(tiny_model_dir, device="cpu")
    assert model.batch_invariant
    layer = model.pipeline.unet.time_embedding.linear_1
    layer.__class__ = nn.Linear  # as a LoRA adapter's plain layers arrive
    gen = ImageGenerator(model, progress=False)
    gen.generate(gen.requests("a red circle", seeds=0, steps=1))
    assert type(layer) is PerImageLinear
