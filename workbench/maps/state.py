"""The latent map's state: points, which projection is shown, colours, clicks and selection.

Plain Python with no ipywidgets import: tests drive it directly, and the widget
(`widget.py`) only mirrors it. The map is on screen at once with PCA; when UMAP is
asked for, it is computed in a background thread and replaces PCA when ready, so the
notebook never waits. Every change notifies the observers.

    state = LatentMapState(points, projection="umap")    # PCA now, UMAP when ready
    state.click("image:3f2a...")                          # state.focused: prompt, record, image
    state.colour_by = "seed"; state.centred = True        # the modality-gap toggle
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from workbench.maps.points import COLOUR_FIELDS, MapPoints, check_colour_field, share_image_fields
from workbench.maps.projection import (
    GAP_EXPLANATION,
    PCAProjection,
    UMAPProjection,
    centre_modalities,
    check_embeddings,
    check_umap_settings,
    modality_gap,
    modality_means,
)
from workbench.widgets.view import Observable

PROJECTIONS = ("pca", "umap")
GALLERY_MAX = 24  # images shown for a selection


@dataclass
class PointDetails:
    """What the side panel shows for one point: its prompt, record and image."""

    id: str
    kind: str
    prompt: str
    record: object | None = None
    image: object | None = None  # PIL image (a prompt shows its first image)
    linked: list = field(default_factory=list)

    def png(self) -> bytes:
        from workbench.store.png import png_bytes

        return b"" if self.image is None else png_bytes(self.image.convert("RGB"))

    def html(self) -> str:
        """The panel's text, every user string escaped."""
        e = lambda v: html.escape(str(v), quote=True)
        if self.kind == "text":
            return (f"<div class='wb-map-prompt'><b>prompt</b>: {e(self.prompt)}</div>"
                    f"<div>{len(self.linked)} image(s) made from it</div>")
        rows = [("prompt", self.prompt)]
        if self.record is not None:
            r = self.record.request
            rows += [("negative", r.negative_prompt), ("seed", r.seed), ("steps", r.steps), ("guidance", r.guidance),
                     ("size", f"{r.width}x{r.height}"), ("model", r.model),
                     ("modifiers", ", ".join(f"{c}:{i}" for c, i in r.modifiers)),
                     ("source", self.record.source), ("created", self.record.created), ("key", self.record.key[:16])]
        cells = "".join(f"<tr><th style='text-align:left;padding-right:8px'>{e(k)}</th><td>{e(v)}</td></tr>"
                        for k, v in rows if v not in ("", None))
        return f"<table class='wb-map-record'>{cells}</table>"


