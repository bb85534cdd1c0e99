"""Composition: a subject plus modifiers from the tag libraries -> a prompt that knows its parts.

    >>> from workbench.prompts import compose
    >>> c = compose("a lighthouse", tags=["render_engines:octane-render", "decades:1960s"])
    >>> c.prompt
    'a lighthouse, octane render, 1960s'

Modifiers apply in the order given, as A1111 styles do: a fragment with a `{prompt}`
slot wraps everything composed so far, any other fragment is appended after ", ".
The result is a frozen, JSON-serialisable `Composition` that travels with every
image made from it, so the record always says which modifiers were applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from workbench.prompts.library import SLOT, Tag, TagLibrary
from workbench.prompts.policy import Policy
from workbench.prompts.tokens import TokenReport, token_report

MAX_PROMPT_CHARS = 10_000  # far past any text encoder; longer text is a paste gone wrong


@lru_cache(maxsize=1)
def default_library() -> TagLibrary:
    return TagLibrary.default()


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return Policy.default()


@dataclass(frozen=True)
class Modifier:
    category: str
    id: str

    @property
    def ref(self) -> str:
        return f"{self.category}:{self.id}"


@dataclass(frozen=True)
class Composition:
    """A composed prompt with the modifiers applied (in order), its token report and policy warnings."""

    subject: str
    prompt: str
    negative_prompt: str = ""
    modifiers: tuple[Modifier, ...] = ()
    tokens: TokenReport | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "subject": self.subject,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "modifiers": [{"category": m.category, "id": m.id} for m in self.modifiers],
            "tokens": self.tokens.to_dict() if self.tokens else None,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Composition:
        return cls(
            subject=data["subject"], prompt=data["prompt"], negative_prompt=data.get("negative_prompt", ""),
            modifiers=tuple(Modifier(m["category"], m["id"]) for m in data.get("modifiers", ())),
            tokens=TokenReport.from_dict(data["tokens"]) if data.get("tokens") else None,
            warnings=tuple(data.get("warnings", ())),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Composition:
        return cls.from_dict(json.loads(text))


def _apply(text: str, fragment: str, spans: dict[str, tuple[int, int]], ref: str | None) -> str:
    """Apply one fragment to `text`, shifting the character spans of earlier modifiers."""
    if not fragment:
        return text
    if SLOT in fragment:
        prefix, suffix = fragment.split(SLOT)
        for key, (a, b) in spans.items():
            spans[key] = (a + len(prefix), b + len(prefix))
        if ref:
            start = len(prefix) + len(text)
            spans[ref] = (start, start + len(suffix)) if suffix else (0, len(prefix))
        return prefix + text + suffix
    joined = f"{text}, {fragment}" if text else fragment
    if ref:
        spans[ref] = (len(joined) - len(fragment), len(joined))
    return joined


def text_list(values, name: str, example: str) -> list:
    """`values` as a list, refusing one string where a list belongs (it would be read letter by
    letter: "blue" as the values b, l, u, e)."""
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list, e.g. {example}, not the single text {values!r}")
    return list(values)


def resolve_tags(tags: Iterable[str | Tag], library: TagLibrary) -> list[Tag]:
    """Turn refs into Tags, refusing a tag given twice (it would repeat its fragment)."""
    resolved: list[Tag] = []
    for tag in tags:
        tag = library.get(tag) if isinstance(tag, str) else tag
        if any(t.ref == tag.ref for t in resolved):
            raise ValueError(f"tag {tag.ref!r} is given twice; give each modifier once")
        resolved.append(tag)
    return resolved


def compose(
    subject: str,
    tags: Sequence[str | Tag] = (),
    negative_prompt: str = "",
    *,
    library: TagLibrary | None = None,
    policy: Policy | None = None,
    count_tokens: bool = True,
) -> Composition:
    """Compose `subject` with modifiers (`"category:id"` refs or Tags), checked against the policy.

    Raises ValueError for an empty subject, an unknown or repeated tag, or an overlong prompt;
    raises `PolicyRefusal` when the prompt names an opted-out artist or a blocked keyword
    (unless the policy's mode is "warn", which records the findings in `warnings`).
    """
    # 1. Check inputs
    if not isinstance(subject, str):
        raise TypeError(f"subject must be text, not {type(subject).__name__}")
    subject = " ".join(subject.split())
    if not subject:
        raise ValueError("subject is empty; describe what the image should show, e.g. 'a lighthouse at dusk'")
    if not isinstance(negative_prompt, str):
        raise TypeError(f"negative_prompt must be text (empty for none), not {type(negative_prompt).__name__}")
    library = library or default_library()
    policy = policy if policy is not None else default_policy()
    applied = resolve_tags(text_list(tags, "tags", "['decades:1960s']"), library)

    # 2. Apply fragments in order, tracking where each modifier's text lands
    spans: dict[str, tuple[int, int]] = {}
    prompt = subject
    negative_prompt = " ".join(negative_prompt.split())
    for tag in applied:
        prompt = _apply(prompt, tag.prompt, spans, tag.ref)
        negative_prompt = _apply(negative_prompt, tag.negative, {}, None)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"prompt is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}. "
                         "Shorten the subject (CLIP reads only the first 75 tokens anyway).")

    # 3. Policy on the whole text the model would read
    warnings = [f.message for f in policy.enforce(prompt)]

    # 4. Token report
    tokens = token_report(prompt, spans) if count_tokens else None
    if tokens is not None and tokens.over:
        warnings.append(tokens.warning)
    return Composition(subject, prompt, negative_prompt,
                       tuple(Modifier(t.category, t.id) for t in applied), tokens, tuple(warnings))
