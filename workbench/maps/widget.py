"""The LatentMap widget: prompts and images on one plotly map, with a side panel and a gallery.

    from workbench.widgets import LatentMap
    m = LatentMap.from_store("runs/demo/store")     # PCA at once, UMAP replaces it when ready
    m                                                # shows the widget in JupyterLab
    m.state.focused                                  # the clicked point: prompt, record, image

A thin view over `LatentMapState`: plotly's FigureWidget (an anywidget, so anywidget must be
installed) sends clicks, hovers and selections into the state; the side panel and the
gallery re-render from the state. Plotly hover labels cannot show images (plotly.js#1323),
so the image of the hovered or clicked point is shown in the panel instead.

CSS classes for browser tests: `wb-map`, `wb-map-panel`, `wb-map-panel-image`,
`wb-map-panel-info`, `wb-map-gallery`, `wb-map-status`, `wb-map-gap`.
"""

from __future__ import annotations

import ipywidgets as w

from workbench.maps.figures import (
    POINTS_TRACE,
    legend_traces,
    link_coordinates,
    points_style,
)
from workbench.maps.points import MapPoints, points_from_store
from workbench.maps.state import PROJECTIONS, LatentMapState
from workbench.widgets.view import LazyView

PANEL_IMAGE_PX = 224  # side-panel image width; small model outputs are scaled up, pixels kept sharp
THUMB_PX = 72


