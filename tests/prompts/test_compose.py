"""Composition: order, {prompt} slots, negatives, JSON round trip and the token report."""

import json

from workbench.prompts import Composition, Policy, TagLibrary, compose
from workbench.prompts.tokens import PROMPT_TOKENS, count_tokens


def test_fragments_append_in_order(library):
    c = compose("a lighthouse", ["render_engines:octane-render", "decades:1960s"])
    assert c.prompt == "a lighthouse, octane render, 1960s"
    assert [m.ref for m in c.modifiers] == ["render_engines:octane-render", "decades:1960s"]
    assert c.tokens.count == count_tokens(c.prompt) and not c.tokens.over


def test_slot_wraps_everything_composed_so_far(write):
    path = write("w.yaml", """
        category: wrap
        tags:
          - id: print
            label: Print
            prompt: "a lino print of {prompt}, bold lines"
            negative: "photo, {prompt}"
            description: Wraps.
          - id: plain
            label: Plain
            prompt: grainy
            negative: blurry
            description: Appends.
    """)
    lib = TagLibrary.from_path(path)
    c = compose("a fox", ["wrap:plain", "wrap:print"], negative_prompt="text", library=lib, policy=Policy())
    assert c.prompt == "a lino print of a fox, grainy, bold lines"
    assert c.negative_prompt == "photo, text, blurry"


def test_composition_round_trips_through_json():
    c = compose("a lighthouse", ["mediums:lino-cut", "film:ilford-hp5"], negative_prompt="color")
    again = Composition.from_json(json.dumps(json.loads(c.to_json())))
    assert again == c


def test_subject_whitespace_is_normalised():
    assert compose("  a   red\n fox ").prompt == "a red fox"


def test_long_prompt_warns_and_names_the_truncated_modifiers():
    subject = " ".join(["a very detailed lighthouse on a cliff"] * 10)  # 70 tokens
    tags = ["render_engines:octane-render", "decades:1960s", "film:kodak-portra-400", "mediums:watercolor"]
    c = compose(subject, tags)
    assert c.tokens.over and c.tokens.count > PROMPT_TOKENS
    assert c.tokens.truncated  # some modifiers fall past the limit...
    assert "render_engines:octane-render" not in c.tokens.truncated  # ...but not the first, which fits
    assert c.tokens.truncated[-1] == "mediums:watercolor"
    assert any("past CLIP's limit" in w and "mediums:watercolor" in w for w in c.warnings)


def test_token_count_matches_open_clip_tokenizer():
    import open_clip

    text = "a lighthouse, octane render, Kodak Portra 400, 85mm f/1.4"
    ids = open_clip.get_tokenizer("ViT-B-32")([text])[0].tolist()
    assert count_tokens(text) == sum(1 for i in ids if i != 0) - 2


def test_chunks_follow_a1111_which_starts_a_new_one_at_each_break():
    from workbench.prompts.tokens import token_report

    assert token_report("a castle on a hill BREAK a red dragon").chunks == 2
    assert token_report("a castle on a hill, a red dragon").chunks == 1
    assert token_report("a BREAKFAST table").chunks == 1  # only the word BREAK


def test_policy_warn_mode_keeps_the_prompt_and_records_why():
    c = compose("a castle by greg rutkowski", policy=Policy.default(mode="warn"))
    assert c.prompt == "a castle by greg rutkowski"
    assert any("Greg Rutkowski" in w for w in c.warnings)
