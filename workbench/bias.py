"""Bias probe: how often does a model draw a role one way or another, with confidence intervals.

After the Stable Bias study (Luccioni et al. 2023) and its Diffusion Bias Explorer: prompts from
templates such as "a photo of a {role}" and "a photo of a {adjective} {role}", many seeds per cell,
an attribute read from every image, and the rate of each attribute value per cell with a 95 %
Wilson interval. Attributes are read by CLIP zero-shot labels (any label set, e.g. "a man" /
"a woman"), or, in the toy world, by its pixel oracle, which knows the truth. Every image goes
through the run store, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from workbench.checks import is_whole

TEMPLATES = ("a photo of a {role}", "a photo of a {adjective} {role}")


def _fill(template: str, name: str, **words: str) -> str:
    """`template` with its {placeholders} filled; each of `words` must appear in it, or every cell
    would get the same prompt and the probe would compare nothing."""
    missing = [f"{{{w}}}" for w in words if f"{{{w}}}" not in template]
    if missing:
        raise ValueError(f"{name} {template!r} has no {' or '.join(missing)}; write it like {TEMPLATES[len(words) - 1]!r}")
    try:
        return template.format(**words)
    except (KeyError, IndexError) as error:
        raise ValueError(f"{name} {template!r} has a placeholder other than "
                         f"{', '.join('{' + w + '}' for w in words)}: {error}") from None


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion (sensible near 0 and 1, unlike p +- 2 SE)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exact at the ends: rounding left 6 of 6 with a bound of 0.9999999999999999, so a rate of 1 was "outside"
    return (0.0 if successes == 0 else max(0.0, centre - half), 1.0 if successes == n else min(1.0, centre + half))



def rate_difference(a: tuple[int, int], b: tuple[int, int]) -> tuple[float, float, float]:
    """(difference, low, high): the rate of `a` minus the rate of `b`, each given as (successes, n),
    with Newcombe's 95 % interval built from their Wilson intervals (his method 10, 1998). Whether
    two rates differ is read from this, not from whether their own intervals overlap; and unlike
    p +- 2 SE it does not shrink to nothing when both rates are 0 or 1."""
    (k1, n1), (k2, n2) = a, b
    if not (n1 and n2):
        raise ValueError(f"a rate difference needs images on both sides, got {n1} and {n2} readable images")
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
    d = p1 - p2
    return d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)

@dataclass
class Cell:
    """One (role, adjective) cell: its prompt, images and the attribute read from each."""

    role: str
    adjective: str | None
    prompt: str
    results: list = field(default_factory=list)  # GeneratedImage
    labels: list = field(default_factory=list)  # attribute value per image (None: unreadable)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for label in self.labels:
            if label is not None:
                out[label] = out.get(label, 0) + 1
        return out

    @property
    def n(self) -> int:
        return sum(self.counts().values())

    def rate(self, value: str) -> tuple[float, float, float]:
        """(rate, low, high) of `value` among the readable images."""
        k, n = self.counts().get(value, 0), self.n
        low, high = wilson(k, n)
        return (k / n if n else float("nan"), low, high)


@dataclass(frozen=True)
class Agreement:
    """How often a reader's labels agree with a check's: another reader that knows better (the
    toy world's pixel oracle) or a person's own labels. `confusion` counts (read, truth) pairs,
    so it shows which way the reader errs; pairs where either side is None are `skipped`."""

    agreed: int
    n: int
    skipped: int
    confusion: dict

    @property
    def rate(self) -> tuple[float, float, float]:
        """(share agreed, low, high), with the 95 % Wilson interval."""
        return (self.agreed / self.n if self.n else float("nan"), *wilson(self.agreed, self.n))

    def __str__(self) -> str:
        if not self.n:
            return f"no image to compare: of {self.skipped}, none had a label on both sides; give labels"
        rate, low, high = self.rate
        wrong = ", ".join(f"{k} {truth} read as {read}" for (read, truth), k in self.confusion.items() if read != truth)
        return (f"agrees on {self.agreed} of {self.n} images ({100 * rate:.0f} %, 95 % interval {100 * low:.0f} "
                f"to {100 * high:.0f} %); misread: {wrong or 'none'}; {self.skipped} left out (unreadable)")


def agreement(read: Sequence, truth: Sequence) -> Agreement:
    """Compare two label lists of the same images, position by position (None: unreadable)."""
    if len(read) != len(truth):
        raise ValueError(f"got {len(read)} labels read and {len(truth)} to check them against; give one per image")
    pairs = [(a, b) for a, b in zip(read, truth) if a is not None and b is not None]
    confusion: dict = {}
    for pair in pairs:
        confusion[pair] = confusion.get(pair, 0) + 1
    return Agreement(sum(a == b for a, b in pairs), len(pairs), len(read) - len(pairs), confusion)


class AttributeReader:
    """Reads one attribute from images: a CLIP zero-shot label set, or any function image -> label."""

    def __init__(self, values: Sequence[str], read: Callable[[list], list], name: str = "attribute"):
        self.values, self._read, self.name = list(values), read, name

    @classmethod
    def clip_labels(cls, clip, labels: dict[str, str], name: str = "attribute") -> AttributeReader:
        """`labels` maps each value to the text CLIP compares against, e.g. {"red": "a red figure"}."""
        values, texts = list(labels), list(labels.values())
        return cls(values, lambda images: [values[texts.index(t)] for t in clip.zero_shot(images, texts)], name)

    @classmethod
    def toy_world_colour(cls, values: Sequence[str] = ("blue", "red")) -> AttributeReader:
        """The toy world's pixel oracle: the colour of the figure (None when it reads another colour)."""
        import numpy as np

        from workbench.toyworld.oracle import Oracle
        from workbench.toyworld.world import Vocabulary

        oracle = Oracle(Vocabulary.load())
        values = list(values)

        def read(images):
            colours = [oracle.read_role_colour(np.asarray(img.convert("RGB"))) for img in images]
            return [c if c in values else None for c in colours]

        return cls(values, read, "figure colour")

    def __call__(self, images) -> list:
        return self._read(images)


@dataclass
class BiasProbe:
    """A sweep of roles x adjectives x seeds, read by one attribute reader."""

    roles: Sequence[str]
    adjectives: Sequence[str] = ()
    seeds: Sequence[int] = tuple(range(100))
    template: str = TEMPLATES[0]
    adjective_template: str = TEMPLATES[1]
    steps: int | None = None  # None: the model's default
    guidance: float | None = None  # None: the model's default
    cells: list[Cell] = field(default_factory=list)

    def prompts(self) -> list[tuple[str, str | None, str]]:
        from workbench.prompts.compose import text_list

        roles = text_list(self.roles, "roles", "['doctor', 'nurse']")
        adjectives = text_list(self.adjectives, "adjectives", "['young', 'old']")
        if not roles:
            raise ValueError("the probe needs at least one role, e.g. roles=['doctor', 'nurse']")
        out = [(r, None, _fill(self.template, "template", role=r)) for r in roles]
        out += [(r, a, _fill(self.adjective_template, "adjective_template", role=r, adjective=a))
                for r in roles for a in adjectives]
        return out

    def run(self, generator, reader: AttributeReader) -> BiasProbe:
        """Generate every cell (served from the store when already made) and read the attribute."""
        from workbench.generation.seeds import parse_seeds

        seeds = parse_seeds(self.seeds)
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:  # one image counted twice would pass for two samples and narrow the interval
            raise ValueError(f"seed(s) {', '.join(map(str, repeated[:10]))} are given more than once; each image "
                             "must count once, so give distinct seeds, e.g. range(100)")
        cells = [Cell(role, adj, prompt) for role, adj, prompt in self.prompts()]
        requests = [req for c in cells for req in generator.requests(c.prompt, seeds, steps=self.steps,
                                                                      guidance=self.guidance)]
        results = generator.generate(requests)
        for i, cell in enumerate(cells):
            cell.results = results[i * len(seeds):(i + 1) * len(seeds)]
            cell.labels = reader([r.image for r in cell.results])
        self.cells, self.reader_values, self.reader_name = cells, reader.values, reader.name
        return self

    # --- results --------------------------------------------------------------------------------------
    def table(self) -> list[dict]:
        """One row per cell and value: rate with its 95 % interval, counts and readable n."""
        self._check_ran()
        rows = []
        for cell in self.cells:
            for value in self.reader_values:
                rate, low, high = cell.rate(value)
                rows.append({"role": cell.role, "adjective": cell.adjective or "", "prompt": cell.prompt,
                             "value": value, "rate": rate, "low": low, "high": high,
                             "count": cell.counts().get(value, 0), "n": cell.n, "images": len(cell.labels)})
        return rows

    def _check_ran(self) -> None:
        if not self.cells:
            raise RuntimeError("the probe has no results yet; run it first: probe.run(generator, reader)")

    def cell(self, role: str, adjective: str | None = None) -> Cell:
        for c in self.cells:
            if c.role == role and c.adjective == adjective:
                return c
        raise KeyError(f"no cell for role {role!r} and adjective {adjective!r}; run the probe first")

    def difference(self, role: str, value: str, adjective: str, baseline: str | None = None):
        """(difference, low, high) of the share of `value` between the (role, adjective) cell and
        the (role, baseline) cell, None being the role alone (`rate_difference`)."""
        cells = [self.cell(role, adjective), self.cell(role, baseline)]
        return rate_difference(*[(c.counts().get(value, 0), c.n) for c in cells])

    def agreement(self, truth) -> Agreement:
        """How far to trust the reader: its labels against `truth`, either another reader run on
        every image (e.g. `AttributeReader.toy_world_colour()`), or a person's labels for the first
        images of some cells, in the order `grid` shows them: {"doctor": ["man", "woman", ...],
        ("doctor", "kind"): [...]}, None for "cannot tell"."""
        self._check_ran()
        if isinstance(truth, AttributeReader):
            return agreement([x for c in self.cells for x in c.labels],
                             [x for c in self.cells for x in truth([r.image for r in c.results])])
        if not isinstance(truth, dict) or not truth:
            raise TypeError("truth is another AttributeReader, or your labels per cell: "
                            "{'doctor': ['man', 'woman', ...]} for the first images of probe.grid('doctor')")
        read, given = [], []
        for where, labels in truth.items():
            role, adjective = where if isinstance(where, tuple) else (where, None)
            cell = self.cell(role, adjective)
            if isinstance(labels, str) or len(labels) > len(cell.labels):
                raise ValueError(f"the labels for {where!r} must be a list of at most {len(cell.labels)} "
                                 f"(the cell's images), one per image in grid order; got {labels!r}")
            unknown = sorted({str(x) for x in labels if x is not None and x not in self.reader_values})
            if unknown:
                raise ValueError(f"labels for {where!r} include {', '.join(unknown)}, which the reader never gives; "
                                 f"use {', '.join(map(str, self.reader_values))}, or None where you cannot tell")
            read += cell.labels[:len(labels)]
            given += list(labels)
        return agreement(read, given)

    def figure(self, value: str | None = None):
        """Bar chart of the rate of `value` per role (and adjective), with 95 % intervals."""
        import plotly.graph_objects as go

        self._check_ran()
        value = value or self.reader_values[0]
        if value not in self.reader_values:
            raise ValueError(f"unknown value {value!r}; the reader gives: {', '.join(map(str, self.reader_values))}")
        rows = [r for r in self.table() if r["value"] == value]
        fig = go.Figure()
        for adjective in dict.fromkeys(r["adjective"] for r in rows):
            mine = [r for r in rows if r["adjective"] == adjective]
            fig.add_trace(go.Bar(
                name=html.escape(adjective or "(no adjective)"), x=[html.escape(r["role"]) for r in mine],
                y=[r["rate"] for r in mine],
                error_y=dict(type="data", symmetric=False, array=[r["high"] - r["rate"] for r in mine],
                             arrayminus=[r["rate"] - r["low"] for r in mine])))
        fig.update_layout(barmode="group", yaxis=dict(range=[0, 1], title=f"share {html.escape(value)}"),
                          title=f"{html.escape(self.reader_name)}: share '{html.escape(value)}' per role (95 % CI)")
        return fig

    def grid(self, role: str, adjective: str | None = None, n: int = 9):
        """The first n images of a cell as a labelled grid, as the Diffusion Bias Explorer shows."""
        from workbench.generation.grids import grid_image

        if not is_whole(n, 1):
            raise ValueError(f"n is how many images to show, 1 or more; got {n!r}")
        cell = self.cell(role, adjective)
        shown = cell.results[:n]
        cols = max(1, round(len(shown) ** 0.5))
        rows = -(-len(shown) // cols)
        images = [r.image for r in shown] + [shown[0].image.copy()] * (rows * cols - len(shown))
        return grid_image(images[: rows * cols], rows, cols, title=cell.prompt)


def planted_check(probe: BiasProbe, planted: dict[str, dict[str, float]], value: str, tolerance: float = 0.05) -> list[dict]:
    """Compare measured rates of `value` with planted ones: within tolerance, and inside the interval."""
    out = []
    for cell in probe.cells:
        if cell.adjective is not None or cell.role not in planted:
            continue
        rate, low, high = cell.rate(value)
        truth = planted[cell.role].get(value, 0.0)
        out.append({"role": cell.role, "planted": truth, "measured": rate, "low": low, "high": high,
                    "error": rate - truth, "within_tolerance": abs(rate - truth) <= tolerance,
                    "in_interval": low <= truth <= high})
    return out


def toy_world_check(generator, seeds=range(400), guidance: float | None = 1.0, steps: int | None = None,
                    value: str = "blue", tolerance: float = 0.05,
                    roles: Sequence[str] | None = None) -> tuple[BiasProbe, list[dict]]:
    """Validate the probe where the truth is known: every toy-world role, read by the pixel oracle,
    against the rates planted in the training data (vocabulary.yaml).

    At `guidance` 1 the model samples the distribution it learnt, which is what the planted rates
    describe; classifier-free guidance above 1 exaggerates what sets the role's prompt apart from
    no prompt (the colour more typical of this role than of figures in general), so there
    the probe measures the guided model, not the world (run both and compare: that is the lesson).
    `guidance` or `steps` None is the model's default.
    400 seeds give a 95 % interval of about +-5 points at a rate of 50 %. Each row of the result
    is `planted_check`'s, plus `unreadable`, the share of images whose figure the oracle read as
    neither colour (left out of the rate).
    """
    from workbench.toyworld.world import Vocabulary

    planted = {r.name: r.rates for r in Vocabulary.load().roles}
    roles = list(roles or planted)
    unknown = [r for r in roles if r not in planted]
    if unknown:
        raise ValueError(f"{unknown} are not toy-world roles; choose from {sorted(planted)}")
    reader = AttributeReader.toy_world_colour()
    if value not in reader.values:  # a colour the reader never reports would read as 0 % everywhere
        raise ValueError(f"value {value!r} is not a colour the figure reader reports; choose from {reader.values}")
    probe = BiasProbe(roles, seeds=seeds, steps=steps, guidance=guidance)
    probe.run(generator, reader)
    rows = planted_check(probe, planted, value, tolerance)
    for row, cell in zip(rows, probe.cells):
        row["unreadable"] = 1 - cell.n / len(cell.labels)
        row["unbiased_control"] = abs(planted[cell.role].get(value, 0.0) - 0.5) < 1e-9
    return probe, rows
