"""Tag libraries: the modifier collections people pick from (render engines, film, decades, ...).

A library is a set of YAML files, one per category (`style_tags/<category>.yaml`);
the layout is documented in `style_tags/README.md`. The shipped files are found with
`importlib.resources`, so they work from a wheel as well as from a checkout. Users
extend a library with their own folders or files (`TagLibrary.default().add_path(dir)`);
a category defined twice is merged, and a tag id defined twice is an error naming
both places.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from workbench.checks import is_whole
from workbench.datafile import DataFileError, entry_list, load_yaml, plain, yaml_files

SLOT = "{prompt}"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CATEGORY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")
TAG_KEYS = {"id", "label", "prompt", "negative", "description", "aliases", "born", "died", "movement"}
CATEGORY_KEYS = {"category", "label", "description", "tags"}


class UnknownTagError(KeyError):
    """A tag reference names no tag in the library."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


@dataclass(frozen=True)
class Tag:
    """One modifier: a prompt fragment (optionally wrapping the prompt) with its metadata."""

    category: str
    id: str
    label: str
    prompt: str
    description: str
    negative: str = ""
    aliases: tuple[str, ...] = ()
    born: int | None = None
    died: int | None = None
    movement: str = ""
    source: str = ""  # "file:line" the tag was read from

    @property
    def ref(self) -> str:
        """The `category:id` form used on the command line and in records."""
        return f"{self.category}:{self.id}"

    @property
    def wraps(self) -> bool:
        """True when the fragment has a {prompt} slot (it wraps the prompt instead of being appended)."""
        return SLOT in self.prompt

    @property
    def standalone(self) -> str:
        """The fragment as a value on its own (a wildcard's line): one with a {prompt} slot
        cannot stand alone, so its label stands in for it."""
        return self.label.lower() if self.wraps else self.prompt

    def matches(self, query: str) -> bool:
        q = query.strip().lower()
        return not q or any(q in s.lower() for s in (self.id, self.label, self.prompt, self.description, *self.aliases))


@dataclass
class Category:
    name: str
    label: str
    description: str
    tags: dict[str, Tag] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Tag]:
        return iter(self.tags.values())

    def __len__(self) -> int:
        return len(self.tags)


def shipped_tags_dir() -> Path:
    """The folder of the shipped tag files (inside the installed package)."""
    return Path(str(importlib.resources.files("workbench.style_tags")))


def check_fragment(text: str, where, key: str) -> None:
    """A fragment may hold at most one {prompt} slot, spelled exactly so."""
    if text.count(SLOT) > 1:
        raise where.error(f"{key!r} uses the {SLOT} slot {text.count(SLOT)} times; use it at most once", key)
    stray = re.sub(re.escape(SLOT), "", text)
    if re.search(r"\{\s*prompt\s*\}", stray, re.IGNORECASE):
        raise where.error(f"{key!r} has a misspelled slot; write it exactly as {SLOT}", key)


def read_tag_file(path: str | Path) -> Category:
    """Read and validate one category file; every error names the file and line."""
    top, loader = load_yaml(path)
    head = plain(top, loader)
    head.check_keys(CATEGORY_KEYS, {"category", "tags"}, "a tag file")
    name = head.text("category")
    if not CATEGORY_PATTERN.match(name):
        raise head.error(f"category {name!r} must be lowercase letters, digits and '_'", "category")
    category = Category(name, head.text("label") or name.replace("_", " ").capitalize(), head.text("description"))
    category.sources.append(str(path))
    for entry in entry_list(top, "tags", loader):
        entry.check_keys(TAG_KEYS, {"id", "label", "description"}, "a tag")
        tag_id = entry.text("id")
        if not ID_PATTERN.match(tag_id):
            raise entry.error(f"tag id {tag_id!r} must be lowercase letters, digits and '-' (e.g. 'octane-render')", "id")
        if tag_id in category.tags:
            raise entry.error(f"duplicate tag id {tag_id!r} (first at {category.tags[tag_id].source}); ids must be unique", "id")
        prompt, negative = entry.text("prompt"), entry.text("negative")
        if not prompt.strip() and not negative.strip():
            raise entry.error("a tag is missing 'prompt'; add `prompt: ...` (a tag that only steers away "
                              "may give `negative: ...` alone)")
        check_fragment(prompt, entry, "prompt")
        check_fragment(negative, entry, "negative")
        aliases = entry.names("aliases", "[hokusai, 'katsushika hokusai']")
        years = {}
        for key in ("born", "died"):
            value = entry.values.get(key)
            if value is not None and not is_whole(value):
                raise entry.error(f"{key!r} must be a year such as 1859", key)
            years[key] = value
        category.tags[tag_id] = Tag(
            category=name, id=tag_id, label=entry.text("label"), prompt=prompt.strip(),
            description=entry.text("description"), negative=negative.strip(), aliases=tuple(aliases),
            movement=entry.text("movement"), source=f"{path}:{entry.line}", **years,
        )
    if not category.tags:
        raise head.error("the file has no tags; add at least one under `tags:`", "tags")
    return category


