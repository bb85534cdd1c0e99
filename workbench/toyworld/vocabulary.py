"""The toy world's vocabulary: shapes, colours, backgrounds, modifiers, roles and caption words.

Loaded from `vocabulary.yaml` (data, not code) and checked, with file and line in every error.
"""

from __future__ import annotations

import importlib.resources
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import effects


class VocabularyError(ValueError):
    """A vocabulary file is malformed; the message names the file, line and fix."""


class _Named:
    def __str__(self):
        return self.name


@dataclass(frozen=True)
class Colour(_Named):
    name: str
    rgb: tuple[int, int, int]
    words: tuple[str, ...]


@dataclass(frozen=True)
class Shape(_Named):
    name: str
    words: tuple[str, ...]
    role_only: bool = False


@dataclass(frozen=True)
class Modifier(_Named):
    ref: str                    # "category:id", as in style_tags/<category>.yaml
    phrase: str                 # the exact prompt fragment
    effect: str                 # key of effects.EFFECTS
    changes_colour: bool        # foreground hue changed or lost
    changes_background: bool    # background no longer its plain colour
    aliases: tuple[str, ...] = ()

    name = property(lambda self: self.ref)
    category = property(lambda self: self.ref.split(":")[0])
    id = property(lambda self: self.ref.split(":")[1])


@dataclass(frozen=True)
class Role(_Named):
    name: str
    words: tuple[str, ...]
    shape: str
    colours: tuple[tuple[str, float], ...]   # planted (colour, rate) pairs, rates sum to 1

    rates = property(lambda self: dict(self.colours))


_REF = re.compile(r"^[a-z_]+:[a-z0-9][a-z0-9-]*$")


class _Checker:
    """Raises VocabularyError("file:line: problem") using the YAML node tree for lines."""

    def __init__(self, source, text):
        self.source, self.root = source, yaml.compose(text, Loader=yaml.SafeLoader)

    def fail(self, path, msg):
        node = self.root
        for key in path:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == str(key)), node)
            elif isinstance(node, yaml.SequenceNode) and key < len(node.value):
                node = node.value[key]
        line = node.start_mark.line + 1 if node is not None else 1
        raise VocabularyError(f"{self.source}:{line}: {msg}")

    def names(self, data, section, rgb):
        items = data.get(section)
        if not isinstance(items, list) or not items:
            self.fail([], f"'{section}' must be a non-empty list of {{name: ...}} entries")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                self.fail([section, i], f"each entry of '{section}' needs a 'name' string")
            if rgb and not (isinstance(item.get("rgb"), list) and len(item["rgb"]) == 3 and all(
                    isinstance(c, int) and 0 <= c <= 255 for c in item["rgb"])):
                self.fail([section, i], f"{section} '{item['name']}' needs rgb: [r, g, b] with "
                                        f"integers 0-255, got {item.get('rgb')!r}")
            if item["name"] in [o["name"] for o in out]:
                self.fail([section, i], f"duplicate name '{item['name']}' in '{section}'")
            item = dict(item, words=self.strings(item.get("words") or [item["name"]], [section, i, "words"]))
            out.append(item)
        return out

    def strings(self, value, path, what="words") -> tuple[str, ...]:
        """A list of strings; a bare string would be read letter by letter ("octane" -> o, c, t, ...)."""
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(path, f"'{path[-1]}' must be a list of {what}, e.g. [teal, sea green]; got {value!r}")
        return tuple(value)

    def duplicate_keys(self) -> None:
        """YAML keeps the last of two equal keys silently (a second `roles:` would replace the roles)."""
        todo = [self.root]
        while todo:
            node = todo.pop()
            if isinstance(node, yaml.MappingNode):
                seen = {}
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value in seen:
                        raise VocabularyError(f"{self.source}:{key.start_mark.line + 1}: duplicate key "
                                              f"'{key.value}' (first on line {seen[key.value]}); keep one")
                    seen[key.value] = key.start_mark.line + 1
                    todo.append(value)
            elif isinstance(node, yaml.SequenceNode):
                todo.extend(node.value)


