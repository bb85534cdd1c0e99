"""The evaluation's linear probe: it reports what frozen features hold, and no more."""

import numpy as np
import pytest

from workbench.toyworld.vocabulary import Vocabulary
from workbench.toyworld.zero_shot import category_figures, linear_probe, modifier_hits


def _features(rng, labels, signal):
    """Features whose first 7 dims carry a one-hot of the label times `signal`, plus noise."""
    x = rng.normal(size=(len(labels), 32))
    x[np.arange(len(labels)), labels] += signal
    return x


def test_probe_reads_an_attribute_the_features_hold():
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 7, 700), rng.integers(0, 7, 300)
    acc = linear_probe(_features(rng, y_train, 6.0), y_train, _features(rng, y_test, 6.0), y_test)
    assert acc >= 0.95


def test_probe_stays_near_chance_on_features_without_the_attribute():
    rng = np.random.default_rng(1)
    y_train, y_test = rng.integers(0, 7, 700), rng.integers(0, 7, 300)
    acc = linear_probe(_features(rng, y_train, 0.0), y_train, _features(rng, y_test, 0.0), y_test)
    assert acc <= 0.30  # chance is 1/7


class _Picks:
    """A stand-in CLIP that picks the candidate naming most of `phrases` (the first of a tie)."""

    def __init__(self, *phrases):
        self.phrases, self.seen = phrases, []

    def choose(self, feature, candidates):
        self.seen.append(candidates)
        scores = [sum(p in c for p in self.phrases) for c in candidates]
        return scores.index(max(scores))


def test_each_modifier_is_tested_against_its_category_with_the_others_kept():
    vocab = Vocabulary.load()
    zs = _Picks("octane render", "1980s")  # right about the engine, wrong about the decade
    hits = modifier_hits(zs, vocab, None, "red", "circle", "white",
                         ["render_engines:octane-render", "decades:1900s"])
    assert hits == [("render_engines", True, False), ("decades", False, False)]
    engines, decades = zs.seen
    assert len(engines) == 4 and all("1900s" in c for c in engines)       # 3 engines or none, 1900s kept
    assert len(decades) == 4 and all("octane render" in c for c in decades)
    assert modifier_hits(zs, vocab, None, "red", "circle", "white", ["render_engines:octane-render"]) == \
        [("render_engines", True, True)]


def test_category_figures_split_the_modifiers_that_were_alone():
    hits = [("film", True, True), ("film", False, False), ("film", True, False), ("decades", False, True)]
    f = category_figures(hits, ["film", "decades", "artists"])
    assert f["film"] == {"accuracy": 0.6667, "n": 3, "chance": 0.25, "alone": 1.0, "alone_n": 1}
    assert f["decades"]["accuracy"] == 0.0 and f["decades"]["alone_n"] == 1
    assert f["artists"]["accuracy"] is None and f["artists"]["n"] == 0


def test_seed_pairs_count_a_visible_patch_not_a_faint_change():
    from workbench.toyworld.evaluate import seed_pairs

    base = np.full((64, 64, 3), 128, np.uint8)
    patch = base.copy()
    patch[:9, :10] = 170              # 90 pixels (2.2 %) change by 42 levels: visible
    small = base.copy()
    small[:6, :6] = 255               # 36 pixels (0.9 %): too few
    faint = base + 20                 # every pixel by 20 levels: a faint tint; but a mean of 20
    groups = np.stack([np.stack([base, patch, small, faint, base])])
    f = seed_pairs(groups)
    assert f["pairs"] == 4
    assert f["share_visibly_different"] == 0.25                    # only the patch
    assert f["share_mean_over_8_levels"] == 0.25                   # only the tint, by the old test


def test_miss_sheet_keeps_only_misses_and_counts_them_all(tmp_path):
    from PIL import Image

    from workbench.toyworld import misses

    sheet = misses.MissSheet()
    red, blue = np.full((64, 64, 3), (200, 30, 30), np.uint8), np.full((64, 64, 3), (30, 30, 200), np.uint8)
    asked = {"colour": "red", "shape": "circle", "background": "white"}
    assert not sheet.add(red, red, asked, dict(asked))
    assert sheet.add(blue, red, asked, {**asked, "colour": "blue", "shape": None}, "a red circle on white")
    for _ in range(misses.MAX_ROWS + 5):
        sheet.add(blue, red, asked, {**asked, "background": "black"})
    assert (sheet.seen, sheet.missed, len(sheet.rows)) == (misses.MAX_ROWS + 7, misses.MAX_ROWS + 6, misses.MAX_ROWS)
    assert sheet.rows[0][2][:2] == ["asked: red circle on white", "read: blue ? on white"]
    path = sheet.save(tmp_path / "misses.png")
    with Image.open(path) as im:  # 56 px of titles, then a row per kept miss: generated, then the world's
        assert im.height == 56 + misses.MAX_ROWS * 132
        assert im.getpixel((60, im.height - 60)) == (30, 30, 200) and im.getpixel((190, im.height - 60)) == (200, 30, 30)
    with pytest.raises(FileExistsError, match="already exists"):
        sheet.save(path)
    empty = misses.MissSheet()
    empty.add(red, red, asked, dict(asked))
    assert empty.image().height == 56  # its title says every image was read as asked
