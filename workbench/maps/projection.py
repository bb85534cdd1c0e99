"""Projections of CLIP embeddings onto a 2-D or 3-D map: PCA (instant) and UMAP (umap-learn).

Both follow the scikit-learn estimator contract: `__init__` only stores parameters,
`fit(X)` validates and returns self, fitted state ends with `_` (`embedding_` is the
layout of the fitted points), and `transform(X)` places new points.

    layout = PCAProjection().fit_transform(vectors)                 # (N, 2), 0.03 s for 5,000 points
    umap = UMAPProjection(n_neighbors=15).fit(vectors)               # (N, 2) in umap.embedding_
    layout = umap.add_points(new_vectors)                            # (N + M, 2), no full refit

UMAP choices, each measured on a 2-core machine:
- metric cosine on unit vectors, with the k nearest neighbours computed exactly in numpy
  (blocked matrix products, ~0.5 s for 5,000 x 512) and handed to umap-learn. Below 4,096
  points umap-learn would otherwise compute every pairwise distance in a slow loop
  (14-19 s at 4,000 points, `benchmarks/results/maps.json`); above `EXACT_KNN_MAX` points its NNDescent takes over.
  Between 4,096 and 8,192 points exact neighbours cost more than NNDescent's approximate ones
  (0.2 s at 5,000, 0.8 s at 8,000), so there the map is 0.74-0.95x as fast as umap-learn's own
  UMAP at equal epochs; its gain over umap-learn's defaults there is the 200 epochs.
- 200 optimisation epochs by default (interactive), unseeded so numba uses every core;
  `random_state=0` (any whole number, as in umap-learn and scikit-learn) gives the same layout
  every time, which makes umap-learn single-threaded.
- `add_points` puts new points at the mean of their neighbours' positions (milliseconds),
  optionally followed by a short refit that starts from the current layout.

The modality gap (CLIP keeps texts and images in two separate cones) is handled by
`centre_modalities`, which the map offers as a raw/centred toggle.
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
import warnings

import numpy as np

from workbench.checks import is_whole

EXACT_KNN_MAX = 8192  # points: above this, umap-learn's approximate NNDescent finds the neighbours
DEFAULT_EPOCHS = 200  # interactive default; umap-learn's own is 500 below 10,000 points
BLOCK = 1024  # rows per block of the exact kNN (memory: BLOCK x N floats)

GAP_EXPLANATION = ("CLIP keeps text and image embeddings in two separate cones (the modality gap), so raw maps "
                   "show prompts and images as two islands; centring subtracts each modality's mean and "
                   "renormalises, which brings the two centroids together so a prompt sits among its images.")


# --- checks -----------------------------------------------------------------------------------------

def check_embeddings(X, what: str = "embeddings", min_points: int = 2) -> np.ndarray:
    """X as a float32 (N, D) array, or a ValueError that says what is wrong and what to do."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (points x dimensions), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"the map is empty: there are no {what} to project; add prompts or images first")
    if X.shape[0] < min_points:
        raise ValueError(f"a map needs at least {min_points} points, got {X.shape[0]}; add another prompt or image")
    if X.shape[1] == 0:
        raise ValueError(f"{what} have 0 dimensions; embed the points with a CLIP model first")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if bad.size:
        rows = ", ".join(map(str, bad[:10])) + (", …" if bad.size > 10 else "")
        raise ValueError(f"{what} of {bad.size} point(s) contain NaN or infinite values (rows {rows}); "
                         "re-embed those items with the same ClipEmbedder, or drop them from the map")
    return X


def check_same_space(fitted_dim: int, X: np.ndarray, what: str = "new points") -> None:
    if X.shape[1] != fitted_dim:
        raise ValueError(f"the map was fitted on {fitted_dim}-dimensional embeddings but the {what} have "
                         f"{X.shape[1]}; embed them with the same CLIP model as the map")


def check_fitted(estimator, attribute: str = "embedding_", call: str = "fit(vectors)") -> None:
    if not hasattr(estimator, attribute):
        raise RuntimeError(f"this {type(estimator).__name__} is not fitted yet; call {call} first")


