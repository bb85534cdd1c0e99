"""Import and export tag libraries in the formats peers use.

- AUTOMATIC1111 `styles.csv`: columns `name,prompt,negative_prompt`, read as A1111 reads it
  (spaces after commas skipped, rows whose name starts with `#` skipped, the older `name,text`
  columns accepted).
- Fooocus `sdxl_styles/*.json`: an array of `{name, prompt, negative_prompt}`; a missing text
  is empty, as Fooocus reads it.
- dynamicprompts wildcards: a `.txt` file per category, one value per line.

The two style formats share our `{prompt}` slot convention, so fragments move across
unchanged; a wildcard line stands alone, so a fragment with a slot is written as its label.
Imports become ordinary tag files (`write_tag_file`) that people can then edit.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import yaml

from workbench.datafile import DataFileError, read_text, write_file
from workbench.prompts.library import CATEGORY_PATTERN, Category, Tag, check_fragment, read_tag_file


def slug(name: str, fallback: str = "tag") -> str:
    """A tag id from a display name: 'Kodak Portra 400' -> 'kodak-portra-400'; `fallback` for
    a name with no ASCII letters or digits ('水彩画')."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or fallback


class _Where:
    """Adapts (file, line) to the `.error()` interface that `check_fragment` expects."""

    def __init__(self, path, line):
        self.path, self.line = path, line

    def error(self, message, key=None):
        return DataFileError(self.path, self.line, message)


def _category(rows: Iterable[tuple[int, str, str, str]], name: str, path, fmt: str) -> Category:
    category = Category(name, name.replace("_", " ").capitalize(), f"Imported from {Path(path).name} ({fmt})")
    category.sources.append(str(path))
    for number, (line, label, prompt, negative) in enumerate(rows, 1):
        for field, value in (("name", label), ("prompt", prompt), ("negative_prompt", negative)):
            if value is not None and not isinstance(value, str):
                raise DataFileError(path, line, f"the {field} of a style is {type(value).__name__}, not text; "
                                                "write it in quotes")
        label = (label or "").strip()
        if not label:
            raise DataFileError(path, line, "a style has no name; give every style a name")
        if not (prompt or "").strip() and not (negative or "").strip():
            if label == "None":  # A1111's placeholder row for "no style"
                continue
            raise DataFileError(path, line, f"style {label!r} has neither prompt nor negative text; "
                                            "add the fragment it should add")
        where = _Where(path, line)
        check_fragment(prompt or "", where, "prompt")
        check_fragment(negative or "", where, "negative_prompt")
        tag_id = slug(label, fallback=f"style-{number}")  # names in other scripts give no ASCII id
        if tag_id in category.tags:
            raise DataFileError(path, line, f"style {label!r} repeats the id {tag_id!r} of an earlier style; rename one")
        category.tags[tag_id] = Tag(name, tag_id, label, (prompt or "").strip(), f"{label} (imported from {fmt})",
                                    (negative or "").strip(), source=f"{path}:{line}")
    if not category.tags:
        raise DataFileError(path, None, "no styles found in the file")
    return category


def read_a1111_styles(path: str | Path, category: str = "a1111_styles") -> Category:
    reader = csv.DictReader(io.StringIO(read_text(path)), skipinitialspace=True)  # as A1111 reads it
    columns = set(reader.fieldnames or ())
    text_column = "text" if "text" in columns and "prompt" not in columns else "prompt"  # older `name,text` files
    missing = {"name", text_column} - columns
    if missing:
        raise DataFileError(path, 1, f"missing column(s) {', '.join(sorted(missing))}; "
                                     "an A1111 styles.csv starts with `name,prompt,negative_prompt`")
    rows = []
    while True:
        start = reader.line_num + 1  # where the row begins; a quoted value may run over several lines
        row = next(reader, None)
        if row is None:
            break
        if (row.get("name") or "").startswith("#"):  # A1111 skips these: section headings
            continue
        rows.append((start, row.get("name"), row.get(text_column), row.get("negative_prompt")))
    return _category(rows, category, path, "A1111 styles.csv")


def write_a1111_styles(tags: Iterable[Tag], path: str | Path, overwrite: bool = False) -> Path:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["name", "prompt", "negative_prompt"])
    for tag in tags:
        writer.writerow([tag.label, tag.prompt, tag.negative])
    return write_file(path, text.getvalue(), overwrite)


def read_fooocus_styles(path: str | Path, category: str = "fooocus_styles") -> Category:
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFileError(path, err.lineno, f"not valid JSON: {err.msg}") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise DataFileError(path, 1, "a Fooocus style file is a JSON array of {name, prompt, negative_prompt}")
    # JSON has no line numbers after parsing; find each style's line by its name (as decoded).
    lines = {json.loads(f'"{m.group(1)}"'): text[: m.start()].count("\n") + 1
             for m in re.finditer(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"', text)}
    rows = [(lines.get(d.get("name"), 1) if isinstance(d.get("name"), str) else 1, d.get("name"),
             d.get("prompt", ""), d.get("negative_prompt", "")) for d in data]
    return _category(rows, category, path, "Fooocus styles")


def write_fooocus_styles(tags: Iterable[Tag], path: str | Path, overwrite: bool = False) -> Path:
    data = [{"name": t.label, "prompt": t.prompt, "negative_prompt": t.negative} for t in tags]
    return write_file(path, json.dumps(data, indent=4, ensure_ascii=False) + "\n", overwrite)


def read_wildcards(path: str | Path, category: str | None = None) -> Category:
    """A dynamicprompts `.txt` wildcard: one value per line, `#` comments and blank lines skipped."""
    path = Path(path)
    rows = [(i, line.strip(), line.strip(), "") for i, line in enumerate(read_text(path).splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]
    return _category(rows, category or slug(path.stem).replace("-", "_"), path, "wildcard file")


def write_wildcards(tags: Iterable[Tag], path: str | Path, overwrite: bool = False) -> Path:
    lines = [t.standalone for t in tags if t.standalone]
    return write_file(path, "\n".join(lines) + "\n", overwrite)


def write_tag_file(category: Category, path: str | Path, overwrite: bool = False) -> Path:
    """Write a category as an editable tag file (the inverse of `read_tag_file`). It is written
    beside its place and moved there only once it reads back, so a bad one never lands in a
    tags folder (where it would break every later load of that folder)."""
    if not CATEGORY_PATTERN.match(category.name):
        raise ValueError(f"category name {category.name!r} must be lowercase letters, digits and '_' "
                         f"(e.g. {slug(category.name).replace('-', '_')!r}); give another name")
    tags = []
    for t in category:
        entry = {"id": t.id, "label": t.label, "prompt": t.prompt, "description": t.description}
        if t.negative:
            entry["negative"] = t.negative
        if t.aliases:
            entry["aliases"] = list(t.aliases)
        entry.update({k: v for k, v in (("born", t.born), ("died", t.died), ("movement", t.movement)) if v})
        tags.append(entry)
    doc = {"category": category.name, "label": category.label, "description": category.description, "tags": tags}
    return write_file(path, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100), overwrite,
                      check=read_tag_file)  # what we write must read back


READERS = {"a1111": read_a1111_styles, "fooocus": read_fooocus_styles, "wildcards": read_wildcards}
WRITERS = {"a1111": write_a1111_styles, "fooocus": write_fooocus_styles, "wildcards": write_wildcards}