class LatentMap(LazyView):
    """Prompts and images on one map, in a notebook. State lives in `.state`."""

    def __init__(self, points: MapPoints, **state_kwargs):
        try:
            import anywidget  # noqa: F401 - plotly's FigureWidget needs it (plotly >= 6)
        except ImportError:
            raise ImportError("the LatentMap widget needs anywidget (plotly's FigureWidget runs on it); "
                              "install it with `pip install anywidget`, or export the map with "
                              "workbench.maps.figures.export_html") from None
        if state_kwargs.get("projection", "umap") == "pca":
            from workbench.maps.warmup import warm_up

            # compile UMAP's kernels off the UI thread, in case the user switches to it
            warm_up(random_state=state_kwargs.get("random_state"))
        self.state = LatentMapState(points, **state_kwargs)
        self._figure = None
        self._shown_legend: tuple = (None, None)
        self._shown_layout = self._shown_panel = None
        self._controls: dict = {}
        self._shown_selection: list[str] = []

    @classmethod
    def from_store(cls, store, clip=None, run: int | None = None, **state_kwargs) -> LatentMap:
        """A map of every image in a run store (or one run), with a point per distinct prompt."""
        return cls(points_from_store(store, clip, run=run), **state_kwargs)

    @property
    def figure(self):
        """The plotly FigureWidget (built with the widget)."""
        self.widget  # noqa: B018  (builds the view, and the figure with it)
        return self._figure

    # --- view ---------------------------------------------------------------------------------------
    def _build(self) -> w.Widget:
        import plotly.graph_objects as go

        state = self.state
        self._figure = go.FigureWidget(state.figure())
        self._shown_legend = (state.colour_by, points_style(state.points, state.colour_by)[1])
        self._shown_layout = state.layout  # the figure was built from it
        points = self._figure.data[POINTS_TRACE]
        points.on_click(self._on_click)
        points.on_hover(self._on_hover)
        points.on_selection(self._on_selection)

        projection = w.ToggleButtons(options=[(p.upper(), p) for p in PROJECTIONS], value=state.projection,
                                     description="Map")
        colour = w.Dropdown(options=list(state.colour_fields), value=state.colour_by, description="Colour by")
        centred = w.Checkbox(value=state.centred, description="centre modalities (close the modality gap)",
                             indent=False)
        self._controls = {"projection": projection, "colour_by": colour, "centred": centred}
        for name, control in self._controls.items():  # the view writes into the state only what changed
            control.observe(lambda c, name=name: c["new"] != getattr(state, name) and setattr(state, name, c["new"]),
                            names="value")
        self._status = w.HTML()
        self._status.add_class("wb-map-status")
        self._gap = w.HTML(f"<small>{_escape(state.gap_text())}</small>")
        self._gap.add_class("wb-map-gap")

        self._panel_image = w.Image(format="png", layout=w.Layout(width=f"{PANEL_IMAGE_PX}px", display="none"))
        self._panel_image.add_class("wb-map-panel-image")
        self._panel_info = w.HTML("<i>Hover or click a point to see its image, prompt and record.</i>")
        self._panel_info.add_class("wb-map-panel-info")
        panel = w.VBox([self._panel_image, self._panel_info], layout=w.Layout(width=f"{PANEL_IMAGE_PX + 96}px"))
        panel.add_class("wb-map-panel")
        self._gallery = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self._gallery.add_class("wb-map-gallery")
        style = w.HTML("<style>img.wb-map-panel-image, .wb-map-gallery img {image-rendering: pixelated;}</style>")

        state.observe(lambda s: self._render())
        self._render()
        box = w.VBox([style, w.HBox([projection, colour]), w.HBox([centred]), self._gap, self._status,
                      w.HBox([self._figure, panel]), self._gallery])
        box.add_class("wb-map")
        return box

    def _render(self) -> None:
        """Mirror the state; only what changed is sent to the browser (a hover must not resend the map)."""
        state, fig = self.state, self._figure
        if fig is None:
            return
        if (self._shown_layout is not state.layout) or self._shown_legend[0] != state.colour_by:
            self._render_map()
        for name, control in self._controls.items():  # set from code (state.centred = True): show it
            if control.value != getattr(state, name):
                control.value = getattr(state, name)
        badge = "⏳ " if state.busy else ("⚠️ " if state.error else "")
        self._status.value = f"<small>{badge}{_escape(state.status)}</small>"
        if state.panel is not self._shown_panel:
            self._show_panel(state.panel)
        if state.selection != self._shown_selection:
            self._show_gallery()

    def _render_map(self) -> None:
        state, fig = self.state, self._figure
        colours, mapping = points_style(state.points, state.colour_by)
        layout = state.layout
        with fig.batch_update():
            if len(fig.data[POINTS_TRACE].customdata or ()) != len(state.points):  # points were added
                fresh = state.figure()
                for i in (0, POINTS_TRACE):
                    fig.data[i].update({k: v for k, v in fresh.data[i].to_plotly_json().items() if k != "type"})
                self._gap.value = f"<small>{_escape(state.gap_text())}</small>"
            points = fig.data[POINTS_TRACE]
            points.x, points.y = layout[:, 0], layout[:, 1]
            if layout.shape[1] == 3:
                points.z = layout[:, 2]
            points.marker.color = colours
            fig.data[0].update(link_coordinates(state.points, layout))
        if self._shown_legend != (state.colour_by, mapping):
            fig.data = fig.data[:POINTS_TRACE + 1]
            fig.add_traces(legend_traces(mapping, state.colour_by, layout.shape[1]))
            fig.layout.legend.title.text = f"colour: {state.colour_by}"
            self._shown_legend = (state.colour_by, mapping)
        self._shown_layout = layout

    def _show_panel(self, details) -> None:
        self._shown_panel = details
        if details is None:
            return
        png = details.png()
        self._panel_image.value = png
        self._panel_image.layout.display = "" if png else "none"
        self._panel_info.value = details.html()

    def _show_gallery(self) -> None:
        self._shown_selection = list(self.state.selection)
        images = []
        for details in self.state.gallery():
            png = details.png()
            if png:
                thumb = w.Image(value=png, format="png", layout=w.Layout(width=f"{THUMB_PX}px", margin="2px"))
                thumb.add_class("wb-map-gallery-image")
                images.append(thumb)
        self._gallery.children = images

    # --- plotly callbacks (trace, points, input-device state) ---------------------------------------
    def _ids(self, points) -> list[str]:
        ids = self._figure.data[POINTS_TRACE].customdata
        return [ids[i] for i in points.point_inds]

    def _on_click(self, trace, points, _state=None) -> None:
        ids = self._ids(points)
        if ids:
            self.state.click(ids[0])

    def _on_hover(self, trace, points, _state=None) -> None:
        ids = self._ids(points)
        if ids:
            self.state.hover(ids[0])

    def _on_selection(self, trace, points, _state=None) -> None:
        self.state.select(self._ids(points))


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
