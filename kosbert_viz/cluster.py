"""``cluster()``: labels for vectors (k-means with automatic k, or HDBSCAN).

>>> res = kv.cluster(emb, method="kmeans")          # k chosen by silhouette
>>> res = kv.cluster(emb, method="hdbscan")         # on a 5-D UMAP of emb; -1 = noise
>>> res.labels, res.sizes, res.n_clusters
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .reduce import _check_matrix, reduce

__all__ = ["cluster", "ClusterResult"]

_MINIBATCH_ABOVE = 50_000


@dataclass
class ClusterResult:
    """Cluster labels (``-1`` = noise) and what describes them."""

    labels: np.ndarray
    method: str
    params: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return int(len(np.unique(self.labels[self.labels >= 0])))

    @property
    def sizes(self):
        """Points per cluster label (noise included as -1), largest first (pandas Series)."""
        import pandas as pd

        return pd.Series(self.labels).value_counts().rename("size").rename_axis("cluster")

    @property
    def noise_fraction(self) -> float:
        return float(np.mean(self.labels < 0)) if len(self.labels) else 0.0

    def __repr__(self) -> str:
        return (f"ClusterResult(method={self.method!r}, n_clusters={self.n_clusters}, "
                f"noise_fraction={self.noise_fraction:.3f}, n={len(self.labels)})")


def _auto_k(X, k_range, sample_size, random_state):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(random_state)
    sample = X if len(X) <= sample_size else X[rng.choice(len(X), sample_size, replace=False)]
    lo, hi = k_range
    hi = min(hi, len(sample) - 1)
    best_k, best_s, table = lo, -np.inf, {}
    for k in range(lo, hi + 1):
        labels = KMeans(n_clusters=k, n_init=3, random_state=random_state).fit_predict(sample)
        s = float(silhouette_score(sample, labels, metric="cosine"))
        table[k] = s
        if s > best_s:
            best_k, best_s = k, s
    return best_k, table


def cluster(X, method="kmeans", *, n_clusters: int | None = None, min_cluster_size: int | None = None,
            k_range: tuple[int, int] = (2, 20), reduce_to: int | None = 5, random_state: int = 42,
            sample_size: int = 5000) -> ClusterResult:
    """Cluster vectors.

    Parameters
    ----------
    X : array (n, d)
        Embeddings or low-dimensional coordinates.
    method : "kmeans", "hdbscan", or any estimator with ``fit_predict``
    n_clusters : k for k-means; None picks k in ``k_range`` by cosine silhouette on a sample
    min_cluster_size : HDBSCAN's smallest cluster (default max(5, n/100))
    reduce_to : HDBSCAN runs on a UMAP of this many dimensions when ``d`` is larger
        (density is meaningless in 768-D); None to use ``X`` as is
    random_state : seed for k-means and the UMAP pre-step

    Returns a :class:`ClusterResult`.
    """
    X = _check_matrix(X)
    n = len(X)
    if n < 2:
        raise ValueError(f"need at least 2 points to cluster, got {n}")
    if hasattr(method, "fit_predict"):
        labels = np.asarray(method.fit_predict(X)).astype(np.int64)
        return ClusterResult(labels, type(method).__name__, {"estimator": repr(method)})
    if method == "kmeans":
        from sklearn.cluster import KMeans, MiniBatchKMeans

        scores = {}
        k = n_clusters
        if k is None:
            k, table = _auto_k(X, k_range, sample_size, random_state)
            scores["silhouette_by_k"] = table
        if not 1 <= k <= n:
            raise ValueError(f"n_clusters must be between 1 and the number of points ({n}), got {k}")
        est = (MiniBatchKMeans(n_clusters=k, random_state=random_state, n_init=3, batch_size=4096)
               if n > _MINIBATCH_ABOVE else KMeans(n_clusters=k, random_state=random_state, n_init=10))
        labels = est.fit_predict(X).astype(np.int64)
        return ClusterResult(labels, "kmeans", {"n_clusters": int(k), "auto_k": n_clusters is None,
                                                "estimator": type(est).__name__}, scores)
    if method == "hdbscan":
        mcs = int(min_cluster_size or max(5, n // 100))
        if mcs < 2:
            raise ValueError(f"min_cluster_size must be >= 2, got {mcs}")
        Z = X
        if reduce_to and X.shape[1] > reduce_to and n > reduce_to + 1:
            Z = reduce(X, "umap", n_components=reduce_to, min_dist=0.0, random_state=random_state)
        labels, impl = _hdbscan(Z, mcs)
        return ClusterResult(labels, "hdbscan", {"min_cluster_size": mcs, "reduce_to": reduce_to,
                                                 "implementation": impl})
    raise ValueError(f"method must be 'kmeans', 'hdbscan' or an estimator with fit_predict, got {method!r}")


def _hdbscan(Z, min_cluster_size):
    try:
        import fast_hdbscan

        return np.asarray(fast_hdbscan.HDBSCAN(min_cluster_size=min_cluster_size).fit_predict(Z),
                          dtype=np.int64), "fast_hdbscan"
    except ImportError:
        from sklearn.cluster import HDBSCAN

        return HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(Z).astype(np.int64), "sklearn"
