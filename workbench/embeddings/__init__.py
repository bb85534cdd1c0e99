"""Embeddings: CLIP text and image vectors (open_clip), L2-normalised, batched and cached."""
