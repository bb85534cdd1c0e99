"""Thin views over the generation states: `VariationGrid` and `ModifierComparison`.

    grid = VariationGrid(composer.result)       # a Composition or a prompt
    grid                                        # shows controls; press Generate
    grid.state.results                          # the GeneratedImages, for the next cell
"""

from __future__ import annotations

import html

import ipywidgets as w

from workbench.generation.seeds import seeds_text
from workbench.widgets.generation_state import ModifierComparisonState, VariationGridState, same
from workbench.widgets.view import LazyView


def _png(image, size: int | None = None) -> bytes:
    from PIL import Image

    from workbench.store.png import png_bytes

    if size:
        image = image.resize((size, size * image.height // image.width), Image.NEAREST)
    return png_bytes(image)


class _View(LazyView):
    state_class = None

    def __init__(self, *args, **kwargs):
        self.state = self.state_class(*args, **kwargs)

    def _follower(self, boxes: dict, show: dict | None = None):
        """An observer that shows an input in its box when the state's value changed since it was
        last shown (set from code), and never otherwise, so typing not yet run is kept."""
        shown: dict = {}
        show = show or {}

        def follow(s):
            for name, box in boxes.items():
                value = getattr(s, name)
                if name not in shown or not same(shown[name], value):
                    shown[name] = value
                    box.value = show.get(name, lambda v: v)(value)

        follow(self.state)
        return follow

    def _controls(self, extra):
        """Seeds, steps, guidance, Generate and progress; `extra()` reads the view's other inputs."""
        state = self.state
        steps = w.BoundedIntText(value=state.steps, min=1, max=1000, description="Steps", layout=w.Layout(width="150px"))
        guidance = w.BoundedFloatText(value=state.guidance, min=0, max=50, step=0.5, description="Guidance",
                                      layout=w.Layout(width="170px"))
        seeds = w.Text(value=seeds_text(state.seeds), description="Seeds", layout=w.Layout(width="180px"))
        button = w.Button(description="Generate", button_style="primary", icon="play")
        progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="200px"))
        message = w.HTML()

        def on_click(_):
            inputs = {"steps": steps.value, "guidance": guidance.value, "seeds": seeds.value, **extra()}
            for name, value in inputs.items():  # every box read before any is written: setting one notifies
                setattr(state, name, value)
            button.disabled = True
            try:
                state.run()
            finally:
                button.disabled = False

        follow = self._follower({"seeds": seeds, "steps": steps, "guidance": guidance}, {"seeds": seeds_text})

        def on_change(s):
            progress.max, progress.value = max(1, s.total), s.done
            message.value = f"<span style='color:#c62828'>{html.escape(s.error)}</span>" if s.error else ""
            follow(s)  # inputs set from code show, or Generate would write the old ones back

        button.on_click(on_click)
        state.observe(on_change)
        return w.HBox([seeds, steps, guidance, button, progress]), message


class VariationGrid(_View):
    """A grid of seeded variations; click 'seed N' under an image to enlarge it with its record."""

    state_class = VariationGridState

    def _build(self):
        state = self.state
        prompt = w.HTML(self._prompt_html())
        controls, message = self._controls(dict)
        cells = w.GridBox(layout=w.Layout(grid_template_columns="repeat(3, 180px)", grid_gap="6px"))
        detail = w.VBox()
        detail.add_class("wb-grid-detail")

        def show_cells(s):
            if s.grid is None:
                return
            boxes = []
            for i, result in enumerate(s.results):
                img = w.Image(value=_png(result.image, 170), format="png")
                button = w.Button(description=f"seed {result.request.seed}", layout=w.Layout(width="170px"))
                button.on_click(lambda _, i=i: s.select(i))
                boxes.append(w.VBox([img, button]))
            cells.children = boxes

        def show_detail(s):
            info = s.details()
            if info is None:
                detail.children = []
                return
            detail.children = [
                w.HTML(f"<b>seed {info['seed']}</b>"),
                w.Image(value=_png(info["image"], 384), format="png"),
                w.HTML(f"<details><summary>record</summary><pre>{html.escape(info['record'])}</pre></details>"),
                w.HTML(f"<b>reproduce</b><pre>{html.escape(info['snippet'])}</pre>"),
            ]

        state.observe(show_cells)
        state.observe(show_detail)
        state.observe(lambda s: setattr(prompt, "value", self._prompt_html()))  # a prompt set from code
        show_cells(state)
        box = w.VBox([prompt, controls, message, cells, detail])
        box.add_class("wb-variation-grid")
        return box

    def _prompt_html(self) -> str:
        text = getattr(self.state.prompt, "prompt", self.state.prompt) or "(no prompt)"
        return f"<b>Prompt</b>: {html.escape(str(text))}"


class ModifierComparison(_View):
    """Pick a category and its modifiers; one row per modifier (plus the baseline), the same seeds in every row."""

    state_class = ModifierComparisonState

    def _build(self):
        state = self.state
        subject = w.Text(value=state.subject, description="Subject", layout=w.Layout(width="60%"))
        category = w.Dropdown(options=state.categories, value=state.category, description="Vary")
        picks = w.SelectMultiple(options=state.options(), value=tuple(state.ids), rows=6,
                              layout=w.Layout(width="60%"))

        def on_category(change):
            if change["new"] != state.category:
                state.ids = []  # the picks of another category do not carry over
                state.category = change["new"]

        shown_picks = [(state.category, tuple(state.ids))]

        def follow_picks(s):  # the category or picks changed in the state: new options, and the picks
            if (s.category, tuple(s.ids)) != shown_picks[0]:
                shown_picks[0] = (s.category, tuple(s.ids))
                picks.options = s.options()
                picks.value = tuple(v for v in s.ids if v in {i for _, i in s.options()})

        category.observe(on_category, names="value")
        state.observe(self._follower({"subject": subject, "category": category}))
        state.observe(follow_picks)

        controls, message = self._controls(lambda: {"subject": subject.value, "ids": list(picks.value)})
        picture = w.Image(format="png")
        picture.add_class("wb-comparison-image")
        def show(s):
            if s.grid is not None:
                picture.value = _png(s.grid.image())

        state.observe(show)
        show(state)
        box = w.VBox([subject, w.HBox([category, picks]), controls, message, picture])
        box.add_class("wb-modifier-comparison")
        return box
