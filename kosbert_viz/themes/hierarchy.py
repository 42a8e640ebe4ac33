"""Theme hierarchy: nested levels of themes, a default level that re-fits reproduce, names at every level.

``kv.cluster(X, method="hierarchy")`` runs :func:`build_hierarchy` on the clustering coordinates of
``kv.layout(X, cluster_runs=4)``: four short UMAP runs (5-D, 25 epochs each) from one
accurate neighbour graph, side by side, so that no theme rests on the last bits of one stochastic layout.

1. **default level**: for each theme count in a readable range (8-40 for 1,000+ texts, fewer for
   small corpora), k-means is re-fitted 8 times (other seeds, a subsample) and the re-fits'
   agreement measured (:func:`kosbert_viz.themes.stability.refit_agreement`: mean best-match Jaccard).
   Among the counts that re-fits reproduce (agreement >= 0.85, as a sharp peak or as a plateau with
   the neighbouring counts), the fewest within one standard error of the best; when none is
   reproducible, the fewest of the range (:func:`kosbert_viz.themes.stability.choose_theme_count`). The
   themes are then k-means with that count and 30 starts (fitted on at most 20,000 points, every
   point to its nearest centre);
2. **fine clusters**: k-means into ``m = clip(2 * sqrt(n), 16, 1000)`` fine clusters (fitted on at
   most ``max(10000, 20 m)`` points, then every point to its nearest centre), split where they
   straddle two themes, so they nest in the themes;
3. **merge upward**: Ward's linkage over the fine centres, each weighted by its size, first only
   within each theme (down to the themes), then across themes (above them);
4. **levels**: cuts of that one dendrogram, so they nest; a geometric ladder of theme counts
   (ratio ~2.5) around the default level, coarsest first, the fine clusters last;
5. **stability**: every theme at every level carries how reliably it re-appears when its level is
   re-fitted (:func:`kosbert_viz.themes.stability.theme_stability`), in ``result.tree.stability``.

Why this rule: the old one chose the count from one dendrogram's merge costs, where near-ties
tipped 2-3x either way with a seed or float noise. Re-fit agreement measures robustness itself
and needs no distance scale; a corpus without reproducible structure in the range gets the same
(fewest) count every time instead of a coin flip. Copies of one text (identical vectors) always
share a fine cluster, so they share a theme at every level.

Every text is placed at every level. ``outlier_score`` is a text's distance to its fine cluster's
centre divided by the median such distance in its theme; ``is_outlier`` flags scores above
``OUTLIER_RATIO`` (3x the theme's typical spread).

Names live in ``result.names``: a dict from tree node id to name; ``result.tree`` has a ``name``
column and ``result.names_at(level)`` maps the labels of one level to names.

Edits return a new result and keep ids stable: ``merge(ids)`` keeps the smallest id (the merged theme
moves under the biggest part's parent at coarser levels), ``split(theme, n)`` keeps the id for the
biggest part and numbers the others after the level's largest id (the parts are groups of the theme's
fine clusters, so finer levels stay nested), ``rename({id: name})``. Ids are the labels of one level
(``level=None``: the default level); tree node ids of untouched themes do not change. A theme whose
texts an edit changed has no stability score (NaN): it was not re-fitted.

>>> res = kv.cluster(emb, method="hierarchy")       # res.labels = the default level
>>> res.levels, res.default_level, res.tree         # coarsest level first; node, parent, level, label, size, ...
>>> names = kv.hierarchy_names(texts, res, embeddings=emb)   # node, level, parent, size, name, keywords, ...
>>> res2 = res.merge([3, 7], name="배송 문의").split(0, n=2).rename({1: "환불"})
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from kosbert_viz._util.validation import identical_rows
from kosbert_viz.geometry.layout import HIERARCHY_RUNS, layout
from kosbert_viz.geometry.reduce import check_matrix, unit_rows
from kosbert_viz.themes.stability import (
    FINE_REFITS,
    N_REFITS,
    REFIT_SAMPLE,
    REPRODUCIBLE,
    UNSTABLE_BELOW,
    choose_theme_count,
    refit_agreement,
    theme_stability,
)
from kosbert_viz.themes.stability import HOW as _STABILITY_HOW
from kosbert_viz.themes.tree import (
    OUTLIER_RATIO,
    nearest_center,
    node_values,
    outlier_scores,
    tree_from_levels,
)

__all__ = ["build_hierarchy", "Hierarchy", "default_theme_range", "candidate_counts", "OUTLIER_RATIO"]

_FIT_SAMPLE = 10_000  # k-means for the fine clusters is fitted on at most max(this, 20 m) points
_THEME_FIT_SAMPLE = 20_000  # the default level's k-means is fitted on at most this many points
_MAX_FINE = 1000
_LADDER_RATIO = 2.5
# k-means starts for the default level. With 10, the lowest-inertia start missed the best optimum on some
# runs (10,000 NSMC reviews, 8 themes: inertia 6022.6 against 5997.7, themes ARI 0.70 with the others);
# with 30 every one of 7 runs found it (median ARI between runs 0.907, min 0.897; 60 starts: the same)
_THEME_STARTS = 30


@dataclass
class Hierarchy:
    """Nested levels of labels (coarsest first; each level labelled 0..k-1, largest theme first)."""

    levels: list
    default_level: int
    tree: object  # pandas DataFrame: node, parent, level, label, size, name, stability
    fine_labels: np.ndarray
    fine_centers: np.ndarray
    linkage: np.ndarray  # (m-1, 4): fine-cluster ids merged, merge cost, size (scipy layout)
    criterion: object  # pandas DataFrame: k, agreement, se, reproducible (re-fit agreement per theme count)
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def default_theme_range(n: int) -> tuple[int, int]:
    """Readable range of top-level theme counts for ``n`` texts: (8, 40) from ~800 texts on.

    Upper end: at most ``n // 20`` themes (a theme of fewer than ~20 texts is not a theme to read
    first), capped at 40; lower end: 8, or less for small corpora (``n // 60``, at least 2).
    """
    hi = int(min(40, max(2, n // 20)))
    lo = int(min(8, hi, max(2, n // 60)))
    return lo, hi


def candidate_counts(lo: int, hi: int) -> list:
    """Theme counts tried for the default level: every count up to 15, then steps of ~10%.

    >>> candidate_counts(8, 40)
    [8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 26, 29, 32, 35, 38, 40]
    """
    ks, k = [], int(lo)
    while k <= hi:
        ks.append(k)
        k = max(k + 1, int(round(k * 1.1)))
    if ks[-1] != hi:
        ks.append(int(hi))
    return ks


def _n_fine(n: int) -> int:
    return int(min(_MAX_FINE, max(16, round(2 * math.sqrt(n))), n))


def _fine_clusters(Z, m, random_state):
    """k-means with ``m`` centres on (a sample of) Z, then every point to its nearest centre."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    n = len(Z)
    fit_n = min(n, max(_FIT_SAMPLE, 20 * m))
    idx = np.arange(n) if fit_n >= n else np.sort(np.random.default_rng(random_state).choice(n, fit_n, replace=False))
    km = KMeans(n_clusters=m, n_init=1, max_iter=30, tol=1e-4, random_state=random_state)
    with threadpool_limits(1):  # a small low-dimensional fit: threads cost more than they bring (0.3 s vs 2.5 s CPU)
        km.fit(Z[idx])
    return nearest_center(Z, km.cluster_centers_.astype(np.float64))


def _themes(Z, k, random_state):
    """The default level: k-means with ``k`` themes and 30 starts (fitted on at most 20,000 points)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    n = len(Z)
    idx = (
        np.arange(n)
        if n <= _THEME_FIT_SAMPLE
        else np.sort(np.random.default_rng(random_state).choice(n, _THEME_FIT_SAMPLE, replace=False))
    )
    km = KMeans(n_clusters=int(k), n_init=_THEME_STARTS, random_state=random_state)
    with threadpool_limits(1):  # the same result on any thread count
        km.fit(Z[idx])
    return nearest_center(Z, km.cluster_centers_.astype(np.float64))


def _copies_together(labels, copies):
    """Every group of identical texts (``copies``: a group id per text) gets its most common label."""
    if copies is None:
        return labels
    copies = np.asarray(copies)
    g, counts = np.unique(copies, return_inverse=True, return_counts=True)[1:]
    if counts.max(initial=1) < 2:
        return labels
    g = g.ravel()
    multi = counts[g] >= 2
    rows = np.flatnonzero(multi)
    pairs, c = np.unique(np.stack([g[rows], labels[rows]], 1), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], -c, pairs[:, 0]))  # per group: most common label first (ties: lowest)
    first = np.r_[True, pairs[order[1:], 0] != pairs[order[:-1], 0]]
    best = dict(zip(pairs[order[first], 0].tolist(), pairs[order[first], 1].tolist()))
    out = labels.copy()
    out[rows] = [best[x] for x in g[rows].tolist()]
    return out


def ward_linkage(C, w, groups=None):
    """Ward's linkage of weighted points ``C`` (weights ``w``): an (m-1, 4) scipy-style matrix.

    Merge cost = increase of the total within-cluster sum of squares (Lance-Williams update).
    With ``groups`` (one id per point), points merge within their group first; the groups then
    merge with each other (so a cut into the groups' number of clusters gives the groups exactly).
    """
    m = len(C)
    C = np.asarray(C, np.float64)
    w = np.asarray(w, np.float64)
    sq = np.maximum((C**2).sum(1)[:, None] + (C**2).sum(1)[None, :] - 2 * C @ C.T, 0.0)
    D = (w[:, None] * w[None, :] / (w[:, None] + w[None, :])) * sq
    if groups is not None:
        groups = np.asarray(groups)
        D[groups[:, None] != groups[None, :]] = np.inf
    np.fill_diagonal(D, np.inf)
    size = w.copy()
    wsum = C * w[:, None]
    count = np.ones(m)
    ident = np.arange(m)
    alive = np.ones(m, bool)
    rarg = np.argmin(D, axis=1)
    rmin = D[np.arange(m), rarg]
    out = np.zeros((max(m - 1, 0), 4))
    step = 0
    while step < m - 1:
        i = int(np.argmin(rmin))
        if not np.isfinite(rmin[i]):
            break  # only merges across groups are left
        j = int(rarg[i])
        if j < i:
            i, j = j, i
        dij = D[i, j]
        out[step] = (min(ident[i], ident[j]), max(ident[i], ident[j]), dij, count[i] + count[j])
        wi, wj = size[i], size[j]
        new = ((wi + size) * D[i] + (wj + size) * D[j] - size * dij) / (wi + wj + size)
        alive[j] = False
        new[~alive] = np.inf
        new[i] = np.inf
        D[i] = new
        D[:, i] = new
        D[j] = np.inf
        D[:, j] = np.inf
        size[i] = wi + wj
        wsum[i] += wsum[j]
        count[i] += count[j]
        ident[i] = m + step
        rmin[j] = np.inf
        stale = np.flatnonzero(alive & ((rarg == i) | (rarg == j)))
        stale = stale[stale != i]
        if len(stale):
            rarg[stale] = np.argmin(D[stale], axis=1)
            rmin[stale] = D[stale, rarg[stale]]
        better = alive & (new < rmin)
        rarg[better] = i
        rmin[better] = new[better]
        rarg[i] = int(np.argmin(D[i]))
        rmin[i] = D[i, rarg[i]]
        step += 1
    if step < m - 1:  # the groups, as points of their own (their centroids and sizes), merged by Ward
        live = np.flatnonzero(alive)
        upper = ward_linkage(wsum[live] / size[live][:, None], size[live])
        name = np.r_[ident[live], m + step + np.arange(len(live) - 1)]
        leaves = np.r_[count[live], np.zeros(len(live) - 1)]
        for r, (a, b, d, _) in enumerate(upper):
            a, b = int(a), int(b)
            leaves[len(live) + r] = leaves[a] + leaves[b]
            out[step + r] = (min(name[a], name[b]), max(name[a], name[b]), d, leaves[len(live) + r])
    return out


def dendrogram_cuts(linkage, m, ks):
    """Fine-cluster -> group id for each k in ``ks`` (cuts of the dendrogram into k groups)."""
    parent = np.arange(2 * m - 1)
    want = {int(k) for k in ks}
    out = {}
    if m in want:
        out[m] = np.arange(m)
    for step in range(m - 1):
        a, b = int(linkage[step, 0]), int(linkage[step, 1])
        parent[a] = parent[b] = m + step
        k = m - step - 1
        if k in want:
            root = np.arange(m)
            while True:  # follow parents to the current roots
                nxt = parent[root]
                if np.array_equal(nxt, root):
                    break
                root = nxt
            out[k] = np.unique(root, return_inverse=True)[1].ravel()
    return out


def _ladder(default_k, m, ratio=_LADDER_RATIO):
    """Theme counts of the levels: default_k, then / and * ``ratio`` (coarser down to 2, finer up to m)."""
    ks = {int(default_k), int(m)}
    k = default_k / ratio
    while k >= 2:
        ks.add(int(round(k)))
        k /= ratio
    k = default_k * ratio
    while k < m / math.sqrt(ratio):
        ks.add(int(round(k)))
        k *= ratio
    return sorted(x for x in ks if 1 <= x <= m)


def _by_size(labels):
    """Relabel 0..k-1, largest group first (ties: lower old label first)."""
    ids, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.lexsort((ids, -counts))
    rank = np.empty(len(ids), np.int64)
    rank[order] = np.arange(len(ids))
    return rank[inv.ravel()]


def _theme_range(n_themes, n):
    if n_themes is None:
        return default_theme_range(n)
    if isinstance(n_themes, (int, np.integer)) and not isinstance(n_themes, bool):
        if not 1 <= int(n_themes) <= n:
            raise ValueError(f"n_themes must be between 1 and the number of points ({n}), got {n_themes}")
        return int(n_themes), int(n_themes)
    try:
        lo, hi = (int(v) for v in n_themes)
    except (TypeError, ValueError):
        raise ValueError(f"n_themes must be an int or a (lo, hi) range, got {n_themes!r}") from None
    if not 1 <= lo <= hi:
        raise ValueError(f"n_themes must be an int or a (lo, hi) range with 1 <= lo <= hi, got {n_themes!r}")
    return lo, min(hi, n)


def build_hierarchy(
    Z,
    *,
    n_fine: int | None = None,
    n_themes=None,
    ladder_ratio: float = _LADDER_RATIO,
    copies=None,
    random_state: int = 42,
) -> Hierarchy:
    """Nested theme levels for the rows of ``Z`` (the clustering coordinates).

    n_fine : number of fine clusters (the finest level); default ``clip(2 sqrt(n), 16, 1000)``
    n_themes : the default level's theme count: an int to fix it, or a (lo, hi) range to choose in
        (default :func:`default_theme_range`)
    ladder_ratio : theme counts of neighbouring levels differ by about this factor
    copies : optional group id per row; rows with the same id (copies of one text) share a theme
        at every level

    >>> rng = np.random.default_rng(0)
    >>> Z = np.vstack([rng.normal(c, 0.2, size=(40, 2)) for c in ((0, 0), (5, 0), (0, 5), (5, 5))])
    >>> h = build_hierarchy(Z, n_themes=(2, 6))
    >>> len(np.unique(h.levels[h.default_level])), h.tree.columns.tolist()
    (4, ['node', 'parent', 'level', 'label', 'size', 'name', 'stability'])
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    n = len(Z)
    if n < 2:
        raise ValueError(f"need at least 2 points for a hierarchy, got {n}")
    if copies is not None and len(copies) != n:
        raise ValueError(f"copies has {len(copies)} entries, expected one per point ({n})")
    timings = {}
    m = _n_fine(n) if n_fine is None else int(n_fine)
    if not 2 <= m <= n:
        raise ValueError(f"n_fine must be between 2 and the number of points ({n}), got {n_fine}")
    k_range = _theme_range(n_themes, n)
    t = time.perf_counter()
    lo, hi = k_range
    crit = refit_agreement(Z, candidate_counts(lo, hi), random_state=random_state)
    default_k = lo if lo == hi else choose_theme_count(crit, k_range)
    timings["choose_count"] = time.perf_counter() - t
    t = time.perf_counter()
    themes = _copies_together(_themes(Z, default_k, random_state) if default_k > 1 else np.zeros(n, np.int64), copies)
    timings["themes"] = time.perf_counter() - t
    t = time.perf_counter()
    fine = _fine_clusters(Z, m, random_state) if m < n else np.arange(n)
    # fine clusters nest in the themes (a fine cluster across two themes is split in two) and hold copies together
    fine = _copies_together(np.unique(np.stack([themes, fine], 1), axis=0, return_inverse=True)[1].ravel(), copies)
    fine = np.unique(fine, return_inverse=True)[1].ravel()
    m = int(fine.max()) + 1
    weights = np.bincount(fine, minlength=m).astype(np.float64)
    sums = np.zeros((m, Z.shape[1]))
    np.add.at(sums, fine, Z)
    centers = sums / weights[:, None]
    group = np.zeros(m, np.int64)
    group[fine] = themes
    timings["fine_kmeans"] = time.perf_counter() - t
    t = time.perf_counter()
    link = ward_linkage(centers, weights, groups=group) if m > 1 else np.zeros((0, 4))
    timings["ward"] = time.perf_counter() - t
    t = time.perf_counter()
    n_default = len(np.unique(themes))
    ks = _ladder(n_default, m, ladder_ratio)
    cuts = dendrogram_cuts(link, m, ks)
    levels = [_by_size(cuts[k][fine]) for k in ks]
    default_level = ks.index(n_default)
    timings["levels"] = time.perf_counter() - t
    t = time.perf_counter()
    # levels finer than the default: many small themes, half the re-fits (they cost k x sample each; at 100,000
    # texts the finest level took three quarters of the time)
    stability = [
        theme_stability(Z, lab, random_state=random_state, n_refits=N_REFITS if i <= default_level else FINE_REFITS)
        for i, lab in enumerate(levels)
    ]
    timings["stability"] = time.perf_counter() - t
    tree = tree_from_levels(levels, stability=node_values(levels, stability))
    params = {
        "n_fine": m,
        "theme_range": list(k_range),
        "default_k": int(n_default),
        "level_sizes": ks,
        "ladder_ratio": ladder_ratio,
        "random_state": random_state,
        "criterion": (
            f"re-fit agreement: k-means re-fitted {N_REFITS}x per theme count on "
            f"<= {REFIT_SAMPLE:,} points; evidence = max(agreement - SE, agreement averaged with the "
            f"neighbouring counts); among counts with evidence >= {REPRODUCIBLE}, the fewest within "
            f"one standard error of the best; none reproducible: the fewest of the range"
        ),
        "stability": {
            "how": _STABILITY_HOW,
            "n_refits": N_REFITS,
            "n_refits_finer_levels": FINE_REFITS,
            "sample": REFIT_SAMPLE,
            "unstable_below": UNSTABLE_BELOW,
        },
    }
    return Hierarchy(levels, default_level, tree, fine, centers, link, crit, params, timings)


# ----------------------------------------------------------------------------------------------------
# ClusterResult glue: building a result, and merge / rename / split / reassign_noise on one
# ----------------------------------------------------------------------------------------------------


def cluster_hierarchy(X, embedding, n_themes, *, mode, random_state, cache, n_neighbors, show_progress_bar):
    """Run the hierarchy for ``cluster(X, "hierarchy")``: (Hierarchy, the coordinates it ran on, how)."""
    n = len(X)
    if embedding is not None:
        Z = check_matrix(embedding, "embedding")
        if len(Z) != n:
            raise ValueError(f"embedding has {len(Z)} rows, X has {n}")
        how = "given"
    elif n > 7 and X.shape[1] > 5:
        lay = layout(
            X,
            n_neighbors=n_neighbors,
            cluster_runs=HIERARCHY_RUNS,
            mode=mode,
            random_state=random_state,
            cache=cache,
            show_progress_bar=show_progress_bar,
        )
        Z, how = lay.cluster_coords, "layout"
    else:
        Z, how = unit_rows(X), "none"
    if isinstance(n_themes, (tuple, list)) and len(n_themes) != 2:
        raise ValueError(f"n_clusters for method='hierarchy' must be an int or a (lo, hi) range, got {n_themes!r}")
    copies = identical_rows(np.asarray(X))[0]  # copies of one text share a theme at every level
    h = build_hierarchy(Z, n_themes=n_themes, copies=copies, random_state=random_state)
    return h, np.asarray(Z, np.float32), how


def attach_hierarchy(res, h, Z):
    """Fill a ClusterResult's hierarchy fields from a :class:`Hierarchy` built on coordinates ``Z``."""
    res.embedding = np.asarray(Z, np.float32)
    res.levels = [np.asarray(l, np.int64) for l in h.levels]
    res.default_level = int(h.default_level)
    res.tree = h.tree
    res.names = {}
    res.outlier_score, res.is_outlier = outlier_scores(res.embedding, res.levels, res.default_level)
    crit = h.criterion
    res.params["hierarchy"] = {
        **h.params,
        "timings": {k: round(v, 4) for k, v in h.timings.items()},
        "agreement_by_count": {int(k): round(float(a), 3) for k, a in zip(crit.k, crit.agreement)},
    }
    return res


# ----------------------------------------------------------------------------------------------------
# Names at every level: keywords contrasted with the node's siblings
# ----------------------------------------------------------------------------------------------------
