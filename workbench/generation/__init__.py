"""Generation: load any diffusers text-to-image model, make seeded images that do not depend on
their batch, and lay them out as variation grids and modifier comparisons.

Heavy modules (torch, diffusers) are imported inside the functions that use them, and the names
below on first use.
"""

from workbench.lazy import lazy_exports

_EXPORTS = {
    "ImageGenerator": "engine", "GeneratedImage": "engine", "generate_images": "engine",
    "OverflowedImageError": "engine", "load_model": "loading", "LoadedModel": "loading",
    "ModelNotFoundError": "loading", "UnsafeCheckpointError": "loading", "Grid": "grids",
    "variation_grid": "grids", "compare_modifiers": "grids", "compare_prompts": "grids", "rerank": "variations",
    "filmstrip": "variations", "parse_seeds": "seeds",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
