"""Templates in the dynamicprompts syntax, with the tag libraries as wildcards.

    {a|b}        one of the variants        {2$$a|b|c}   two of them
    {3::a|b}     weighted variants          __decades__  any tag of a category

Every category of the tag library is a wildcard named after it (`__mediums__`), whose
values are the tags' fragments; `.txt` wildcard files (one value per line) from
`style_tags/wildcards/` and the user's folders are wildcards too. Expansion is either
combinatorial (every combination, up to a cap) or random with an injected seed, so the
same seed always gives the same prompts.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import random
import re
import warnings
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dynamicprompts.enums import SamplingMethod
from dynamicprompts.parser.parse import parse
from dynamicprompts.sampling_context import SamplingContext
from dynamicprompts.wildcards import WildcardManager

from workbench.checks import is_whole
from workbench.prompts.library import TagLibrary, shipped_tags_dir

Mode = Literal["combinatorial", "random"]
DEFAULT_CAP = 1000


@lru_cache(maxsize=4096)
def _parsed(text: str, config):
    from pyparsing import ParseBaseException

    try:
        return parse(text, parser_config=config)
    except ParseBaseException as err:
        found = text[err.loc:err.loc + 1]
        if found in RESERVED:
            advice = (f"{found!r} is template syntax ({RESERVED[found]}), so it cannot stand as text; "
                      "write it out in words")
        else:
            advice = "check that every { has its } and variants are split by |"
        raise ValueError(f"the template {text!r} does not parse at character {err.loc + 1} "
                         f"({text[err.loc:err.loc + 12]!r}...): {advice}") from None


# Characters dynamicprompts reads as syntax wherever they stand, with what they mean there.
RESERVED = {"$": "'N$$' picks N variants, '${name=...}' sets a variable", "%": "'%{...$$...}' wraps text around a prompt",
            "#": "it starts a comment that runs to the end of the line"}


HASH_ADVICE = "write it out in words ('hex ff0000', 'hashtag'), or put a comment on a line of its own"


def dropped_by_comment(line: str) -> str | None:
    """What a '#' after text on `line` would drop as a comment (a colour '#ff0000', a hashtag),
    or None: only whole comment lines are taken as comments."""
    at = line.find("#")
    return line[at:] if at > 0 and line[:at].strip() else None


def check_comments(template: str) -> None:
    """Refuse a '#' after text on a line, which would silently drop the rest of the line, and a
    template of comments alone, which gives no prompt."""
    lines = template.splitlines()
    for number, line in enumerate(lines, 1):
        dropped = dropped_by_comment(line)
        if dropped is not None:
            raise ValueError(f"'#' in line {number} of the template starts a comment and would drop "
                             f"{dropped!r}; {HASH_ADVICE}")
    if all(not line.strip() or line.lstrip().startswith("#") for line in lines):
        raise ValueError("the template is all comments (a line starting with '#' is one) and gives no prompt; "
                         "write '#1' as 'number 1', or add a line of prompt")


def _without_blank_lines(prompt: str) -> str:
    """A prompt with the lines that comment lines left empty taken out."""
    return "\n".join(line for line in prompt.splitlines() if line.strip()).strip()


@dataclasses.dataclass(frozen=True)
class _ParseOnceContext(SamplingContext):
    """dynamicprompts re-parses every wildcard value each time it is drawn (pyparsing, ~0.3 ms each),
    which made 10,000 combinatorial prompts take 3 s. Parsed trees are frozen, so we parse each text once."""

    def sample_prompts(self, prompt, num_prompts=None):
        if isinstance(prompt, str) and prompt:
            prompt = _parsed(prompt, self.parser_config)
        return super().sample_prompts(prompt, num_prompts)


def wildcard_values(library: TagLibrary) -> dict[str, list[str]]:
    """One wildcard per category, of its tags' fragments (`Tag.standalone`); negative-only tags add none."""
    return {c.name: [t.standalone for t in c if t.standalone] for c in library}


