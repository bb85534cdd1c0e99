"""Seeds and starting noise: one CPU generator per image, so batches never change an image.

Peers' trackers are full of "same seed, different image" (A1111 #376, ComfyUI #165,
diffusers #2659): when a batch's noise is drawn from one generator, image k of the batch
depends on the batch. Here every image's starting latent is drawn from its own
`torch.Generator("cpu").manual_seed(seed)`, on the CPU whatever the device (CUDA and
CPU generators give different numbers), and only then moved to the device.

Variation seeds follow A1111 and InvokeAI: the noise is the spherical interpolation
between the seed's noise and the variation seed's noise, at the given strength.

Samplers that add noise while stepping (Euler a, DDPM, LCM, SDE solvers) draw it from the
image's generator after its starting noise, as diffusers does when it draws both: drawn from
a freshly seeded generator instead, the first noise added would be the starting noise again.
Their requests say so (`STEP_NOISE`), so images made before are not served for them.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable

from workbench.checks import is_whole

MAX_SEED = 2**32 - 1


def check_seed(seed, what: str = "seed") -> int:
    """The seed as an int; numpy integers and digit strings are accepted, "²" and 1.5 are not."""
    if is_whole(seed):
        seed = int(seed)
    elif isinstance(seed, str) and re.fullmatch(r"\s*-?[0-9]+\s*", seed):
        seed = int(seed)
    else:
        raise ValueError(f"{what} must be a whole number from 0 to {MAX_SEED}, not {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{what} {seed} is out of range; use a number from 0 to {MAX_SEED} (2**32-1)")
    return seed


def parse_seeds(spec: str | int | Iterable[int]) -> list[int]:
    """Seeds from `"0-8"`, `"1,5,9"`, `"0-3,10"`, an int, or a list; each checked, order kept."""
    if is_whole(spec):
        return [check_seed(spec)]
    if not isinstance(spec, str):
        if isinstance(spec, bool) or not isinstance(spec, Iterable):
            raise TypeError(f"seeds must be a whole number, a list of them or text like '0-8', not {spec!r}")
        seeds = [check_seed(s) for s in spec]
        if not seeds:
            raise ValueError("no seeds given; pass e.g. range(9) or '0-8'")
        return seeds
    seeds: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if match:
            first, last = (check_seed(int(g)) for g in match.groups())
            if last < first:
                raise ValueError(f"seed range {part!r} is empty (it counts down); write it as {last}-{first}")
            if last - first >= 100_000:
                raise ValueError(f"seed range {part!r} has {last - first + 1:,} seeds; ask for at most 100,000 at once")
            seeds.extend(range(first, last + 1))
        elif part:
            seeds.append(check_seed(part))
    if not seeds:
        raise ValueError(f"no seeds in {spec!r}; write seeds like '0-8' or '1,5,9'")
    return seeds


def seeds_text(spec) -> str:
    """Seeds as a person types them: range(9) -> "0-8", [1, 5, 9] -> "1,5,9"; text as it is."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, range) and spec.step == 1 and len(spec) > 1:
        return f"{spec.start}-{spec.stop - 1}"
    if isinstance(spec, numbers.Integral):
        return str(int(spec))
    return ",".join(str(int(s)) for s in spec)


def seed_noise(seed: int, shape: tuple[int, ...]):
    """Unit Gaussian noise of `shape` for one image, drawn on the CPU from its own generator."""
    return _start(seed, shape)[0]


def _start(seed: int, shape: tuple[int, ...]):
    """(the seed's starting noise of `shape`, the seed's CPU generator moved past it)."""
    import torch

    generator = torch.Generator("cpu").manual_seed(check_seed(seed))
    return torch.randn(shape, generator=generator, dtype=torch.float32), generator


STEP_NOISE = "after-start"  # a request's `step_noise` when its sampler draws noise while stepping


def step_generator(seed: int, shape: tuple[int, ...]):
    """The CPU generator a sampler draws its step noise from: the seed's, moved past the
    starting noise `seed_noise` draws from it."""
    return _start(seed, shape)[1]


def draws_step_noise(scheduler) -> bool:
    """Whether `scheduler` adds noise while stepping: found by taking three steps on a copy and
    seeing whether a generator was drawn from (DDIM with eta 0, Euler and DPM-Solver++ draw
    none; Euler a, KDPM2 a, DDPM, LCM, TCD and the SDE solvers do)."""
    import copy

    import torch

    generator = torch.Generator("cpu").manual_seed(0)
    before = generator.get_state()
    step = type(scheduler).step  # the class's own: a filmstrip wraps the instance's
    for output_channels in (4, 8):  # 8: a model that also predicts its variance (learned-variance DDPM)
        probe = copy.deepcopy(scheduler)
        try:
            probe.set_timesteps(4)
            sample = torch.zeros(1, 4, 8, 8)
            for t in probe.timesteps[:3]:
                sample = step(probe, torch.zeros(1, output_channels, 8, 8), t, probe.scale_model_input(sample, t),
                              generator=generator).prev_sample
            return not torch.equal(generator.get_state(), before)
        except Exception:  # noqa: BLE001 - try the other kind of output
            continue
    return True  # a sampler this probe cannot drive is taken to add noise: its requests then never
    # share keys with images made otherwise (at worst, images made before are made again)


def slerp(t: float, a, b):
    """Spherical interpolation between two noise tensors (keeps the noise's norm, unlike a lerp)."""
    import torch

    a_flat, b_flat = a.flatten().double(), b.flatten().double()
    cos = torch.clamp(torch.dot(a_flat, b_flat) / (a_flat.norm() * b_flat.norm()), -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # nearly parallel: a lerp is exact enough and avoids 0/0
        mixed = (1 - t) * a_flat + t * b_flat
    else:
        mixed = (torch.sin((1 - t) * omega) * a_flat + torch.sin(t * omega) * b_flat) / torch.sin(omega)
    return mixed.reshape(a.shape).to(a.dtype)


def initial_latent(seed: int, shape: tuple[int, ...], variation_seed: int | None = None, strength: float = 0.0):
    """The starting latent of one image: its seed's noise, optionally slerped towards a variation seed's."""
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"variation strength {strength} must be between 0 and 1")
    noise = seed_noise(seed, shape)
    if variation_seed is None or strength == 0:
        return noise
    return slerp(float(strength), noise, seed_noise(check_seed(variation_seed, "variation seed"), shape))
