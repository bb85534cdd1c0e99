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
    assert "device='cpu', dtype='float32'" in info["snippet"]
    exec(info["snippet"].replace(f"ImageGenerator({tiny_model.name!r}", "ImageGenerator(gen_model"),
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
    state.ids = []
    state.run()
    assert "pick at least one decades modifier" in state.error


def test_reproduce_snippet_quotes_user_text():
    from workbench.store.record import GenerationRequest, ImageRecord

    rec = ImageRecord(request=GenerationRequest(model="toyworld", prompt="a 'quoted' \"fox\"\n", seed=1, steps=2,
                                                guidance=7.0, width=64, height=64))
    compile(reproduce_snippet(rec), "<snippet>", "exec")  # valid Python whatever the prompt


def test_reproduce_snippet_keeps_precision_device_and_the_pickle_flag():
    """float16 on a GPU is another image; a .ckpt will not load without the flag."""
    from workbench.store.record import GenerationRequest, ImageRecord

    rec = ImageRecord(request=GenerationRequest(model="/models/sd15.ckpt", prompt="a fox", seed=1, steps=2,
                                                guidance=7.0, width=64, height=64),
                      device="cuda:0 (NVIDIA H100)", dtype="float16")
    snippet = reproduce_snippet(rec)
    assert "ImageGenerator('/models/sd15.ckpt', device='cuda', dtype='float16', trust_pickle=True)" in snippet
    assert "only if you trust this file" in snippet


def test_comparison_state_refuses_a_mistyped_value_or_category_at_once():
    import pytest

    from workbench.prompts.library import UnknownTagError
    from workbench.widgets.generation_state import ModifierComparisonState

    with pytest.raises(UnknownTagError, match="unknown tag 'octane' in category 'render_engines'; did you mean octane-render"):
        ModifierComparisonState("a cat", ids=["octane"])
    with pytest.raises(UnknownTagError, match="unknown category 'decade'; did you mean decades\\? categories are: "):
        ModifierComparisonState("a cat", category="decade")


def test_comparison_state_defaults_to_a_category_the_library_has(write):
    from workbench.prompts import TagLibrary
    from workbench.widgets import ModifierComparison

    library = TagLibrary.from_path(write("moods.yaml", """
        category: moods
        tags:
          - id: calm
            label: Calm
            prompt: calm
            description: Calm.
    """))
    view = ModifierComparison("a cat", ids=["calm"], library=library)
    assert view.state.category == "moods" and view.widget.children[1].children[1].value == ("calm",)


def test_views_show_inputs_set_in_code_and_seeds_as_typed(tiny_model):
    """seeds=range(9) once showed 'range(0, 9)', which Generate then wrote back and refused."""
    from workbench.generation.engine import ImageGenerator
    from workbench.widgets import ModifierComparison, VariationGrid

    gen = ImageGenerator(tiny_model, progress=False)
    grid = VariationGrid("a red star", seeds=range(9), steps=2, generator=gen)
    controls = grid.widget.children[1]
    assert controls.children[0].value == "0-8"
    grid.state.seeds, grid.state.steps, grid.state.prompt = [1, 5, 9], 3, "a blue circle"
    assert (controls.children[0].value, controls.children[1].value) == ("1,5,9", 3)
    assert "a blue circle" in grid.widget.children[0].value
    controls.children[3].click()
    assert not grid.state.error and [r.request.seed for r in grid.state.results] == [1, 5, 9]

    view = ModifierComparison("a cat", "decades", ["1960s"], seeds="0", steps=1, generator=gen)
    subject, (category, values) = view.widget.children[0], view.widget.children[1].children
    view.state.subject, view.state.category = "a dog", "film"
    assert (subject.value, category.value, values.value) == ("a dog", "film", ())
    category.value = "decades"  # from the view: earlier picks of another category are dropped
    assert view.state.ids == [] and values.options[0][1] == view.state.options()[0][1]


def test_generate_runs_what_was_typed_and_typing_survives_other_updates(tiny_model, monkeypatch):
    """Writing seeds into the state notifies the view; it once reset the typed subject and picks
    before they were read, so Generate ran the old ones."""
    import numpy as np

    from workbench.generation.engine import ImageGenerator
    from workbench.widgets import ModifierComparison, VariationGrid
    from workbench.widgets.generation_state import ModifierComparisonState

    gen = ImageGenerator(tiny_model, progress=False)
    ran = []
    monkeypatch.setattr(ModifierComparisonState, "run", lambda s: ran.append((s.subject, s.ids, s.steps, s.seeds)))
    view = ModifierComparison("a cat", "decades", ["1960s"], seeds=range(4), steps=1, generator=gen)
    subject, (category, values) = view.widget.children[0], view.widget.children[1].children
    subject.value, values.value = "a dog", ("1910s",)
    steps = view.widget.children[2].children[1]
    steps.value = 3
    view.widget.children[2].children[3].click()
    assert ran == [("a dog", ["1910s"], 3, "0-3")]
    subject.value = "a horse"
    category.value = "film"  # switching category keeps the typed subject
    assert subject.value == "a horse" and values.value == ()

    grid = VariationGrid("a red star", seeds=np.arange(3), steps=2, generator=gen)
    controls = grid.widget.children[1]
    controls.children[0].value, controls.children[1].value = "5-7", 30
    grid.state._changed()  # any notification (a progress step, a click on a cell) keeps what was typed
    assert (controls.children[0].value, controls.children[1].value) == ("5-7", 30)
    grid.state.seeds = np.arange(6)  # numpy seeds set in code: shown, no error
    assert controls.children[0].value == "0,1,2,3,4,5"