class LatentMapState(Observable):
    """Points on a map, the projection shown (PCA at once, UMAP when ready), colours and what was picked."""

    def __init__(self, points: MapPoints, *, projection: str = "umap", colour_by: str = "modifier",
                 centred: bool = False, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                 random_state: int | None = None, background: bool = True, title: str = ""):
        super().__init__()
        # 1. Check inputs
        if not isinstance(points, MapPoints):
            raise TypeError(f"LatentMapState takes MapPoints (see workbench.maps.points), got {type(points).__name__}")
        check_embeddings(points.vectors)  # empty map, one point, NaN embeddings
        if projection not in PROJECTIONS:
            raise ValueError(f"unknown projection {projection!r}; choose one of: {', '.join(PROJECTIONS)}")
        # now, not in the background fit that would only show the error beside a PCA map
        check_umap_settings(n_components, n_neighbors, min_dist, random_state=random_state)
        self.points = points
        self._means = modality_means(points.vectors, points.is_image)  # kept, so added points centre alike
        self._colour_by = check_colour_field(colour_by)
        self._centred = bool(centred)
        self.n_components, self.n_neighbors, self.min_dist = n_components, n_neighbors, min_dist
        self.random_state, self.background, self.title = random_state, background, title
        self._lock = threading.RLock()
        self._layouts: dict[tuple[str, bool], tuple[object, np.ndarray]] = {}  # (projection, centred) -> fit
        self._jobs: dict[tuple[str, bool], threading.Thread] = {}  # background UMAP fits, one per setting
        self._running: set[tuple[str, bool]] = set()  # settings whose fit is not done: `busy` reads this
        self.shown, self.layout, self.status, self.error, self.seconds = "pca", None, "", "", {}
        self.focused: PointDetails | None = None  # the clicked point
        self.hovered: PointDetails | None = None
        self.panel: PointDetails | None = None  # what the side panel shows: the latest hovered or clicked
        self.selection: list[str] = []
        # 2. PCA at once, then the projection asked for
        self._projection = "pca"
        self._show("pca")
        self.projection = projection

    # --- what the user changes ---------------------------------------------------------------------
    @property
    def projection(self) -> str:
        return self._projection

    @projection.setter
    def projection(self, value: str) -> None:
        if value not in PROJECTIONS:
            raise ValueError(f"unknown projection {value!r}; choose one of: {', '.join(PROJECTIONS)}")
        self._projection = value
        self._refresh()

    @property
    def colour_by(self) -> str:
        return self._colour_by

    @colour_by.setter
    def colour_by(self, value: str) -> None:
        self._colour_by = check_colour_field(value)
        self._changed()

    @property
    def centred(self) -> bool:
        return self._centred

    @centred.setter
    def centred(self, value: bool) -> None:
        self._centred = bool(value)
        self._refresh()

    colour_fields = COLOUR_FIELDS

    # --- layouts -----------------------------------------------------------------------------------
    def vectors(self, centred: bool | None = None) -> np.ndarray:
        """The embeddings the map projects: raw, or centred per modality."""
        centred = self._centred if centred is None else centred
        if not centred:
            return self.points.vectors
        return centre_modalities(self.points.vectors, self.points.is_image, self._means)

    def gap_text(self) -> str:
        """The modality-gap line for the toggle: the measured gap, raw and centred, and why."""
        is_image = self.points.is_image
        images, prompts = int(is_image.sum()), int((~is_image).sum())
        raw = modality_gap(self.vectors(False), is_image)
        if min(images, prompts) < 2:  # a lone point is its own mean: centring leaves that kind as it is
            return (f"Modality gap {raw:.2f}. Centring needs two or more prompts and two or more images; this map "
                    f"has {prompts} prompt(s) and {images} image(s), so centring does not close the gap here.")
        centred = modality_gap(self.vectors(True), is_image)
        return f"Modality gap {raw:.2f} raw → {centred:.2f} centred. {GAP_EXPLANATION}"

    def _refresh(self) -> None:
        key = (self._projection, self._centred)
        with self._lock:
            ready = key in self._layouts
        if ready or self._projection == "pca":
            self._show(self._projection)
        elif self.background:
            self._show("pca")  # keep a map on screen while UMAP is computed
            with self._lock:
                running = self._jobs.get(key)
                if running is None or not running.is_alive():  # a fit already under way for this setting serves
                    self._running.add(key)  # before the view hears of it, so it shows the map as busy
                    job = threading.Thread(target=self._compute_umap, args=(key,), name="latent-map-umap", daemon=True)
                    self._jobs[key] = job
                    job.start()
            self.status = "computing the UMAP map… (PCA shown meanwhile)"
            self._changed()
        else:
            self._compute_umap(key)

    def _show(self, projection: str) -> None:
        key = (projection, self._centred)
        if projection == "pca":
            with self._lock:
                if key not in self._layouts:
                    start = time.perf_counter()
                    pca = PCAProjection(self.n_components).fit(self.vectors())
                    self._layouts[key] = (pca, pca.embedding_)
                    self.seconds[key] = time.perf_counter() - start
        with self._lock:
            self.layout = self._layouts[key][1]
        self.shown = projection
        self.status = f"{projection.upper()} map of {len(self.points)} points" + (" (centred)" if self._centred else "")
        self._changed()

    def _compute_umap(self, key: tuple[str, bool]) -> None:
        points = self.points
        n = len(points)
        try:
            if n < 3:
                raise ValueError(f"UMAP needs at least 3 points, the map has {n}; PCA is shown instead")
            start = time.perf_counter()
            umap = UMAPProjection(self.n_components, n_neighbors=min(self.n_neighbors, n - 1), min_dist=self.min_dist,
                                  random_state=self.random_state).fit(self.vectors(key[1]))
            with self._lock:
                if self.points is not points:  # points were added meanwhile: this layout is for the old map
                    self._running.discard(key)
                    return
                self._layouts[key] = (umap, umap.embedding_)
                self.seconds[key] = time.perf_counter() - start
        except Exception as err:  # noqa: BLE001 - shown in the view; the PCA map stays on screen
            self._running.discard(key)
            self.error = str(err)
            self.status = f"UMAP failed: {err}"
            self._changed()
            return
        self._running.discard(key)  # done before the view hears of it: it must not show a fit running
        self.error = ""
        if (self._projection, self._centred) == key:  # still what the user wants
            self._show("umap")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every background UMAP is done (True), or `timeout` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self._jobs.values()):
            job.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.busy

    @property
    def busy(self) -> bool:
        """Whether a UMAP fit is under way (cleared before the map it made is shown)."""
        return bool(self._running)

    # --- adding points -----------------------------------------------------------------------------
    def add(self, new: MapPoints) -> None:
        """Add points to the map without a full refit (placed among their nearest neighbours)."""
        if new.vectors.shape[1] != self.points.vectors.shape[1]:
            raise ValueError(f"the map holds {self.points.vectors.shape[1]}-dimensional embeddings "
                             f"({self.points.model or 'its model'}) but the new points have "
                             f"{new.vectors.shape[1]} ({new.model or 'another model'}); embed them with the same "
                             "ClipEmbedder")
        self.wait()
        fresh = [i for i, p in enumerate(new.points) if p.id not in self.points.index]
        if not fresh:
            return
        check_embeddings(new.vectors[fresh], what="new embeddings", min_points=1)  # before the map changes
        merged = MapPoints([*self.points.points, *(new.points[i] for i in fresh)],
                           np.vstack([self.points.vectors, new.vectors[fresh]]), self.points.model)
        for i in fresh:  # link new images to prompts already on the map, and the other way round
            p = new.points[i]
            for other in merged.points:
                if other.kind != p.kind and other.prompt == p.prompt:
                    for a, b in ((p, other), (other, p)):
                        if b.id not in a.links:
                            a.links.append(b.id)
        share_image_fields([p for p in merged.points if p.kind == "text"], merged.points)
        old_n, old_points, old_means = len(self.points), self.points, self._means
        self.points = merged
        # A kind the map had under 2 points of was not centred; now that it can be, refit the centred maps
        means = modality_means(merged.vectors, merged.is_image)
        refit = any(old is None and new is not None for old, new in zip(self._means, means))
        self._means = tuple(new if old is None else old for old, new in zip(self._means, means))
        with self._lock:
            try:
                for key in [k for k in self._layouts if k[1] and refit]:
                    del self._layouts[key]
                for key, (estimator, _) in list(self._layouts.items()):
                    rows = self.vectors(key[1])[old_n:]
                    self._layouts[key] = (estimator, estimator.add_points(rows))
            except Exception:
                self.points, self._means = old_points, old_means
                self._layouts.clear()  # some may hold the new points already: recompute, never mismatch
                raise
        if refit:
            self._refresh()
        else:
            self._show(self.shown)

    # --- what the user points at -------------------------------------------------------------------
    def details(self, point_id: str) -> PointDetails:
        if point_id not in self.points.index:
            raise KeyError(f"no point with id {point_id!r} on this map")
        point = self.points[point_id]
        image = point.load_image() if point.kind == "image" else None
        if point.kind == "text" and point.links:
            image = self.points[point.links[0]].load_image() if point.links[0] in self.points.index else None
        return PointDetails(point.id, point.kind, point.prompt, point.record, image, list(point.links))

    def click(self, point_id: str) -> PointDetails:
        self.focused = self.panel = self.details(point_id)
        self._changed()
        return self.focused

    def hover(self, point_id: str) -> PointDetails:
        if self.panel is None or self.panel.id != point_id:
            self.hovered = self.panel = self.details(point_id)
            self._changed()
        return self.hovered

    def select(self, point_ids) -> list[str]:
        unknown = [i for i in point_ids if i not in self.points.index]
        if unknown:
            raise KeyError(f"no point with id {unknown[0]!r} on this map")
        self.selection = list(dict.fromkeys(point_ids))
        self._changed()
        return self.selection

    def gallery(self, limit: int = GALLERY_MAX) -> list[PointDetails]:
        """The selected images, and the images of selected prompts, in order (at most `limit`)."""
        ids: list[str] = []
        for point_id in self.selection:
            point = self.points[point_id]
            ids += [point_id] if point.kind == "image" else point.links
        return [self.details(i) for i in list(dict.fromkeys(ids))[:limit] if i in self.points.index]

    # --- the picture -------------------------------------------------------------------------------
    def figure(self):
        from workbench.maps.figures import map_figure

        return map_figure(self.points, self.layout, self._colour_by, title=self.title)
