"""Templates: dynamicprompts syntax with tag categories as wildcards."""

import warnings

import pytest

from workbench.prompts.templates import TemplateExpander


@pytest.fixture(scope="module")
def expander():
    return TemplateExpander()


def test_categories_are_wildcards(expander, library):
    assert set(library.categories) <= set(expander.wildcards())
    prompts = expander.expand("a house, __decades__")
    assert prompts[0] == "a house, 1900s" and len(prompts) == len(library.categories["decades"])


def test_combinatorial_respects_the_cap_and_is_exhaustive_below_it(expander):
    assert expander.expand("{a|b|c} {x|y}") == ["a x", "a y", "b x", "b y", "c x", "c y"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(expander.expand("__decades__ __lighting__", n=7)) == 7  # asked for 7: no warning
    many = "{a|b|c|d|e|f|g|h|i|j} {a|b|c|d|e|f|g|h|i|j} {a|b|c|d|e|f|g|h|i|j} {x|y}"  # 2,000 prompts
    with pytest.warns(UserWarning, match=r"the template makes more than 1000 prompts; these are the first 1000"):
        assert len(expander.expand(many)) == 1000  # the default cap: a cut list is said to be cut
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(expander.expand(many[:-6])) == 1000  # exactly the default cap: nothing was cut


def test_random_expansion_is_seeded(expander):
    first = expander.expand("a {red|green|blue} __mediums__", "random", n=20, seed=3)
    assert first == expander.expand("a {red|green|blue} __mediums__", "random", n=20, seed=3)
    assert first != expander.expand("a {red|green|blue} __mediums__", "random", n=20, seed=4)


def test_several_picks_and_weights(expander):
    two = expander.expand("{2$$ and $$cat|dog|fox}")
    assert "cat and dog" in two and all(" and " in p for p in two)
    weighted = expander.expand("{9::red|1::blue} ball", "random", n=400, seed=0)
    assert 300 < weighted.count("red ball") < 400


def test_wildcard_files_from_a_user_folder(tmp_path, library):
    (tmp_path / "animals.txt").write_text("# comment\nfox\nowl\n")
    assert TemplateExpander(library, [tmp_path]).expand("a __animals__") == ["a fox", "a owl"]


def test_unknown_wildcard_is_an_error_not_literal_text(expander):
    # dynamicprompts' sampler prefixes and parameters name a known wildcard too
    assert len(expander.expand("a __~decades__ house", "random", 2)) == 2 and expander.expand("a __@decades__ house", n=2)
    with pytest.raises(ValueError, match="unknown wildcard: __decadez__"):
        expander.expand("a house, __decadez__")


def test_a_comment_line_is_a_comment_and_leaves_no_blank_line():
    assert TemplateExpander().expand("# colours to compare\na {red|blue} house") == ["a red house", "a blue house"]


def test_a_template_of_comments_alone_is_refused_and_comment_lines_leave_no_gap():
    with pytest.raises(ValueError, match=r"the template is all comments \(a line starting with '#' is one\)"):
        TemplateExpander().expand("#1 best castle")
    assert TemplateExpander().expand("a castle\n# note\nat dusk") == ["a castle\nat dusk"]


def test_a_hash_inside_a_wildcard_value_is_refused_with_its_file_and_line(tmp_path):
    from workbench.datafile import DataFileError

    (tmp_path / "hexcol.txt").write_text("blue\nred #ff0000 glossy\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"hexcol.txt:2: '#' here starts a comment and would drop '#ff0000 glossy'"):
        TemplateExpander(wildcard_dirs=[tmp_path])
