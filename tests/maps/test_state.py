"""LatentMapState driven without a browser, and the LatentMap widget built and clicked in-process."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from map_helpers import generated

from workbench.maps.figures import POINTS_TRACE
from workbench.maps.points import points_from_images, text_id
from workbench.maps.state import LatentMapState


@pytest.fixture
def state(points):
    return LatentMapState(points, projection="pca")


def test_pca_is_shown_at_once(state, points):
    assert state.shown == "pca" and state.layout.shape == (len(points), 2)
    assert state.status == "PCA map of 12 points"


def test_clicking_a_point_puts_its_record_image_and_prompt_in_the_panel(state, points):
    image_id = next(p.id for p in points.points if p.kind == "image")
    details = state.click(image_id)
    assert state.focused is details and details.record is points[image_id].record
    assert details.prompt == points[image_id].prompt and details.image.size == (16, 16)
    assert details.png().startswith(b"\x89PNG")
    assert "<th" in details.html() and "seed" in details.html()
    prompt = state.click(text_id("a red circle"))
    assert prompt.kind == "text" and len(prompt.linked) == 3 and prompt.image is not None
    assert "3 image(s) made from it" in prompt.html()
    with pytest.raises(KeyError, match="no point with id 'nope' on this map"):
        state.click("nope")


def test_hover_and_selection_gallery(state, points):
    state.hover(points.ids[-1])
    assert state.hovered.id == points.ids[-1] and state.focused is None
    state.select([text_id("a blue square, 1960s"), points.ids[-1]])
    gallery = state.gallery()
    assert [g.kind for g in gallery] == ["image"] * 3  # the prompt's three images (one already selected)
    assert {g.prompt for g in gallery} == {"a blue square, 1960s"}


def test_panel_html_escapes_the_prompt(fake_clip):
    hostile = "<script>alert(1)</script>"
    state = LatentMapState(points_from_images([generated(hostile, s) for s in range(2)], fake_clip),
                           projection="pca")
    for point_id in state.points.ids:
        html = state.details(point_id).html()
        assert hostile not in html and "&lt;script&gt;" in html


def test_colour_field_and_observers(state):
    seen = []
    state.observe(lambda s: seen.append(s.colour_by))
    state.colour_by = "seed"
    assert seen == ["seed"] and state.figure().layout.legend.title.text == "colour: seed"
    with pytest.raises(ValueError, match=r"unknown colour field 'size'; colour by one of: modifier, category"):
        state.colour_by = "size"


def test_centring_toggle_changes_the_gap_as_stated(state):
    raw_layout = state.layout
    state.centred = True
    assert state.status.endswith("(centred)") and not np.allclose(state.layout, raw_layout)
    text = state.gap_text()
    raw, centred = (float(x) for x in text.split("Modality gap ")[1].split(" centred")[0].split(" raw → "))
    assert raw > 0.5 and centred < raw / 5 and "subtracts each modality's mean" in text


def test_a_map_of_one_prompt_and_its_images_can_be_centred(fake_clip):
    """The usual case: one prompt, nine seeds. A lone point minus its own mean would be all zero."""
    one = points_from_images([generated("a red circle", s) for s in range(9)], fake_clip)
    state = LatentMapState(one, projection="umap", centred=True, n_neighbors=5, background=False)
    assert state.shown == "umap" and state.error == "" and state.layout.shape == (10, 2)


def test_added_points_are_centred_as_the_map_was(points, fake_clip):
    """A copy of an image already on a centred map lands where that image is, although the new
    images move the mean of all images."""
    state = LatentMapState(points, projection="pca", centred=True)
    first = next(p for p in points.points if p.kind == "image")
    twin = points_from_images([generated("a green star", s) for s in range(5)], fake_clip)
    copy = type(points)([*twin.points, replace(first, id="twin", links=[])],
                        np.vstack([twin.vectors, points.vectors[points.index[first.id]][None]]), points.model)
    state.add(copy)
    at = {p.id: i for i, p in enumerate(state.points.points)}
    np.testing.assert_allclose(state.layout[at["twin"]], state.layout[at[first.id]], atol=1e-5)


def test_images_added_to_a_map_of_prompts_are_centred_once_there_are_two(fake_clip):
    """A map of prompts alone has no image mean; the images added later must still be centred."""
    from map_helpers import PROMPTS

    prompts = points_from_images([], fake_clip, prompts=list(PROMPTS))
    state = LatentMapState(prompts, projection="pca", centred=True)
    state.add(points_from_images([generated(p, s) for p in PROMPTS for s in range(3)], fake_clip))
    together = LatentMapState(points_from_images([generated(p, s) for p in PROMPTS for s in range(3)], fake_clip),
                              projection="pca", centred=True)
    assert state.gap_text().split(" centred")[0] == together.gap_text().split(" centred")[0]
    assert state.layout.shape == (12, 2) and state.shown == "pca"


def test_a_failed_add_leaves_the_map_as_it_was(state, fake_clip):
    before, layout = len(state.points), state.layout.copy()
    bad = points_from_images([], fake_clip, prompts=["a brand new prompt"])
    bad.vectors[0, 0] = np.nan
    with pytest.raises(ValueError, match="contain NaN"):
        state.add(bad)
    assert len(state.points) == before and np.array_equal(state.layout, layout)
    drawn = state.figure().data[POINTS_TRACE]
    assert list(drawn.customdata) == state.points.ids and len(drawn.x) == before
    np.testing.assert_allclose(drawn.x, layout[:, 0], rtol=1e-6)  # drawn where the map had them


def test_umap_replaces_pca_when_ready_without_blocking(points, monkeypatch):
    import threading

    import workbench.maps.state as state_module

    release = threading.Event()

    class HeldUMAP(state_module.UMAPProjection):
        """The real UMAP, held back until the test has looked at the map shown meanwhile."""

        def fit(self, X):
            release.wait(60)
            return super().fit(X)

    monkeypatch.setattr(state_module, "UMAPProjection", HeldUMAP)
    try:
        state = LatentMapState(points, projection="umap", n_neighbors=5)
        assert state.shown == "pca" and state.layout.shape == (len(points), 2), "PCA is on screen while UMAP is computed"
        assert state.busy and state.status == "computing the UMAP map… (PCA shown meanwhile)"
        shown = []
        state.observe(lambda s: shown.append((s.shown, s.busy)))  # what a view would draw, badge and all
    finally:
        release.set()
    assert state.wait(120) and state.shown == "umap" and not state.busy
    assert state.layout.shape == (len(points), 2) and state.error == ""
    assert shown[-1] == ("umap", False), "the finished map is announced as not busy, so no ⏳ stays on it"
    state.projection = "pca"
    assert state.shown == "pca"
    state.projection = "umap"  # cached: shown at once, no second computation
    assert state.shown == "umap" and not state.busy


def test_a_map_with_one_image_says_centring_cannot_close_its_gap(fake_clip):
    prompts = ["a red circle", "a blue square", "a green star"]
    state = LatentMapState(points_from_images([generated("a red circle", 0)], fake_clip, prompts=prompts),
                           projection="pca")
    assert "Centring needs two or more prompts and two or more images; this map has 3 prompt(s) and 1 image(s)" \
        in state.gap_text()


def test_a_prompt_takes_the_fields_of_images_added_later(points, fake_clip):
    """Coloured by modifier, a prompt shows what its images share; an added image counts too."""
    state = LatentMapState(points, projection="pca")
    state.add(points_from_images([generated("a red circle", 7, (("render_engines", "octane-render"),))], fake_clip))
    red = state.points[text_id("a red circle")]
    assert red.fields["modifier"] == "(none) | octane-render"  # as a map built with it from the start says
    rebuilt = points_from_images([*(generated("a red circle", s) for s in range(3)),
                                  generated("a red circle", 7, (("render_engines", "octane-render"),))], fake_clip)
    assert rebuilt[text_id("a red circle")].fields["modifier"] == red.fields["modifier"]


def test_adding_points_places_them_without_a_refit(points, fake_clip):
    state = LatentMapState(points, projection="umap", n_neighbors=5, background=False)
    before = state.layout.copy()
    new = points_from_images([generated("a red circle", 7), generated("a green star", 0)], fake_clip)
    state.add(new)
    assert len(state.points) == 12 + 3 and state.layout.shape == (15, 2)
    assert np.array_equal(state.layout[:12], before)
    red = state.points[text_id("a red circle")]
    assert len(red.links) == 4, "the new image of a prompt already on the map links to it"
    state.projection = "pca"
    assert state.layout.shape == (15, 2)


def test_bad_maps_are_refused(fake_clip):
    one = points_from_images([], fake_clip, prompts=["a red circle"])
    with pytest.raises(ValueError, match=r"a map needs at least 2 points, got 1; add another prompt or image"):
        LatentMapState(one)
    with pytest.raises(ValueError, match=r"nothing to map: no prompts and no readable images"):
        points_from_images([], fake_clip)
    two = points_from_images([], fake_clip, prompts=["a red circle", "a blue star"])
    state = LatentMapState(two, projection="umap", background=False)
    assert state.shown == "pca" and "UMAP needs at least 3 points, the map has 2" in state.error
    bad = points_from_images([], fake_clip, prompts=["a", "b c"])
    bad.vectors[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"embeddings of 1 point\(s\) contain NaN or infinite values \(rows 1\)"):
        LatentMapState(bad)


# --- the widget (no browser: plotly's callbacks are called as plotly would) ----------------------

def test_widget_mirrors_the_state_and_sends_clicks_into_it(points):
    pytest.importorskip("anywidget")
    from workbench.widgets import LatentMap

    m = LatentMap(points, projection="pca")
    box = m.widget
    assert "wb-map" in box._dom_classes
    panel = _find(box, "wb-map-panel")
    assert {"wb-map-panel-image", "wb-map-panel-info"} <= {c for w in panel.children for c in w._dom_classes}
    trace = m.figure.data[1]
    image_index = next(i for i, p in enumerate(points.points) if p.kind == "image")
    m._on_click(trace, SimpleNamespace(point_inds=[image_index]))
    assert m.state.focused.id == points.ids[image_index]
    assert bytes(m._panel_image.value).startswith(b"\x89PNG") and "seed" in m._panel_info.value
    m._on_selection(trace, SimpleNamespace(point_inds=[0, 1]))
    assert len(_find(box, "wb-map-gallery").children) >= 1
    m.state.colour_by = "source"
    assert m.figure.layout.legend.title.text == "colour: source"
    m.state.centred = True
    assert np.allclose(np.asarray(trace.x), m.state.layout[:, 0])
    # the controls follow changes made in code, so choosing the old value again is a change
    assert (m._controls["colour_by"].value, m._controls["centred"].value) == ("source", True)
    m._controls["centred"].value = False
    assert m.state.centred is False


def _find(widget, css_class):
    if css_class in getattr(widget, "_dom_classes", ()):
        return widget
    for child in getattr(widget, "children", ()):
        found = _find(child, css_class)
        if found is not None:
            return found
    return None


def test_one_background_fit_per_setting_and_wait_covers_them_all(points, fake_clip, monkeypatch):
    """Toggling PCA/UMAP or the centring while a fit runs once started more fits that nothing waited
    for; one of them could then lay out the map of before an add()."""
    import threading
    import time

    import workbench.maps.state as state_module

    fits = []

    class SlowUMAP:
        def __init__(self, n_components, **kwargs):
            self.n_components = n_components

        def fit(self, X):
            fits.append(len(X))
            time.sleep(0.4)
            self.embedding_ = np.zeros((len(X), self.n_components))
            return self

        def add_points(self, X):
            self.embedding_ = np.vstack([self.embedding_, np.zeros((len(X), self.n_components))])
            return self.embedding_

    monkeypatch.setattr(state_module, "UMAPProjection", SlowUMAP)
    state = LatentMapState(points, projection="umap")
    state.projection = "pca"
    state.projection = "umap"  # the same setting again while its fit runs
    state.centred = True
    state.centred = False
    assert state.wait(10) and not state.busy
    assert not [t for t in threading.enumerate() if t.name == "latent-map-umap"]
    assert fits == [12, 12], "one fit for raw, one for centred"
    state.add(points_from_images([generated("a green star", s) for s in range(3)], fake_clip))
    assert state.wait(10) and state.layout.shape[0] == len(state.points)
