"""Approximate k-nearest neighbours by NN-descent (Dong et al., 2011), compiled once per install.

pynndescent's ``nn_descent`` takes its distance function as an argument, so numba cannot cache
its machine code: every new Python process spent about 25 s compiling it before the first graph
(measured on this project's 2-core machine). Here the distance is fixed (cosine on unit rows, or
euclidean) and every function is ``cache=True``: the first run after installing compiles and
stores the code, later processes load it in well under a second.

The method: a forest of random-projection trees gives each point a first set of neighbours (all
pairs within a leaf), then rounds of "a neighbour of my neighbour is probably my neighbour"
(each point's new and old neighbours, and the points that list it, are compared pairwise) until a
round changes fewer than ``delta * n * k`` entries. One thread and a seeded generator: the same
graph on every run for a given seed.

>>> unit_rows = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
>>> unit_rows /= np.linalg.norm(unit_rows, axis=1, keepdims=True)
>>> idx, dist = nn_descent(unit_rows, 15, metric="cosine", seed=42)
>>> idx.shape, bool((idx[:, 0] == np.arange(200)).all())   # idx[:, 0] is the point itself
((200, 15), True)
>>> bool((np.diff(dist, axis=1) >= 0).all())               # nearest first
True
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["nn_descent"]

_COSINE, _EUCLIDEAN = 0, 1
# reassociation lets the dot products vectorise; no "no-inf" flag: the heaps start at +inf
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@numba.njit(cache=True, fastmath=_FASTMATH, nogil=True)
def _distance(Z, a, b, kind):
    s = np.float32(0.0)
    if kind == _EUCLIDEAN:
        for t in range(Z.shape[1]):
            d = Z[a, t] - Z[b, t]
            s += d * d
        return s  # squared; the square root is taken at the end
    for t in range(Z.shape[1]):
        s += Z[a, t] * Z[b, t]
    return np.float32(1.0) - s


@numba.njit(cache=True, nogil=True)
def _push(D, I, F, i, d, j, flag):
    """Offer ``j`` at distance ``d`` to row ``i``'s max-heap (root = farthest kept); 1 if it went in.

    Also keeps each row's candidate sample: there ``d`` is a random priority and the smallest stay."""
    if d >= D[i, 0]:
        return 0
    k = D.shape[1]
    for s in range(k):
        if I[i, s] == j:
            return 0
    # replace the root, then sift it down
    pos = 0
    while True:
        left = 2 * pos + 1
        right = left + 1
        if left >= k:
            break
        child = left
        if right < k and D[i, right] > D[i, left]:
            child = right
        if D[i, child] <= d:
            break
        D[i, pos] = D[i, child]
        I[i, pos] = I[i, child]
        F[i, pos] = F[i, child]
        pos = child
    D[i, pos] = d
    I[i, pos] = j
    F[i, pos] = flag
    return 1


