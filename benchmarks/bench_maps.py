"""Latent-map figures: first map, warm UMAP, adding points, PCA, and umap's cold start.

Targets (issue 5, 2-core machine): first map of 1,000 points on screen <= 5 s in a fresh
process (PCA at once, UMAP replacing it without blocking); warm UMAP of 5,000 points
<= 5 s (1,000 <= 3 s, 4,000 <= 4 s, 10,000 <= 10 s); adding 100 points to a 5,000-point
map <= 1 s; PCA of 5,000 points <= 0.1 s; `import umap` <= 3 s with a warm numba cache;
warm-up <= 60 s with a filled cache and <= 150 s cold.
Baselines in the same run: umap-learn's own UMAP (defaults, and with our 200 epochs) on
the same data, its `transform` for added points, and scikit-learn's PCA.

All data are synthetic CLIP-like vectors: unit-norm 512-d, in 20 clusters.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from common import record, timeit

DIM = 512


def clip_like(n: int, seed: int = 0, clusters: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIM))
    X = centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, DIM))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def child(code: str, cache_dir: str) -> dict:
    """Run `code` in a fresh Python with NUMBA_CACHE_DIR set; it prints one JSON line."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONWARNINGS": "ignore"}
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.time() - start
    result["started"] = start  # wall-clock moments the child reports are relative to this
    return result


FIRST_MAP = """
import time, json
import numpy as np
from workbench.maps.points import MapPoints
from workbench.maps.state import LatentMapState
from workbench.store import GenerationRequest, ImageRecord
from types import SimpleNamespace
rng = np.random.default_rng(0)
centres = rng.normal(size=(100, 512))
prompts = [f"prompt {i}, octane render" for i in range(100)]
texts = centres / np.linalg.norm(centres, axis=1, keepdims=True)
imgs = centres.repeat(9, 0) + 0.5 * rng.normal(size=(900, 512))
imgs /= np.linalg.norm(imgs, axis=1, keepdims=True)
items = [SimpleNamespace(record=ImageRecord(request=GenerationRequest(model="toyworld", prompt=prompts[i // 9],
         seed=i % 9, steps=20, guidance=7.5, width=64, height=64, modifiers=(("render_engines", "octane-render"),))),
         image=None, path=None) for i in range(900)]
points = MapPoints.build(prompts, texts, items, imgs)
import workbench.maps.warmup
if PROJECTION == "pca":  # the baseline: PCA with nothing beside it (the widget would warm UMAP up)
    workbench.maps.warmup.warm_up = lambda *args, **kwargs: None
from workbench.maps.widget import LatentMap
m = LatentMap(points, projection=PROJECTION)
m.widget  # the FigureWidget with the PCA layout, ready to display
t_pca = time.time()
m.state.wait()
t_umap = time.time()
assert m.state.shown == PROJECTION, m.state.status
print(json.dumps({"points": len(points), "pca_on_screen": t_pca, "umap_replaces": t_umap}))
"""

IMPORT_UMAP = """
import time, json
t0 = time.perf_counter()
from workbench.maps.warmup import import_umap
import_umap()
print(json.dumps({"import_s": time.perf_counter() - t0}))
"""

WARM_UP = """
import time, json
t0 = time.perf_counter()
from workbench.maps.warmup import warm_up
w = warm_up(background=False)
assert not w.error, w.error
print(json.dumps({"warm_up_s": time.perf_counter() - t0}))
"""


