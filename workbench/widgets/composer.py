"""The Composer widget: a subject box, one searchable picker per category, a live preview.

    from workbench.widgets import Composer
    composer = Composer("a lighthouse")
    composer                 # shows the widget in JupyterLab
    composer.result          # the Composition, for the next cell

A thin ipywidgets view over `ComposerState`: every control writes into the state, and
every control and the preview follow the state when it changes, from the view or from code.
"""

from __future__ import annotations

import html

import ipywidgets as w

from workbench.widgets.composer_state import ComposerState
from workbench.widgets.view import LazyView


class Composer(LazyView):
    """Compose a prompt from modifier libraries, in a notebook. State lives in `.state`."""

    def __init__(self, subject: str = "", tags=(), negative_prompt: str = "", **state_kwargs):
        self.state = ComposerState(subject, tags, negative_prompt, **state_kwargs)

    @property
    def result(self):
        """The current Composition (None while the subject is empty or the prompt is refused)."""
        return self.state.result

    # --- view ---------------------------------------------------------------------------------
    def _build(self) -> w.Widget:
        state = self.state
        subject = w.Text(value=state.subject, placeholder="what the image shows, e.g. a lighthouse at dusk",
                         description="Subject", layout=w.Layout(width="auto"))
        negative = w.Text(value=state.negative_prompt, placeholder="what to avoid (optional)", description="Negative",
                          layout=w.Layout(width="auto"))
        subject.observe(lambda change: setattr(state, "subject", change["new"]), names="value")
        negative.observe(lambda change: setattr(state, "negative_prompt", change["new"]), names="value")

        def follow(s):  # the state changed in code (e.g. state.clear()): show it, so a stale box never writes back
            for box, value in ((subject, s.subject), (negative, s.negative_prompt)):
                if box.value != value:
                    box.value = value

        pickers = [self._picker(category.name, category.label) for category in state.library]
        preview = w.HTML(state.preview_html())
        preview.add_class("wb-composer-preview")
        state.observe(follow)
        state.observe(lambda s: setattr(preview, "value", s.preview_html()))
        # minmax(0, 1fr): columns may shrink below their content, so nothing spills past the output area
        grid = w.GridBox(pickers, layout=w.Layout(grid_template_columns="repeat(3, minmax(0, 1fr))", grid_gap="6px"))
        box = w.VBox([subject, grid, negative, preview])
        box.add_class("wb-composer")
        return box

    def _picker(self, category: str, label: str) -> w.Widget:
        state = self.state
        search = w.Text(placeholder=f"search {label.lower()}", layout=w.Layout(width="auto"))
        select = w.SelectMultiple(options=state.options(category), value=tuple(state.picked(category)),
                                  rows=6, layout=w.Layout(width="auto"))
        select.add_class(f"wb-picker-{category}")
        refreshing = False

        def refresh(*_):
            """Options for the search text, selection from the state."""
            nonlocal refreshing
            options, picked = state.options(category, search.value), tuple(state.picked(category))
            if list(select.options) == options and select.value == picked:
                return
            refreshing = True  # replacing options would otherwise report an empty selection
            select.options, select.value = options, picked
            refreshing = False

        def on_select(change):
            if not refreshing:
                state.pick(category, change["new"])

        search.observe(refresh, names="value")
        select.observe(on_select, names="value")
        state.observe(refresh)
        return w.VBox([w.HTML(f"<b>{html.escape(label)}</b>"), search, select], layout=w.Layout(min_width="0"))
