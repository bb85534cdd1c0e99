"""The oracle's misses as a picture: what the model was asked for, what it drew, and what the
world itself draws for the same prompt, so a reader sees *how* an image is wrong (a circle drawn
as a heart, a background that bled) rather than only how often.

    sheet = MissSheet()
    sheet.add(generated, world_render, asked, read)   # for each image the oracle read wrong
    sheet.save("misses.png")                          # `workbench toyworld evaluate --misses misses.png`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAX_ROWS = 48  # misses drawn; the title says how many there were in all
FIELDS = ("colour", "shape", "background")  # what the oracle reads, as `Reading` and a scene spec name them


@dataclass
class MissSheet:
    """Rows of (generated image, the world's render of the same prompt), each beside what was
    asked, what the oracle read, and the prompt."""

    rows: list[tuple[np.ndarray, np.ndarray, list[str]]] = field(default_factory=list)
    seen: int = 0  # images checked by the oracle, missed or not
    missed: int = 0

    def add(self, generated: np.ndarray, world: np.ndarray, asked: dict, read: dict, prompt: str = "") -> bool:
        """Count an image the oracle checked; keep it when any of `FIELDS` was read wrong.
        `asked` and `read` map each field to its value (None: nothing found). True if a miss."""
        self.seen += 1
        if all(read[k] == asked[k] for k in FIELDS):
            return False
        self.missed += 1
        if len(self.rows) < MAX_ROWS:
            self.rows.append((generated, world, [f"asked: {_scene(asked)}", f"read: {_scene(read)}", prompt]))
        return True

    def image(self, cell: int = 128):
        """The sheet as a PIL image: one row per miss (at most MAX_ROWS), images `cell` pixels
        wide, or only its title when the oracle found nothing wrong."""
        from PIL import Image, ImageDraw

        from workbench.generation.grids import fit_text, label_font

        title = (f"oracle misses: {self.missed} of {self.seen} images"
                 + (f" (the first {len(self.rows)})" if self.missed > len(self.rows) else "")
                 + ("" if self.rows else ": every image read as asked"))
        pad, text_width, top = 4, 420, 56
        font, small = label_font(16), label_font(12)
        canvas = Image.new("RGB", (pad + 2 * (cell + pad) + text_width, top + len(self.rows) * (cell + pad)), "white")
        draw = ImageDraw.Draw(canvas)
        draw.text((pad + 4, 6), title, fill="black", font=font)
        if self.rows:
            for k, heading in enumerate(("generated", "the world's render")):
                draw.text((pad + k * (cell + pad) + 2, 32), heading, fill="black", font=small)
        for r, (generated, world, lines) in enumerate(self.rows):
            y = top + r * (cell + pad)
            for k, image in enumerate((generated, world)):
                canvas.paste(Image.fromarray(image).resize((cell, cell), Image.NEAREST), (pad + k * (cell + pad), y))
            x = pad + 2 * (cell + pad) + 8
            for i, (text, f) in enumerate(zip(lines, (font, font, small))):
                draw.text((x, y + 8 + 24 * i), fit_text(draw, text, f, text_width - 16), fill="black", font=f)
        return canvas

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the sheet as a PNG, refusing an existing file unless `overwrite`."""
        from workbench.datafile import write_file
        from workbench.store.png import png_bytes

        return write_file(path, png_bytes(self.image()), overwrite=overwrite)


def _scene(values: dict) -> str:
    """"red circle on white", as asked or as read (what the oracle did not find: "?")."""
    colour, shape, background = (values[k] or "?" for k in FIELDS)
    return f"{colour} {shape} on {background}"
