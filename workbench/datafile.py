"""Human-editable data files (YAML), read safely and validated with file and line.

Tag libraries, policy lists and vocabularies are YAML that people edit by hand.
When one is wrong, the error must point at the line to fix, so we keep PyYAML's
node tree (which knows every line) instead of the plain dicts `safe_load` gives.
Only the safe loader is used: no Python objects can be built from a data file.
Files we write for people (`write_file`) never replace one of theirs unless asked.
"""

from __future__ import annotations

import datetime
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class DataFileError(ValueError):
    """A data file is malformed. `str(err)` reads `path:line: what is wrong and what to do`."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Entry:
    """One mapping from a data file: its values and the line of each key."""

    path: str
    line: int  # 1-based line where the mapping starts
    values: dict[str, Any]
    key_lines: dict[str, int]
    raw: dict[str, str] = field(default_factory=dict)  # each scalar value as written in the file

    def error(self, message: str, key: str | None = None) -> DataFileError:
        return DataFileError(self.path, self.key_lines.get(key, self.line) if key else self.line, message)

    def check_keys(self, allowed: set[str], required: set[str], what: str) -> None:
        for key in self.values:
            if key not in allowed:
                raise self.error(f"unknown key {key!r} in {what}; allowed keys are {', '.join(sorted(allowed))}", key)
        for key in sorted(required):
            value = self.values.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise self.error(f"{what} is missing {key!r}; add `{key}: ...`")

    def text(self, key: str, default: str = "") -> str:
        """The value as text, as written: YAML 1.1 would read `on` as True, `0.50` as 0.5 and
        2022-09-16 as a date, and a prompt fragment must not change on its way in."""
        value = self.values.get(key, default)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, (bool, int, float, datetime.date)) and key in self.raw:
            return self.raw[key]
        raise self.error(f"{key!r} must be text, not {type(value).__name__}", key)

    def names(self, key: str, example: str) -> tuple[str, ...]:
        """A list of names under `key` (absent: none), e.g. aliases."""
        value = self.values.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(f"{key!r} must be a list of names, e.g. {example}; quote names YAML reads "
                             "otherwise (yes, no, 1984)", key)
        return tuple(value)


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, naming the line of the first byte that is not UTF-8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(path, None, "file not found; check the path") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # Excel and A1111 write a byte-order mark
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataFileError(path, line, "file is not UTF-8 text; re-save it with UTF-8 encoding") from None


def yaml_files(folder: Path) -> list[Path]:
    """The data files directly inside `folder`: `*.yaml`, then `*.yml` (both spellings are common)."""
    return sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))


def load_yaml(path: str | Path) -> tuple[Entry, yaml.SafeLoader]:
    """Parse a YAML file whose top level is a mapping; returns it as an Entry and the loader."""
    text = read_text(path)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise DataFileError(path, mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None
    if node is None:
        raise DataFileError(path, 1, "file is empty; see style_tags/README.md for the layout")
    if not isinstance(node, yaml.MappingNode):
        raise DataFileError(path, node.start_mark.line + 1, "top level must be a mapping (key: value lines)")
    return entry_from_node(str(path), node, loader), loader


def entry_from_node(path: str, node: yaml.Node, loader: yaml.SafeLoader) -> Entry:
    """Turn a mapping node into an Entry, refusing duplicate keys (YAML would keep the last silently)."""
    if not isinstance(node, yaml.MappingNode):
        raise DataFileError(path, node.start_mark.line + 1, "expected a mapping (key: value lines) here")
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(construct(path, loader, key_node))
        line = key_node.start_mark.line + 1
        if key in values:
            raise DataFileError(path, line, f"duplicate key {key!r} (first on line {lines[key]}); keep one")
        lines[key] = line
        values[key] = value_node
    return Entry(path, node.start_mark.line + 1, values, lines)


def construct(path: str, loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A node's plain value; a value YAML cannot build (a bad date, an unknown `!tag`) is an
    error at its own line, not one that names "<unicode string>"."""
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as err:
        loader.recursive_objects.clear()  # PyYAML leaves the nodes it was building marked as in progress
        children = node.value if isinstance(node, yaml.SequenceNode) else (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
        for child in children:  # a list or mapping: find the value itself, for its line
            construct(path, loader, child)
        problem = getattr(err, "problem", None) or str(err)
        raise DataFileError(path, node.start_mark.line + 1, f"cannot read this value ({problem}); "
                            "put it in quotes to keep it as text") from None


def entry_list(entry: Entry, key: str, loader: yaml.SafeLoader) -> list[Entry]:
    """The list of mappings under `key` (e.g. `tags:`), each as an Entry with plain values."""
    node = entry.values.get(key)
    if node is None:
        raise entry.error(f"missing {key!r}: add `{key}:` followed by a list of entries")
    if not isinstance(node, yaml.SequenceNode):
        raise entry.error(f"{key!r} must be a list (lines starting with '- ')", key)
    return [plain(entry_from_node(entry.path, item, loader), loader) for item in node.value]


def plain(entry: Entry, loader: yaml.SafeLoader) -> Entry:
    """The same Entry with node values turned into plain Python values."""
    values = {k: construct(entry.path, loader, v) for k, v in entry.values.items()}
    raw = {k: v.value for k, v in entry.values.items() if isinstance(v, yaml.ScalarNode)}
    return Entry(entry.path, entry.line, values, entry.key_lines, raw)


def refuse_existing(path: Path, overwrite: bool = False) -> None:
    """Raise unless `path` may be written: a folder never, an existing file only with `overwrite`."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; write to another file, or replace it with "
                              "overwrite=True (--force on the command line)")


def write_file(path: str | Path, data: str | bytes, overwrite: bool = False, check=None) -> Path:
    """Write `data` (text as UTF-8, or bytes) to `path` without losing what was there: an
    existing file is refused unless `overwrite` (it may be a hand-edited library, or A1111's own
    styles.csv). It goes to a draft beside the file first, read back by `check(draft)` when
    given, and only then replaces it, so a failed write leaves the old file whole."""
    path = Path(path)
    refuse_existing(path, overwrite)
    draft = path.with_name(f".{path.name}.draft")
    try:
        if isinstance(data, bytes):
            draft.write_bytes(data)
        else:
            draft.write_text(data, encoding="utf-8", newline="")
        if check is not None:
            check(draft)
        draft.replace(path)
    except OSError as error:  # about the file asked for, not our hidden draft beside it
        raise type(error)(error.errno, error.strerror, str(path)) from None
    finally:
        draft.unlink(missing_ok=True)
    return path
