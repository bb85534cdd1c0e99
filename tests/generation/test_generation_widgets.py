"""VariationGrid and ModifierComparison: states driven without a browser, views mirror them."""

import json

from workbench.widgets.generation_state import VariationGridState, reproduce_snippet


def test_variation_state_runs_tracks_progress_and_details(tiny_model):
    from workbench.generation.engine import ImageGenerator
    from workbench.prompts import compose

    gen = ImageGenerator(tiny_model, progress=False)
    state = VariationGridState(compose("a red circle", ["decades:1980s"]), seeds="0-3", steps=2, generator=gen)
    progress = []
    state.observe(lambda s: progress.append((s.done, s.total)))
    state.run()
    assert not state.error and len(state.results) == 4 and progress[-1] == (4, 4)
    state.select(2)
    info = state.details()
    assert info["seed"] == 2 and json.loads(info["record"])["request"]["modifiers"] == [["decades", "1980s"]]
    # the snippet really reproduces the image
    namespace = {}
    exec(info["snippet"].replace(f"ImageGenerator({tiny_model.name!r})", "ImageGenerator(gen_model)"),
         {"gen_model": tiny_model}, namespace)
    assert namespace["image"].tobytes() == info["image"].tobytes()


def test_variation_state_reports_a_missing_prompt():
    state = VariationGridState(None)
    state.run()
    assert "no prompt yet" in state.error


def test_comparison_state_and_view(tiny_model):
    from workbench.generation.engine import ImageGenerator
    from workbench.widgets import ModifierComparison

    gen = ImageGenerator(tiny_model, progress=False)
    view = ModifierComparison("a red circle", "decades", ["1900s", "1980s"], seeds="0-1", steps=2, generator=gen)
    state = view.state
    state.run()
    assert state.grid.rows == 3 and state.grid.cols == 2 and not state.error
    widget = view.widget
    assert bytes(widget.children[-1].value)[:4] == b"\x89PNG"
    state.values = []
    state.run()
    assert "pick at least one decades value" in state.error


def test_reproduce_snippet_quotes_user_text():
    from workbench.store.record import GenerationRequest, ImageRecord

    rec = ImageRecord(request=GenerationRequest(model="toyworld", prompt="a 'quoted' \"fox\"\n", seed=1, steps=2,
                                                guidance=7.0, width=64, height=64))
    compile(reproduce_snippet(rec), "<snippet>", "exec")  # valid Python whatever the prompt
