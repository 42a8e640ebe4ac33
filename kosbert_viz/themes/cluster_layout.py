"""``cluster_layout()``: cluster labels and map coordinates in one go, from one shared neighbour graph.

>>> res, xy = kv.cluster_layout(emb, "hdbscan", truth=df.topic)   # HDBSCAN on the 5-D, map in 2-D
>>> len(res.labels) == len(xy) == len(emb)
True
"""

from __future__ import annotations

import numpy as np

from kosbert_viz._util.progress import want_progress
from kosbert_viz.geometry.layout import HIERARCHY_RUNS, layout
from kosbert_viz.geometry.reduce import check_matrix
from kosbert_viz.themes.cluster import cluster
from kosbert_viz.themes.result import ClusterResult

__all__ = ["cluster_layout"]


def cluster_layout(
    X,
    method="hdbscan",
    *,
    n_clusters: int | None = None,
    min_cluster_size: int | None = None,
    truth=None,
    map_dims: int = 2,
    cluster_dims: int = 5,
    n_neighbors: int = 15,
    map_min_dist: float = 0.1,
    mode: str = "deterministic",
    random_state: int = 42,
    cache="auto",
    show_progress_bar: bool | None = None,
    **cluster_kwargs,
) -> tuple[ClusterResult, np.ndarray]:
    """Cluster labels and map coordinates in one go, from one shared neighbour graph.

    HDBSCAN runs on the ``cluster_dims``-D embedding, the theme hierarchy on :data:`HIERARCHY_RUNS`
    short runs of it side by side (on ``X`` itself for fewer than ``cluster_dims + 3`` points);
    k-means / agglomerative / an estimator run on ``X`` itself (then only the map is fitted).
    ``n_neighbors`` and ``map_min_dist`` go to :func:`layout`; any other keyword goes to
    :func:`kosbert_viz.cluster` (an unknown one raises ``TypeError``).
    Returns ``(ClusterResult, coords)``.

    >>> res, xy = kv.cluster_layout(emb, "kmeans", n_clusters=5, n_neighbors=10)
    >>> xy.shape, res.n_clusters
    ((480, 2), 5)
    """
    import inspect

    unknown = set(cluster_kwargs) - set(inspect.signature(cluster).parameters)
    if unknown:
        raise TypeError(
            f"cluster_layout() got unexpected keyword argument(s) {sorted(unknown)}; layout options are "
            f"n_neighbors, map_dims, cluster_dims, map_min_dist, and clustering options are those of "
            f"kv.cluster"
        )
    X = check_matrix(X)
    # HDBSCAN on a low-D embedding when there is room for one (as cluster() does), else on X itself
    # HDBSCAN and the theme hierarchy run on the low-D embedding of the same graph as the map
    density = method in ("hdbscan", "hierarchy") and len(X) > cluster_dims + 2 and X.shape[1] > cluster_dims
    if method == "hdbscan" and not density:
        cluster_kwargs.setdefault("reduce_to", None)
    lay = layout(
        X,
        cluster_dims=cluster_dims if density else None,
        map_dims=map_dims,
        n_neighbors=n_neighbors,
        map_min_dist=map_min_dist,
        cluster_runs=HIERARCHY_RUNS if method == "hierarchy" else 1,
        mode=mode,
        random_state=random_state,
        cache=cache,
        show_progress_bar=show_progress_bar if show_progress_bar is not None else want_progress(None, len(X)),
    )
    res = cluster(
        X,
        method,
        n_clusters=n_clusters,
        min_cluster_size=min_cluster_size,
        truth=truth,
        embedding=lay.cluster_coords if density else None,
        mode=mode,
        random_state=random_state,
        cache=cache,
        n_neighbors=n_neighbors,
        show_progress_bar=show_progress_bar,
        **cluster_kwargs,
    )
    res.params["layout"] = {**lay.params, "timings": {k: round(v, 3) for k, v in lay.timings.items()}}
    return res, lay.map_coords
