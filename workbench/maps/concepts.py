"""Concept axes: place prompts and images by how "yellow", "round" or "shiny" CLIP finds them.

The teacher names two or three axes as text pairs; each axis is the direction from one
pole's text embedding to the other's. A point's coordinate on an axis is its embedding's
projection on that direction, measured from the midpoint of the two poles: positive means
nearer the first word. A banana lands at "yellow, not round", a balloon at "round, shiny".

    axes = ConceptAxes(clip, [("yellow", "not yellow"), ("round", "angular"), ("shiny", "matte")]).fit()
    coords = axes.transform(clip.embed_images(images))     # (N, 3)
    concept_figure(axes, coords, labels=prompts)           # 2-D or 3-D plotly figure

CLIP reads negation poorly ("not yellow" is still about yellow), so a named opposite
("round" vs "angular") usually makes a cleaner axis. A single word `"round"` stands for
("round", "not round"). `templates` average each pole over phrasings (prompt ensembling).
"""

from __future__ import annotations

import html

import numpy as np

from workbench.maps.projection import _Parameters, check_embeddings, check_fitted, check_same_space


def _pairs(axes) -> list[tuple[str, str]]:
    """Axes as (one end, other end) pairs: a word, a pair, or a list of either. A tuple of two
    words is one axis; a tuple of pairs is several, like a list."""
    if isinstance(axes, str) or (isinstance(axes, tuple) and all(isinstance(a, str) for a in axes)):
        axes = [axes]
    pairs = []
    for axis in axes:
        pair = (axis, f"not {axis}") if isinstance(axis, str) else tuple(axis)
        if len(pair) != 2 or not all(isinstance(t, str) and t.strip() for t in pair):
            raise ValueError(f"an axis is a word or a pair of texts, e.g. ('round', 'angular'); got {axis!r}")
        if pair[0].strip() == pair[1].strip():
            raise ValueError(f"the two ends of the axis {pair[0]!r} are the same text; name two different things")
        pairs.append(pair)
    if not 1 <= len(pairs) <= 3:
        raise ValueError(f"name one to three axes (a 2-D or 3-D view), got {len(pairs)}")
    return pairs


class ConceptAxes(_Parameters):
    """Directions in CLIP space named by text pairs (estimator contract: `fit`, `transform`,
    `get_params`). The axes come from the texts alone, so `fit` takes no data: `X` is accepted
    and ignored, as scikit-learn's stateless transformers do."""

    def __init__(self, clip, axes, templates=("{}",), orthogonal: bool = False):
        self.clip = clip  # anything with embed_texts(list[str]) -> (N, D) unit vectors
        self.axes = axes  # [("yellow", "not yellow"), ("round", "angular"), "shiny"]
        self.templates = templates  # e.g. ("{}", "a {} object", "a photo of something {}")
        self.orthogonal = orthogonal  # Gram-Schmidt: later axes lose what they share with earlier ones

    def fit(self, X=None, y=None) -> ConceptAxes:
        # 1. Check inputs
        pairs = _pairs(self.axes)
        templates = [self.templates] if isinstance(self.templates, str) else list(self.templates)
        if not templates or any("{}" not in t for t in templates):
            raise ValueError(f"each template needs a {{}} slot for the word, e.g. 'a {{}} object'; got {templates!r}")
        # 2. One batch of text embeddings: every pole in every phrasing
        texts = [t.format(word) for pair in pairs for word in pair for t in templates]
        vectors = check_embeddings(self.clip.embed_texts(texts), "text embeddings", min_points=1)
        poles = vectors.reshape(len(pairs), 2, len(templates), -1).mean(axis=2)  # (k, 2, D)
        poles /= np.linalg.norm(poles, axis=-1, keepdims=True)
        # 3. Directions from the second pole to the first, measured from their midpoint
        directions = poles[:, 0] - poles[:, 1]  # (k, D)
        for i, (positive, negative) in enumerate(pairs):
            if self.orthogonal:
                for j in range(i):
                    directions[i] -= (directions[i] @ directions[j]) * directions[j]
            norm = np.linalg.norm(directions[i])
            if norm < 1e-6:
                raise ValueError(f"{positive!r} and {negative!r} embed to the same point in this CLIP model, so "
                                 "they give no direction; pick words the model tells apart")
            directions[i] /= norm
        self.pairs_ = pairs
        self.directions_ = directions.astype(np.float32)  # (k, D), unit rows
        self.offsets_ = (poles.mean(axis=1) * directions).sum(axis=1).astype(np.float32)  # (k,) the midpoints
        self.n_features_in_ = directions.shape[1]
        self.labels_ = [f"{negative} ← → {positive}" for positive, negative in pairs]
        return self

    def transform(self, X) -> np.ndarray:
        """(N, k) coordinates of embeddings `X`: > 0 nearer the first text of each pair, < 0 nearer the second."""
        check_fitted(self, "directions_", "fit()")
        X = check_embeddings(X, min_points=1)
        check_same_space(self.n_features_in_, X, "embeddings")
        return X @ self.directions_.T - self.offsets_

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit().transform(X)

    def place_texts(self, texts) -> np.ndarray:
        """Coordinates of texts (their CLIP text embeddings) on the axes."""
        return self.transform(self.clip.embed_texts(list(texts)))

    def place_images(self, images) -> np.ndarray:
        """Coordinates of images (PIL or GeneratedImage) on the axes."""
        return self.transform(self.clip.embed_images(list(images)))


def concept_figure(axes: ConceptAxes, coords, labels=(), kinds=(), title: str = ""):
    """A 2-D (or 3-D, with three axes) scatter of coordinates on the concept axes, labelled."""
    import plotly.graph_objects as go

    coords = np.asarray(coords, np.float32)
    k = len(axes.pairs_)
    if coords.ndim != 2 or coords.shape[1] != k:
        raise ValueError(f"coords must have one column per axis ({k}), got shape {coords.shape}")
    labels = [html.escape(str(t)) for t in labels] or [""] * len(coords)
    kinds = list(kinds) or ["text"] * len(coords)
    symbols = ["diamond" if kind == "text" else "circle" for kind in kinds]
    titles = [html.escape(label) for label in axes.labels_]
    if k == 1:  # one axis: spread the points vertically by their order so labels stay readable
        coords = np.column_stack([coords[:, 0], np.arange(len(coords))])
        titles.append("")
    common = {"mode": "markers+text", "text": labels, "hovertext": labels, "hoverinfo": "text",
              "textposition": "top center", "marker": {"symbol": symbols, "size": 11}}
    if k == 3:
        fig = go.Figure(go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], **common))
        fig.update_layout(scene={"xaxis": {"title": titles[0]}, "yaxis": {"title": titles[1]},
                                 "zaxis": {"title": titles[2]}})
    else:
        fig = go.Figure(go.Scatter(x=coords[:, 0], y=coords[:, 1], **common))
        fig.update_layout(xaxis={"title": titles[0], "zeroline": True}, yaxis={"title": titles[1], "zeroline": True,
                                                                               "showticklabels": k > 1})
    fig.update_layout(title={"text": html.escape(title)} if title else None, template="plotly_white", height=520)
    return fig
