"""Labelled image grids: seeded variations (3x3 by default) and X/Y modifier comparisons.

A comparison holds the subject and the seeds fixed and varies one thing per row: a
modifier, or a search/replace in the prompt (A1111's Prompt S/R). Every row uses the
same seeds, so a cell differs from the one above it only by what the row changes.
Labels are drawn large enough to read, and small images are scaled up with nearest
neighbour so that their pixels stay visible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from workbench.checks import is_whole

CELL_MIN = 160  # px: small model outputs are scaled up to at least this for readable grids


def label_font(size: int):
    """Pillow's default font at `size` pixels, for titles drawn on pictures."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def fit_text(draw, text: str, font, width: int) -> str:
    """Shorten text with an ellipsis until it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def with_blanks(images: Sequence[Image.Image], cells: int) -> list[Image.Image]:
    """`images` followed by white cells up to `cells`: a last row that is not full is left blank."""
    return [*images, *[Image.new("RGB", images[0].size, "white")] * (cells - len(images))]


def grid_image(images: Sequence[Image.Image], rows: int, cols: int, row_titles: Sequence[str] = (),
               col_titles: Sequence[str] = (), title: str = "", cell: int | None = None) -> Image.Image:
    """Lay out images row by row with optional row/column titles and a title line."""
    if len(images) != rows * cols:
        raise ValueError(f"a {rows}x{cols} grid needs {rows * cols} images, got {len(images)}")
    w0, h0 = images[0].size
    scale = max(1, -(-CELL_MIN // max(w0, 1))) if cell is None else max(1, cell // w0)
    cw, ch = w0 * scale, h0 * scale
    font = label_font(max(12, min(20, cw // 10)))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = min(260, max((int(probe.textlength(t, font=font)) + 16 for t in row_titles), default=0))
    top_title = 30 if title else 0
    top = top_title + (26 if col_titles else 0)
    pad = 4
    canvas = Image.new("RGB", (left + cols * (cw + pad) + pad, top + rows * (ch + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad + 4, 6), fit_text(draw, title, font, canvas.width - 8), fill="black", font=font)
    for c, text in enumerate(col_titles):
        x = left + pad + c * (cw + pad)
        draw.text((x + 2, top_title + 4), fit_text(draw, text, font, cw - 4), fill="black", font=font)
    for r in range(rows):
        y = top + pad + r * (ch + pad)
        if r < len(row_titles):
            draw.text((6, y + ch // 2 - 8), fit_text(draw, row_titles[r], font, left - 10), fill="black", font=font)
        for c in range(cols):
            img = images[r * cols + c].convert("RGB")
            canvas.paste(img.resize((cw, ch), Image.NEAREST), (left + pad + c * (cw + pad), y))
    return canvas


@dataclass
class Grid:
    """Generated images laid out in rows (variants) and columns (seeds), with their titles."""

    results: list  # GeneratedImage, row by row
    rows: int
    cols: int
    row_titles: list[str] = field(default_factory=list)
    col_titles: list[str] = field(default_factory=list)
    title: str = ""
    row_refs: list[str | None] = field(default_factory=list)  # the modifier each row adds (None: baseline)

    def image(self, cell: int | None = None) -> Image.Image:
        """The grid as one picture; a last row that is not full is left blank."""
        images = with_blanks([r.image for r in self.results], self.rows * self.cols)
        return grid_image(images, self.rows, self.cols, self.row_titles, self.col_titles, self.title, cell)

    def row(self, r: int) -> list:
        return self.results[r * self.cols:(r + 1) * self.cols]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.image().save(path)
        return path

    def _repr_png_(self):
        from workbench.store.png import png_bytes

        return png_bytes(self.image())


def variation_grid(generator, prompt, seeds="0-8", *, cols: int | None = None, on_image=None, **kwargs) -> Grid:
    """Seeded variations of one prompt (or Composition): up to 3 in a row, more in a near-square
    grid `cols` wide whose last row may be part-filled (7 seeds: 3, 3 and 1)."""
    from workbench.generation.seeds import parse_seeds

    seeds = parse_seeds(seeds)
    if cols is not None and not is_whole(cols, 1):
        raise ValueError(f"cols must be a whole number of 1 or more, not {cols!r}")
    cols = int(cols) if cols else (len(seeds) if len(seeds) <= 3 else math.ceil(len(seeds) ** 0.5))
    rows = -(-len(seeds) // cols)
    results = generator.generate(generator.requests(prompt, seeds, **kwargs),
                                 compositions=_compositions([prompt]), on_image=on_image)
    text = getattr(prompt, "prompt", prompt)
    return Grid(results, rows, cols, [], [f"seed {s}" for s in seeds[:cols]] if rows == 1 else [], text)


def search_replace(prompt: str, search: str, values: Sequence[str]) -> list[str]:
    """A1111's Prompt S/R: the search text must occur in the prompt; each value replaces it."""
    if not search:
        raise ValueError("the search text is empty; give the words of the prompt to replace")
    if search not in prompt:
        raise ValueError(f"{search!r} does not occur in the prompt {prompt!r}; the first value must be "
                         "text from the prompt, which the other values replace")
    return [prompt.replace(search, value) for value in values]


def compare_modifiers(generator, subject: str, vary: Sequence[str], seeds="0-3", *, base_tags: Sequence[str] = (),
                      negative_prompt: str = "", baseline: bool = True, library=None, policy=None, on_image=None,
                      **kwargs) -> Grid:
    """Rows: the subject (with `base_tags`) plus each modifier in `vary`; columns: the same seeds.
    `negative_prompt` is every row's, with each modifier's own negative text added to it."""
    from workbench.generation.seeds import parse_seeds
    from workbench.prompts.compose import compose, default_library, text_list

    library = library or default_library()
    seeds = parse_seeds(seeds)
    variants: list[tuple[str, str | None]] = [("(none)", None)] if baseline else []
    variants += [(library.get(ref).label, ref) for ref in text_list(vary, "vary", "['decades:1960s', 'decades:1980s']")]
    comps = [compose(subject, [*base_tags, *([ref] if ref else [])], negative_prompt, library=library, policy=policy)
             for _, ref in variants]
    for message in dict.fromkeys(w for c in comps for w in c.warnings):  # a finding is never dropped silently
        warnings.warn(message, stacklevel=2)
    requests = [req for c in comps for req in generator.requests(c, seeds, **kwargs)]
    results = generator.generate(requests, compositions=_compositions(comps), on_image=on_image)
    return Grid(results, len(comps), len(seeds), [label for label, _ in variants], [f"seed {s}" for s in seeds],
                comps[0].prompt if baseline else subject, [ref for _, ref in variants])


def compare_prompts(generator, prompt: str, search: str, values: Sequence[str], seeds="0-3", **kwargs) -> Grid:
    """Rows: the prompt with `search` replaced by each value (the first value is usually `search` itself)."""
    from workbench.generation.seeds import parse_seeds
    from workbench.prompts.compose import text_list

    values = text_list(values, "values", "['red', 'blue']")
    if not values:
        raise ValueError("values is empty; give the texts to put in place of the search text, e.g. ['red', 'blue']")
    seeds = parse_seeds(seeds)
    prompts = search_replace(prompt, search, values)
    results = generator.generate([req for p in prompts for req in generator.requests(p, seeds, **kwargs)])
    return Grid(results, len(prompts), len(seeds), list(values), [f"seed {s}" for s in seeds], prompt)


def _compositions(prompts) -> dict:
    return {p.prompt: p for p in prompts if hasattr(p, "prompt")}
