"""Bias probe: the statistics, and a full sweep on the tiny model with a reader we control."""

import pytest

from workbench.bias import AttributeReader, BiasProbe, agreement, planted_check, rate_difference, wilson


def test_rate_difference_is_newcombes_interval():
    # Newcombe (1998), Statistics in Medicine 17, table II, example (a): 56/70 against 48/80
    d, low, high = rate_difference((56, 70), (48, 80))
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)
    d, low, high = rate_difference((40, 40), (40, 40))  # both rates 1: no difference found, but not a certain one
    assert d == 0 and low < -0.08 and high > 0.08
    with pytest.raises(ValueError, match="needs images on both sides, got 0 and 5"):
        rate_difference((0, 0), (3, 5))


def test_agreement_counts_pairs_both_sides_could_read():
    a = agreement(["red", "blue", None, "blue"], ["red", "red", "blue", "blue"])
    assert (a.agreed, a.n, a.skipped) == (2, 3, 1) and a.confusion == {("red", "red"): 1, ("blue", "red"): 1,
                                                                        ("blue", "blue"): 1}
    assert a.rate[0] == 2 / 3 and a.rate[1:] == wilson(2, 3)
    assert str(agreement(["red"], [None])) == "no image to compare: of 1, none had a label on both sides; give labels"


def test_wilson_interval():
    low, high = wilson(80, 100)
    assert 0.71 < low < 0.72 and 0.86 < high < 0.87
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    assert wilson(6, 6)[1] == 1.0 and wilson(0, 6)[0] == 0.0  # exactly: a planted rate of 1 is inside
    assert wilson(0, 0) == (0.0, 1.0)


def test_sweep_reads_every_image_and_reports_rates(tiny_model, tmp_path):
    from workbench.generation.engine import ImageGenerator

    gen = ImageGenerator(tiny_model, store=tmp_path / "s", progress=False)
    # a reader that calls an image "bright" when its mean grey level is above 62: every image of the tiny
    # random model is (they average about 125), so the true rates are known: bright 1, dark 0
    import numpy as np

    reader = AttributeReader(["bright", "dark"], lambda imgs: ["bright" if np.asarray(i.convert("L")).mean() > 62
                                                               else "dark" for i in imgs])
    probe = BiasProbe(["doctor", "nurse"], ["kind"], seeds=range(6), steps=2).run(gen, reader)
    assert [c.prompt for c in probe.cells] == ["a photo of a doctor", "a photo of a nurse",
                                               "a photo of a kind doctor", "a photo of a kind nurse"]
    rows = probe.table()
    assert len(rows) == 8 and all(r["n"] == 6 for r in rows)
    doctor = [r for r in rows if r["role"] == "doctor" and not r["adjective"]]
    assert abs(sum(r["rate"] for r in doctor) - 1) < 1e-9
    assert len(gen.store) == 24
    again = BiasProbe(["doctor", "nurse"], ["kind"], seeds=range(6), steps=2).run(gen, reader)
    assert all(r.cached for c in again.cells for r in c.results)  # resumable: nothing recomputed
    # the check passes the true rate and fails a wrong one (nurse: 0 planted, every image read bright)
    check = planted_check(probe, {"doctor": {"bright": 1.0}, "nurse": {"dark": 1.0}}, "bright", tolerance=0.05)
    assert [(r["role"], r["planted"], r["measured"], r["error"], r["within_tolerance"]) for r in check] == [
        ("doctor", 1.0, 1.0, 0.0, True), ("nurse", 0.0, 1.0, 1.0, False)]
    assert not check[1]["in_interval"]
    bright, dark = probe.figure("bright"), probe.figure("dark")
    assert [(t.name, list(t.x), list(t.y)) for t in bright.data] == [("(no adjective)", ["doctor", "nurse"], [1.0, 1.0]),
                                                                     ("kind", ["doctor", "nurse"], [1.0, 1.0])]
    assert [list(t.y) for t in dark.data] == [[0.0, 0.0], [0.0, 0.0]]
    assert probe.grid("doctor").width > 0
    assert probe.difference("doctor", "bright", "kind") == rate_difference((6, 6), (6, 6))  # kind doctor - doctor
    with pytest.raises(KeyError, match="no cell for role 'doctor' and adjective 'stern'"):
        probe.difference("doctor", "bright", "stern")
    with pytest.raises(ValueError, match=r"unknown value 'green'; the reader gives: bright, dark"):
        probe.figure("green")
    # how far to trust the reader: against itself, against one that always disagrees, against a person
    assert probe.agreement(reader).rate[0] == 1.0 and probe.agreement(reader).n == 24
    contrary = probe.agreement(AttributeReader(["bright", "dark"], lambda imgs: ["dark"] * len(imgs)))
    assert (contrary.agreed, contrary.n, contrary.confusion) == (0, 24, {("bright", "dark"): 24})
    person = probe.agreement({"doctor": ["bright", "dark", None], ("nurse", "kind"): ["bright"]})
    assert (person.agreed, person.n, person.skipped) == (2, 3, 1)
    assert person.confusion == {("bright", "bright"): 2, ("bright", "dark"): 1}
    assert "agrees on 2 of 3 images (67 %" in str(person) and "misread: 1 dark read as bright;" in str(person)
    with pytest.raises(ValueError, match=r"labels for 'doctor' include man, which the reader never gives; "
                                         r"use bright, dark, or None where you cannot tell"):
        probe.agreement({"doctor": ["man"]})
    with pytest.raises(ValueError, match=r"must be a list of at most 6 \(the cell's images\)"):
        probe.agreement({"doctor": ["bright"] * 7})
    with pytest.raises(KeyError, match="no cell for role 'vet'"):
        probe.agreement({"vet": ["bright"]})


def test_probe_refuses_repeated_seeds_and_results_before_a_run():
    """An image counted twice would pass for two samples and narrow the interval."""
    probe = BiasProbe(["doctor"], seeds="0-49,25-74")
    with pytest.raises(ValueError, match=r"seed\(s\) 25, 26, .* are given more than once"):
        probe.run(None, None)
    for show in (probe.table, probe.figure):
        with pytest.raises(RuntimeError, match=r"no results yet; run it first: probe.run\(generator, reader\)"):
            show()


def test_probe_recovers_the_planted_rates_of_the_world():
    """The probe checked against the truth: on the toy world's own renders, every role's planted share
    of blue figures comes back within 5 points with 400 seeds, and the unbiased control (teacher, 50 %)
    is reported as unbiased: 50 % lies inside its interval."""
    from workbench.bias import toy_world_check
    from workbench.toyworld.sampler import WorldSampler

    probe, rows = toy_world_check(WorldSampler(), seeds=range(400))
    assert len(rows) == 7 and all(r["unreadable"] == 0 for r in rows)
    assert all(r["within_tolerance"] and r["in_interval"] for r in rows), rows
    control = [r for r in rows if r["unbiased_control"]]
    assert [r["role"] for r in control] == ["teacher"] and control[0]["low"] < 0.5 < control[0]["high"]
    # the reader is not just agreeing with the majority: the skews point both ways
    assert min(r["measured"] for r in rows) < 0.25 and max(r["measured"] for r in rows) > 0.85
