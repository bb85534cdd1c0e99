"""Import/export round trips with A1111 styles.csv, Fooocus JSON and wildcard files."""

import json

import pytest

from workbench.datafile import DataFileError
from workbench.prompts.interchange import (
    read_a1111_styles,
    read_fooocus_styles,
    read_wildcards,
    write_a1111_styles,
    write_fooocus_styles,
    write_tag_file,
    write_wildcards,
)
from workbench.prompts.library import read_tag_file

A1111_CSV = 'name,prompt,negative_prompt\nCinematic,"{prompt}, cinematic, 35mm","cartoon, drawing"\nPlain,"bright, airy",\n'


def test_a1111_import_keeps_slots_and_negatives(write):
    cat = read_a1111_styles(write("styles.csv", A1111_CSV), "a1111")
    assert cat.tags["cinematic"].prompt == "{prompt}, cinematic, 35mm"
    assert cat.tags["cinematic"].negative == "cartoon, drawing"
    assert cat.tags["plain"].negative == ""


def test_a1111_round_trip(write, tmp_path):
    cat = read_a1111_styles(write("styles.csv", A1111_CSV), "a1111")
    out = write_a1111_styles(cat, tmp_path / "out.csv")
    again = read_a1111_styles(out, "a1111")
    assert [(t.label, t.prompt, t.negative) for t in again] == [(t.label, t.prompt, t.negative) for t in cat]


def test_fooocus_round_trip_of_shipped_category(library, tmp_path):
    films = library.categories["film"]
    out = write_fooocus_styles(films, tmp_path / "film.json")
    assert json.loads(out.read_text())[0].keys() == {"name", "prompt", "negative_prompt"}
    again = read_fooocus_styles(out, "film")
    assert [t.prompt for t in again] == [t.prompt for t in films]


def test_wildcards_round_trip(library, tmp_path):
    out = write_wildcards(library.categories["decades"], tmp_path / "decades.txt")
    assert [t.prompt for t in read_wildcards(out)] == [t.prompt for t in library.categories["decades"]]


def test_wildcard_export_writes_a_slot_fragment_as_its_label(library, tmp_path):
    """A wildcard line stands alone: 'a woodcut print of {prompt}' cannot lose its slot and stay sense."""
    mediums = library.categories["mediums"]
    lines = write_wildcards(mediums, tmp_path / "mediums.txt").read_text().splitlines()
    assert lines == [t.label.lower() if t.wraps else t.prompt for t in mediums]
    assert any(t.wraps for t in mediums) and not any(line.endswith(" of") or " of ," in line for line in lines)


def test_a1111_file_with_a_byte_order_mark_reads(write, tmp_path):
    """A1111 writes styles.csv as utf-8-sig."""
    path = tmp_path / "styles.csv"
    path.write_text(A1111_CSV, encoding="utf-8-sig")
    assert list(read_a1111_styles(path).tags) == ["cinematic", "plain"]


def test_styles_with_only_a_negative_import_and_compose(write, tmp_path):
    """Fooocus ships 'Fooocus Negative' with an empty prompt; A1111's 'None' row is its 'no style'."""
    from workbench.prompts import TagLibrary, compose

    fooocus = write("styles.json", json.dumps([{"name": "Fooocus Negative", "prompt": "",
                                                 "negative_prompt": "low quality, blurry"}]))
    cat = read_fooocus_styles(fooocus, "fooocus")
    assert (cat.tags["fooocus-negative"].prompt, cat.tags["fooocus-negative"].negative) == ("", "low quality, blurry")
    library = TagLibrary.from_path(write_tag_file(cat, tmp_path / "fooocus.yaml"))
    c = compose("a fox", ["fooocus:fooocus-negative"], library=library)
    assert (c.prompt, c.negative_prompt) == ("a fox", "low quality, blurry")
    a1111 = read_a1111_styles(write("old.csv", "name,prompt,negative_prompt\nNone,,\nPlain,bright,\n"))
    assert list(a1111.tags) == ["plain"]


def test_tag_file_round_trip(library, tmp_path):
    artists = library.categories["artists"]
    again = read_tag_file(write_tag_file(artists, tmp_path / "artists.yaml"))
    assert [(t.id, t.born, t.died, t.movement, t.aliases) for t in again] == \
           [(t.id, t.born, t.died, t.movement, t.aliases) for t in artists]


def test_fooocus_errors_name_the_line(write):
    path = write("bad.json", '[\n {"name": "A", "prompt": "x"},\n {"name": "B", "prompt": "{prompt} {prompt}"}\n]')
    with pytest.raises(DataFileError, match=r"bad.json:3: 'prompt' uses the \{prompt\} slot 2 times"):
        read_fooocus_styles(path)


def test_a1111_styles_read_as_a1111_reads_them(write):
    """Spaces after commas, '#' section rows and the older name,text columns: A1111 takes all three."""
    spaced = write("spaced.csv", 'name, prompt, negative_prompt\n# ---- Photo styles ----,,\n'
                                 'Cinematic, "cinematic still of {prompt}, film grain", "cartoon, anime"\n')
    tag = read_a1111_styles(spaced, "a").tags["cinematic"]
    assert (tag.prompt, tag.negative) == ("cinematic still of {prompt}, film grain", "cartoon, anime")
    old = read_a1111_styles(write("old.csv", "name,text\nMoody,\"dark, moody\"\n"), "a")
    assert old.tags["moody"].prompt == "dark, moody"


def test_styles_named_in_other_scripts_get_ids_of_their_own(write):
    cat = read_a1111_styles(write("cjk.csv", "name,prompt,negative_prompt\n水彩画,watercolor,\n油絵,oil painting,\n"), "a")
    assert {t.id: t.label for t in cat} == {"style-1": "水彩画", "style-2": "油絵"}


def test_a_bad_style_is_named_at_its_first_line(write):
    path = write("multi.csv", 'name,prompt,negative_prompt\nFine,a,\nBad,"{prompt}\n{prompt}\nagain",\n')
    with pytest.raises(DataFileError, match=r"multi.csv:3: 'prompt' uses the \{prompt\} slot 2 times"):
        read_a1111_styles(path, "a")
    escaped = write("esc.json", '[\n {"name": "Plain", "prompt": "x"},\n'
                                ' {"name": "Caf\\u00e9", "prompt": "{prompt} {prompt}"}\n]')
    with pytest.raises(DataFileError, match=r"esc.json:3: 'prompt' uses the \{prompt\} slot 2 times"):
        read_fooocus_styles(escaped)


def test_fooocus_styles_with_a_missing_or_odd_text(write):
    """Fooocus reads a missing text as empty; a number where text belongs is named, not a traceback."""
    cat = read_fooocus_styles(write("f.json", '[{"name": "Enhance", "negative_prompt": "blurry"}]'))
    assert (cat.tags["enhance"].prompt, cat.tags["enhance"].negative) == ("", "blurry")
    cat = read_fooocus_styles(write("null.json", '[{"name": "A", "prompt": null, "negative_prompt": "bad"}]'))
    assert (cat.tags["a"].prompt, cat.tags["a"].negative) == ("", "bad")  # null, as missing
    with pytest.raises(DataFileError, match=r"n.json:1: the prompt of a style is int, not text; write it in quotes"):
        read_fooocus_styles(write("n.json", '[{"name": "A", "prompt": 5}]'))