@numba.njit(cache=True, fastmath=_FASTMATH, nogil=True)
def _forest_init(Z, D, I, F, n_trees, leaf_size, kind):
    """Random-projection trees; every pair of points sharing a leaf is offered to both heaps."""
    n, dim = Z.shape
    order = np.arange(n).astype(np.int64)
    margin = np.empty(n, np.float32)
    normal = np.empty(dim, np.float32)
    starts = np.empty(2 * n + 2, np.int64)
    ends = np.empty(2 * n + 2, np.int64)
    for _ in range(n_trees):
        top = 0
        starts[0] = 0
        ends[0] = n
        top = 1
        while top > 0:
            top -= 1
            lo = starts[top]
            hi = ends[top]
            size = hi - lo
            if size <= leaf_size:
                for x in range(lo, hi):
                    p = order[x]
                    for y in range(x + 1, hi):
                        q = order[y]
                        d = _distance(Z, p, q, kind)
                        _push(D, I, F, p, d, q, 1)
                        _push(D, I, F, q, d, p, 1)
                continue
            a = order[lo + np.random.randint(size)]
            b = order[lo + np.random.randint(size)]
            offset = np.float32(0.0)
            for t in range(dim):
                normal[t] = Z[a, t] - Z[b, t]
                if kind == _EUCLIDEAN:
                    offset -= normal[t] * (Z[a, t] + Z[b, t]) * np.float32(0.5)
            for x in range(lo, hi):
                p = order[x]
                m = offset
                for t in range(dim):
                    m += normal[t] * Z[p, t]
                margin[x] = m
            # partition order[lo:hi] by the side of the hyperplane (ties go either way at random)
            left = lo
            right = hi - 1
            while left <= right:
                m = margin[left]
                go_left = m < 0 or (m == 0 and np.random.random() < 0.5)
                if go_left:
                    left += 1
                else:
                    order[left], order[right] = order[right], order[left]
                    margin[left], margin[right] = margin[right], margin[left]
                    right -= 1
            mid = left
            if mid - lo < 1 or hi - mid < 1:  # a degenerate split (duplicates): halve the range
                mid = lo + size // 2
            starts[top] = lo
            ends[top] = mid
            top += 1
            starts[top] = mid
            ends[top] = hi
            top += 1


_ROWS_PER_BLOCK = 4096  # rows whose candidate pairs are measured (in parallel) before being applied


@numba.njit(cache=True, fastmath=_FASTMATH, nogil=True, parallel=True)
def _measure(Z, D, new_i, old_i, lo, hi, kind, up_q, up_d, up_n, chunks):
    """For rows ``lo:hi``: every (new, new) and (new, old) candidate pair that could enter either
    heap, measured in parallel. Pair ``e`` of row ``i`` is stored at ``[i - lo, e]``; nothing is
    written to the heaps here, so the result does not depend on the number of threads."""
    c = new_i.shape[1]
    dim = Z.shape[1]
    n_chunks = min(hi - lo, chunks)
    for chunk in numba.prange(n_chunks):
        ids = np.empty(2 * c, np.int64)
        block = np.empty((2 * c, dim), np.float32)
        for i in range(lo + chunk, hi, n_chunks):
            r = i - lo
            up_n[r] = 0
            m_new = 0
            for a in range(c):
                if new_i[i, a] >= 0:
                    ids[m_new] = new_i[i, a]
                    m_new += 1
            if m_new == 0:
                continue
            m = m_new
            for b in range(c):
                if old_i[i, b] >= 0:
                    ids[m] = old_i[i, b]
                    m += 1
            for x in range(m):  # each candidate row read once into a small block, not once per pair
                block[x] = Z[ids[x]]
            e = 0
            for a in range(m_new):
                p = ids[a]
                for b in range(a + 1, m):
                    q = ids[b]
                    if q == p:
                        continue
                    d = _distance(block, a, b, kind)
                    if d < D[p, 0] or d < D[q, 0]:
                        up_q[r, e, 0] = p
                        up_q[r, e, 1] = q
                        up_d[r, e] = d
                        e += 1
            up_n[r] = e