def fresh_process_rows(warm_cache: str) -> list[dict]:
    rows = []
    child(WARM_UP, warm_cache)  # make sure the persistent cache is filled
    # from the launch of a fresh Python (interpreter start and every import included)
    runs = [child(FIRST_MAP.replace("PROJECTION", '"umap"'), warm_cache) for _ in range(3)]
    first = sorted(runs, key=lambda r: r["pca_on_screen"] - r["started"])[1]
    pca_only = sorted(r["pca_on_screen"] - r["started"]
                      for r in (child(FIRST_MAP.replace("PROJECTION", '"pca"'), warm_cache) for _ in range(3)))[1]
    # pca_only_s: the same map as PCA alone, with no UMAP fit or warm-up started beside it
    rows.append({"what": "first map of 1,000 points, fresh process: PCA widget ready (UMAP started)",
                 "seconds": first["pca_on_screen"] - first["started"], "pca_only_s": pca_only,
                 "target_s": 5.0})
    rows.append({"what": "  ... UMAP replaces it (background thread)", "seconds": first["umap_replaces"] - first["started"]})
    with tempfile.TemporaryDirectory() as cold:
        cold_import = child(IMPORT_UMAP, cold)["import_s"]
    with tempfile.TemporaryDirectory() as cold:
        cold_warm_up = child(WARM_UP, cold)["warm_up_s"]
    warm_imports = sorted(child(IMPORT_UMAP, warm_cache)["import_s"] for _ in range(3))
    warm_warm_up = child(WARM_UP, warm_cache)["warm_up_s"]
    rows.append({"what": "import umap, cold numba cache", "seconds": cold_import})
    rows.append({"what": "import umap, warm numba cache", "seconds": warm_imports[1], "cold_s": cold_import,
                 "speedup": cold_import / warm_imports[1], "target_s": 3.0})
    rows.append({"what": "warm-up (import + compile), cold cache", "seconds": cold_warm_up, "target_s": 150.0})
    rows.append({"what": "warm-up (import + compile), warm cache", "seconds": warm_warm_up, "target_s": 60.0})
    return rows


def steady_rows() -> list[dict]:
    from workbench.maps.projection import PCAProjection, UMAPProjection
    from workbench.maps.warmup import import_umap, warm_up

    warm_up(background=False)
    umap = import_umap()
    rows = []

    def raw_umap(X, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return umap.UMAP(metric="cosine", **kwargs).fit(X)

    # 1. UMAP at several sizes, ours against raw umap-learn on the same data
    for n, target in ((1000, 3.0), (4000, 4.0), (5000, 5.0), (10_000, 10.0)):
        X = clip_like(n, seed=n)
        ours = timeit(lambda X=X: UMAPProjection().fit(X), repeat=2 if n <= 5000 else 1, warmup=1)
        row = {"what": f"warm UMAP of {n:,} points", "seconds": ours, "target_s": target}
        if n in (4000, 5000):
            raw = timeit(lambda X=X: raw_umap(X), repeat=1, warmup=1)  # its first call compiles, as ours did
            raw_200 = timeit(lambda X=X: raw_umap(X, n_epochs=200), repeat=1, warmup=0)
            # The fair ratio first: both at 200 epochs. Below 4,096 points it is umap-learn's
            # all-pairs neighbour loop that loses; above, both are the same layout code.
            row.update({"umap_learn_200_epochs_s": raw_200, "speedup": raw_200 / ours,
                        "umap_learn_default_s": raw, "speedup_vs_its_default_500_epochs": raw / ours})
        rows.append(row)

    # 2. Adding 100 points to a 5,000-point map
    X, new = clip_like(5000, seed=5000), clip_like(100, seed=1)
    fitted = UMAPProjection().fit(X)

    def add(refit):
        projection = UMAPProjection()
        projection.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(fitted).items()})
        projection.knn_ = tuple(a.copy() for a in fitted.knn_)
        start = time.perf_counter()
        projection.add_points(new, refit=refit)
        return time.perf_counter() - start

    placed = np.median([add(False) for _ in range(5)])
    refitted = np.median([add(True) for _ in range(2)])
    raw_model = raw_umap(X, n_epochs=200)
    raw_transform = timeit(lambda: raw_model.transform(new), repeat=2, warmup=1)
    rows.append({"what": "add 100 points to a 5,000-point map (kNN placement)", "seconds": float(placed),
                 "umap_learn_transform_s": raw_transform, "speedup": raw_transform / placed, "target_s": 1.0})
    rows.append({"what": "add 100 points + refit from the layout (30 epochs)", "seconds": float(refitted),
                 "target_s": 1.0})

    # 3. PCA of 5,000 points, against scikit-learn
    from sklearn.decomposition import PCA

    ours = timeit(lambda: PCAProjection().fit(X), repeat=5)
    sk = timeit(lambda: PCA(2).fit_transform(X), repeat=5)
    rows.append({"what": "PCA of 5,000 x 512", "seconds": ours, "sklearn_s": sk, "speedup": sk / ours,
                 "target_s": 0.1})
    return rows


def main():
    from workbench.maps.warmup import use_persistent_cache

    warm_cache = str(use_persistent_cache())
    rows = fresh_process_rows(warm_cache)
    rows += steady_rows()
    record("maps", rows)


if __name__ == "__main__":
    main()
