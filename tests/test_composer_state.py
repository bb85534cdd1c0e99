"""Composer state, driven directly (no browser), and its thin view."""

from workbench.widgets.composer_state import ComposerState


def test_picks_compose_live_in_pick_order():
    state = ComposerState("a lighthouse")
    seen = []
    state.observe(lambda s: seen.append(s.result.prompt if s.result else s.error))
    state.pick("decades", ["1960s"])
    state.pick("render_engines", ["octane-render"])
    assert state.result.prompt == "a lighthouse, 1960s, octane render"
    state.pick("decades", ["1960s", "1980s"])
    assert state.tags == ("decades:1960s", "render_engines:octane-render", "decades:1980s")
    state.pick("decades", ["1980s"])
    assert state.result.prompt == "a lighthouse, octane render, 1980s"
    assert seen[-1] == state.result.prompt and len(seen) == 4


def test_refusal_is_shown_inline_not_raised():
    state = ComposerState("a castle")
    state.subject = "a castle by greg rutkowski"
    assert state.result is None and state.error.startswith("refused:") and "Greg Rutkowski" in state.error
    assert "wb-error" in state.preview_html()
    state.subject = "a castle"
    assert state.result.prompt == "a castle" and not state.error


def test_empty_subject_is_a_message():
    state = ComposerState("")
    assert state.result is None and "subject is empty" in state.error


def test_token_counter_turns_red_and_names_lost_modifiers():
    state = ComposerState(" ".join(["an extremely detailed castle on a hill"] * 11))
    state.pick("mediums", ["watercolor"])
    assert state.tokens.over and state.tokens.truncated == ("mediums:watercolor",)
    html = state.preview_html()
    assert "#c62828" in html and "mediums:watercolor" in html


def test_search_keeps_what_is_picked():
    state = ComposerState("a fox")
    state.pick("film", ["kodak-portra-400"])
    options = dict((i, label) for label, i in state.options("film", "ilford"))
    assert "kodak-portra-400" in options and all("ilford" in i or i == "kodak-portra-400" for i in options)


def test_user_text_is_escaped_in_the_preview():
    state = ComposerState("<img src=x onerror=alert(1)>")
    assert "<img" not in state.preview_html() and "&lt;img src=x" in state.preview_html()


def test_view_mirrors_state():
    from workbench.widgets import Composer

    composer = Composer("a fox")
    view = composer.widget
    subject = view.children[0]
    subject.value = "a red fox"
    assert composer.result.prompt == "a red fox"
    grid = view.children[1]
    decades = next(box for box in grid.children if "Decades" in box.children[0].value)
    decades.children[2].value = ("1960s",)
    assert composer.result.prompt == "a red fox, 1960s"
    assert "a red fox, 1960s" in view.children[3].value
    decades.children[1].value = "198"  # searching keeps the pick
    assert decades.children[2].value == ("1960s",) and composer.result.prompt == "a red fox, 1960s"


def test_view_follows_changes_made_to_the_state_in_code():
    """A cleared pick must leave the picker too, or the next click there brings it back."""
    from workbench.widgets import Composer

    composer = Composer("a fox", ["decades:1960s"])
    view = composer.widget
    decades = next(box for box in view.children[1].children if "Decades" in box.children[0].value)
    composer.state.clear()
    composer.state.subject = "a wolf"
    assert view.children[0].value == "a wolf" and decades.children[2].value == ()
    decades.children[2].value = ("1980s",)
    assert composer.state.tags == ("decades:1980s",)


def test_category_labels_are_escaped_in_the_view(write):
    from workbench.prompts import TagLibrary
    from workbench.widgets import Composer

    library = TagLibrary.from_path(write("odd.yaml", """
        category: odd
        label: "<img src=x onerror=alert(1)>"
        tags:
          - id: one
            label: One
            prompt: one
            description: A tag.
    """))
    header = Composer("a fox", library=library).widget.children[1].children[0].children[0].value
    assert "<img" not in header and "&lt;img src=x onerror=alert(1)&gt;" in header


def test_negative_prompt_recomposes_under_diffusers_name():
    state = ComposerState("a lighthouse", negative_prompt="text")
    assert state.result.negative_prompt == "text"
    state.negative_prompt = "blurry,   watermark"
    assert state.negative_prompt == "blurry,   watermark" and state.result.negative_prompt == "blurry, watermark"
