"""State for the generation widgets: `VariationGridState` and `ModifierComparisonState`.

Plain Python (no ipywidgets): the views in `generation_views.py` only mirror these. Each
state holds its inputs, runs the generator, tracks progress, and keeps what was clicked,
so tests drive a whole session without a browser.
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench.widgets.view import Observable


def reproduce_snippet(record) -> str:
    """Python that makes exactly this image again: the same model, prompt, seed, steps, guidance
    and size, in the same precision on the same kind of device (float16 on a GPU is another image)."""
    from workbench.generation.loading import PICKLE_SUFFIXES

    r = record.request
    args = [f"{r.prompt!r}", f"seeds={r.seed}", f"steps={r.steps}", f"guidance={r.guidance}",
            f"width={r.width}", f"height={r.height}"]
    if r.negative_prompt:
        args.append(f"negative_prompt={r.negative_prompt!r}")
    if r.variation_seed is not None and r.variation_strength:
        args += [f"variation_seed={r.variation_seed}", f"variation_strength={r.variation_strength}"]
    model = [repr(r.model)]
    if record.device:
        model.append(f"device={record.device.split()[0].split(':')[0]!r}")  # "cuda:0 (NVIDIA H100)" -> "cuda"
    if record.dtype:
        model.append(f"dtype={record.dtype!r}")
    trust = ""
    if Path(str(r.model)).suffix.lower() in PICKLE_SUFFIXES:
        model.append("trust_pickle=True")
        trust = "# a pickle checkpoint can run code when loaded: only if you trust this file\n"
    return ("from workbench.generation.engine import ImageGenerator\n"
            f"{trust}gen = ImageGenerator({', '.join(model)})\n"
            f"image = gen.generate(gen.requests({', '.join(args)}))[0].image")


def _defaults(model, generator):
    """The model's own steps and guidance, read from its folder without loading it (see defaults.py)."""
    from workbench.generation.defaults import defaults_for

    return defaults_for(generator.model if generator is not None else model)


def same(a, b) -> bool:
    """a == b, also for numpy arrays (False when they differ in any way)."""
    try:
        return bool(a == b)
    except ValueError:  # numpy arrays of seeds compare element by element
        try:
            return list(a) == list(b)
        except TypeError:
            return False


class _Observable(Observable):
    """Observers hear of every run and progress step, and of every input set from code, so a view
    shows what Generate will use."""

    INPUTS = frozenset({"prompt", "subject", "seeds", "steps", "guidance", "category", "ids"})

    def __init__(self):
        super().__init__()
        self.done, self.total, self.error = 0, 0, ""

    def __setattr__(self, name, value):
        changed = name in self.INPUTS and name in self.__dict__ and not same(self.__dict__[name], value)
        super().__setattr__(name, value)
        if changed:
            self._changed()

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self._changed()

    def _generator(self):
        if self.generator is None:
            from workbench.generation.engine import ImageGenerator

            self.generator = ImageGenerator(self.model, store=self.store, progress=False)
        return self.generator


class VariationGridState(_Observable):
    """Seeded variations of a prompt or Composition; click a cell to see its record."""

    def __init__(self, prompt=None, seeds="0-8", steps: int | None = None, guidance: float | None = None, *,
                 model=None, store=None, generator=None):
        super().__init__()
        self.prompt, self.seeds = prompt, seeds
        self.steps, self.guidance = _defaults(model, generator).resolve(steps, guidance)
        self.model, self.store, self.generator = model, store, generator
        self.grid = None
        self.selected: int | None = None

    def run(self):
        from workbench.generation.grids import variation_grid

        self.error, self.selected = "", None
        try:
            if self.prompt is None or not str(getattr(self.prompt, "prompt", self.prompt)).strip():
                raise ValueError("no prompt yet: compose one first (Composer().result) or type a prompt")
            self.grid = variation_grid(self._generator(), self.prompt, self.seeds, steps=self.steps,
                                       guidance=self.guidance, on_image=self._progress)
        except (ValueError, FileNotFoundError) as err:
            self.error = str(err)
        self._changed()
        return self.grid

    @property
    def results(self) -> list:
        return self.grid.results if self.grid else []

    def select(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self.results):
            raise IndexError(f"no image {index}; the grid has {len(self.results)}")
        self.selected = index
        self._changed()

    def details(self, index: int | None = None) -> dict | None:
        """What the enlarged view shows: image, record JSON and a reproduce snippet."""
        index = self.selected if index is None else index
        if index is None:
            return None
        result = self.results[index]
        return {"image": result.image, "record": json.dumps(result.record.to_dict(), indent=2, ensure_ascii=False),
                "snippet": reproduce_snippet(result.record), "seed": result.request.seed}


class ModifierComparisonState(_Observable):
    """One row per picked modifier of a category (plus the baseline), the same seeds in every row."""

    def __init__(self, subject: str = "", category: str | None = None, ids=(), seeds="0-3",
                 steps: int | None = None, guidance: float | None = None, *, base_tags=(), model=None, store=None,
                 generator=None, library=None):
        super().__init__()
        from workbench.prompts.compose import default_library

        self.library = library or default_library()
        self.subject, self.seeds = subject, seeds
        self.steps, self.guidance = _defaults(model, generator).resolve(steps, guidance)
        self.base_tags = list(base_tags)
        self.model, self.store, self.generator = model, store, generator
        # A mistyped category or tag id fails here, with near matches, not later inside the view
        if category is None:  # render engines when the library has them, else its first category
            category = "render_engines" if "render_engines" in self.library.categories else next(iter(self.categories))
        self.library.category(category)
        self.category, self.ids = category, [self.library.get(category, i).id for i in ids]
        self.grid = None

    @property
    def categories(self) -> list[str]:
        return list(self.library.categories)

    def options(self) -> list[tuple[str, str]]:
        if self.category not in self.library.categories:
            return []
        return [(t.label, t.id) for t in self.library.categories[self.category]]

    def run(self):
        from workbench.generation.grids import compare_modifiers
        from workbench.prompts.policy import PolicyRefusal

        self.error = ""
        try:
            if not self.ids:
                raise ValueError(f"pick at least one {self.category} modifier to compare")
            refs = [f"{self.category}:{i}" for i in self.ids]
            self.grid = compare_modifiers(self._generator(), self.subject, refs, self.seeds, base_tags=self.base_tags,
                                          library=self.library, steps=self.steps, guidance=self.guidance,
                                          on_image=self._progress)
        except (ValueError, KeyError, PolicyRefusal) as err:
            self.error = str(err)
        self._changed()
        return self.grid
