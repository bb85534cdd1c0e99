"""Jupyter widgets: plain-Python state objects (tested without a browser) and thin ipywidgets views.

Views and states are imported on first use, so that `import workbench.widgets` does not pull in
ipywidgets.
"""

from workbench.lazy import lazy_exports

_EXPORTS = {
    "Composer": "composer", "ComposerState": "composer_state", "VariationGrid": "generation_views",
    "ModifierComparison": "generation_views", "VariationGridState": "generation_state",
    "ModifierComparisonState": "generation_state", "LatentMap": "workbench.maps.widget",
    "LatentMapState": "workbench.maps.state",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
