"""UMAP's fuzzy neighbour graph from a kNN graph, compiled once per install.

The same graph as umap-learn's ``fuzzy_simplicial_set`` (local connectivity 1, bandwidth 1,
fuzzy union), but umap-learn's numba code for it is not cached and took 3-6 s to compile in every
new process (measured on this project's 2-core machine); this is ``cache=True``.

Per point: ``rho`` is the distance to its nearest other point and ``sigma`` is found by bisection
so that ``sum_j exp(-(d_j - rho) / sigma) = log2(k)``; the directed weights
``exp(-(d - rho) / sigma)`` are then combined as ``W + W.T - W * W.T``.

>>> from kosbert_viz.geometry.nndescent import nn_descent
>>> Z = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
>>> Z /= np.linalg.norm(Z, axis=1, keepdims=True)
>>> knn_indices, knn_distances = nn_descent(Z, 15, metric="cosine", seed=42)
>>> G = fuzzy_graph(knn_indices, knn_distances)   # scipy CSR (n, n), float32
>>> G.shape, G.dtype, bool(abs(G - G.T).max() == 0)   # symmetric
((200, 200), dtype('float32'), True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["fuzzy_graph"]

_TOLERANCE = 1e-5  # umap-learn's SMOOTH_K_TOLERANCE
_MIN_SCALE = 1e-3  # umap-learn's MIN_K_DIST_SCALE


@numba.njit(cache=True, nogil=True)
def _sigmas_and_rhos(dist, n_iter):
    n, k = dist.shape
    target = np.log2(k)
    rho = np.zeros(n, np.float32)
    sigma = np.zeros(n, np.float32)
    mean_all = dist.mean()
    for i in range(n):
        lo = 0.0
        hi = np.inf
        mid = 1.0
        row = dist[i]
        for j in range(k):  # nearest positive distance (the point itself and exact copies are 0)
            if row[j] > 0:
                rho[i] = row[j]
                break
        for _ in range(n_iter):
            psum = 0.0
            for j in range(1, k):
                d = row[j] - rho[i]
                psum += np.exp(-(d / mid)) if d > 0 else 1.0
            if np.abs(psum - target) < _TOLERANCE:
                break
            if psum > target:
                hi = mid
                mid = (lo + hi) / 2.0
            else:
                lo = mid
                mid = mid * 2 if hi == np.inf else (lo + hi) / 2.0
        sigma[i] = mid
        floor = _MIN_SCALE * (row.mean() if rho[i] > 0 else mean_all)
        if sigma[i] < floor:
            sigma[i] = floor
    return sigma, rho


@numba.njit(cache=True, nogil=True)
def _memberships(idx, dist, sigma, rho):
    n, k = idx.shape
    rows = np.empty(n * k, np.int32)
    cols = np.empty(n * k, np.int32)
    vals = np.zeros(n * k, np.float32)
    for i in range(n):
        for j in range(k):
            e = i * k + j
            rows[e] = i
            cols[e] = max(idx[i, j], 0)
            c = idx[i, j]
            if c < 0 or c == i:
                continue
            d = dist[i, j] - rho[i]
            vals[e] = 1.0 if d <= 0.0 or sigma[i] == 0.0 else np.exp(-(d / sigma[i]))
    return rows, cols, vals


def fuzzy_graph(indices, distances, n_iter: int = 64) -> csr_matrix:
    """UMAP's symmetric fuzzy graph (scipy CSR, float32) of a kNN graph whose rows start with the point itself."""
    from scipy.sparse import coo_matrix

    idx = np.ascontiguousarray(indices, dtype=np.int32)
    dist = np.ascontiguousarray(distances, dtype=np.float32)
    if idx.ndim != 2 or idx.shape != dist.shape:
        raise ValueError(f"indices and distances must be 2-D and of one shape, got {idx.shape} and {dist.shape}")
    n = len(idx)
    sigma, rho = _sigmas_and_rhos(dist, n_iter)
    rows, cols, vals = _memberships(idx, dist, sigma, rho)
    W = coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    W.eliminate_zeros()
    Wt = W.T.tocsr()
    G = (W + Wt - W.multiply(Wt)).tocsr()
    G.eliminate_zeros()
    return G.astype(np.float32)
