"""The toy world itself, used like a model: the reference a perfect model of the world would match.

    world = WorldSampler()
    images = world.generate(world.requests("a photo of a nurse", seeds="0-99"))

Each (prompt, seed) is a world render of a scene that shows what the prompt asks for, drawn from
the world's own distribution: a role whose colour the prompt leaves open gets its planted rates.
It has the two methods of `ImageGenerator` that sweeps use (`requests`, `generate`), so the bias
probe runs on it unchanged. That checks the probe itself (its prompts, reader and statistics)
against the truth; running the same probe on a trained model then shows what the model adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEED_OFFSET = 424_242  # world renders here never coincide with training or evaluation items


@dataclass(frozen=True)
class WorldRequest:
    prompt: str
    seed: int


@dataclass
class WorldImage:
    request: WorldRequest
    image: object  # PIL.Image.Image
    cached: bool = False


class WorldSampler:
    """Renders of the toy world for prompts; `steps` and `guidance` are accepted and ignored."""

    def __init__(self, world=None):
        from workbench.toyworld.world import ToyWorld

        self.world = world or ToyWorld()

    def requests(self, prompt: str, seeds="0-8", **_ignored) -> list[WorldRequest]:
        from workbench.generation.seeds import parse_seeds

        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt is empty; describe a toy-world scene, e.g. 'a photo of a doctor'")
        return [WorldRequest(prompt, s) for s in parse_seeds(seeds)]

    def generate(self, requests) -> list[WorldImage]:
        from PIL import Image

        out = []
        for r in requests:
            spec = self.world.scene_from_prompt(r.prompt, np.random.default_rng([SEED_OFFSET, r.seed]))
            out.append(WorldImage(r, Image.fromarray(self.world.render(spec.scene))))
        return out
