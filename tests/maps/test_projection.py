"""Projections: the estimator contract, PCA against numpy, UMAP keeps clusters apart, adding
points without a refit, the modality-gap toggle, and every bad input with its message."""

import numpy as np
import pytest
from map_helpers import GAP, clustered, unit

from workbench.maps.projection import (
    PCAProjection,
    UMAPProjection,
    centre_modalities,
    exact_knn,
    modality_gap,
)


def cluster_purity(layout, labels, k=5):
    """Share of each point's k nearest layout neighbours that carry its label."""
    d = ((layout[:, None] - layout[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    return float((labels[nearest] == labels[:, None]).mean())


@pytest.fixture(scope="module")
def data():
    return clustered(n_per=40, k=3)


@pytest.fixture(scope="module")
def fitted(data):
    return UMAPProjection(n_neighbors=10).fit(data[0])


# --- estimator contract ------------------------------------------------------------------------

@pytest.mark.parametrize("cls, params", [
    (PCAProjection, {"n_components": 3}),
    (UMAPProjection, {"n_components": 2, "n_neighbors": 7, "min_dist": 0.2, "random_state": 7, "n_epochs": 30}),
])
def test_init_only_stores_parameters(cls, params):
    est = cls(**params)
    for name, value in params.items():
        assert getattr(est, name) == value
    assert not [a for a in vars(est) if a.endswith("_")], "no fitted state before fit"
    cls(n_components=7)  # invalid values are accepted by __init__ and refused by fit


@pytest.mark.parametrize("cls", [PCAProjection, UMAPProjection])
def test_scikit_learn_can_clone_and_set_the_parameters(cls):
    from sklearn.base import clone

    est = cls(n_components=3)
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params() and copy.n_components == 3
    assert est.set_params(n_components=2) is est and est.n_components == 2
    with pytest.raises(ValueError, match=f"{cls.__name__} has no parameter 'n_neighbours'"):
        est.set_params(n_neighbours=5)


def test_fit_returns_self_and_fitted_state_ends_with_underscore(data, fitted):
    pca = PCAProjection()
    assert pca.fit(data[0]) is pca
    for est in (pca, fitted):
        state = {a for a in vars(est) if not a.startswith("_")} - set(type(est)().__dict__)
        assert state and all(a.endswith("_") for a in state), state
        assert est.embedding_.shape == (len(data[0]), 2) and est.embedding_.dtype == np.float32


def test_transform_before_fit_says_to_fit():
    with pytest.raises(RuntimeError, match=r"not fitted yet; call fit\(vectors\) first"):
        PCAProjection().transform(np.ones((2, 3)))


# --- PCA ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, d", [(300, 16), (10, 40)])  # covariance path and SVD path
def test_pca_matches_numpy_svd(n, d):
    X = np.random.default_rng(1).normal(size=(n, d)).astype(np.float32) * np.linspace(3, 0.1, d)
    pca = PCAProjection(3).fit(X)
    Xc = X - X.mean(0)
    _, s, vt = np.linalg.svd(Xc.astype(np.float64), full_matrices=False)
    expected = Xc @ vt[:3].T
    assert np.allclose(np.abs(pca.embedding_), np.abs(expected), atol=1e-3)
    assert np.allclose(pca.explained_variance_, s[:3] ** 2 / (n - 1), rtol=1e-3)
    assert np.allclose(pca.transform(X), pca.embedding_, atol=1e-4)
    assert 0 < pca.explained_variance_ratio_.sum() <= 1 + 1e-6
    again = PCAProjection(3).fit(X[::-1])  # signs are deterministic
    assert np.allclose(again.embedding_[::-1], pca.embedding_, atol=1e-3)


def test_pca_add_points_appends_transformed_rows(data):
    pca = PCAProjection().fit(data[0][:100])
    layout = pca.add_points(data[0][100:])
    assert layout.shape == (len(data[0]), 2)
    assert np.allclose(layout[100:], pca.transform(data[0][100:]))


# --- UMAP --------------------------------------------------------------------------------------

def test_umap_keeps_clusters_apart(data, fitted):
    labels = data[1]
    assert cluster_purity(fitted.embedding_, labels) > 0.95
    centroids = np.stack([fitted.embedding_[labels == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(fitted.embedding_[labels == c] - centroids[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centroids[a] - centroids[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread


def test_umap_3d_and_reproducible(data):
    X = data[0][:60]
    a = UMAPProjection(n_components=3, n_neighbors=8, n_epochs=30, random_state=0).fit(X)
    b = UMAPProjection(n_components=3, n_neighbors=8, n_epochs=30, random_state=0).fit(X)
    assert a.embedding_.shape == (60, 3)
    assert np.allclose(a.embedding_, b.embedding_)


def test_umap_of_three_points_works():
    layout = UMAPProjection(n_neighbors=2, n_epochs=10).fit_transform(unit(np.eye(3, 8) + 0.1))
    assert layout.shape == (3, 2) and np.isfinite(layout).all()


def test_add_points_places_new_points_near_their_neighbours(data):
    X, labels = data
    est = UMAPProjection(n_neighbors=10).fit(X)
    old = est.embedding_.copy()
    rng = np.random.default_rng(5)
    new = unit(X[labels == 1][:5] + 0.05 * rng.normal(size=(5, X.shape[1])))
    layout = est.add_points(new)
    assert layout.shape == (len(X) + 5, 2) and est.embedding_ is layout
    assert np.array_equal(layout[: len(X)], old), "old points stay where they were"
    centroids = np.stack([old[labels == c].mean(0) for c in range(3)])
    nearest = np.linalg.norm(layout[len(X):, None] - centroids[None], axis=2).argmin(1)
    assert (nearest == 1).all()


def test_a_new_point_of_a_small_cluster_lands_in_it():
    """With k=15 neighbours and a cluster of 5, a plain mean of the neighbours put a new member
    between the clusters; weighted by UMAP's membership strengths it lands among its own."""
    rng = np.random.default_rng(0)
    big, small = rng.normal(size=64), rng.normal(size=64)
    X = np.vstack([unit(big + 0.3 * rng.normal(size=(40, 64))), unit(small + 0.3 * rng.normal(size=(5, 64)))])
    est = UMAPProjection(n_neighbors=15, random_state=0).fit(X)
    centre_big, centre_small = est.embedding_[:40].mean(0), est.embedding_[40:].mean(0)
    placed = est.transform(unit(small + 0.3 * rng.normal(size=(3, 64))))
    to_small = np.linalg.norm(placed - centre_small, axis=1)
    to_big = np.linalg.norm(placed - centre_big, axis=1)
    assert (to_small < 0.25 * to_big).all(), (to_small, to_big)


def test_changing_n_neighbors_after_a_fit_does_not_move_added_points(data):
    X, _ = data
    est = UMAPProjection(n_neighbors=10).fit(X[:100])
    before = est.transform(X[100:105])
    est.set_params(n_neighbors=50)  # for the next fit only
    assert np.array_equal(est.transform(X[100:105]), before)


def test_add_points_with_refit_keeps_the_map_and_its_neighbour_lists(data):
    X, labels = data
    est = UMAPProjection(n_neighbors=10, n_epochs=60).fit(X[:100])
    est.add_points(X[100:110])
    layout = est.add_points(X[110:], refit=True, n_epochs=30)
    assert cluster_purity(layout, labels) > 0.95
    expected = exact_knn(est.vectors_, est.vectors_, 10, self_first=True)
    assert np.array_equal(np.sort(est.knn_[0], 1), np.sort(expected[0], 1))
    assert np.allclose(np.sort(est.knn_[1], 1), np.sort(expected[1], 1), atol=1e-5)


def test_exact_knn_puts_each_point_first_even_with_duplicates():
    X = unit(np.vstack([np.ones((3, 4)), np.eye(4)]))
    idx, dist = exact_knn(X, X, 3, self_first=True)
    assert (idx[:, 0] == np.arange(len(X))).all() and np.allclose(dist[:, 0], 0, atol=1e-6)
    assert (np.diff(dist, axis=1) >= -1e-6).all()


# --- modality gap ------------------------------------------------------------------------------

def test_centring_closes_a_planted_modality_gap():
    rng = np.random.default_rng(0)
    content = unit(rng.normal(size=(50, 32)))
    offset = unit(rng.normal(size=32)) * GAP
    X = np.vstack([content, unit(content + offset)])
    is_image = np.r_[np.zeros(50, bool), np.ones(50, bool)]
    raw, centred = modality_gap(X, is_image), modality_gap(centre_modalities(X, is_image), is_image)
    assert raw > 0.5 and centred < 0.05 * raw
    assert np.allclose(np.linalg.norm(centre_modalities(X, is_image), axis=1), 1, atol=1e-5)
    # after centring, each image's nearest text is its own content
    Y = centre_modalities(X, is_image)
    assert (np.argmax(Y[50:] @ Y[:50].T, axis=1) == np.arange(50)).mean() > 0.9
    assert modality_gap(X, np.ones(100, bool)) == 0.0


# --- bad inputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [PCAProjection, UMAPProjection])
@pytest.mark.parametrize("X, message", [
    (np.zeros((0, 8)), r"the map is empty: there are no embeddings to project; add prompts or images first"),
    (np.ones((1, 8)), r"a map needs at least 2 points, got 1; add another prompt or image"),
    (np.ones(8), r"embeddings must be a 2-D array \(points x dimensions\), got shape \(8,\)"),
    (np.array([[1.0, 0], [np.nan, 1], [0, 1]]),
     r"embeddings of 1 point\(s\) contain NaN or infinite values \(rows 1\); re-embed those items"),
])
def test_bad_embeddings_are_refused_with_what_to_do(cls, X, message):
    with pytest.raises(ValueError, match=message):
        cls().fit(X)


def test_umap_parameter_errors(data):
    X = data[0][:10]
    with pytest.raises(ValueError, match=r"n_neighbors=15 is larger than the data: the map has 10 points, so "
                                         r"n_neighbors can be at most 9; lower n_neighbors or add points"):
        UMAPProjection().fit(X)
    with pytest.raises(ValueError, match=r"n_components must be 2 or 3 for a map, got 4"):
        UMAPProjection(n_components=4, n_neighbors=3).fit(X)
    with pytest.raises(ValueError, match=r"n_neighbors must be a whole number of at least 2, got 1"):
        UMAPProjection(n_neighbors=1).fit(X)
    with pytest.raises(ValueError, match=r"point\(s\) 0 have an all-zero embedding"):
        UMAPProjection(n_neighbors=3).fit(np.vstack([np.zeros((1, X.shape[1])), X]))


def test_new_points_from_another_model_are_refused(data, fitted):
    message = (r"the map was fitted on 64-dimensional embeddings but the new points have 512; "
               r"embed them with the same CLIP model as the map")
    with pytest.raises(ValueError, match=message):
        fitted.transform(np.ones((2, 512)))
    with pytest.raises(ValueError, match=message):
        PCAProjection().fit(data[0]).transform(np.ones((2, 512)))
