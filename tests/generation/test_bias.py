"""Bias probe: the statistics, and a full sweep on the tiny model with a reader we control."""

import pytest

from workbench.bias import AttributeReader, BiasProbe, planted_check, wilson


def test_wilson_interval():
    low, high = wilson(80, 100)
    assert 0.71 < low < 0.72 and 0.86 < high < 0.87
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_sweep_reads_every_image_and_reports_rates(tiny_model, tmp_path):
    from workbench.generation.engine import ImageGenerator

    gen = ImageGenerator(tiny_model, store=tmp_path / "s", progress=False)
    # a reader that calls an image "bright" when its mean is above the median of all: deterministic, known
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
    check = planted_check(probe, {"doctor": {"bright": 0.5}}, "bright", tolerance=1.0)
    assert check[0]["role"] == "doctor" and check[0]["within_tolerance"]
    fig = probe.figure("bright")
    assert fig.data[0].y is not None and probe.grid("doctor").width > 0
    with pytest.raises(ValueError, match=r"unknown value 'green'; the reader gives: bright, dark"):
        probe.figure("green")


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
