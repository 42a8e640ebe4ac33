"""``reduce()``: high-dimensional vectors -> 2-D/3-D (or 5-D for clustering) coordinates.

>>> xy = kv.reduce(emb)                                   # UMAP (cosine) after PCA
>>> xy = kv.reduce(emb, method="pca")
>>> xy = kv.reduce(emb, method=sklearn.manifold.TSNE())   # any fit_transform object
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

__all__ = ["reduce"]

_MEMO: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_MEMO_SIZE = 16


def _array_hash(X: np.ndarray) -> str:
    X = np.ascontiguousarray(X)
    h = hashlib.blake2b(digest_size=16)
    h.update(str((X.shape, X.dtype.str)).encode())
    h.update(memoryview(X).cast("B"))
    return h.hexdigest()


def _check_matrix(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return X.astype(np.float32, copy=False)


def reduce(X, method="umap", *, n_components: int = 2, metric: str = "cosine", n_neighbors: int = 15,
           min_dist: float = 0.1, pca_components: int | None = 50, mode: str = "deterministic",
           random_state: int = 42, memo: bool = True) -> np.ndarray:
    """Lay out vectors in ``n_components`` dimensions.

    Parameters
    ----------
    X : array (n, d)
    method : "umap", "pca", or any object with ``fit_transform``
    n_components : output dimensions (2 or 3 for a map, 5-10 before clustering)
    metric : UMAP metric (cosine by default, as suits sentence vectors)
    pca_components : PCA pre-step before UMAP when ``d`` is larger (None to skip)
    mode : "deterministic" (seeded, same output every run) or "fast" (all cores, unseeded)
    memo : reuse the result of an identical call in this process

    Returns float32 array (n, n_components).
    """
    X = _check_matrix(X)
    n = len(X)
    if mode not in ("deterministic", "fast"):
        raise ValueError(f"mode must be 'deterministic' or 'fast', got {mode!r}")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    if hasattr(method, "fit_transform"):
        return np.asarray(method.fit_transform(X), dtype=np.float32)
    if method not in ("umap", "pca"):
        raise ValueError(f"method must be 'umap', 'pca' or an object with fit_transform, got {method!r}")
    if n <= n_components:
        raise ValueError(f"need more than n_components={n_components} points to reduce, got {n}")
    key = (_array_hash(X), method, n_components, metric, n_neighbors, min_dist, pca_components, mode,
           random_state)
    if memo and key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key].copy()
    seed = random_state if mode == "deterministic" else None
    if method == "pca":
        from sklearn.decomposition import PCA

        k = min(n_components, X.shape[1], n)
        Y = PCA(n_components=k, random_state=random_state).fit_transform(X)
    else:
        Y = _umap(X, n_components=n_components, metric=metric, n_neighbors=n_neighbors, min_dist=min_dist,
                  pca_components=pca_components, seed=seed)
    Y = np.ascontiguousarray(Y, dtype=np.float32)
    if memo:
        _MEMO[key] = Y.copy()
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return Y


def _umap(X, *, n_components, metric, n_neighbors, min_dist, pca_components, seed):
    try:
        import umap
    except ImportError as exc:  # pragma: no cover - core dependency
        raise ImportError('reduce(method="umap") needs umap-learn: pip install kosbert_viz '
                          "(conda: conda install -c conda-forge umap-learn)") from exc
    n = len(X)
    if pca_components and X.shape[1] > pca_components and n > pca_components:
        from sklearn.decomposition import PCA

        X = PCA(n_components=pca_components, random_state=0 if seed is None else seed).fit_transform(X)
    reducer = umap.UMAP(
        n_components=n_components, metric=metric, n_neighbors=max(2, min(n_neighbors, n - 1)),
        min_dist=min_dist, random_state=seed, n_jobs=1 if seed is not None else -1,
        init="spectral" if n > n_components + 10 else "random",
    )
    return reducer.fit_transform(X)