# The slots each caption section may use ({size} etc.), as world.py fills them
CAPTION_SLOTS = {
    "object": {"size", "colour", "shape"}, "bare_object": {"size", "colour", "shape"},
    "role_subject": {"adjective", "role", "colour"}, "role_subject_coloured": {"adjective", "role", "colour"},
    "role": {"lead", "background", "subject"}, "single": {"lead", "background", "object", "bare_object"},
    "pair": {"lead", "background", "left", "right"}, "leads": set(),
}


@dataclass(frozen=True)
class Vocabulary:
    colours: tuple[Colour, ...]
    shapes: tuple[Shape, ...]        # shapes drawn as scene objects (zero-shot label set)
    figures: tuple[Shape, ...]       # role-only shapes (the person figure)
    backgrounds: tuple[Colour, ...]
    modifiers: tuple[Modifier, ...]
    roles: tuple[Role, ...]
    adjectives: tuple[str, ...]
    captions: dict = field(repr=False)
    source: str = "vocabulary.yaml"

    @classmethod
    def load(cls, path=None) -> Vocabulary:
        """Load and check a vocabulary file (default: the one shipped with the package)."""
        if path is None:
            res = importlib.resources.files("workbench.toyworld") / "vocabulary.yaml"
            text, source = res.read_text(encoding="utf-8"), str(res)
        else:
            text, source = Path(path).read_text(encoding="utf-8"), str(path)
        try:
            data = yaml.safe_load(text)
            checker = _Checker(source, text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark else source
            raise VocabularyError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e}); fix the syntax") from None
        if not isinstance(data, dict):
            raise VocabularyError(f"{source}:1: expected a mapping with shapes, colours, ...")
        checker.duplicate_keys()
        return cls._from_data(data, checker)

    @classmethod
    def _from_data(cls, data, chk):
        # 1. colours, backgrounds, shapes
        colours = [Colour(d["name"], tuple(d["rgb"]), d["words"])
                   for d in chk.names(data, "colours", rgb=True)]
        backgrounds = [Colour(d["name"], tuple(d["rgb"]), d["words"])
                       for d in chk.names(data, "backgrounds", rgb=True)]
        shapes = []
        for i, d in enumerate(chk.names(data, "shapes", rgb=False)):
            if d["name"] not in effects.SHAPE_MASKS:
                chk.fail(["shapes", i], f"shape '{d['name']}' has no mask; effects.py draws "
                                        f"only {sorted(effects.SHAPE_MASKS)}")
            shapes.append(Shape(d["name"], d["words"], bool(d.get("role_only", False))))
        # 2. modifiers: ref format, known effect, one phrase each
        modifiers = []
        for i, d in enumerate(data.get("modifiers") or []):
            ref = d.get("ref") if isinstance(d, dict) else None
            if not isinstance(ref, str) or not _REF.match(ref):
                chk.fail(["modifiers", i], f"modifier ref {ref!r} is not 'category:tag-id' "
                                           "(e.g. 'render_engines:octane-render')")
            if d.get("effect") not in effects.EFFECTS:
                chk.fail(["modifiers", i], f"modifier '{ref}' has unknown effect "
                                           f"{d.get('effect')!r}; use one of {sorted(effects.EFFECTS)}")
            if not isinstance(d.get("phrase"), str) or not d["phrase"].strip():
                chk.fail(["modifiers", i], f"modifier '{ref}' needs a 'phrase' (its prompt fragment, as text)")
            for flag in ("changes_colour", "changes_background"):
                if not isinstance(d.get(flag), bool):
                    chk.fail(["modifiers", i], f"modifier '{ref}' needs {flag}: true or false")
            aliases = chk.strings(d.get("aliases") or [], ["modifiers", i, "aliases"], "phrases")
            modifiers.append(Modifier(ref, d["phrase"], d["effect"], d["changes_colour"], d["changes_background"],
                                      aliases))
        if not modifiers or len({m.ref for m in modifiers}) != len(modifiers):
            chk.fail(["modifiers"], "'modifiers' must be a non-empty list with unique refs")
        # 3. roles: known shape, rates over known colours summing to 1
        known = {c.name for c in colours}
        roles = []
        for i, d in enumerate(chk.names(data, "roles", rgb=False)):
            if d.get("shape") not in {s.name for s in shapes}:
                chk.fail(["roles", i], f"role '{d['name']}' names unknown shape {d.get('shape')!r}; "
                                       f"known shapes: {[s.name for s in shapes]}")
            rates = d.get("colours")
            if not isinstance(rates, dict) or not rates:
                chk.fail(["roles", i], f"role '{d['name']}' needs colours: {{colour: rate, ...}}")
            for c, r in rates.items():
                if c not in known:
                    chk.fail(["roles", i, "colours"], f"role '{d['name']}' rate names unknown colour "
                                                      f"'{c}'; known colours: {sorted(known)}")
                if not isinstance(r, (int, float)) or r < 0:
                    chk.fail(["roles", i, "colours"], f"role '{d['name']}': rate for '{c}' must be >= 0")
            if abs(sum(rates.values()) - 1.0) > 1e-6:
                chk.fail(["roles", i, "colours"], f"role '{d['name']}' colour rates sum to "
                                                  f"{sum(rates.values()):g}, not 1; fix the rates")
            roles.append(Role(d["name"], d["words"], d["shape"],
                              tuple((c, float(r)) for c, r in rates.items())))
        # 4. captions: every section the caption writer uses
        caps = data.get("captions")
        need = ["sizes", "leads", "object", "bare_object", "single", "pair", "role_subject",
                "role_subject_coloured", "role", "modifier_wordings"]
        for key in need:
            if not isinstance(caps, dict) or not caps.get(key):
                chk.fail(["captions"], f"captions.{key} is missing or empty")
        if not isinstance(caps["sizes"], dict) or not all(
                isinstance(caps["sizes"].get(k), list) and caps["sizes"][k] for k in ("small", "large")):
            chk.fail(["captions", "sizes"], "captions.sizes needs small: [...] and large: [...] word lists")
        if not isinstance(caps["modifier_wordings"], dict):
            chk.fail(["captions", "modifier_wordings"], "captions.modifier_wordings must map each modifier "
                                                        "category to a list of wordings")
        for key, allowed in CAPTION_SLOTS.items():
            forms = caps[key]
            if not isinstance(forms, list):  # one string would be drawn from letter by letter
                chk.fail(["captions", key], f"captions.{key} must be a list of wordings (lines starting with '- ')")
            for j, form in enumerate(forms):
                if not isinstance(form, str):
                    chk.fail(["captions", key, j], f"captions.{key} wording {form!r} must be text; quote it")
                try:
                    slots = {name for _, name, _, _ in string.Formatter().parse(str(form)) if name is not None}
                except ValueError:  # an unmatched { or }
                    slots = {"(unmatched brace)"}
                if not slots <= allowed:
                    chk.fail(["captions", key, j], f"captions.{key} wording {form!r} uses unknown slot(s) "
                             f"{sorted(slots - allowed)}; it may use {sorted(allowed) or 'none'}")
        for m in modifiers:
            forms = caps["modifier_wordings"].get(m.category)
            if not forms or any("{fragment}" not in f for f in forms):
                chk.fail(["captions", "modifier_wordings"], f"modifier_wordings.{m.category} "
                         "must list wordings that each contain {fragment}")
        return cls(tuple(colours), tuple(s for s in shapes if not s.role_only),
                   tuple(s for s in shapes if s.role_only), tuple(backgrounds), tuple(modifiers),
                   tuple(roles), chk.strings(data.get("adjectives") or [], ["adjectives"], "adjectives"), caps,
                   chk.source)

    # lookups by name
    def colour(self, name): return _find(self.colours + self.backgrounds, name, "colour")
    def background(self, name): return _find(self.backgrounds, name, "background")
    def shape(self, name): return _find(self.shapes + self.figures, name, "shape")
    def role(self, name): return _find(self.roles, name, "role")
    def modifier(self, ref): return _find(self.modifiers, ref, "modifier", key="ref")

    @property
    def categories(self):
        return tuple(dict.fromkeys(m.category for m in self.modifiers))


def _find(items, name, what, key="name"):
    for it in items:
        if getattr(it, key) == name:
            return it
    raise KeyError(f"unknown {what} {name!r}; the vocabulary has "
                   f"{[getattr(i, key) for i in items]}")