@numba.njit(cache=True, fastmath=_FASTMATH, nogil=True)
def _descend(Z, D, I, F, max_candidates, n_iters, delta, kind, chunks):
    n, k = I.shape
    new_d = np.empty((n, max_candidates), np.float32)
    new_i = np.empty((n, max_candidates), np.int32)
    old_d = np.empty((n, max_candidates), np.float32)
    old_i = np.empty((n, max_candidates), np.int32)
    scratch = np.zeros((n, max_candidates), np.uint8)  # the candidate heaps carry no flags
    rows = min(n, _ROWS_PER_BLOCK)
    pairs = max_candidates * 2 * max_candidates
    up_q = np.empty((rows, pairs, 2), np.int32)
    up_d = np.empty((rows, pairs), np.float32)
    up_n = np.zeros(rows, np.int64)
    rounds = 0
    for _ in range(n_iters):
        rounds += 1
        new_d[:] = np.inf
        new_i[:] = -1
        old_d[:] = np.inf
        old_i[:] = -1
        for i in range(n):
            for s in range(k):
                j = I[i, s]
                if j < 0 or j == i:
                    continue
                priority = np.float32(np.random.random())
                if F[i, s]:
                    _push(new_d, new_i, scratch, i, priority, j, 0)
                    _push(new_d, new_i, scratch, j, priority, i, 0)
                else:
                    _push(old_d, old_i, scratch, i, priority, j, 0)
                    _push(old_d, old_i, scratch, j, priority, i, 0)
        # sampled new neighbours become old
        for i in range(n):
            for s in range(k):
                if F[i, s]:
                    j = I[i, s]
                    for c in range(max_candidates):
                        if new_i[i, c] == j:
                            F[i, s] = 0
                            break
        changes = 0
        for lo in range(0, n, rows):
            hi = min(n, lo + rows)
            _measure(Z, D, new_i, old_i, lo, hi, kind, up_q, up_d, up_n, chunks)
            for r in range(hi - lo):  # applied in row order: the same graph whatever the thread count
                for e in range(up_n[r]):
                    p = up_q[r, e, 0]
                    q = up_q[r, e, 1]
                    d = up_d[r, e]
                    changes += _push(D, I, F, p, d, q, 1)
                    changes += _push(D, I, F, q, d, p, 1)
        if changes <= delta * n * k:
            break
    return rounds


@numba.njit(cache=True, nogil=True)
def _run(Z, k, n_trees, leaf_size, max_candidates, n_iters, delta, kind, seed, chunks):
    np.random.seed(seed)
    n = Z.shape[0]
    D = np.full((n, k), np.inf, np.float32)
    I = np.full((n, k), -1, np.int32)
    F = np.zeros((n, k), np.uint8)
    for i in range(n):  # each point is its own first neighbour, never evicted (rounding can make an
        _push(D, I, F, i, -np.inf, i, 0)  # exact copy's cosine distance negative), never a candidate
    _forest_init(Z, D, I, F, n_trees, leaf_size, kind)
    rounds = _descend(Z, D, I, F, max_candidates, n_iters, delta, kind, chunks)
    return D, I, rounds


def nn_descent(
    Z,
    k: int,
    *,
    metric: str = "cosine",
    seed: int | None = None,
    n_trees: int | None = None,
    leaf_size: int | None = None,
    max_candidates: int | None = None,
    n_iters: int | None = None,
    delta: float = 0.001,
) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, distances)`` of each row's ``k`` approximate nearest rows, nearest first.

    ``Z`` must hold unit-length rows for ``metric="cosine"`` (distance ``1 - dot``). Row ``i``'s
    first neighbour is ``i`` itself at distance 0. Ties are ordered by index. ``seed=None`` draws one.
    """
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    n = len(Z)
    if not 2 <= k <= n:
        raise ValueError(f"k must be between 2 and the number of rows ({n}), got {k}")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    n_trees = n_trees or 5 + int(round(n**0.25 / 2))
    leaf_size = leaf_size or max(10, 2 * k)
    max_candidates = max_candidates or min(60, k)
    n_iters = n_iters or max(5, int(round(np.log2(n))))
    kind = _COSINE if metric == "cosine" else _EUCLIDEAN
    D, I, _ = _run(
        Z,
        int(k),
        int(n_trees),
        int(leaf_size),
        int(max_candidates),
        int(n_iters),
        float(delta),
        kind,
        int(seed) % (2**32 - 1),
        8 * numba.get_num_threads(),
    )
    order = np.lexsort((I, D), axis=1)
    idx = np.take_along_axis(I, order, axis=1)
    dist = np.maximum(np.take_along_axis(D, order, axis=1), 0)
    if kind == _EUCLIDEAN:
        dist = np.sqrt(dist)
    return idx.astype(np.int32), dist.astype(np.float32)
