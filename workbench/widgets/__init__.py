"""Jupyter widgets: plain-Python state objects (tested without a browser) and thin ipywidgets views.

Views are imported lazily so that `import workbench.widgets` does not pull in ipywidgets.
"""


def __getattr__(name):
    if name == "Composer":
        from workbench.widgets.composer import Composer

        return Composer
    if name in ("VariationGrid", "ModifierComparison"):
        from workbench.widgets import generation_views

        return getattr(generation_views, name)
    if name == "LatentMap":
        from workbench.maps.widget import LatentMap

        return LatentMap
    raise AttributeError(f"module 'workbench.widgets' has no attribute {name!r}")
