"""Write the teaching notebooks (without outputs) from the cell lists below.

Notebooks live in git without outputs; this script is their source, so a change
to a notebook is a readable diff here. Run: python tools/make_notebooks.py
"""

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parents[1] / "notebooks"

NOTEBOOKS = {}

NOTEBOOKS["01_compose_prompts.ipynb"] = [
    ("md", """# 01 · Compose prompts from modifier libraries

A text-to-image prompt is a subject plus modifiers: a render engine, a film stock, a decade, a medium, an artist.
This notebook shows how the workbench composes them from editable tag libraries, what the composed prompt costs in
CLIP tokens (and which modifiers a model would silently drop past 75), and how it refuses prompts that name an
artist who opted out. No model is needed here; later notebooks render what you compose."""),
    ("code", """from workbench.widgets import Composer

composer = Composer("a lighthouse on a cliff", tags=["render_engines:octane-render", "decades:1960s"])
composer"""),
    ("md", """Pick modifiers in the widget above; the prompt, negative prompt and token count update live. The composed
result is plain Python, ready for the next cell: it remembers which modifiers were applied, in order."""),
    ("code", """result = composer.result
print(result.prompt)
print(result.tokens)
[m.ref for m in result.modifiers]"""),
    ("md", """## The libraries

Tags live in `style_tags/*.yaml`, one file per category, each tag with a label, a prompt fragment and a one-line
description. A fragment with a `{prompt}` slot wraps the prompt (as A1111 and Fooocus styles do)."""),
    ("code", """from workbench.prompts import TagLibrary, compose

library = TagLibrary.default()
{category.name: len(category) for category in library}"""),
    ("code", """for tag in library.search("portra"):
    print(f"{tag.ref:32} {tag.prompt:28} {tag.description}")"""),
    ("code", """compose("a fox in the snow", ["mediums:wood-cut", "film:ilford-hp5"]).prompt"""),
    ("md", """## Templates: many prompts from one line

The dynamicprompts syntax: `{a|b}` picks a variant, and every category is a wildcard (`__decades__`).
Combinatorial expansion lists every combination (up to a cap); random expansion is seeded, so it repeats."""),
    ("code", """from workbench.prompts.templates import expand

expand("a {red|blue} balloon, __decades__", n=6)"""),
    ("code", """expand("a portrait of a {kind|stern} {doctor|nurse}, __film__", mode="random", n=4, seed=1)"""),
    ("md", """## The 75-token limit

CLIP reads 77 tokens (75 of prompt). Anything past that is dropped without a word; the report names the modifiers
that would be lost, so you can move them earlier."""),
    ("code", """long = compose(" ".join(["an extremely detailed castle on a hill"] * 11), ["mediums:watercolor", "decades:1920s"])
print(long.tokens)
print(long.warnings[-1])"""),
    ("md", """## Artists who opted out

Some living artists asked not to have their work imitated. Naming them, in any spelling, is refused with the
source of their request. A policy can relax refusal to a warning, but never silently."""),
    ("code", """from workbench.prompts import PolicyRefusal

try:
    compose("a castle in the style of Greg Rutkowski")
except PolicyRefusal as refusal:
    print(refusal)"""),
    ("code", """from workbench.prompts import Policy

compose("a castle in the style of Greg Rutkowski", policy=Policy.default(mode="warn")).warnings"""),
    ("md", """## Sharing libraries with other tools

Import an A1111 `styles.csv`, Fooocus style JSON or a dynamicprompts wildcard file, or export a category to them:
`workbench tags import styles.csv --format a1111 --out my_tags/`, and `workbench tags export --format fooocus
--category film --out film.json`."""),
    ("code", """import tempfile
from pathlib import Path
from workbench.prompts.interchange import write_a1111_styles, read_a1111_styles

path = Path(tempfile.mkdtemp()) / "styles.csv"
write_a1111_styles(library.categories["lighting"], path)
print(path.read_text().splitlines()[:3])
len(read_a1111_styles(path))"""),
]


def main(names=None):
    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in cells]
        nbf.write(nb, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