@contextlib.contextmanager
def single_threaded_lapack():
    """Run small LAPACK calls on one BLAS thread.

    Threaded OpenBLAS makes `eigh` of a 512 x 512 matrix take 4 s instead of 0.03 s when
    another process keeps a core busy (a model generating, say): its threads spin-wait on
    each other. Small factorisations gain nothing from threads, so they get one.
    threadpoolctl comes with scikit-learn (a umap-learn dependency); without it, nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if zero.size:
        raise ValueError(f"point(s) {', '.join(map(str, zero[:10]))} have an all-zero embedding, which has no "
                         "direction; drop them or re-embed them")
    return X / norms


# --- modality gap -----------------------------------------------------------------------------------

def modality_gap(X, is_image) -> float:
    """Euclidean distance between the mean text and the mean image embedding (Liang et al., 2022)."""
    X, is_image = np.asarray(X, np.float32), np.asarray(is_image, bool)
    if is_image.all() or not is_image.any():
        return 0.0
    return float(np.linalg.norm(X[is_image].mean(axis=0) - X[~is_image].mean(axis=0)))


def modality_means(X, is_image) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(mean text, mean image) embedding; None for a modality of fewer than 2 points, which
    centring leaves as it is: one point minus its own mean is all zero, with no direction."""
    X, is_image = np.asarray(X, np.float32), np.asarray(is_image, bool)
    return tuple(X[mask].mean(axis=0) if mask.sum() >= 2 else None for mask in (~is_image, is_image))


def centre_modalities(X, is_image, means=None) -> np.ndarray:
    """Subtract each modality's mean and renormalise: texts and images share one space afterwards.

    `means` (from `modality_means`) centres new points as the map they join was centred."""
    X = check_embeddings(X, min_points=1)
    is_image = np.asarray(is_image, bool)
    if is_image.shape != (X.shape[0],):
        raise ValueError(f"is_image must have one flag per point ({X.shape[0]}), got shape {is_image.shape}")
    out = X.astype(np.float32, copy=True)
    for mask, mean in zip((~is_image, is_image), modality_means(X, is_image) if means is None else means):
        if mean is not None and mask.any():
            out[mask] -= mean
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)  # a point equal to its modality's mean stays at 0


# --- PCA --------------------------------------------------------------------------------------------

class _Parameters:
    """scikit-learn's parameter protocol, so `sklearn.base.clone`, `Pipeline` and searches take
    these projections (without importing scikit-learn here: `import workbench` stays light)."""

    def get_params(self, deep: bool = True) -> dict:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params):
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; it has {', '.join(valid)}")
            setattr(self, name, value)
        return self


class PCAProjection(_Parameters):
    """Principal components with numpy: the instant default map (0.03 s for 5,000 x 512)."""

    def __init__(self, n_components: int = 2):
        self.n_components = n_components

    def fit(self, X, y=None) -> PCAProjection:
        X = check_embeddings(X)
        n, d = X.shape
        if self.n_components not in (2, 3) or self.n_components > d:
            raise ValueError(f"n_components must be 2 or 3 (and at most the {d} dimensions), got {self.n_components!r}")
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        Xc = X - self.mean_.astype(np.float32)
        with single_threaded_lapack():
            if n >= d:  # eigenvectors of the D x D covariance: cheaper than an SVD of the N x D data
                values, vectors = np.linalg.eigh((Xc.T @ Xc).astype(np.float64))
                order = np.argsort(values)[::-1][: self.n_components]
                components, variance = vectors[:, order].T, np.maximum(values[order], 0) / max(n - 1, 1)
                total = float(values.clip(0).sum()) / max(n - 1, 1)
            else:
                _, s, vt = np.linalg.svd(Xc.astype(np.float64), full_matrices=False)
                components = vt[: self.n_components]
                variance = s[: self.n_components] ** 2 / max(n - 1, 1)
                total = float((s ** 2).sum()) / max(n - 1, 1)
        if components.shape[0] < self.n_components:  # fewer points than components
            missing = self.n_components - len(components)
            components = np.vstack([components, np.zeros((missing, d))])
            variance = np.concatenate([variance, np.zeros(missing)])
        # Deterministic signs (as sklearn's svd_flip): the largest coefficient of each axis is positive.
        signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
        self.components_ = (components * np.where(signs == 0, 1, signs)[:, None]).astype(np.float32)  # (k, D)
        self.explained_variance_ = variance
        self.explained_variance_ratio_ = variance / total if total > 0 else np.zeros_like(variance)
        self.n_features_in_ = d
        self.embedding_ = Xc @ self.components_.T  # (N, k) float32
        return self

    def transform(self, X) -> np.ndarray:
        check_fitted(self)
        X = check_embeddings(X, min_points=1)
        check_same_space(self.n_features_in_, X)
        return (X - self.mean_.astype(np.float32)) @ self.components_.T

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).embedding_

    def add_points(self, X_new) -> np.ndarray:
        """The layout with the new points appended (PCA axes stay as fitted)."""
        self.embedding_ = np.vstack([self.embedding_, self.transform(X_new)])
        return self.embedding_


# --- exact nearest neighbours -------------------------------------------------------------------------

