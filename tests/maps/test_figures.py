"""Plotly figures: one WebGL trace for the points, links as one line trace, escaped hover text,
and a standalone HTML export in which a hostile prompt stays text."""

import re

import numpy as np
import pytest
from map_helpers import generated

from workbench.maps.figures import LINKS_TRACE, POINTS_TRACE, export_html, map_figure
from workbench.maps.points import points_from_images
from workbench.maps.projection import PCAProjection

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def layout(points):
    return PCAProjection().fit_transform(points.vectors)


def test_one_points_trace_with_ids_colours_and_symbols(points, layout):
    fig = map_figure(points, layout, "modifier")
    trace = fig.data[POINTS_TRACE]
    assert trace.type == "scattergl" and len(trace.x) == len(points)
    assert list(trace.customdata) == points.ids
    assert len(trace.marker.color) == len(points) and len(set(trace.marker.color)) == 3
    assert {s for s, p in zip(trace.marker.symbol, points.points) if p.kind == "text"} == {"diamond"}
    assert {s for s, p in zip(trace.marker.symbol, points.points) if p.kind == "image"} == {"circle"}
    # every other trace is either the links or an empty legend key
    assert all(len([x for x in t.x if x is not None]) == 0 for t in fig.data[POINTS_TRACE + 1:])
    assert [t.name for t in fig.data[POINTS_TRACE + 1:]] == ["◆ prompt / ● image", "1960s", "octane-render", "(none)"]
    assert fig.layout.legend.title.text == "colour: modifier"


def test_past_the_legend_every_value_is_one_grey_and_no_colour_is_shared():
    """With 45 seeds the palette wrapped: seeds shared colours, and values past the legend had
    colours the legend did not name."""
    from workbench.maps.figures import MAX_LEGEND, NONE_COLOUR, OTHERS_COLOUR, colour_map, legend_traces

    values = [str(s) for s in range(45)] + ["(none)"]
    mapping = colour_map(values)
    named = {v: c for v, c in mapping.items() if c not in (OTHERS_COLOUR, NONE_COLOUR)}
    assert len(named) == MAX_LEGEND and len(set(named.values())) == MAX_LEGEND
    assert sum(c == OTHERS_COLOUR for c in mapping.values()) == 45 - MAX_LEGEND
    legend = {t.name: t.marker.color for t in legend_traces(mapping, "seed", 2)[1:]}
    assert legend.pop(f"… {45 - MAX_LEGEND} more") == OTHERS_COLOUR and legend.pop("(none)") == NONE_COLOUR
    assert legend == named  # every colour on the map is named once in the legend


def test_links_are_one_line_trace_from_each_prompt_to_its_images(points, layout):
    links = map_figure(points, layout).data[LINKS_TRACE]
    assert links.mode == "lines" and len(links.x) == 3 * 9
    assert all(x is None for x in links.x[2::3])


def test_three_d_map(points):
    fig = map_figure(points, PCAProjection(3).fit_transform(points.vectors), "seed")
    assert fig.data[POINTS_TRACE].type == "scatter3d" and len(fig.data[POINTS_TRACE].z) == len(points)


def test_layout_must_match_the_points(points):
    with pytest.raises(ValueError, match=r"the layout must have one 2-D or 3-D position per point \(12\), "
                                         r"got shape \(3, 2\)"):
        map_figure(points, np.zeros((3, 2)))


def test_hostile_prompt_stays_text_in_hover_and_html_export(fake_clip, tmp_path):
    items = [generated(HOSTILE, s, (("render_engines", "<b>octane</b>"),)) for s in range(3)]
    points = points_from_images(items, fake_clip)
    fig = map_figure(points, PCAProjection().fit_transform(points.vectors), title=HOSTILE)
    hover = fig.data[POINTS_TRACE].hovertext
    assert all("&lt;img src=x onerror=alert(1)&gt;" in h and HOSTILE not in h for h in hover)
    assert fig.layout.title.text == "&lt;img src=x onerror=alert(1)&gt;"
    assert [t.name for t in fig.data if t.name and "octane" in t.name] == ["&lt;b&gt;octane&lt;/b&gt;"]
    path = export_html(fig, tmp_path / "map.html")
    text = path.read_text(encoding="utf-8")
    # plotly's JSON writes "<" as \u003c whatever we do, so a raw prompt would appear as \u003cimg: the export
    # must hold our escaped form and never that (plotly.js renders "<b>" in hover text and titles)
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "\\u003cimg" not in text
    assert "\\u003cb\\u003eoctane" not in text
    assert not re.search(r"<script[^>]*src=[\"']https?:", text), "no script from the network: it opens offline"
    assert len(text) > 1_000_000  # plotly.js itself is inline


def test_export_needs_an_html_name(points, layout, tmp_path):
    with pytest.raises(ValueError, match=r"give a file name ending in .html, not 'map.png'"):
        export_html(map_figure(points, layout), tmp_path / "map.png")
    (tmp_path / "taken.html").mkdir()
    with pytest.raises(IsADirectoryError, match=r"taken.html is a folder; give the map a file name inside it"):
        export_html(map_figure(points, layout), tmp_path / "taken.html")