class TagLibrary:
    """All categories of modifiers, from the shipped files plus any the user adds."""

    def __init__(self, categories: Iterable[Category] = ()):
        self.categories: dict[str, Category] = {}
        for category in categories:
            self._merge(category)

    @classmethod
    def default(cls, extra: Iterable[str | Path] = ()) -> TagLibrary:
        """The shipped library, extended with the given files or folders."""
        library = cls.from_path(shipped_tags_dir())
        for path in extra:
            library.add_path(path)
        return library

    @classmethod
    def from_path(cls, path: str | Path) -> TagLibrary:
        return cls().add_path(path)

    def add_path(self, path: str | Path) -> TagLibrary:
        """Add a tag file, or every `*.yaml` directly inside a folder (sub-folders such as policy/ are not tags)."""
        path = Path(path)
        if path.is_dir():
            files = yaml_files(path)
            if not files:
                raise DataFileError(path, None, "no *.yaml tag files in this folder")
        elif path.exists():
            files = [path]
        else:
            raise DataFileError(path, None, "no such file or folder")
        for file in files:
            self._merge(read_tag_file(file))
        return self

    def _merge(self, category: Category) -> None:
        mine = self.categories.get(category.name)
        if mine is None:
            self.categories[category.name] = category
            return
        for tag in category:  # every clash is found before any tag is added, so a fixed file can be added again
            if tag.id in mine.tags:
                raise DataFileError(tag.source.rsplit(":", 1)[0], int(tag.source.rsplit(":", 1)[1]),
                                    f"tag {tag.ref!r} is already defined at {mine.tags[tag.id].source}; rename one")
        mine.tags.update(category.tags)
        mine.sources.extend(category.sources)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories.values())

    def __len__(self) -> int:
        return sum(len(c) for c in self)

    def __contains__(self, ref: str) -> bool:
        try:
            self.get(ref)
        except (UnknownTagError, ValueError):
            return False
        return True

    def category(self, name: str) -> Category:
        """The category called `name`, or an error that lists the categories there are."""
        category = self.categories.get(name)
        if category is None:
            near = close_ids(name, list(self.categories)) if isinstance(name, str) else []
            hint = f"did you mean {', '.join(near)}? " if near else ""
            raise UnknownTagError(f"unknown category {name!r}; {hint}categories are: {', '.join(self.categories)}")
        return category

    def get(self, ref: str, tag_id: str | None = None) -> Tag:
        """Look up a tag by `"category:id"` (or category and id), with a hint when it is not found."""
        category_name, tag_id = parse_ref(ref) if tag_id is None else (ref, tag_id)
        category = self.category(category_name)
        tag = category.tags.get(tag_id)
        if tag is None:
            near = close_ids(tag_id, list(category.tags))
            hint = f"; did you mean {', '.join(near)}?" if near else f"; see `workbench tags list --category {category_name}`"
            raise UnknownTagError(f"unknown tag {tag_id!r} in category {category_name!r}{hint}")
        return tag

    def search(self, query: str = "", category: str | None = None) -> list[Tag]:
        cats = [self.category(category)] if category else list(self)
        return [t for c in cats for t in c if t.matches(query)]


def close_ids(typed: str, ids: list[str]) -> list[str]:
    """Ids the user probably meant: same letters ignoring '-', a prefix, or a near spelling."""
    import difflib

    bare = typed.lower().replace("-", "").replace(" ", "")
    near = [i for i in ids if i.replace("-", "") == bare or i.startswith(typed.lower()) or typed.lower() in i]
    near += [i for i in difflib.get_close_matches(typed.lower(), ids, n=3, cutoff=0.75) if i not in near]
    return near[:5]


def parse_ref(ref: str) -> tuple[str, str]:
    """Split `"category:id"`, saying what the form should be when it is wrong."""
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise ValueError(f"tag reference {ref!r} must look like CATEGORY:ID, e.g. render_engines:octane-render")
    category, tag_id = ref.split(":")
    return category.strip(), tag_id.strip()
