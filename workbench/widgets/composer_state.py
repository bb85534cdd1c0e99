"""The Composer's state: subject, picked modifiers, negative prompt -> a live Composition.

Plain Python with no ipywidgets import, so tests drive it directly; the widget view
(`composer.py`) only mirrors it. Every change recomposes and notifies observers.
Mistakes (an empty subject, a refused prompt) become `error` text for the view to
show inline, never exceptions thrown into the notebook.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from workbench.prompts.compose import Composition, compose, default_library, default_policy, text_list
from workbench.prompts.library import TagLibrary, UnknownTagError
from workbench.prompts.policy import Policy, PolicyRefusal
from workbench.widgets.view import Observable


@dataclass(frozen=True)
class TokenStatus:
    """What the token counter shows: '12/75', red when over, and which modifiers are lost."""

    text: str
    over: bool
    truncated: tuple[str, ...]


class ComposerState(Observable):
    """Subject + ordered modifier picks + negative prompt, recomposed on every change."""

    def __init__(self, subject: str = "", tags=(), negative_prompt: str = "", *,
                 library: TagLibrary | None = None, policy: Policy | None = None):
        super().__init__()
        self.library = library or default_library()
        self.policy = policy if policy is not None else default_policy()
        self._subject, self._negative_prompt = subject, negative_prompt
        self._tags: list[str] = []
        self.result: Composition | None = None
        self.error: str = ""
        for ref in tags:
            self.library.get(ref)  # fail early on a typo in code
            self._tags.append(ref)
        self._recompose()

    # --- what the user changes ----------------------------------------------------------------
    @property
    def subject(self) -> str:
        return self._subject

    @subject.setter
    def subject(self, value: str) -> None:
        self._subject = value
        self._recompose()

    @property
    def negative_prompt(self) -> str:
        return self._negative_prompt

    @negative_prompt.setter
    def negative_prompt(self, value: str) -> None:
        self._negative_prompt = value
        self._recompose()

    @property
    def tags(self) -> tuple[str, ...]:
        """Picked modifiers in the order they were picked (the order they apply in)."""
        return tuple(self._tags)

    def pick(self, category: str, ids) -> None:
        """Set the picks of one category (what a multi-select reports); keeps pick order."""
        wanted = [f"{category}:{i}" for i in text_list(ids, "ids", "['1960s', '1980s']")]
        for ref in wanted:
            self.library.get(ref)
        self._tags = [r for r in self._tags if not r.startswith(f"{category}:") or r in wanted]
        self._tags += [r for r in wanted if r not in self._tags]
        self._recompose()

    def picked(self, category: str) -> list[str]:
        return [r.split(":", 1)[1] for r in self._tags if r.startswith(f"{category}:")]

    def clear(self) -> None:
        self._tags = []
        self._recompose()

    # --- what the view reads --------------------------------------------------------------------
    def options(self, category: str, query: str = "") -> list[tuple[str, str]]:
        """(label, id) pairs matching `query`, always including what is already picked."""
        picked = set(self.picked(category))
        return [(t.label, t.id) for t in self.library.category(category) if t.id in picked or t.matches(query)]

    @property
    def tokens(self) -> TokenStatus:
        if self.result is None or self.result.tokens is None:
            return TokenStatus("0/75 tokens", False, ())
        report = self.result.tokens
        return TokenStatus(str(report), report.over, report.truncated)

    @property
    def messages(self) -> list[tuple[str, str]]:
        """(level, text) lines for the view: errors first, then warnings."""
        lines = [("error", self.error)] if self.error else []
        return lines + [("warning", w) for w in (self.result.warnings if self.result else ())]

    def preview_html(self) -> str:
        """The composed prompt, negative prompt, token count and messages as escaped HTML."""
        esc = html.escape
        r = self.result
        token = self.tokens
        colour = "#c62828" if token.over else "#2e7d32"
        lost = f" — past the limit: {esc(', '.join(token.truncated))}" if token.truncated else ""
        rows = [
            f"<div class='wb-prompt'><b>Prompt</b>: {esc(r.prompt) if r else '<i>(none)</i>'}</div>",
            f"<div class='wb-negative'><b>Negative</b>: "
            f"{esc(r.negative_prompt) if r and r.negative_prompt else '<i>(none)</i>'}</div>",
            f"<div class='wb-tokens' style='color:{colour}'>{esc(token.text)}{lost}</div>",
        ]
        for level, text in self.messages:
            style = "color:#c62828" if level == "error" else "color:#ef6c00"
            rows.append(f"<div class='wb-{level}' style='{style}'>{esc(level)}: {esc(text)}</div>")
        return "\n".join(rows)

    def _recompose(self) -> None:
        try:
            self.result = compose(self._subject, self._tags, self._negative_prompt, library=self.library, policy=self.policy)
            self.error = ""
        except PolicyRefusal as err:
            self.result, self.error = None, f"refused: {err}"
        except (ValueError, UnknownTagError) as err:
            self.result, self.error = None, str(err)
        self._changed()
