"""Tag libraries: the shipped content, and validation errors that name file and line."""

import re

import pytest

from workbench.datafile import DataFileError
from workbench.prompts.library import TagLibrary, UnknownTagError, read_tag_file

MINIMUMS = {"render_engines": 15, "film": 25, "decades": 13, "mediums": 25, "lighting": 10, "artists": 60}
TOY_WORLD_FRAGMENTS = {
    "render_engines:octane-render": "octane render", "render_engines:unreal-engine-5": "unreal engine 5",
    "render_engines:blender-cycles": "blender cycles", "film:kodak-portra-400": "kodak portra 400",
    "film:ilford-hp5": "ilford hp5", "film:fujifilm-velvia": "fujifilm velvia", "decades:1900s": "1900s",
    "decades:1970s": "1970s", "decades:1980s": "1980s", "mediums:lino-cut": "lino cut",
    "mediums:watercolor": "watercolor", "mediums:pixel-art": "pixel art", "artists:georges-seurat": "by georges seurat",
    "artists:piet-mondrian": "by piet mondrian", "artists:katsushika-hokusai": "by katsushika hokusai",
}


@pytest.mark.parametrize("category,minimum", MINIMUMS.items())
def test_shipped_categories_have_real_content(library, category, minimum):
    tags = list(library.categories[category])
    assert len(tags) >= minimum
    assert all(t.label and t.prompt and t.description for t in tags)


def test_decades_cover_1900s_to_2020s(library):
    assert {t.id for t in library.categories["decades"]} >= {f"{y}s" for y in range(1900, 2030, 10)}


def test_artists_are_public_domain_with_life_years_and_movement(library):
    for artist in library.categories["artists"]:
        assert artist.movement, artist.ref
        assert artist.born and artist.died and artist.born < artist.died, artist.ref
        assert artist.died < 1956, f"{artist.ref} died {artist.died}: not safely public domain"


@pytest.mark.parametrize("ref,fragment", TOY_WORLD_FRAGMENTS.items())
def test_toy_world_modifiers_exist_with_exact_fragments(library, ref, fragment):
    assert library.get(ref).prompt == fragment


def test_no_shipped_fragment_uses_the_slot_twice(library):
    for tag in (t for c in library for t in c):
        assert tag.prompt.count("{prompt}") <= 1


def test_get_unknown_tag_suggests_near_ids(library):
    with pytest.raises(UnknownTagError, match="did you mean octane-render"):
        library.get("render_engines:octane")
    with pytest.raises(UnknownTagError, match="unknown category 'engines'"):
        library.get("engines:octane-render")
    with pytest.raises(ValueError, match="must look like CATEGORY:ID"):
        library.get("octane-render")


def test_user_folder_extends_library(write, tmp_path):
    write("mine/sci_fi.yaml", """
        category: sci_fi
        tags:
          - id: cyberpunk
            label: Cyberpunk
            prompt: cyberpunk, neon
            description: Neon-lit dystopia.
    """)
    library = TagLibrary.default([tmp_path / "mine"])
    assert library.get("sci_fi:cyberpunk").prompt == "cyberpunk, neon"
    assert "render_engines:octane-render" in library


def test_user_file_may_add_tags_to_a_shipped_category(write):
    path = write("more_decades.yaml", """
        category: decades
        tags:
          - id: 1890s
            label: 1890s
            prompt: 1890s
            description: Fin de siecle.
    """)
    assert TagLibrary.default([path]).get("decades:1890s").label == "1890s"


def test_redefining_a_shipped_tag_names_both_places(write):
    path = write("clash.yaml", """
        category: decades
        tags:
          - id: 1960s
            label: 1960s
            prompt: sixties
            description: Again.
    """)
    with pytest.raises(DataFileError, match=r"clash.yaml:3: tag 'decades:1960s' is already defined at .*decades.yaml:\d+"):
        TagLibrary.default([path])


def test_a_file_with_a_clash_adds_none_of_its_tags(write):
    """So the user can fix the file and add it again to the same library."""
    library = TagLibrary.default()
    text = """
        category: decades
        tags:
          - id: 1890s
            label: 1890s
            prompt: 1890s
            description: New.
          - id: {second}
            label: Again
            prompt: again
            description: Clashes or not.
    """
    with pytest.raises(DataFileError, match="already defined"):
        library.add_path(write("mine.yaml", text.format(second="1960s")))
    assert "decades:1890s" not in library
    library.add_path(write("mine.yaml", text.format(second="1960s-again")))
    assert "decades:1890s" in library and "decades:1960s-again" in library


def test_values_keep_the_text_as_written(write):
    """YAML 1.1 would turn `on` into True and 0.50 into 0.5; a fragment must arrive as typed."""
    library = TagLibrary.from_path(write("odd.yaml", """
        category: odd
        tags:
          - id: switch
            label: NO
            prompt: on
            description: 0.50
    """))
    tag = library.get("odd:switch")
    assert (tag.label, tag.prompt, tag.description) == ("NO", "on", "0.50")


def test_search_finds_by_label_and_description(library):
    assert any(t.ref == "film:kodak-portra-400" for t in library.search("portra"))
    decades = library.search("", "decades")
    assert len(decades) == len(library.categories["decades"]) and all(t.category == "decades" for t in decades)


def test_line_numbers_point_at_the_offending_tag(write):
    path = write("bad.yaml", """
        category: bad
        tags:
          - id: ok
            label: OK
            prompt: fine
            description: Fine.
          - id: broken
            label: Broken
            description: No prompt here.
    """)
    with pytest.raises(DataFileError) as err:
        read_tag_file(path)
    assert err.value.line == 7 and "missing 'prompt'" in str(err.value)
    assert re.match(rf"{re.escape(str(path))}:7: ", str(err.value))
