"""Policy: refuse prompts that name an artist who opted out, or a blocked keyword.

The lists are data files (`style_tags/policy/opt_out.yaml`, `blocklist.yaml`), and
organisations add their own (`Policy.default(extra=[...])`). Matching is done on a
normalised form of the text (case, accents, punctuation and spacing removed), so
"by Greg   Rutkowski", "GREG-RUTKOWSKI" and "in the style of grég rutkowski" all
match; each entry's aliases and spellings match too. Refusal is the default; a
policy may relax it to a warning, but a finding is never dropped silently.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.datafile import DataFileError, entry_list, load_yaml, plain, yaml_files
from workbench.prompts.library import shipped_tags_dir

Mode = Literal["refuse", "warn"]


# Cyrillic and Greek letters drawn like Latin ones ("Grеg" with a Cyrillic е): NFKD keeps them
# apart, so a name spelt with them would slip past every list.
LOOKALIKES = str.maketrans("асеорхуіјѕԁһӏкԝԛАВСЕНІЈКМОРЅТХУԜαοιντχκρΑΒΕΗΙΚΜΝΟΡΤΥΧıɡ",
                           "aceopxyijsdhlkwqABCEHIJKMOPSTXYWaoivtxkpABEHIKMNOPTYXig")


def normalise(text: str) -> str:
    """Lowercase, strip accents, read lookalike letters as Latin, turn punctuation into spaces,
    collapse runs of spaces."""
    text = unicodedata.normalize("NFKD", text).translate(LOOKALIKES)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^\w]+|_", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class OptOut:
    """An artist who asked not to be imitated, with where and when they said so."""

    name: str
    aliases: tuple[str, ...]
    source: str
    date: str
    note: str = ""
    where: str = ""  # file:line

    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class BlockedKeyword:
    keyword: str
    reason: str
    where: str = ""
    unless: tuple[str, ...] = ()  # phrases that hold the keyword but mean something else ("al gore")

    def found_in(self, norm: str) -> bool:
        """Whether normalised text holds the keyword outside the `unless` phrases."""
        for phrase in self.unless:
            norm = re.sub(rf"(?<!\w){re.escape(normalise(phrase))}(?!\w)", " ", norm)
        return _contains(norm, normalise(self.keyword))


@dataclass(frozen=True)
class Finding:
    """One policy hit in a piece of text."""

    kind: Literal["opt_out", "blocked"]
    matched: str  # the spelling that matched
    message: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "matched": self.matched, "message": self.message}


class PolicyRefusal(ValueError):
    """The text names an opted-out artist or a blocked keyword, and the policy refuses it."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("; ".join(f.message for f in findings))


def _contains(haystack: str, needle: str) -> bool:
    """Whole-word phrase match on normalised text. Long names also match as whole words run
    together or split elsewhere ("gregrutkowski", "greg rut kowski"), but not inside a longer
    word: "Gerald Bromley" does not name Gerald Brom."""
    if not needle:
        return False
    if re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack):
        return True
    squeezed = needle.replace(" ", "")
    if len(squeezed) < 8 or " " not in needle:
        return False
    words = haystack.split()
    for start in range(len(words)):
        joined = ""
        for word in words[start:]:
            joined += word
            if not squeezed.startswith(joined):
                break
            if joined == squeezed:
                return True
    return False


def _matchable(text: str, entry, what: str) -> str:
    """`text`, if it holds a letter or digit to match: one of punctuation alone ('!!!') would
    load, and never match anything."""
    if not normalise(text):
        raise entry.error(f"{what} {text!r} has no letters or digits, so it would never match; write the word")
    return text


class Policy:
    """The opt-out registry and keyword blocklist that every composed prompt is checked against."""

    def __init__(self, opt_outs: Iterable[OptOut] = (), blocked: Iterable[BlockedKeyword] = (), mode: Mode = "refuse"):
        if mode not in ("refuse", "warn"):
            raise ValueError(f"policy mode must be 'refuse' or 'warn', not {mode!r}")
        self.opt_outs = list(opt_outs)
        self.blocked = list(blocked)
        self.mode: Mode = mode

    @classmethod
    def default(cls, extra: Iterable[str | Path] = (), mode: Mode = "refuse") -> Policy:
        """The shipped lists plus extra files or folders of `*.yaml` lists."""
        policy = cls(mode=mode)
        policy.add_path(shipped_tags_dir() / "policy")
        for path in extra:
            policy.add_path(path)
        return policy

    def add_path(self, path: str | Path) -> Policy:
        """Add one list file (its `kind:` says opt_out or blocklist), or every list in a folder."""
        path = Path(path)
        files = [path]
        if path.is_dir():  # a folder with no lists would otherwise leave its artists unprotected, silently
            files = yaml_files(path)
            if not files:
                raise DataFileError(path, None, "no *.yaml or *.yml policy lists in this folder; check the path")
        for file in files:
            self._read(file)
        return self

    def _read(self, path: Path) -> None:
        top, loader = load_yaml(path)
        head = plain(top, loader)
        head.check_keys({"kind", "description", "entries"}, {"kind", "entries"}, "a policy file")
        kind = head.text("kind")
        if kind not in ("opt_out", "blocklist"):
            raise head.error(f"kind must be 'opt_out' or 'blocklist', not {kind!r}", "kind")
        for entry in entry_list(top, "entries", loader):
            where = f"{path}:{entry.line}"
            if kind == "opt_out":
                entry.check_keys({"name", "aliases", "source", "date", "note"}, {"name", "source", "date"}, "an opt-out entry")
                aliases = entry.names("aliases", "[rutkowski, greg rutkowsky]")
                for spelling in (entry.text("name"), *aliases):
                    _matchable(spelling, entry, "a name or alias")
                self.opt_outs.append(OptOut(entry.text("name"), aliases, entry.text("source"),
                                            entry.text("date"), entry.text("note"), where))
            else:
                entry.check_keys({"keyword", "reason", "unless"}, {"keyword", "reason"}, "a blocklist entry")
                self.blocked.append(BlockedKeyword(_matchable(entry.text("keyword"), entry, "a keyword"),
                                                   entry.text("reason"), where,
                                                   entry.names("unless", "[al gore, gore-tex]")))

    def check(self, text: str) -> list[Finding]:
        """Every opt-out and blocklist hit in `text` (an empty list when the text is clean)."""
        norm = normalise(text)
        findings = []
        for artist in self.opt_outs:
            hit = next((s for s in artist.spellings() if _contains(norm, normalise(s))), None)
            if hit is not None:
                findings.append(Finding("opt_out", hit, (
                    f"'{artist.name}' asked not to have their work imitated by AI image generators "
                    f"(source: {artist.source}, {artist.date}); remove the name from the prompt")))
        for entry in self.blocked:
            if entry.found_in(norm):
                findings.append(Finding("blocked", entry.keyword, (
                    f"the keyword '{entry.keyword}' is blocked ({entry.reason}); remove it from the prompt")))
        return findings

    def enforce(self, text: str) -> list[Finding]:
        """Raise PolicyRefusal on any hit when refusing; return the hits as warnings otherwise."""
        findings = self.check(text)
        if findings and self.mode == "refuse":
            raise PolicyRefusal(findings)
        return findings
