"""A1111 infotext: the exact format DESIGN.md gives, and round trips through parse."""

import pytest
from store_helpers import make_record

from workbench.store.infotext import format_infotext, infotext_fields, parse_infotext, parse_size

DESIGN_EXAMPLE = (
    "a photo of a cat\n"
    "Negative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 123, Size: 512x512, Model hash: abcd, Model: name, "
    "Variation seed: 9, Variation seed strength: 0.3, Version: v1.10.1"
)


def design_fields(**changes):
    fields = {
        "Prompt": "a photo of a cat", "Negative prompt": "blurry", "Steps": 20, "Sampler": "Euler a",
        "CFG scale": 7.0, "Seed": 123, "Size": "512x512", "Model hash": "abcd", "Model": "name",
        "Variation seed": 9, "Variation seed strength": 0.3, "Version": "v1.10.1",
    }
    fields.update(changes)
    return fields


def test_format_matches_the_design_example_exactly():
    assert format_infotext(design_fields()) == DESIGN_EXAMPLE


def test_empty_negative_prompt_and_valueless_keys_are_omitted():
    text = format_infotext(design_fields(**{"Negative prompt": "", "Variation seed": None,
                                            "Variation seed strength": None, "Model hash": ""}))
    assert "Negative prompt" not in text
    assert "Variation" not in text and "Model hash" not in text
    assert text == ("a photo of a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 123, Size: 512x512, "
                    "Model: name, Version: v1.10.1")


@pytest.mark.parametrize("value", [
    "a, b", "key: value", "two\nlines", 'starts "quoted"', '"fully quoted"', "plain", "ünïcødé ✨",
    'mixed, "quotes": and\nnewlines\\backslash',
])
def test_values_that_would_break_the_line_are_json_quoted_and_read_back(value):
    text = format_infotext(design_fields(Model=value))
    lines = text.split("\n")
    assert len(lines) == 3, "prompt, negative prompt, parameters: a newline in a value must not add a line"
    last_line = lines[-1]
    assert last_line.startswith("Steps: 20, ")
    if any(c in value for c in ",:\n") or value.startswith('"'):
        assert '"' in last_line.split("Model: ", 1)[1]
    assert parse_infotext(text)["Model"] == value


@pytest.mark.parametrize("prompt,negative", [
    ("one line", ""),
    ("first line\nsecond line\n\nafter a blank line", "neg one\nneg two"),
    ("(masterpiece:1.2), a cat, by Artist: Name", "lowres, bad anatomy"),
    ("", "only a negative"),
    ("日本語のプロンプト, 猫", "ぼやけた"),
])
def test_prompts_round_trip_including_newlines_and_colons(prompt, negative):
    fields = design_fields(Prompt=prompt, **{"Negative prompt": negative})
    parsed = parse_infotext(format_infotext(fields))
    assert parsed["Prompt"] == prompt
    assert parsed["Negative prompt"] == negative
    expected = {k: (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
                for k, v in fields.items() if k not in ("Prompt", "Negative prompt")}
    assert {k: v for k, v in parsed.items() if k not in ("Prompt", "Negative prompt")} == expected


def test_parses_a_real_a1111_infotext():
    text = (
        "masterpiece, best quality, 1girl, (looking at viewer:1.3)\n"
        "Negative prompt: (worst quality:1.4), lowres\n"
        "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3405691582, "
        'Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, '
        'Hires upscale: 2, Lora hashes: "add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef", '
        "Version: v1.10.1"
    )
    fields = parse_infotext(text)
    assert fields["Prompt"] == "masterpiece, best quality, 1girl, (looking at viewer:1.3)"
    assert fields["Negative prompt"] == "(worst quality:1.4), lowres"
    assert fields["Seed"] == "3405691582" and fields["Schedule type"] == "Karras"
    assert fields["Lora hashes"] == "add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef"
    assert parse_size(fields["Size"]) == (512, 768)


def test_a_last_line_with_fewer_than_three_parameters_is_prompt_text():
    fields = parse_infotext("a cat\nby someone: famous")
    assert fields["Prompt"] == "a cat\nby someone: famous"
    assert set(fields) == {"Prompt", "Negative prompt"}


def test_a_key_that_cannot_be_read_back_is_refused():
    with pytest.raises(ValueError, match="cannot be read back"):
        format_infotext(design_fields(**{"Bad: key": 1}))


def test_record_fields_use_a1111_names():
    fields = infotext_fields(make_record(5, variation_seed=11, variation_strength=0.25))
    assert fields["Sampler"] == "Euler a"  # EulerAncestralDiscreteScheduler
    assert fields["Model hash"] == "9f" * 5
    assert fields["Variation seed"] == 11 and fields["Variation seed strength"] == 0.25
    assert fields["Size"] == "32x32" and fields["Version"].startswith("Prompt Workbench")
    plain = infotext_fields(make_record(5))
    assert plain["Variation seed"] is None and plain["Variation seed strength"] is None
