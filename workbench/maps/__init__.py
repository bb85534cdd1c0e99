"""Latent-space maps: prompts and their images on one CLIP map, and tools that explain it.

- `projection.py`: PCAProjection (instant) and UMAPProjection (umap-learn, cosine, fast on
  small maps, `add_points` without a full refit); `centre_modalities` for the modality gap.
- `warmup.py`: a persistent numba cache and a background warm-up, so the first UMAP map
  does not wait 30-45 s for compilation.
- `points.py`: MapPoints from a run store or generated images (one point per prompt and
  per image, linked), with the fields the map colours by.
- `figures.py`: the plotly map (one WebGL trace), and a standalone, escaped HTML export.
- `state.py` / `widget.py`: LatentMapState (plain Python) and the LatentMap widget.
- `concepts.py`: ConceptAxes ("yellow" vs "not yellow", "round", "shiny").
- `interpolation.py`: prompt interpolation at a fixed seed, and a noise walk between seeds.
- `modifier_effects.py`: modifier effect scores for comparison grids, and what the model sees.
- `commands.py`: `workbench map`.

Importing this package imports none of umap, numba, torch or plotly; each module does
when it needs them.
"""

from workbench.lazy import lazy_exports

_EXPORTS = {
    "PCAProjection": "projection", "UMAPProjection": "projection", "centre_modalities": "projection",
    "modality_gap": "projection", "warm_up": "warmup", "MapPoints": "points", "points_from_store": "points",
    "points_from_images": "points", "map_figure": "figures", "export_html": "figures",
    "LatentMapState": "state", "LatentMap": "widget", "ConceptAxes": "concepts", "concept_figure": "concepts",
    "interpolate_prompts": "interpolation", "noise_walk": "interpolation", "effect_scores": "modifier_effects",
    "effect_chart": "modifier_effects", "annotate_grid": "modifier_effects", "rank_modifiers": "modifier_effects",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
