"""Make a pipeline's CPU arithmetic independent of the batch: the same seed, the same pixels.

Each image's starting noise is its own (`seeds.py`), but that is not enough on its own. CPU
kernels pick their algorithm by problem size, and a different algorithm sums in a different
order. Measured on the 2-core machine (torch 2.14, MKL and oneDNN), layer by layer, batched
against one image at a time:

- `Linear` on fewer than about 8 rows takes another path than on more. A UNet has one such
  layer kind: the time embedding and each block's projection of it, one row per image
  (elsewhere a row is a token, so there are 64 rows or more per image).
- `Conv2d` on a batch of one image takes another path than on two or more; on two threads,
  two and more agree at every size and position tried (72 layer shapes, 1-17 images). Such
  batches come from decoding one image, or from one image without classifier-free guidance.
- A 1x1 `Conv2d` (a matrix product over pixels) varies with the batch even on two or more
  images when PyTorch runs on one thread, the default in a Jupyter kernel.
- `GroupNorm` on a channels-last input (what an attention block hands on) sums in an order
  that depends on the batch; on a standard-layout input it does not.

So `make_batch_invariant` swaps those layers' classes for ones that compute (1) a 2-D input to
a `Linear`, and (2) a 1x1 convolution, as one batched product of per-image matrices
(`torch.bmm`: each image's product is the same small problem whatever the batch); (3) run any
other convolution on a standard-layout input, and a lone image beside a copy of itself; and
(4) give `GroupNorm` a standard-layout input. Weights, `state_dict` and the outputs' meaning
are unchanged. On the embedded model a 3x3 grid costs the same within the noise (-1.6 % and
-6.7 % in two runs on 2026-12-02, each the median of 7 interleaved rounds), and one image
without guidance 11 % to a third more (+17 % and +31 % those two runs; its convolutions run
twice), as measured in `benchmarks/bench_generation.py`. It is applied on the
CPU only: GPU libraries vary with the batch in other layers as well, so there the promise is
not made.
"""

from __future__ import annotations

import torch
from torch import nn

# A 2-D input with more rows than any batch of images is a matrix of tokens or pixels, whose
# rows do not depend on how many there are; a row at a time would only make it slower.
MAX_IMAGE_ROWS = 1024


class PerImageLinear(nn.Linear):
    """A `Linear` whose 2-D input (one row per image) is a batch of one-row products."""

    def forward(self, x):
        if x.dim() != 2 or x.shape[0] > MAX_IMAGE_ROWS:
            return super().forward(x)
        return _batched_product(x.unsqueeze(1), self.weight.t().unsqueeze(0), self.bias, x.shape[0],
                                bias_shape=(1, -1)).squeeze(1)


class PairedConv2d(nn.Conv2d):
    """A `Conv2d` on a standard-layout input: 1x1 as one product per image, any other never on a
    batch of one (a lone image runs beside a copy of itself)."""

    def forward(self, x):
        if x.dim() != 4:
            return super().forward(x)
        x = x.contiguous()
        if self._pointwise():  # one (out x in) @ (in x pixels) product per image
            n, _, h, w = x.shape
            weight = self.weight.view(1, self.out_channels, self.in_channels)
            return _batched_product(weight, x.view(n, self.in_channels, h * w), self.bias, n,
                                    bias_shape=(-1, 1)).view(n, self.out_channels, h, w)
        if x.shape[0] != 1:
            return super().forward(x)
        return super().forward(torch.cat([x, x]))[:1]

    def _pointwise(self) -> bool:
        return (self.kernel_size == (1, 1) and self.stride == (1, 1) and self.padding in ((0, 0), "valid", "same")
                and self.dilation == (1, 1) and self.groups == 1 and self.padding_mode == "zeros")


class StandardLayoutGroupNorm(nn.GroupNorm):
    """A `GroupNorm` on a standard-layout input: its channels-last kernel sums in a batch-dependent order."""

    def forward(self, x):
        return super().forward(x.contiguous())


def _batched_product(a, b, bias, n, bias_shape):
    """a @ b (+ bias) as one batched product over n images, broadcasting a size-1 batch: each
    image's product is its own small matrix product, the same kernel whatever n is."""
    a, b = a.expand(n, -1, -1), b.expand(n, -1, -1)
    if bias is None:
        return torch.bmm(a, b)
    out_shape = (n, a.shape[1], b.shape[2])
    return torch.baddbmm(bias.view(*bias_shape).expand(out_shape), a, b)


SWAPS = {nn.Linear: PerImageLinear, nn.Conv2d: PairedConv2d, nn.GroupNorm: StandardLayoutGroupNorm}


def make_batch_invariant(*modules: nn.Module) -> int:
    """Swap the classes of every plain `Linear`, `Conv2d` and `GroupNorm` inside `modules`;
    returns how many.

    Only exact classes are swapped, so layers with behaviour of their own (quantised layers)
    are left as they are; the plain layers inside a LoRA wrapper are swapped. Swapping twice
    changes nothing, so it can run again after adapters are loaded (the generator does, before
    every run).
    """
    swapped = 0
    for module in modules:
        for layer in module.modules():
            cls = SWAPS.get(type(layer))
            if cls is not None:
                layer.__class__ = cls
                swapped += 1
    return swapped


def make_pipeline_batch_invariant(pipeline) -> int:
    """`make_batch_invariant` over a diffusers pipeline's torch components."""
    return make_batch_invariant(*(c for c in pipeline.components.values() if isinstance(c, nn.Module)))