def _check_wildcard_files(folder: Path) -> None:
    """Each value of a wildcard file is read as a template too, so a '#' after text in it would
    cut the value short: refused with its file and line."""
    from workbench.datafile import DataFileError, read_text

    for path in sorted(folder.rglob("*.txt")):
        for number, line in enumerate(read_text(path).splitlines(), 1):
            dropped = dropped_by_comment(line)
            if dropped is not None:
                raise DataFileError(path, number, f"'#' here starts a comment and would drop {dropped!r}; "
                                                  f"{HASH_ADVICE}")


class TemplateExpander:
    """Expand templates against a tag library and wildcard folders (dynamicprompts underneath)."""

    def __init__(self, library: TagLibrary | None = None, wildcard_dirs: Iterable[str | Path] = ()):
        from workbench.prompts.compose import default_library

        self.library = library or default_library()
        roots: list = [wildcard_values(self.library)]
        for folder in [shipped_tags_dir() / "wildcards", *map(Path, wildcard_dirs)]:
            if folder.is_dir():
                _check_wildcard_files(folder)
                roots.append(folder)
            elif folder.is_file():
                raise NotADirectoryError(f"{folder} is a file; pass the folder that holds it ({folder.parent}), "
                                         "whose .txt files are the wildcards")
            elif folder != shipped_tags_dir() / "wildcards":
                raise FileNotFoundError(f"wildcard folder {folder} does not exist; pass a folder of .txt files")
        self._manager = WildcardManager(root_map={"": roots})

    def wildcards(self) -> list[str]:
        return sorted(self._manager.get_collection_names())

    def expand(self, template: str, mode: Mode = "combinatorial", n: int | None = None, seed: int | None = 0) -> list[str]:
        """All combinations, or the first `n` (without `n`, the first 1000 and a warning when
        there are more), or `n` random picks seeded by `seed`."""
        if not isinstance(template, str):
            raise TypeError(f"template must be text, not {type(template).__name__}")
        if not template.strip():
            raise ValueError("template is empty; write a prompt such as 'a {red|blue} house, __decades__'")
        if n is not None and not is_whole(n):
            raise ValueError(f"n must be a whole number, not {n!r}")
        n = None if n is None else int(n)
        check_comments(template)
        self._check_wildcards(template)
        if mode == "combinatorial":
            cap = DEFAULT_CAP if n is None else n
            if cap < 1:
                raise ValueError(f"the cap must be at least 1, not {cap}")
            context = _ParseOnceContext(wildcard_manager=self._manager, default_sampling_method=SamplingMethod.COMBINATORIAL)
            wanted = cap + 1 if n is None else cap  # one more, to know whether the default cap cut the list
            prompts = [_without_blank_lines(str(p)) for p in context.sample_prompts(template, wanted)]
            if len(prompts) > cap:
                warnings.warn(f"the template makes more than {cap} prompts; these are the first {cap} "
                              "(ask for more with n= or --cap)", stacklevel=2)
            return prompts[:cap]
        if mode == "random":
            count = 1 if n is None else n
            if count < 1:
                raise ValueError(f"the number of prompts must be at least 1, not {count}")
            context = _ParseOnceContext(wildcard_manager=self._manager, default_sampling_method=SamplingMethod.RANDOM,
                                        rand=random.Random(seed))
            return [_without_blank_lines(str(p)) for p in context.sample_prompts(template, count)]
        raise ValueError(f"mode must be 'combinatorial' or 'random', not {mode!r}")

    def _check_wildcards(self, template: str) -> None:
        """dynamicprompts leaves an unknown wildcard (or a glob that matches none) in the text as
        is, and a thousand copies of it come out; we say so instead."""
        known = self.wildcards()
        for name in re.findall(r"__([^\s_{}|][^\s{}|]*?)__", template):
            name = re.sub(r"\(.*\)$", "", name.lstrip("~@!"))  # sampler prefix (__~x__), parameters (__x(a=1)__)
            if not fnmatch.filter(known, name):
                what = "a wildcard pattern that matches none" if any(c in name for c in "*?[") else "unknown wildcard"
                raise ValueError(f"{what}: __{name}__; known wildcards: {', '.join(known)}")


def expand(template: str, mode: Mode = "combinatorial", n: int | None = None, seed: int | None = 0,
           library: TagLibrary | None = None) -> list[str]:
    """Expand a template with the shipped (or given) tag library; see `TemplateExpander.expand`."""
    return TemplateExpander(library).expand(template, mode, n, seed)
