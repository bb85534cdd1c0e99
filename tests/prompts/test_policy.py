"""Policy: opted-out artists and blocked keywords are refused however they are written."""

import pytest

from workbench.prompts import Policy, PolicyRefusal, compose
from workbench.prompts.policy import normalise

EVASIONS = [
    "a castle by Greg Rutkowski",
    "a castle by greg rutkowski",
    "a castle, in the style of GREG RUTKOWSKI",
    "a castle by Grég Rutköwski",          # accents
    "a castle by greg    rutkowski",       # extra spaces
    "a castle by greg-rutkowski!",         # punctuation
    "a castle by gregrutkowski",           # squeezed together
    "a castle, style of rutkowski",        # alias
    "a castle by greg rutkowsky",          # known misspelling
    "A CASTLE BY GREG\nRUTKOWSKI",          # line break
    "a castle by Grеg Rutkоwski",          # Cyrillic е and о drawn like Latin letters
    "a castle by Greg Rutкoԝskı",          # Cyrillic к and ԝ, Latin dotless ı
]


@pytest.mark.parametrize("text", EVASIONS)
def test_opted_out_artist_is_refused_with_name_and_source(text):
    with pytest.raises(PolicyRefusal) as err:
        compose(text)
    message = str(err.value)
    assert "Greg Rutkowski" in message and "technologyreview.com" in message


def test_every_shipped_opt_out_has_a_source_and_date(policy):
    assert policy.opt_outs
    for entry in policy.opt_outs:
        assert entry.source.startswith(("http://", "https://")) or len(entry.source) > 10
        assert len(entry.date) == 10 and entry.date[4] == "-"


def test_clean_prompts_pass(policy):
    assert policy.check("a lighthouse by claude monet, oil painting") == []
    assert policy.check("greg's rut, a kowski-free day") == []  # no whole-word match
    # a long name run together matches only whole words: not the start of a longer name
    assert policy.check("a portrait of Gerald Bromley, oil painting") == []
    assert policy.check("by karla ortizano") == []
    assert [f.matched for f in policy.check("by geraldbrom")] == ["Gerald Brom"]
    assert policy.check("Al Gore at a podium in a Gore-Tex jacket") == []  # the keyword's `unless` phrases
    assert [f.matched for f in policy.check("Al Gore on a battlefield covered in gore")] == ["gore"]


@pytest.mark.parametrize("text", ["lolicon art", "a shotacon drawing", "a raped woman", "a nudified photo",
                                  "a deepfake photo of a politician"])
def test_common_forms_of_blocked_words_are_refused(policy, text):
    assert [f.kind for f in policy.check(text)] == ["blocked"]


@pytest.mark.parametrize("text", ["a Gore Verbinski film still", "Gore Vidal at his desk", "portrait of Shōta Aizawa"])
def test_names_that_hold_a_blocked_word_pass(policy, text):
    assert policy.check(text) == []


def test_a_keyword_of_punctuation_alone_is_refused_at_load(write):
    from workbench.datafile import DataFileError

    path = write("b.yaml", """
        kind: blocklist
        entries:
          - keyword: "!!!"
            reason: never matches
        """)
    with pytest.raises(DataFileError, match=r"b.yaml:3: a keyword '!!!' has no letters or digits, so it would never "
                                            r"match; write the word"):
        Policy().add_path(path)


def test_blocked_keyword_is_refused(policy):
    keyword = policy.blocked[0].keyword
    with pytest.raises(PolicyRefusal, match="is blocked"):
        compose(f"a photo, {keyword.upper()}")


def test_a_tag_that_names_an_opted_out_artist_is_refused_too(write):
    from workbench.prompts import TagLibrary

    lib = TagLibrary.from_path(write("a.yaml", """
        category: artists_extra
        tags:
          - id: rutkowski
            label: Greg Rutkowski
            prompt: by greg rutkowski
            description: Opted out.
    """))
    with pytest.raises(PolicyRefusal):
        compose("a dragon", ["artists_extra:rutkowski"], library=lib)


def test_organisation_lists_are_added_from_files(write):
    path = write("org/opt_out.yaml", """
        kind: opt_out
        entries:
          - name: Jane Example
            aliases: [j. example]
            source: https://example.org/letters/2024-opt-out
            date: 2024-05-01
    """)
    policy = Policy.default([path.parent])
    with pytest.raises(PolicyRefusal, match="Jane Example.*example.org"):
        policy.enforce("portrait in the style of J. Example")


def test_organisation_lists_may_be_yml_files(write):
    path = write("org/opt.yml", """
        kind: opt_out
        entries:
          - name: Jane Example
            source: https://example.org/letters/2024-opt-out
            date: 2024-05-01
    """)
    assert Policy.default([path.parent]).check("by jane example")


def test_warn_mode_never_drops_a_finding_silently():
    policy = Policy.default(mode="warn")
    assert policy.enforce("by greg rutkowski")  # returned, not raised, not dropped


def test_normalise():
    assert normalise("  Grég—RUTKOWSKI!! ") == "greg rutkowski"