def exact_knn(queries: np.ndarray, data: np.ndarray, k: int, self_first: bool = False):
    """(indices (Q, k) int32, cosine distances (Q, k) float32) of each query's k nearest data rows.

    Both arrays must hold unit rows. With `self_first`, queries are the data and each point
    is its own first neighbour (as umap-learn expects), even when duplicates exist.
    """
    q_count, k = len(queries), min(k, len(data))
    indices = np.empty((q_count, k), np.int32)
    distances = np.empty((q_count, k), np.float32)
    for start in range(0, q_count, BLOCK):
        sims = queries[start:start + BLOCK] @ data.T  # (B, N) cosine similarities
        if self_first:
            rows = np.arange(sims.shape[0])
            sims[rows, start + rows] = 2.0  # above any cosine: itself first
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else \
            np.broadcast_to(np.arange(sims.shape[1]), sims.shape).copy()
        part_sims = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-part_sims, axis=1, kind="stable")
        indices[start:start + BLOCK] = np.take_along_axis(part, order, axis=1)
        distances[start:start + BLOCK] = np.maximum(0.0, 1.0 - np.minimum(np.take_along_axis(part_sims, order, 1), 1.0))
    return indices, distances


# --- UMAP -------------------------------------------------------------------------------------------

def check_umap_settings(n_components, n_neighbors, min_dist, n_epochs=None, n: int | None = None,
                        random_state=None) -> None:
    """Raise a ValueError naming the first bad UMAP setting; `n`, the number of points, when known."""
    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3 for a map, got {n_components!r}")
    if not is_whole(n_neighbors, 2):
        raise ValueError(f"n_neighbors must be a whole number of at least 2, got {n_neighbors!r}")
    if n is not None and n_neighbors >= n:
        raise ValueError(f"n_neighbors={n_neighbors} is larger than the data: the map has {n} points, so "
                         f"n_neighbors can be at most {n - 1}; lower n_neighbors or add points")
    if isinstance(min_dist, bool) or not isinstance(min_dist, numbers.Real) or not 0.0 <= min_dist <= 1.0:
        raise ValueError(f"min_dist must be a number between 0 and 1, got {min_dist!r}")
    if n_epochs is not None and not is_whole(n_epochs, 1):
        raise ValueError(f"n_epochs must be a positive whole number (or None for {DEFAULT_EPOCHS}), "
                         f"got {n_epochs!r}")
    if random_state is not None and not is_whole(random_state, 0, 2**32 - 1):
        raise ValueError(f"random_state must be None (a new layout each fit, on every core) or a whole number "
                         f"from 0 to 2**32 - 1 (the same layout each fit, on one core), got {random_state!r}")


