"""Plotly figures of a latent map, and a standalone HTML export that works offline.

    fig = map_figure(points, layout, colour_by="modifier")   # a go.Figure
    export_html(fig, "map.html")                              # plotly.js inline, no network needed

The figure follows what plotly's trackers teach (plotly#3976, #1288): ONE WebGL trace for
all points, with point ids in `customdata`, colours as an array and prompts vs images as
marker symbols, so click/hover/selection indices map straight back to points. Lines from
each prompt to its images are one more trace, drawn underneath. The legend is made of
empty marker-only traces (one per colour value), so it never splits the points trace.

Every string a user typed (prompts, modifier names, model names, titles) goes through
`html.escape` before it reaches plotly, whose hover labels and titles render a subset
of HTML: a prompt `<img src=x onerror=alert(1)>` shows as text, never as markup.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from workbench.maps.points import NONE, MapPoints

LINKS_TRACE, POINTS_TRACE = 0, 1  # trace indices; legend keys follow
SYMBOLS = {"text": "diamond", "image": "circle"}
SIZES = {"text": 13, "image": 8}
NONE_COLOUR = "#b0b0b0"
OTHERS_COLOUR = "#dcdcdc"  # values past the legend's MAX_LEGEND, all alike
MAX_LEGEND = 24  # colour values listed in the legend; the rest are summarised in one entry
MAX_HOVER_PROMPT = 120  # characters of a prompt shown on hover


def palette() -> list[str]:
    import plotly.colors as pc

    return pc.qualitative.Plotly + pc.qualitative.D3[1::2] + pc.qualitative.Dark24


def colour_map(values) -> dict[str, str]:
    """value -> colour, most frequent values first; '(none)' is grey. Past the MAX_LEGEND most
    frequent, values share OTHERS_COLOUR, the colour of the legend's "… N more": a colour for
    each would repeat the palette and name no value in the legend."""
    names, counts = np.unique(np.asarray(values, dtype=object).astype(str), return_counts=True)
    ordered = [n for _, n in sorted(zip(-counts, names)) if n != NONE]
    colours = palette()  # longer than MAX_LEGEND, so the values listed never share a colour
    mapping = {name: colours[i] if i < MAX_LEGEND else OTHERS_COLOUR for i, name in enumerate(ordered)}
    if NONE in names:
        mapping[NONE] = NONE_COLOUR
    return mapping


def escape(text, limit: int | None = None) -> str:
    text = str(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=True)


def hover_text(point) -> str:
    """The escaped hover label of one point."""
    f = point.fields
    prompt = escape(point.prompt or "(no prompt)", MAX_HOVER_PROMPT)
    if point.kind == "text":
        return f"<b>{prompt}</b><br>prompt · {len(point.links)} image(s) · {escape(f.get('modifier', NONE))}"
    return (f"<b>{prompt}</b><br>image · seed {escape(f.get('seed', '?'))} · {escape(f.get('modifier', NONE))}"
            f"<br>{escape(f.get('model', '?'))} ({escape(f.get('source', '?'))})")


def _trace_class(dims: int):
    import plotly.graph_objects as go

    return go.Scattergl if dims == 2 else go.Scatter3d


def _xyz(layout: np.ndarray) -> dict:
    axes = {"x": layout[:, 0], "y": layout[:, 1]}
    if layout.shape[1] == 3:
        axes["z"] = layout[:, 2]
    return axes


def link_coordinates(points: MapPoints, layout: np.ndarray) -> dict:
    """x/y(/z) arrays of all prompt -> image segments, separated by None (one line trace)."""
    pairs = points.links()
    out = {}
    for axis, column in zip("xyz", range(layout.shape[1])):
        seq = np.full(len(pairs) * 3, None, dtype=object)
        if pairs:
            a, b = np.array(pairs).T
            seq[0::3], seq[1::3] = layout[a, column], layout[b, column]
        out[axis] = seq
    return out


def points_style(points: MapPoints, colour_by: str) -> tuple[list[str], dict[str, str]]:
    """(colour per point, value -> colour)."""
    values = points.values(colour_by)
    mapping = colour_map(values)
    return [mapping[v] for v in values], mapping


def legend_traces(mapping: dict[str, str], colour_by: str, dims: int) -> list:
    """Empty traces that only draw the legend: one per colour value, plus the two marker shapes."""
    trace = _trace_class(dims)
    empty = {"x": [None], "y": [None], **({"z": [None]} if dims == 3 else {})}
    traces = [trace(**empty, mode="markers", name="◆ prompt / ● image", hoverinfo="skip", showlegend=True,
                    marker={"color": "rgba(0,0,0,0)", "size": 1}, legendgroup="shapes")]
    others = sum(colour == OTHERS_COLOUR for colour in mapping.values())
    for value, colour in mapping.items():
        if colour != OTHERS_COLOUR:
            traces.append(trace(**empty, mode="markers", name=escape(value, 48), hoverinfo="skip", showlegend=True,
                                marker={"color": colour, "size": 10}, legendgroup=f"{colour_by}"))
    if others:
        traces.append(trace(**empty, mode="markers", name=f"… {others} more", hoverinfo="skip",
                            showlegend=True, marker={"color": OTHERS_COLOUR, "size": 10}))
    return traces


def map_figure(points: MapPoints, layout, colour_by: str = "modifier", *, title: str = "",
               show_links: bool = True, axis_titles: tuple[str, ...] = ()):
    """A plotly figure of the map: links (trace 0), points (trace 1), legend keys (the rest)."""
    import plotly.graph_objects as go

    layout = np.asarray(layout, np.float32)
    if layout.ndim != 2 or layout.shape[0] != len(points) or layout.shape[1] not in (2, 3):
        raise ValueError(f"the layout must have one 2-D or 3-D position per point ({len(points)}), "
                         f"got shape {layout.shape}")
    dims = layout.shape[1]
    trace = _trace_class(dims)
    colours, mapping = points_style(points, colour_by)
    kinds = [p.kind for p in points.points]
    links = trace(**link_coordinates(points, layout), mode="lines", hoverinfo="skip", showlegend=False,
                  line={"color": "rgba(120,120,120,0.25)", "width": 1}, name="prompt → image",
                  visible=bool(show_links))
    marker = {"color": colours, "symbol": [SYMBOLS[k] for k in kinds], "size": [SIZES[k] for k in kinds],
              "line": {"width": [1 if k == "text" else 0 for k in kinds], "color": "#333"}}
    if dims == 3:  # Scatter3d takes one outline width
        marker["line"] = {"width": 0}
    scatter = trace(**_xyz(layout), mode="markers", marker=marker, customdata=points.ids,
                    hovertext=[hover_text(p) for p in points.points], hoverinfo="text", showlegend=False,
                    name="points")
    fig = go.Figure([links, scatter, *legend_traces(mapping, colour_by, dims)])
    names = [escape(a) for a in axis_titles] + [""] * 3
    fig.update_layout(
        title={"text": escape(title)} if title else None, template="plotly_white", height=560,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}, uirevision="latent-map",
        legend={"title": {"text": f"colour: {escape(colour_by)}"}, "itemclick": False, "itemdoubleclick": False},
        hoverlabel={"align": "left"},
    )
    if dims == 2:
        fig.update_layout(dragmode="lasso", xaxis={"title": names[0], "zeroline": False, "showticklabels": bool(names[0])},
                          yaxis={"title": names[1], "zeroline": False, "showticklabels": bool(names[1])})
    else:
        fig.update_layout(scene={"xaxis": {"title": names[0]}, "yaxis": {"title": names[1]},
                                 "zaxis": {"title": names[2]}})
    return fig


def export_html(figure, path) -> Path:
    """Write the figure as one standalone HTML file (plotly.js inline: it opens offline).

    The figures built here escape user text already; plotly also writes `<` inside its JSON
    as `\\u003c`, so no string can close the script tag.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"the map is written as HTML; give a file name ending in .html, not {path.name!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.write_html(str(path), include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    except IsADirectoryError:
        raise IsADirectoryError(f"{path} is a folder; give the map a file name inside it, e.g. "
                                f"{path / 'map.html'}") from None
    except OSError as err:
        raise PermissionError(f"cannot write the map to {path} ({err.strerror or err}); check that the disk has "
                              "room and choose a folder you can write to") from None
    return path
