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


def test_tag_file_round_trip(library, tmp_path):
    artists = library.categories["artists"]
    again = read_tag_file(write_tag_file(artists, tmp_path / "artists.yaml"))
    assert [(t.id, t.born, t.died, t.movement, t.aliases) for t in again] == \
           [(t.id, t.born, t.died, t.movement, t.aliases) for t in artists]


def test_fooocus_errors_name_the_line(write):
    path = write("bad.json", '[\n {"name": "A", "prompt": "x"},\n {"name": "B", "prompt": "{prompt} {prompt}"}\n]')
    with pytest.raises(DataFileError, match=r"bad.json:3: 'prompt' uses the \{prompt\} slot 2 times"):
        read_fooocus_styles(path)