class UMAPProjection(_Parameters):
    """UMAP with the cosine metric, fast on small maps and able to add points without a full refit."""

    def __init__(self, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                 n_epochs: int | None = None, random_state: int | None = None):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.n_epochs = n_epochs  # None: DEFAULT_EPOCHS
        self.random_state = random_state  # a whole number: the same layout every time, single-threaded

    def _check_params(self, n: int) -> None:
        check_umap_settings(self.n_components, self.n_neighbors, self.min_dist, self.n_epochs, n, self.random_state)

    def fit(self, X, y=None, init=None) -> UMAPProjection:
        """Fit the map. `init` (N, n_components) starts from a given layout instead of a spectral one."""
        # 1. Check inputs
        X = check_embeddings(X)
        self._check_params(len(X))
        unit = unit_rows(X)
        # 2. Neighbours: exact in numpy up to EXACT_KNN_MAX points (no O(n^2) Python loop in umap-learn)
        knn = exact_knn(unit, unit, self.n_neighbors, self_first=True) if len(X) <= EXACT_KNN_MAX else None
        # 3. The layout
        self.embedding_ = self._layout(unit, knn, init, self.n_epochs or DEFAULT_EPOCHS)
        self.vectors_ = unit  # (N, D) unit rows, for add_points
        self.knn_ = knn
        self.n_neighbors_ = self.n_neighbors  # as fitted: set_params after a fit must not move added points
        self.n_features_in_ = X.shape[1]
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).embedding_

    def _layout(self, unit, knn, init, n_epochs: int) -> np.ndarray:
        from workbench.maps.warmup import import_umap

        umap = import_umap()
        n = len(unit)
        if init is None and n <= self.n_components + 1:  # too few points for a spectral start
            init = PCAProjection(self.n_components).fit_transform(unit)
        if init is not None:
            init = np.asarray(init, np.float64)
            if init.shape != (n, self.n_components):
                raise ValueError(f"init must have shape ({n}, {self.n_components}), got {init.shape}")
        reducer = umap.UMAP(
            n_neighbors=self.n_neighbors, n_components=self.n_components, min_dist=self.min_dist,
            metric="cosine", n_epochs=n_epochs, init="spectral" if init is None else init,
            random_state=None if self.random_state is None else int(self.random_state),
            precomputed_knn=knn if knn is not None else (None, None, None),
            force_approximation_algorithm=True,  # never the all-pairs path, whatever the size
        )
        with warnings.catch_warnings():
            # "no search index" (we place new points ourselves) and "random_state disables parallelism" (chosen)
            warnings.filterwarnings("ignore", message=".*(knn_search_index|n_jobs|random_state).*")
            warnings.filterwarnings("ignore", category=UserWarning, module="umap")
            with single_threaded_lapack():  # spectral init's small eigenproblems; numba's threads still run the layout
                reducer.fit(unit)
        self.umap_ = reducer
        return np.asarray(reducer.embedding_, np.float32)

    def transform(self, X) -> np.ndarray:
        """Place points on the fitted map where umap-learn's own `transform` starts them: at the
        average of their nearest fitted points, each weighted by UMAP's membership strength (the
        nearest 1, the rest falling off so the weights sum to log2(k)). A plain mean would pull a
        point of a small cluster towards the big ones among its k neighbours."""
        from workbench.maps.warmup import import_umap

        check_fitted(self)
        X = check_embeddings(X, what="new embeddings", min_points=1)
        check_same_space(self.n_features_in_, X)
        indices, distances = exact_knn(unit_rows(X), self.vectors_, self.n_neighbors_)
        sigmas, rhos = import_umap().umap_.smooth_knn_dist(distances.astype(np.float32), float(self.n_neighbors_))
        weights = np.exp(-np.maximum(distances - rhos[:, None], 0.0) / sigmas[:, None])
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("mk,mkc->mc", weights, self.embedding_[indices]).astype(np.float32)

    def add_points(self, X_new, refit: bool = False, n_epochs: int = 30) -> np.ndarray:
        """Append points to the map without a full refit; returns the new (N + M, k) layout.

        Each new point goes where `transform` places it (milliseconds).
        With `refit=True` the whole map is then optimised for `n_epochs`, starting from the
        current layout, so old points barely move (0.7 s for 5,100 points on 2 cores).
        """
        placed = self.transform(X_new)
        unit_new = unit_rows(check_embeddings(X_new, what="new embeddings", min_points=1))
        vectors = np.vstack([self.vectors_, unit_new])
        layout = np.vstack([self.embedding_, placed])
        # Neighbour lists of old + new points (only distances to the new points are computed)
        if len(vectors) > EXACT_KNN_MAX:
            self.knn_ = None  # NNDescent's job on the next refit
        elif self.knn_ is not None:
            self.knn_ = self._merged_knn(unit_new)
        else:
            self.knn_ = exact_knn(vectors, vectors, self.n_neighbors_, self_first=True)
        if refit:
            layout = self._layout(vectors, self.knn_, layout, n_epochs)
        self.vectors_, self.embedding_ = vectors, layout
        return layout

    def _merged_knn(self, unit_new: np.ndarray):
        """Exact kNN of old + new points, reusing the old lists (only distances to new points are computed)."""
        k, old_idx, old_dist = self.n_neighbors_, *self.knn_
        n_old = len(self.vectors_)
        all_vectors = np.vstack([self.vectors_, unit_new])
        new_idx, new_dist = exact_knn(unit_new, all_vectors, k)
        # the new points list themselves first
        sims_new = self.vectors_ @ unit_new.T  # (N_old, M)
        cand_idx = np.hstack([old_idx, np.broadcast_to(np.arange(n_old, len(all_vectors), dtype=np.int32),
                                                       sims_new.shape)])
        cand_dist = np.hstack([old_dist, np.maximum(0.0, 1.0 - sims_new).astype(np.float32)])
        order = np.argsort(cand_dist, axis=1, kind="stable")[:, :k]
        merged_idx = np.vstack([np.take_along_axis(cand_idx, order, 1), self._self_first(new_idx, n_old)])
        merged_dist = np.vstack([np.take_along_axis(cand_dist, order, 1), new_dist])
        return merged_idx.astype(np.int32), merged_dist.astype(np.float32)

    @staticmethod
    def _self_first(indices: np.ndarray, offset: int) -> np.ndarray:
        """Make sure row i of the new points' lists starts with the point itself (ties with duplicates)."""
        own = offset + np.arange(len(indices))
        out = indices.copy()
        for row, me in enumerate(own):
            if out[row, 0] != me:
                where = np.flatnonzero(out[row] == me)
                out[row, 1:] = np.delete(out[row], where[0]) if where.size else out[row, :-1]
                out[row, 0] = me
        return out
