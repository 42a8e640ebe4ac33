"""``layout()`` / ``cluster_layout()``: clustering embedding and 2-D map from ONE neighbour graph.

The usual recipe (UMAP to 5-D for HDBSCAN, then a second, independent UMAP to 2-D for the map)
builds the expensive nearest-neighbour graph twice and starts both optimisations from a
spectral embedding (an eigen-solve). Here the graph is built once, the 5-D clustering embedding
starts from the vectors' principal axes smoothed over that graph (``init="pca"``) and runs fewer
epochs (60 vs UMAP's 200 above 10,000 points: HDBSCAN needs neighbourhoods pulled together, not a
converged picture), and the 2-D map is fitted on the same graph starting from the 5-D
embedding's principal plane (so it converges in fewer epochs).
Everything is cached on disk by (input hash, parameters).

>>> lay = kv.layout(emb)
>>> lay.cluster_coords.shape, lay.map_coords.shape
((480, 5), (480, 2))
>>> res, xy = kv.cluster_layout(emb, "hdbscan", truth=df.topic)   # HDBSCAN on the 5-D, map in 2-D
>>> len(res.labels) == len(xy) == len(emb)
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from kosbert_viz.geometry.reduce import (
    KNNGraph,
    array_hash,
    check_matrix,
    check_mode,
    default_cluster_epochs,
    knn_graph,
    reduce_from_graph,
    scaled_init,
)

__all__ = ["layout", "Layout", "HIERARCHY_RUNS", "ENSEMBLE_EPOCHS"]


ENSEMBLE_EPOCHS = 25  # epochs of each run when the clustering embedding is several runs side by side
HIERARCHY_RUNS = 4  # runs side by side in the theme hierarchy's clustering embedding


@dataclass
class Layout:
    """Coordinates from one shared neighbour graph."""

    cluster_coords: np.ndarray | None  # (n, cluster_dims * cluster_runs), min_dist 0: for clustering
    map_coords: np.ndarray  # (n, map_dims): for the picture
    knn: KNNGraph
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def layout(
    X,
    *,
    cluster_dims: int | None = 5,
    map_dims: int = 2,
    n_neighbors: int = 15,
    metric: str = "cosine",
    pca_components: int | None = None,
    map_min_dist: float = 0.1,
    cluster_epochs: int | None = None,
    cluster_runs: int = 1,
    map_epochs: int | None = None,
    mode: str = "deterministic",
    random_state: int = 42,
    cache="auto",
    show_progress_bar: bool | None = None,
) -> Layout:
    """A ``cluster_dims``-D clustering embedding and a ``map_dims``-D map sharing one kNN graph.

    Parameters
    ----------
    X : array (n, d)
    cluster_dims : dimensions of the clustering embedding (5-10); None to make only the map
    map_dims : 2 or 3
    cluster_epochs : epochs of the clustering UMAP (started from ``init="pca"``); None:
        :func:`kosbert_viz.geometry.reduce.default_cluster_epochs` (200 up to 2,000 points, 60 from 5,000), or
        :data:`ENSEMBLE_EPOCHS` (25) per run when ``cluster_runs > 1``
    cluster_runs : the clustering embedding is this many UMAP runs (seeds ``random_state + r``) side
        by side, each centred and scaled to unit mean square norm: ``(n, cluster_dims * cluster_runs)``.
        One stochastic layout moves with the seed and with float noise (ARI 0.6-0.7 between k-means
        themes of two runs on 10,000 YNAT titles); four short runs together agree at 0.93-0.94
        (``benchmarks/bench_stability.py``). The theme hierarchy uses :data:`HIERARCHY_RUNS` runs.
    map_epochs : epochs of the map UMAP; None: when it starts from the clustering embedding
        (already laid out) 100 up to 10,000 points, 50 above; else UMAP's default (the map then
        starts from ``init="pca"``)
    mode, random_state, cache, pca_components, n_neighbors, metric : as in :func:`kosbert_viz.reduce`

    >>> lay = kv.layout(emb, cluster_dims=None, map_dims=3)   # only a 3-D map
    >>> lay.cluster_coords is None, lay.map_coords.shape
    (True, (480, 3))
    """
    check_mode(mode)
    X = check_matrix(X)
    if cluster_dims is not None and not 2 <= int(cluster_dims) <= 50:
        raise ValueError(f"cluster_dims must be between 2 and 50 (5-10 suits HDBSCAN), got {cluster_dims}")
    if map_dims not in (2, 3):
        raise ValueError(f"map_dims must be 2 or 3, got {map_dims}")
    if isinstance(cluster_runs, bool) or not isinstance(cluster_runs, (int, np.integer)) or not 1 <= cluster_runs <= 16:
        raise ValueError(f"cluster_runs must be an integer between 1 and 16, got {cluster_runs!r}")
    xhash = array_hash(X)
    common = dict(
        metric=metric,
        n_neighbors=n_neighbors,
        pca_components=pca_components,
        mode=mode,
        random_state=random_state,
        cache=cache,
        show_progress_bar=show_progress_bar,
        xhash=xhash,
    )
    timings = {}
    t = time.perf_counter()
    knn = knn_graph(X, **common)
    timings["knn"] = time.perf_counter() - t
    Zc = None
    # map only: the principal axes smoothed over the graph (0.2 s) instead of a spectral embedding
    # (an eigen-solve); YNAT, 45,654 headlines, default epochs: trustworthiness 0.8336 in 15.9 s
    # against 0.8334 in 22.3 s (one run each)
    init = "pca"
    big = len(X) > 10_000
    if cluster_dims is not None:
        if cluster_epochs is None:
            cluster_epochs = default_cluster_epochs(len(X)) if cluster_runs == 1 else ENSEMBLE_EPOCHS
        t = time.perf_counter()
        runs = [
            reduce_from_graph(
                X,
                "umap",
                n_components=int(cluster_dims),
                min_dist=0.0,
                init="pca",
                n_epochs=cluster_epochs,
                knn=knn,
                memo=True,
                **{**common, "random_state": random_state + r},
            )
            for r in range(int(cluster_runs))
        ]
        Zc = runs[0] if cluster_runs == 1 else np.hstack([_standardized(Z) for Z in runs])
        timings["cluster_embedding"] = time.perf_counter() - t
        init = scaled_init(runs[0], map_dims, random_state)
        if map_epochs is None:
            map_epochs = 50 if big else 100
    t = time.perf_counter()
    Ym = reduce_from_graph(
        X,
        "umap",
        n_components=map_dims,
        min_dist=map_min_dist,
        init=init,
        n_epochs=map_epochs,
        knn=knn,
        memo=True,
        **common,
    )
    timings["map"] = time.perf_counter() - t
    params = {
        "cluster_dims": cluster_dims,
        "map_dims": map_dims,
        "n_neighbors": n_neighbors,
        "metric": metric,
        "pca_components": pca_components,
        "map_min_dist": map_min_dist,
        "cluster_epochs": cluster_epochs,
        "cluster_runs": int(cluster_runs),
        "map_epochs": map_epochs,
        "mode": mode,
        "random_state": random_state,
        "knn_exact": knn.exact,
    }
    return Layout(Zc, Ym, knn, params, timings)


def _standardized(Z):
    """``Z`` centred and scaled to unit mean square norm (runs side by side weigh the same)."""
    Z = np.asarray(Z, np.float64)
    Z = Z - Z.mean(0)
    return (Z / max(float(np.sqrt((Z**2).sum(1).mean())), 1e-12)).astype(np.float32)
