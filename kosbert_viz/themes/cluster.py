"""``cluster()``: labels for vectors (k-means with automatic k, HDBSCAN, agglomerative, any estimator).

>>> res = kv.cluster(emb, method="kmeans")            # k chosen by silhouette on a sample
>>> res = kv.cluster(emb, method="hdbscan")           # on a 5-D UMAP of emb; -1 = noise
>>> res = kv.cluster(emb, method="hierarchy")         # nested theme levels, every text placed
>>> bool((res.labels == res.levels[res.default_level]).all())   # labels: the default level
True
>>> edited = res.merge([0, 1]).split(0).rename({0: "배송"})   # each edit returns a new result
>>> res = kv.cluster(emb, n_clusters=7, truth=df.topic)
>>> res.n_clusters, len(res.labels), res.noise_fraction
(7, 480, 0.0)
>>> sorted(res.scores)                                 # internal scores, and agreement with truth
['ari', 'calinski_harabasz', 'completeness', 'davies_bouldin', 'homogeneity', 'nmi', 'scored_on', 'silhouette', 'v_measure']
>>> sw = kv.sweep(emb, "kmeans", values=range(4, 9), truth=df.topic)
>>> sw.table.n_clusters.tolist()                       # one row per k; sw.chart: long form for a line chart
[4, 5, 6, 7, 8]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.progress import Stages, want_progress
from kosbert_viz._util.validation import identical_rows
from kosbert_viz.geometry.reduce import (
    check_matrix,
    check_mode,
    default_cluster_epochs,
    reduce,
    unit_rows,
)
from kosbert_viz.themes.hierarchy import attach_hierarchy, cluster_hierarchy
from kosbert_viz.themes.result import ClusterResult
from kosbert_viz.themes.tree import cluster_centroids

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["cluster", "ClusterResult", "sweep", "Sweep", "cluster_scores"]

_MINIBATCH_ABOVE = 50_000  # MiniBatchKMeans above this many points
_AGGLOMERATIVE_MAX = 20_000  # agglomerative clustering needs O(n^2) memory
_SCORE_SAMPLE = 5_000  # silhouette on at most this many points
_FAST_SCORE_SAMPLE = 50_000  # Davies-Bouldin / Calinski-Harabasz on at most this many
_METHODS = ("kmeans", "hdbscan", "agglomerative", "hierarchy")


def _sample_idx(n, size, random_state):
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size, replace=False))


def _check_truth(truth, n):
    if truth is None:
        return None
    truth = np.asarray(truth)
    if truth.ndim != 1 or len(truth) != n:
        raise ValueError(f"truth must be 1-D with one label per point ({n}), got shape {truth.shape}")
    return truth


def _same_vectors_same_label(X, labels, min_cluster_size):
    """Identical vectors (the same text repeated) get one label: the most common non-noise label among
    their copies. A layout spreads exact copies apart, so HDBSCAN could split 500 copies of one text into
    several clusters and noise. A group of at least ``min_cluster_size`` copies that HDBSCAN left entirely
    as noise becomes a cluster of its own. Labels are then renumbered 0..k-1 by first appearance order of
    the old labels (noise stays -1).
    """
    group, counts = identical_rows(X)
    if counts.max(initial=1) < 2:
        return labels
    labels = labels.copy()
    next_label = int(labels.max(initial=-1)) + 1
    order = np.argsort(group, kind="stable")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    for g in np.flatnonzero(counts >= 2):
        members = order[starts[g] : starts[g] + counts[g]]
        lab = labels[members]
        real = lab[lab >= 0]
        if len(real):
            values, c = np.unique(real, return_counts=True)
            labels[members] = values[np.argmax(c)]
        elif counts[g] >= min_cluster_size:
            labels[members] = next_label
            next_label += 1
    used = np.unique(labels[labels >= 0])
    remap = np.full(next_label + 1, -1, np.int64)
    remap[used] = np.arange(len(used))
    return np.where(labels >= 0, remap[np.maximum(labels, 0)], -1)


def cluster_scores(
    X, labels, *, truth=None, sample_size: int = _SCORE_SAMPLE, random_state: int = 42, internal: bool = True
) -> dict:
    """Internal scores of ``labels`` on ``X`` (noise left out) and, given ``truth``, agreement with it.

    silhouette (cosine) on a sample of ``sample_size`` points, Davies-Bouldin and Calinski-Harabasz
    on up to 50,000; ARI / NMI / V-measure on all points, noise counted as one more label.

    >>> s = cluster_scores(emb, res.labels, truth=df.topic)
    >>> list(s)
    ['silhouette', 'davies_bouldin', 'calinski_harabasz', 'scored_on', 'ari', 'nmi', 'v_measure', 'homogeneity', 'completeness']
    >>> -1 <= s["silhouette"] <= 1, s["scored_on"]
    (True, 480)
    """
    from sklearn import metrics as skm

    X = np.asarray(X)
    labels = np.asarray(labels)
    out: dict = {}
    keep = np.flatnonzero(labels >= 0)
    n_lab = len(np.unique(labels[keep]))
    if internal and 2 <= n_lab < len(keep):
        s = keep[_sample_idx(len(keep), sample_size, random_state)]
        if len(np.unique(labels[s])) >= 2:
            out["silhouette"] = float(skm.silhouette_score(X[s], labels[s], metric="cosine"))
        f = keep[_sample_idx(len(keep), _FAST_SCORE_SAMPLE, random_state)]
        if len(np.unique(labels[f])) >= 2:
            out["davies_bouldin"] = float(skm.davies_bouldin_score(X[f], labels[f]))
            out["calinski_harabasz"] = float(skm.calinski_harabasz_score(X[f], labels[f]))
        out["scored_on"] = int(len(s))
    if truth is not None:
        truth = _check_truth(truth, len(labels))
        out["ari"] = float(skm.adjusted_rand_score(truth, labels))
        out["nmi"] = float(skm.normalized_mutual_info_score(truth, labels))
        h, c, v = skm.homogeneity_completeness_v_measure(truth, labels)
        out.update(v_measure=float(v), homogeneity=float(h), completeness=float(c))
    return out


def _kmeans(Z, k, random_state, n_init=None):
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(Z) > _MINIBATCH_ABOVE:
        est = MiniBatchKMeans(n_clusters=k, random_state=random_state, n_init=n_init or 3, batch_size=4096)
    else:
        est = KMeans(n_clusters=k, random_state=random_state, n_init=n_init or 4)
    return est.fit_predict(Z).astype(np.int64), type(est).__name__


def _agglomerative(Z, k):
    from sklearn.cluster import AgglomerativeClustering

    if len(Z) > _AGGLOMERATIVE_MAX:
        raise ValueError(
            f"agglomerative clustering is for up to {_AGGLOMERATIVE_MAX:,} points (it needs "
            f"O(n^2) memory), got {len(Z):,}: use method='kmeans' or 'hdbscan'"
        )
    return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(Z).astype(np.int64)


def _auto_k(Z, k_range, sample_size, random_state, method):
    from sklearn.metrics import silhouette_score

    s = Z[_sample_idx(len(Z), sample_size, random_state)]
    lo, hi = int(k_range[0]), int(min(k_range[1], len(s) - 1))
    if lo < 2 or hi < lo:
        raise ValueError(f"k_range must be (lo, hi) with 2 <= lo <= hi < number of points, got {k_range}")
    table = {}
    for k in range(lo, hi + 1):
        if method == "agglomerative":
            lab = _agglomerative(s, k)
        else:
            from sklearn.cluster import KMeans

            lab = KMeans(n_clusters=k, n_init=2, random_state=random_state).fit_predict(s)
        table[k] = float(silhouette_score(s, lab, metric="cosine")) if len(np.unique(lab)) > 1 else -1.0
    best = max(table, key=lambda k: (table[k], -k))
    return best, table


def _hdbscan(Z, min_cluster_size, min_samples, deterministic):
    try:
        import fast_hdbscan
    except ImportError:
        from sklearn.cluster import HDBSCAN

        # scikit-learn refuses min_samples (default: min_cluster_size) above the number of points
        ms = min(min_samples if min_samples is not None else min_cluster_size, len(Z))
        est = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=ms, copy=True)
        return est.fit_predict(Z).astype(np.int64), "sklearn.cluster.HDBSCAN"
    est = fast_hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, reproducible=deterministic)
    return np.asarray(est.fit_predict(Z), dtype=np.int64), "fast_hdbscan"


def cluster(
    X,
    method="kmeans",
    *,
    n_clusters: int | None = None,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    k_range: tuple[int, int] = (2, 20),
    reduce_to: int | None = 5,
    embedding=None,
    truth=None,
    normalize: bool = True,
    mode: str = "deterministic",
    random_state: int = 42,
    sample_size: int = _SCORE_SAMPLE,
    n_neighbors: int = 15,
    cache="auto",
    scores: bool = True,
    show_progress_bar: bool | None = None,
) -> ClusterResult:
    """Cluster vectors.

    Parameters
    ----------
    X : array (n, d)
        Embeddings (scores and centroids are computed on these).
    method : "kmeans", "hdbscan", "agglomerative" (small inputs), "hierarchy" (nested theme levels, see
        :mod:`kosbert_viz.themes.hierarchy`; ``labels`` = the default level), or any estimator with ``fit_predict``
    n_clusters : k for k-means / agglomerative; None picks k in ``k_range`` by cosine silhouette on a
        sample of ``sample_size`` points. k-means switches to MiniBatchKMeans above 50,000 points.
        For "hierarchy": the default level's theme count (int) or a (lo, hi) range to choose it in
        (None: 8-40 themes, fewer for small inputs)
    min_cluster_size, min_samples : HDBSCAN's (default ``max(5, n // 100)`` and the implementation's)
    reduce_to : HDBSCAN runs on a cached UMAP of this many dimensions (min_dist 0, cosine, ``init="pca"``,
        :func:`kosbert_viz.geometry.reduce.default_cluster_epochs` epochs; the same neighbour graph a later
        ``reduce(X)`` map uses) when ``d`` is larger; None to use ``X`` as is
    embedding : low-dimensional coordinates to run HDBSCAN / the hierarchy on instead (e.g.
        ``layout(X).cluster_coords``; the hierarchy computes that layout, cached, when not given)
    truth : ground-truth labels; adds ARI, NMI, V-measure to ``scores``
    normalize : k-means / agglomerative on unit-length rows (cosine geometry)
    mode : "deterministic" (seeded, reproducible) or "fast" (all cores)
    scores : compute the internal scores (silhouette etc.); off saves time in big sweeps

    Returns a :class:`ClusterResult`.

    >>> res = kv.cluster(emb, "kmeans", n_clusters=5)
    >>> res
    ClusterResult(method='kmeans', n_clusters=5, noise_fraction=0.000, n=480, silhouette=...)
    >>> int(res.sizes.sum()), res.centroids.shape == (5, emb.shape[1])
    (480, True)
    """
    check_mode(mode)
    X = check_matrix(X)
    n = len(X)
    if n < 2:
        raise ValueError(f"need at least 2 points to cluster, got {n}")
    truth = _check_truth(truth, n)
    t0 = time.perf_counter()
    extra: dict = {}
    table: dict = {}
    Z_low = None
    show = want_progress(show_progress_bar, n)
    if hasattr(method, "fit_predict"):
        labels = np.asarray(method.fit_predict(X)).astype(np.int64).ravel()
        if len(labels) != n:
            raise ValueError(f"{type(method).__name__}.fit_predict returned {len(labels)} labels for {n} points")
        name, params = type(method).__name__, {"estimator": repr(method)}
    elif method in ("kmeans", "agglomerative"):
        Z = unit_rows(X) if normalize else X
        with Stages(["choose k", method], show=show, desc="cluster") as st:
            k = n_clusters
            if k is None:
                with st("choose k", f"silhouette on {min(n, sample_size):,} points"):
                    k, table = _auto_k(Z, k_range, sample_size, random_state, method)
            else:
                st.skip("choose k", f"k={k} given")
            if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
                raise ValueError(f"n_clusters must be an integer between 1 and the number of points ({n}), got {k!r}")
            with st(method, f"k={k}"):
                if method == "kmeans":
                    labels, est = _kmeans(Z, int(k), random_state)
                else:
                    labels, est = _agglomerative(Z, int(k)), "AgglomerativeClustering(ward)"
        name = method
        params = {"n_clusters": int(k), "auto_k": n_clusters is None, "estimator": est, "normalize": normalize}
    elif method == "hdbscan":
        mcs = int(min_cluster_size) if min_cluster_size is not None else max(5, n // 100)
        if mcs < 2:
            raise ValueError(f"min_cluster_size must be >= 2, got {mcs}")
        if min_samples is not None and int(min_samples) < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples}")
        if embedding is not None:
            Z_low = check_matrix(embedding, "embedding")
            if len(Z_low) != n:
                raise ValueError(f"embedding has {len(Z_low)} rows, X has {n}")
        elif reduce_to and X.shape[1] > reduce_to and n > reduce_to + 2:
            Z_low = reduce(
                X,
                "umap",
                n_components=reduce_to,
                min_dist=0.0,
                n_neighbors=n_neighbors,
                mode=mode,
                random_state=random_state,
                cache=cache,
                show_progress_bar=show_progress_bar,
                init="pca",
                n_epochs=default_cluster_epochs(n),
            )
        else:
            Z_low = X
        with Stages(["hdbscan"], show=show, desc="cluster") as st:
            with st("hdbscan", f"min_cluster_size={mcs}"):
                labels, impl = _hdbscan(Z_low, mcs, min_samples, mode == "deterministic")
                labels = _same_vectors_same_label(X, labels, mcs)
        name = "hdbscan"
        params = {
            "min_cluster_size": mcs,
            "min_samples": min_samples,
            "reduce_to": None if embedding is not None else reduce_to,
            "embedding": "given" if embedding is not None else "umap" if Z_low is not X else "none",
            "implementation": impl,
        }
    elif method == "hierarchy":
        # kosbert_viz.themes.hierarchy: fine k-means on the layout's 5-D clustering embedding, Ward upward, nested levels

        hier, Z_low, how = cluster_hierarchy(
            X,
            embedding,
            n_clusters,
            mode=mode,
            random_state=random_state,
            cache=cache,
            n_neighbors=n_neighbors,
            show_progress_bar=show_progress_bar,
        )
        labels = hier.levels[hier.default_level]
        name = "hierarchy"
        params = {"embedding": how, "n_levels": len(hier.levels)}
    else:
        raise ValueError(f"method must be one of {_METHODS} or an estimator with fit_predict, got {method!r}")
    params["random_state"] = random_state
    params["mode"] = mode
    extra = cluster_scores(X, labels, truth=truth, sample_size=sample_size, random_state=random_state, internal=scores)
    centroids, ids = cluster_centroids(X, labels)
    res = ClusterResult(
        labels,
        name,
        params,
        extra,
        centroids,
        ids,
        table,
        Z_low if Z_low is not None and Z_low is not X else None,
        time.perf_counter() - t0,
    )
    if name == "hierarchy":
        attach_hierarchy(res, hier, Z_low)
    return res


@dataclass
class Sweep:
    """A parameter sweep: ``table`` has one row per value; ``chart`` is the same in long form."""

    param: str
    table: object  # pandas DataFrame
    chart: object  # pandas DataFrame: <param>, metric, value
    results: dict = field(default_factory=dict)

    def best(self, metric: str = "silhouette", *, higher: bool | None = None) -> int | float:
        """The swept value with the best ``metric`` (Davies-Bouldin: lowest)."""
        higher = metric != "davies_bouldin" if higher is None else higher
        t = self.table.dropna(subset=[metric])
        if t.empty:
            raise ValueError(f"no row has {metric!r}")
        row = t.loc[t[metric].idxmax() if higher else t[metric].idxmin()]
        return row[self.param].item() if hasattr(row[self.param], "item") else row[self.param]

    def figure(self, metrics=None) -> go.Figure:
        """A plotly line chart, one panel per metric."""
        import plotly.express as px

        c = self.chart if metrics is None else self.chart[self.chart.metric.isin(list(metrics))]
        fig = px.line(c, x=self.param, y="value", facet_row="metric", markers=True)
        fig.update_yaxes(matches=None)
        return fig


def sweep(
    X,
    method="kmeans",
    *,
    values=None,
    truth=None,
    embedding=None,
    reduce_to: int | None = 5,
    mode: str = "deterministic",
    random_state: int = 42,
    cache="auto",
    keep_results: bool = False,
    show_progress_bar: bool | None = None,
    **kwargs,
) -> Sweep:
    """Cluster ``X`` once per value of k (k-means, agglomerative) or min_cluster_size (HDBSCAN).

    The UMAP embedding HDBSCAN needs is computed once (and cached) for the whole sweep.
    Returns a :class:`Sweep` with ``table`` (value, n_clusters, noise_fraction, silhouette,
    davies_bouldin, calinski_harabasz, [ari, nmi, v_measure], seconds) and a long ``chart`` frame.

    >>> sw = kv.sweep(emb, "hdbscan", values=[5, 10, 20])   # min_cluster_size
    >>> len(sw.table), list(sw.chart.columns)
    (3, ['min_cluster_size', 'metric', 'value'])
    """
    import pandas as pd

    X = check_matrix(X)
    n = len(X)
    if method in ("kmeans", "agglomerative"):
        param = "n_clusters"
        values = list(range(2, min(20, n - 1) + 1)) if values is None else list(values)
    elif method == "hdbscan":
        param = "min_cluster_size"
        if values is None:
            values = sorted({v for v in (5, 10, 15, 25, 50, 100, 200, 400, 800) if v < n // 2} or {2})
        values = list(values)
        if embedding is None and reduce_to and X.shape[1] > reduce_to:
            embedding = reduce(
                X,
                "umap",
                n_components=reduce_to,
                min_dist=0.0,
                mode=mode,
                init="pca",
                n_epochs=default_cluster_epochs(n),
                random_state=random_state,
                cache=cache,
                show_progress_bar=show_progress_bar,
                n_neighbors=kwargs.get("n_neighbors", 15),
            )
    else:
        raise ValueError(f"sweep method must be 'kmeans', 'agglomerative' or 'hdbscan', got {method!r}")
    if not values:
        raise ValueError("values must not be empty")
    rows, results = [], {}
    from tqdm.auto import tqdm

    for v in tqdm(
        values, desc=f"sweep {param}", disable=not want_progress(show_progress_bar, n * len(values) // 4), leave=False
    ):
        kw = dict(kwargs, truth=truth, mode=mode, random_state=random_state, cache=cache, show_progress_bar=False)
        if method == "hdbscan":
            res = cluster(X, "hdbscan", min_cluster_size=int(v), embedding=embedding, **kw)
        else:
            res = cluster(X, method, n_clusters=int(v), **kw)
        row = {param: v, "n_clusters": res.n_clusters, "noise_fraction": res.noise_fraction}
        row.update({k: val for k, val in res.scores.items() if k != "scored_on"})
        row["seconds"] = res.seconds
        rows.append(row)
        if keep_results:
            results[v] = res
    table = pd.DataFrame(rows)
    metric_cols = [c for c in table.columns if c not in (param, "seconds")]
    chart = table.melt(id_vars=[param], value_vars=metric_cols, var_name="metric", value_name="value")
    return Sweep(param, table, chart, results)
