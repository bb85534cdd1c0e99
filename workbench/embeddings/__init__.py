"""Embeddings: CLIP text and image vectors (open_clip), L2-normalised, batched and cached.

`ClipEmbedder` is imported on first use, so this package imports no torch or open_clip.
"""

from workbench.lazy import lazy_exports

_EXPORTS = {"ClipEmbedder": "clip"}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
