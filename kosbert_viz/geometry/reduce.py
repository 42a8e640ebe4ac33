"""``reduce()``: high-dimensional vectors -> 2-D/3-D map coordinates (or 5-10-D for clustering).

UMAP runs over one nearest-neighbour graph: NN-descent (our own, compiled once per install) on the
unit vectors themselves, or, on request (``pca_components=p``), on a PCA pre-step (cosine: an uncentred
projection of the unit vectors, which keeps their dot products) whose candidates are re-ranked on
the full vectors. The graph and each reduction are stored on disk by (input hash, parameters),
so a k / min_cluster_size sweep, a re-run notebook cell, or a 5-D clustering embedding followed
by a 2-D map of the same vectors compute it once.

>>> xy = kv.reduce(emb)                                   # 2-D UMAP (cosine)
>>> xy.shape, xy.dtype
((480, 2), dtype('float32'))
>>> z5 = kv.reduce(emb, n_components=5, min_dist=0.0, init="pca", n_epochs=60)  # same graph, reused
>>> xy = kv.reduce(emb, method="pca")
>>> from sklearn.manifold import Isomap
>>> xy = kv.reduce(emb, method=Isomap())                 # any fit_transform object (TSNE, ...)
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from kosbert_viz._util.progress import Stages, want_progress
from kosbert_viz._util.validation import check_embeddings
from kosbert_viz.embed.arraystore import resolve_store

__all__ = ["reduce", "nearest_neighbors", "KNNGraph"]

_MODES = ("deterministic", "fast")
_EXACT_KNN_BELOW = 8192  # exact (brute-force, chunked) neighbours below this many points
_CANDIDATES = 2  # with a PCA pre-step: NN-descent finds this many times n_neighbors candidates
# NN-descent searches this many times n_neighbors and keeps the nearest n_neighbors: YNAT 10,000 titles, k=15,
# recall@15 0.922 -> 0.990 (0.47 s -> 1.06 s). A graph with 8% wrong edges changes with the seed, and every
# layout and theme built on it does too (see kosbert_viz.themes.stability)
_SEARCH = 2
_INIT_SMOOTHING = 10  # init="pca": steps of neighbour averaging over the fuzzy graph
_MEMO: OrderedDict[str, object] = OrderedDict()
_MEMO_SIZE = 8
_MEMO_BYTES = 2 << 30  # a kNN graph holds its unit vectors: 1M x 768 float32 is 3 GB on its own


def array_hash(X: np.ndarray) -> str:
    X = np.ascontiguousarray(X)
    h = hashlib.blake2b(digest_size=16)
    h.update(str((X.shape, X.dtype.str)).encode())
    h.update(memoryview(X).cast("B"))
    return h.hexdigest()


def _params_key(xhash: str, kind: str, params: dict) -> str:
    blob = json.dumps({"x": xhash, "kind": kind, **params}, sort_keys=True, default=str)
    return kind + hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def check_matrix(X, name: str = "X") -> np.ndarray:
    """float32 (n, d), finite (the shared check of ``_validation``)."""
    return check_embeddings(X, name=name)


def check_mode(mode):
    if mode not in _MODES:
        raise ValueError(f"mode must be 'deterministic' or 'fast', got {mode!r}")


def _memo_get(key):
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    return None


def _nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    return sum(getattr(value, f).nbytes for f in ("indices", "distances", "data") if hasattr(value, f))


def _memo_put(key, value):
    """Keep the newest results in memory: at most _MEMO_SIZE, and past the newest at most _MEMO_BYTES."""
    _MEMO[key] = value
    _MEMO.move_to_end(key)
    while len(_MEMO) > _MEMO_SIZE or (len(_MEMO) > 1 and sum(map(_nbytes, _MEMO.values())) > _MEMO_BYTES):
        _MEMO.popitem(last=False)


def default_cluster_epochs(n: int) -> int:
    """UMAP epochs for a clustering embedding started from ``init="pca"``: 200 up to 2,000 points, 60 from 5,000.

    Between the two, log-interpolated (3,000 points: 117). HDBSCAN needs the neighbourhoods pulled
    together, not a converged picture, and more epochs can hurt it. YNAT headlines, the offline
    encoder, NMI against the topics (seeds 0 and 1):

    - 45,654 headlines, min_cluster_size=10: 0.24-0.25 at 30, 60 or 100 epochs; the default
      min_cluster_size (n // 100) at 30-40 epochs sometimes kept only 2 clusters, from 45 it found
      12-15 every run (NMI 0.28-0.30);
    - 10,000 headlines: min_cluster_size=10 0.266/0.263 at 200 epochs, 0.269/0.273 at 60 (3.4x
      faster); the default one 0.278/0.071 at 200 (3 clusters in one run), 0.280/0.280 at 60;
    - 3,000 headlines, the default min_cluster_size: 2 clusters (NMI 0.01) at 200 epochs, 13-14
      (NMI 0.27-0.28) at 100 or 60.

    Below 2,000 points, where epochs are cheap, the bundled 480-text sample's ARI against its topics
    was a little higher at 200 (0.55 median of 4 seeds) than at 100 or 60 (0.50).
    """
    if n <= 2_000:
        return 200
    if n >= 5_000:
        return 60
    return int(round(200 * (60 / 200) ** (math.log(n / 2_000) / math.log(5_000 / 2_000))))


def _one_blas_thread():
    """A context with BLAS on one thread (process-wide while it is open), for the dense algebra of the
    PCA step and init (a ``d x d`` eigen-solve, products with thin ``d x p`` factors): on a busy
    machine, spinning BLAS threads made a 512 x 512 ``eigh`` take seconds instead of 40 ms."""
    try:
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency
    except ImportError:  # pragma: no cover
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def unit_rows(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _project(X, *, pca_components, metric, random_state):
    """The PCA pre-step. Cosine: unit rows, then an uncentred rank-``p`` projection (keeps dot products).

    The axes come from the eigenvectors of the ``d x d`` second-moment matrix (one pass over ``X``,
    float32 products summed in float64 per block, no randomness), each with a fixed sign, so the
    projection is the same on every run.
    """
    n, d = X.shape
    p = pca_components
    if metric == "cosine":
        X = unit_rows(X)
    if not p or d <= p or n <= p:
        return np.ascontiguousarray(X, dtype=np.float32)
    mean = np.zeros(d, np.float32) if metric == "cosine" else X.mean(0, dtype=np.float64).astype(np.float32)
    M = np.zeros((d, d))
    for s in range(0, n, 50_000):
        B = X[s : s + 50_000] - mean
        M += B.T @ B
    with _one_blas_thread():
        w, V = np.linalg.eigh(M)
    V = V[:, np.argsort(-w, kind="stable")[:p]]
    V *= np.where(V[np.abs(V).argmax(0), np.arange(p)] < 0, -1.0, 1.0)
    V = V.astype(np.float32)
    Y = np.empty((n, p), np.float32)
    for s in range(0, n, 50_000):
        Y[s : s + 50_000] = (X[s : s + 50_000] - mean) @ V
    return Y


@dataclass
class KNNGraph:
    """``n_neighbors`` nearest points of each point (itself first) and their distances."""

    indices: np.ndarray  # int32 (n, k)
    distances: np.ndarray  # float32 (n, k)
    data: np.ndarray  # the vectors the graph was built on: unit rows (cosine) or their PCA projection
    metric: str
    key: str
    exact: bool

    @property
    def n_neighbors(self) -> int:
        return int(self.indices.shape[1])


def _exact_knn(Y, k, metric):
    n = len(Y)
    idx = np.empty((n, k), np.int32)
    dist = np.empty((n, k), np.float32)
    Z = unit_rows(Y) if metric == "cosine" else Y
    sq = (Z * Z).sum(1)
    step = max(1, 2_000_000 // max(n, 1))
    for s in range(0, n, step):
        e = min(n, s + step)
        if metric == "cosine":
            D = 1.0 - Z[s:e] @ Z.T
        else:
            D = np.sqrt(np.maximum(sq[s:e, None] - 2.0 * (Z[s:e] @ Z.T) + sq[None, :], 0.0))
        rows = np.arange(e - s)
        D[rows, np.arange(s, e)] = -1.0  # the point itself comes first
        part = np.argpartition(D, k - 1, axis=1)[:, :k]  # k < n always (k <= n - 1)
        pd_ = np.take_along_axis(D, part, axis=1)
        # ties broken by index so the graph is the same on every run
        order = np.lexsort((part, pd_), axis=1)
        idx[s:e] = np.take_along_axis(part, order, axis=1)
        dist[s:e] = np.maximum(np.take_along_axis(pd_, order, axis=1), 0.0)
    return idx, dist


def _approx_knn(Y, k, metric, seed):
    """NN-descent (:mod:`kosbert_viz.geometry.nndescent`, compiled once per install, not once per process)."""
    from kosbert_viz.geometry.nndescent import nn_descent

    return nn_descent(Y, k, metric=metric, seed=seed)


def _rerank(Z, cand, k, metric):
    """Keep the ``k`` truly nearest of each row's candidates, measured on the full vectors ``Z``."""
    n, c = cand.shape
    idx = np.empty((n, k), np.int32)
    dist = np.empty((n, k), np.float32)
    step = max(1, 20_000_000 // max(c * Z.shape[1], 1))
    for s in range(0, n, step):
        e = min(n, s + step)
        C = cand[s:e]
        G = Z[np.maximum(C, 0)]
        if metric == "cosine":
            D = 1.0 - np.einsum("id,icd->ic", Z[s:e], G)
        else:
            D = np.sqrt(((G - Z[s:e, None, :]) ** 2).sum(-1))
        D[C < 0] = np.inf
        D[C == np.arange(s, e)[:, None]] = -1.0  # the point itself comes first
        order = np.lexsort((C, D), axis=1)[:, :k]
        idx[s:e] = np.take_along_axis(C, order, axis=1)
        dist[s:e] = np.maximum(np.take_along_axis(D, order, axis=1), 0.0)
    return idx, dist


def nearest_neighbors(
    X,
    *,
    n_neighbors: int = 15,
    metric: str = "cosine",
    pca_components: int | None = None,
    mode: str = "deterministic",
    random_state: int = 42,
    cache="auto",
    show_progress_bar: bool | None = None,
) -> KNNGraph:
    """The neighbour graph that every UMAP of ``X`` shares (computed once, stored on disk).

    Exact below 8,192 points; above, NN-descent (:mod:`kosbert_viz.geometry.nndescent`) on the unit vectors
    (cosine) or the vectors (euclidean), searching ``2 * n_neighbors`` and keeping the nearest
    ``n_neighbors`` (recall@15 0.990 instead of 0.922 on 10,000 YNAT titles: a graph that misses 8%
    of its edges differs from seed to seed, and so would every layout and theme built on it). With
    ``pca_components=p`` (and ``d > p``) NN-descent runs on a rank-``p`` PCA pre-step instead and
    finds ``2 * n_neighbors`` candidates that are re-ranked by their distance on the full vectors.
    The default is no pre-step: on 512-d sentence vectors (YNAT, 45,654 headlines) NN-descent on the
    full vectors was both faster and more accurate than PCA-100 + 2x candidates + re-ranking: 100
    axes hold only ~76% of such vectors' squared norm, so the projection needs many candidates to
    recover them.

    The NN-descent is this package's own, compiled once per install: pynndescent's cannot keep its
    compiled code, and spent ~25 s compiling in every new process before its first graph (the
    comparison with pynndescent, recall and seconds, is on the Benchmarks page). Its pair distances are measured on all cores and
    applied in a fixed order, so the graph depends only on ``random_state``, not on the thread count.
    ``mode="deterministic"`` seeds it with ``random_state``; ``"fast"`` draws a seed.

    >>> knn = kv.nearest_neighbors(emb, n_neighbors=15)
    >>> knn.indices.shape, knn.distances.shape               # nearest first
    ((480, 15), (480, 15))
    >>> xy = kv.reduce(emb, knn=knn)                         # reuses the graph
    """
    X = check_matrix(X)
    return knn_graph(
        X,
        n_neighbors=n_neighbors,
        metric=metric,
        pca_components=pca_components,
        mode=mode,
        random_state=random_state,
        cache=cache,
        show_progress_bar=show_progress_bar,
        xhash=array_hash(X),
    )


def knn_graph(
    X, *, n_neighbors, metric, pca_components, mode, random_state, cache, show_progress_bar, xhash: str
) -> KNNGraph:
    """:func:`nearest_neighbors` of checked ``X`` whose content hash ``xhash`` the caller has."""
    check_mode(mode)
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    n = len(X)
    if n < 3:
        raise ValueError(f"need at least 3 points for a neighbour graph, got {n}")
    k = int(max(2, min(n_neighbors, n - 1)))
    exact = n < _EXACT_KNN_BELOW
    params = {
        "k": k,
        "metric": metric,
        "pca": pca_components,
        "exact": exact,
        "seed": random_state,
        "candidates": _CANDIDATES,
        "search": _SEARCH,
        "v": 5,
        "mode": "exact" if exact else mode,
    }
    key = _params_key(xhash, "knn", params)
    hit = _memo_get(key)
    if hit is not None:
        return hit
    store = resolve_store(cache)
    show = want_progress(show_progress_bar, n)
    with Stages(["pca", "knn"], show=show, desc="neighbour graph") as st:
        projected = bool(pca_components) and pca_components < min(X.shape)
        with st("pca", f"{X.shape[1]} -> {pca_components} dims" if projected else f"none ({X.shape[1]} dims)"):
            Y = _project(X, pca_components=pca_components, metric=metric, random_state=random_state)
        got = store.get(key) if store else None
        if got is not None and got["indices"].shape == (n, k):
            idx, dist = got["indices"], got["distances"]
            st.skip("knn", "from disk cache")
        else:
            with st("knn", f"{n:,} points, k={k}, {'exact' if exact else 'NN-descent'}"):
                Z = Y if not projected else unit_rows(X) if metric == "cosine" else X
                seed = random_state if mode == "deterministic" else None
                if exact:
                    idx, dist = _exact_knn(Z, k, metric)
                elif not projected:
                    ks = int(min(n - 1, k * _SEARCH))  # searched wider, the nearest k kept: see _SEARCH
                    idx, dist = _approx_knn(Z, ks, metric, seed)  # the point itself first, distances >= 0
                    idx, dist = np.ascontiguousarray(idx[:, :k]), np.ascontiguousarray(dist[:, :k])
                else:
                    # candidates from NN-descent on the projection, then re-ranked on the full vectors
                    kc = int(min(n - 1, k * _CANDIDATES))
                    cand, _ = _approx_knn(Y, kc, metric, seed)
                    idx, dist = _rerank(Z, cand, k, metric)
            if store:
                store.put(key, {"indices": idx, "distances": dist}, params)
    graph = KNNGraph(idx, dist, Y, metric, key, exact)
    _memo_put(key, graph)
    return graph


def scaled_init(Z: np.ndarray, n_components: int, random_state: int) -> np.ndarray:
    """A UMAP starting layout from an existing embedding: its top principal axes, scaled like UMAP's."""
    Z = Z - Z.mean(0)
    with _one_blas_thread():
        _, _, vt = np.linalg.svd(Z[:: max(1, len(Z) // 20000)], full_matrices=False)
        Y = Z @ vt[:n_components].T
    Y = 10.0 * Y / max(float(np.abs(Y).max()), 1e-12)
    rng = np.random.default_rng(random_state)
    return (Y + rng.normal(scale=1e-4, size=Y.shape)).astype(np.float32)


def reduce(
    X,
    method="umap",
    *,
    n_components: int = 2,
    metric: str = "cosine",
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    pca_components: int | None = None,
    mode: str = "deterministic",
    random_state: int = 42,
    init="spectral",
    n_epochs: int | None = None,
    knn: KNNGraph | None = None,
    cache="auto",
    memo: bool = True,
    show_progress_bar: bool | None = None,
) -> np.ndarray:
    """Lay out vectors in ``n_components`` dimensions.

    Parameters
    ----------
    X : array (n, d)
    method : "umap", "pca", or any object with ``fit_transform``
    n_components : output dimensions (2 or 3 for a map, 5-10 before clustering)
    metric : "cosine" (default, as suits sentence vectors) or "euclidean"
    n_neighbors, min_dist : UMAP's; use ``min_dist=0.0`` for a clustering embedding
    pca_components : None (default): the neighbour search runs on the full vectors; an int ``p``: on a
        rank-``p`` PCA pre-step when ``d > p``, its candidates re-ranked on the full vectors (see
        :func:`nearest_neighbors`)
    mode : "deterministic" (seeded; UMAP's epochs single-threaded: the same output every run) or
        "fast" (unseeded; UMAP's epochs on all cores)
    init : "spectral" (UMAP's), "pca" (the top principal axes of the vectors, smoothed by a few
        steps of neighbour averaging over the graph: no eigen-solver, and a start from which a
        clustering embedding needs far fewer epochs), "random" or an array (n, n_components)
    n_epochs : UMAP epochs (None: UMAP's default, 500 up to 10,000 points, 200 above)
    knn : a :func:`nearest_neighbors` graph to reuse (else it is looked up / computed)
    cache : as for :func:`encode`: "auto" (the default folder), a folder or an ``EmbeddingCache``
        (layouts go to ``<folder>/reduce``), or None / False for nothing on disk
    memo : also keep recent results in this process

    Returns float32 array (n, n_components).

    >>> kv.reduce(emb, n_components=3).shape                 # a 3-D map
    (480, 3)
    """
    return reduce_from_graph(
        X,
        method,
        n_components=n_components,
        metric=metric,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        pca_components=pca_components,
        mode=mode,
        random_state=random_state,
        init=init,
        n_epochs=n_epochs,
        knn=knn,
        cache=cache,
        memo=memo,
        show_progress_bar=show_progress_bar,
        xhash=None,
    )


def reduce_from_graph(
    X,
    method,
    *,
    n_components,
    metric,
    n_neighbors,
    min_dist,
    pca_components,
    mode,
    random_state,
    init,
    n_epochs,
    knn,
    cache,
    memo,
    show_progress_bar,
    xhash: str | None,
) -> np.ndarray:
    """:func:`reduce`, given the content hash ``xhash`` of ``X`` when the caller has it (else None)."""
    check_mode(mode)
    if not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    if hasattr(method, "fit_transform"):
        X = check_matrix(X)
        return np.ascontiguousarray(method.fit_transform(X), dtype=np.float32)
    if method not in ("umap", "pca"):
        raise ValueError(f"method must be 'umap', 'pca' or an object with fit_transform, got {method!r}")
    X = check_matrix(X)
    n = len(X)
    if n <= n_components + 1:
        raise ValueError(f"need more than n_components + 1 = {n_components + 1} points to reduce, got {n}")
    if method == "pca":
        from sklearn.decomposition import PCA

        k = min(n_components, X.shape[1], n)
        return np.ascontiguousarray(PCA(n_components=k, random_state=random_state).fit_transform(X), np.float32)

    xhash = xhash or array_hash(X)
    init_tag = init if isinstance(init, str) else "array:" + array_hash(np.asarray(init, np.float32))
    if isinstance(init, str) and init not in ("spectral", "pca", "random"):
        raise ValueError(f"init must be 'spectral', 'pca', 'random' or an array, got {init!r}")
    if not isinstance(init, str) and np.shape(init) != (n, n_components):
        raise ValueError(f"an init array must have shape {(n, n_components)}, got {np.shape(init)}")
    import umap

    params = {
        "n_components": int(n_components),
        "metric": metric,
        "k": int(n_neighbors),
        "min_dist": float(min_dist),
        "pca": pca_components,
        "mode": mode,
        "seed": random_state,
        "init": init_tag,
        "n_epochs": n_epochs,
        "umap": umap.__version__,
        "v": 4,
    }
    key = _params_key(xhash, "umap", params)
    if memo:
        hit = _memo_get(key)
        if hit is not None:
            return hit.copy()
    store = resolve_store(cache)
    got = store.get(key) if store else None
    if got is not None and got["coords"].shape == (n, n_components):
        Y = got["coords"]
    else:
        if knn is None:
            knn = knn_graph(
                X,
                n_neighbors=n_neighbors,
                metric=metric,
                pca_components=pca_components,
                mode=mode,
                random_state=random_state,
                cache=cache,
                show_progress_bar=show_progress_bar,
                xhash=xhash,
            )
        elif len(knn.indices) != n:
            raise ValueError(f"knn was built on {len(knn.indices)} points, X has {n}")
        show = want_progress(show_progress_bar, n)
        with Stages([f"umap {n_components}-d"], show=show, desc="reduce") as st:
            with st(f"umap {n_components}-d", f"{n:,} points"):
                Y = _umap(
                    knn,
                    n_components=n_components,
                    n_neighbors=n_neighbors,
                    min_dist=min_dist,
                    init=init,
                    n_epochs=n_epochs,
                    mode=mode,
                    random_state=random_state,
                )
        if store:
            store.put(key, {"coords": Y}, params)
    Y = np.ascontiguousarray(Y, dtype=np.float32)
    if memo:
        _memo_put(key, Y.copy())
    return Y


def _fuzzy_graph(knn: KNNGraph, k: int):
    """UMAP's fuzzy neighbour graph for the first ``k`` neighbours, built once per graph and shared."""
    graphs = knn.__dict__.setdefault("_fuzzy", {})
    if k not in graphs:
        from kosbert_viz.geometry.fuzzy import (
            fuzzy_graph,  # umap-learn's fuzzy_simplicial_set, compiled once per install
        )

        graphs[k] = fuzzy_graph(knn.indices[:, :k], knn.distances[:, :k])
    return graphs[k]


def _pca_init(knn: KNNGraph, graph, n_components: int, random_state: int) -> np.ndarray:
    """``init="pca"``: the vectors' top principal axes, then a few steps of neighbour averaging.

    The axes come from a fixed subsample (every m-th row, at most ~20,000). Averaging each point's
    coordinates with its fuzzy-graph neighbours (a random-walk step, ``_INIT_SMOOTHING`` times)
    pulls points that the graph ties together towards each other before the optimisation starts.
    Deterministic; scaled like UMAP's own inits.
    """
    D = knn.data
    step = max(1, len(D) // 20_000)
    mean = D[::step].mean(0, dtype=np.float64).astype(np.float32)
    S = D[::step] - mean
    with _one_blas_thread():
        w, V = np.linalg.eigh((S.T @ S).astype(np.float64))
        V = V[:, np.argsort(-w, kind="stable")[:n_components]]
        V *= np.where(V[np.abs(V).argmax(0), np.arange(V.shape[1])] < 0, -1.0, 1.0)
        V = V.astype(np.float32)
        Y = D @ V - mean @ V
    if Y.shape[1] < n_components:  # fewer input dimensions than asked for
        rng = np.random.default_rng(random_state)
        Y = np.hstack([Y, rng.normal(scale=1e-3 * max(float(Y.std()), 1e-6), size=(len(Y), n_components - Y.shape[1]))])
    deg = np.asarray(graph.sum(axis=1)).ravel()
    from scipy.sparse import diags

    P = (diags(1.0 / np.maximum(deg, 1e-12)) @ graph).tocsr().astype(np.float32)
    Y = Y.astype(np.float32)
    for _ in range(_INIT_SMOOTHING):
        Y = P @ Y
    Y -= Y.mean(0)
    Y = 10.0 * Y / max(float(np.abs(Y).max()), 1e-12)
    rng = np.random.default_rng(random_state)
    return (Y + rng.normal(scale=1e-4, size=Y.shape)).astype(np.float32)


def _umap(knn: KNNGraph, *, n_components, n_neighbors, min_dist, init, n_epochs, mode, random_state):
    """UMAP's layout optimisation on the shared fuzzy graph (umap-learn's own functions)."""
    try:
        from umap.umap_ import find_ab_params, simplicial_set_embedding
    except ImportError as exc:  # pragma: no cover - core dependency
        raise ImportError(
            'reduce(method="umap") needs umap-learn: pip install kosbert_viz '
            "(conda: conda install -c conda-forge umap-learn)"
        ) from exc
    n = len(knn.indices)
    k = min(int(n_neighbors), knn.n_neighbors)
    det = mode == "deterministic"
    if isinstance(init, str) and init == "spectral" and n <= n_components + 10:
        init = "random"
    if n_epochs is None:
        n_epochs = 500 if n <= 10_000 else 200
    a, b = find_ab_params(1.0, float(min_dist))
    # the optimiser zeroes weak edges of the graph it is given: hand it a copy
    graph = _fuzzy_graph(knn, k).copy()
    if isinstance(init, str) and init == "pca":
        init = _pca_init(knn, graph, int(n_components), random_state)
    rng = np.random.RandomState(random_state if det else None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(disconnected|Graph is not fully connected).*")
        Y, _ = simplicial_set_embedding(
            knn.data,
            graph,
            int(n_components),
            1.0,
            a,
            b,
            1.0,
            5,
            int(n_epochs),
            init,
            rng,
            knn.metric,
            {},
            False,
            {},
            False,
            parallel=not det,
            verbose=False,
        )
    return Y
