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
from kosbert_viz.themes.stability import HOW as _STABILITY_HOW
from kosbert_viz.themes.stability import (FINE_REFITS, N_REFITS, REFIT_SAMPLE, REPRODUCIBLE, UNSTABLE_BELOW, choose_theme_count,
                        refit_agreement, theme_stability)

__all__ = ["build_hierarchy", "Hierarchy", "default_theme_range", "candidate_counts", "hierarchy_names",
           "tree_from_levels", "outlier_scores", "reassign_noise", "OUTLIER_RATIO"]

OUTLIER_RATIO = 3.0  # a text more than 3x its theme's typical distance from its fine centre is an outlier
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
    return _nearest_center(Z, km.cluster_centers_.astype(np.float64))


def _themes(Z, k, random_state):
    """The default level: k-means with ``k`` themes and 30 starts (fitted on at most 20,000 points)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    n = len(Z)
    idx = np.arange(n) if n <= _THEME_FIT_SAMPLE else np.sort(
        np.random.default_rng(random_state).choice(n, _THEME_FIT_SAMPLE, replace=False))
    km = KMeans(n_clusters=int(k), n_init=_THEME_STARTS, random_state=random_state)
    with threadpool_limits(1):  # the same result on any thread count
        km.fit(Z[idx])
    return _nearest_center(Z, km.cluster_centers_.astype(np.float64))


def _nearest_center(Z, centers, chunk=65536):
    if Z.shape[1] <= 16:  # low-dimensional: a k-d tree over the centres (45,654 x 427 in 5-D: 0.03 s vs 0.9 s)
        from scipy.spatial import cKDTree

        return cKDTree(np.asarray(centers, np.float64)).query(np.asarray(Z, np.float64), k=1)[1].astype(np.int64)
    out = np.empty(len(Z), np.int64)
    cc = (centers ** 2).sum(1)
    for s in range(0, len(Z), chunk):
        z = Z[s:s + chunk].astype(np.float64)
        out[s:s + chunk] = np.argmin(cc[None, :] - 2 * z @ centers.T, axis=1)
    return out


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


def _ward_linkage(C, w, groups=None):
    """Ward's linkage of weighted points ``C`` (weights ``w``): an (m-1, 4) scipy-style matrix.

    Merge cost = increase of the total within-cluster sum of squares (Lance-Williams update).
    With ``groups`` (one id per point), points merge within their group first; the groups then
    merge with each other (so a cut into the groups' number of clusters gives the groups exactly).
    """
    m = len(C)
    C = np.asarray(C, np.float64)
    w = np.asarray(w, np.float64)
    sq = np.maximum((C ** 2).sum(1)[:, None] + (C ** 2).sum(1)[None, :] - 2 * C @ C.T, 0.0)
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
        upper = _ward_linkage(wsum[live] / size[live][:, None], size[live])
        name = np.r_[ident[live], m + step + np.arange(len(live) - 1)]
        leaves = np.r_[count[live], np.zeros(len(live) - 1)]
        for r, (a, b, d, _) in enumerate(upper):
            a, b = int(a), int(b)
            leaves[len(live) + r] = leaves[a] + leaves[b]
            out[step + r] = (min(name[a], name[b]), max(name[a], name[b]), d, leaves[len(live) + r])
    return out


def _cuts(linkage, m, ks):
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


def build_hierarchy(Z, *, n_fine: int | None = None, n_themes=None, ladder_ratio: float = _LADDER_RATIO,
                    copies=None, random_state: int = 42) -> Hierarchy:
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
    themes = _copies_together(_themes(Z, default_k, random_state) if default_k > 1 else np.zeros(n, np.int64),
                              copies)
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
    link = _ward_linkage(centers, weights, groups=group) if m > 1 else np.zeros((0, 4))
    timings["ward"] = time.perf_counter() - t
    t = time.perf_counter()
    n_default = len(np.unique(themes))
    ks = _ladder(n_default, m, ladder_ratio)
    cuts = _cuts(link, m, ks)
    levels = [_by_size(cuts[k][fine]) for k in ks]
    default_level = ks.index(n_default)
    timings["levels"] = time.perf_counter() - t
    t = time.perf_counter()
    # levels finer than the default: many small themes, half the re-fits (they cost k x sample each; at 100,000
    # texts the finest level took three quarters of the time)
    stability = [theme_stability(Z, lab, random_state=random_state,
                                 n_refits=N_REFITS if i <= default_level else FINE_REFITS)
                 for i, lab in enumerate(levels)]
    timings["stability"] = time.perf_counter() - t
    tree = tree_from_levels(levels, stability=_node_values(levels, stability))
    params = {"n_fine": m, "theme_range": list(k_range), "default_k": int(n_default), "level_sizes": ks,
              "ladder_ratio": ladder_ratio, "random_state": random_state,
              "criterion": (f"re-fit agreement: k-means re-fitted {N_REFITS}x per theme count on "
                            f"<= {REFIT_SAMPLE:,} points; evidence = max(agreement - SE, agreement averaged with the "
                            f"neighbouring counts); among counts with evidence >= {REPRODUCIBLE}, the fewest within "
                            f"one standard error of the best; none reproducible: the fewest of the range"),
              "stability": {"how": _STABILITY_HOW, "n_refits": N_REFITS, "n_refits_finer_levels": FINE_REFITS,
                            "sample": REFIT_SAMPLE, "unstable_below": UNSTABLE_BELOW}}
    return Hierarchy(levels, default_level, tree, fine, centers, link, crit, params, timings)


def _node_values(levels, per_level):
    """{(level, label): value} from one {label: value} dict per level."""
    return {(lv, int(b)): float(v) for lv, d in enumerate(per_level) for b, v in d.items()}


def tree_from_levels(levels, old_tree=None, names=None, stability=None):
    """The tree table of nested ``levels``: node, parent, level, label, size, name, stability.

    ``node`` ids of (level, label) pairs found in ``old_tree`` are kept; new pairs get new ids.
    ``parent`` is -1 at the coarsest level. ``stability`` maps (level, label) to a score; without
    it, a node keeps ``old_tree``'s score when its size did not change, else NaN (an edit changed it).
    Raises ValueError if the levels do not nest.
    """
    import pandas as pd

    known = {}
    next_id = 0
    old_score = {}
    if old_tree is not None and len(old_tree):
        known = {(int(l), int(b)): int(nd) for nd, l, b in zip(old_tree.node, old_tree.level, old_tree.label)}
        next_id = int(old_tree.node.max()) + 1
        if stability is None and "stability" in old_tree:
            old_score = {int(nd): (int(s), float(v)) for nd, s, v in
                         zip(old_tree.node, old_tree["size"], old_tree.stability)}
    rows = []
    node_of = {}
    for lv, lab in enumerate(levels):
        lab = np.asarray(lab)
        ids, first, counts = np.unique(lab, return_index=True, return_counts=True)
        for b in ids:
            key = (lv, int(b))
            if key not in known:
                known[key] = next_id
                next_id += 1
            node_of[key] = known[key]
        if lv:
            up = np.asarray(levels[lv - 1])
            par_of = up[first]  # the parent of each label: that of its first member ...
            if not np.array_equal(par_of[np.searchsorted(ids, lab)], up):  # ... and of all its members
                raise ValueError(f"levels do not nest: a theme of level {lv} has members in two themes of level {lv - 1}")
            parent_label = dict(zip(ids.tolist(), par_of.tolist()))
        for b, c in zip(ids.tolist(), counts.tolist()):
            nd = node_of[(lv, b)]
            par = node_of[(lv - 1, parent_label[b])] if lv else -1
            if stability is not None:
                score = stability.get((lv, b), float("nan"))
            else:
                size, value = old_score.get(nd, (-1, float("nan")))
                score = value if size == c else float("nan")
            rows.append({"node": nd, "parent": par, "level": lv, "label": b, "size": c,
                         "name": (names or {}).get(nd), "stability": score})
    return pd.DataFrame(rows, columns=["node", "parent", "level", "label", "size", "name", "stability"])


def outlier_scores(Z, levels, default_level, fine_level=None):
    """Per text: distance to its fine cluster's centre / the median such distance in its theme.

    The fine clusters are the finest level; the theme is ``levels[default_level]``. Returns
    (score, is_outlier) with is_outlier = score > :data:`OUTLIER_RATIO`.
    """
    Z = np.asarray(Z, np.float64)
    fine = np.asarray(levels[-1] if fine_level is None else fine_level)
    theme = np.asarray(levels[default_level])
    k = int(fine.max()) + 1
    sums = np.zeros((k, Z.shape[1]))
    np.add.at(sums, fine, Z)
    cnt = np.bincount(fine, minlength=k)[:, None]
    centers = sums / np.maximum(cnt, 1)
    d = np.linalg.norm(Z - centers[fine], axis=1)
    score = np.empty(len(Z))
    for t in np.unique(theme):
        sel = theme == t
        med = float(np.median(d[sel]))
        score[sel] = d[sel] / med if med > 0 else 0.0
    return score, score > OUTLIER_RATIO


def reassign_noise(labels, Z, strategy="centroid", k: int = 15):
    """Every -1 in ``labels`` placed in a cluster, by the coordinates ``Z`` the clustering ran on.

    strategy "centroid": the nearest cluster centre; "knn": the label most common (weighted by
    1/distance) among the ``k`` nearest clustered points. Returns (labels, was_noise, score), where
    score is each text's distance to its (new) cluster centre / the median such distance in that cluster.
    """
    labels = np.asarray(labels, np.int64)
    Z = np.asarray(Z, np.float64)
    if len(Z) != len(labels):
        raise ValueError(f"coordinates have {len(Z)} rows, labels {len(labels)}")
    if strategy not in ("centroid", "knn"):
        raise ValueError(f"strategy must be 'centroid' or 'knn', got {strategy!r}")
    noise = labels < 0
    out = labels.copy()
    ids = np.unique(labels[~noise])
    if not len(ids):
        out[:] = 0
        ids = np.array([0])
    elif noise.any():
        centers = np.stack([Z[labels == c].mean(0) for c in ids])
        if strategy == "centroid":
            out[noise] = ids[_nearest_center(Z[noise], centers)]
        else:
            from sklearn.neighbors import NearestNeighbors

            kk = int(min(k, (~noise).sum()))
            nn = NearestNeighbors(n_neighbors=kk).fit(Z[~noise])
            dist, ind = nn.kneighbors(Z[noise])
            votes = np.zeros((int(noise.sum()), len(ids)))
            pos = np.searchsorted(ids, labels[~noise][ind])
            np.add.at(votes, (np.repeat(np.arange(len(ind)), kk), pos.ravel()), (1.0 / np.maximum(dist, 1e-12)).ravel())
            out[noise] = ids[np.argmax(votes, axis=1)]
    score = np.zeros(len(Z))
    for c in np.unique(out):
        sel = out == c
        centre = Z[sel & ~noise].mean(0) if (sel & ~noise).any() else Z[sel].mean(0)
        d = np.linalg.norm(Z[sel] - centre, axis=1)
        med = float(np.median(d))
        score[sel] = d / med if med > 0 else 0.0
    return out, noise, score


# ----------------------------------------------------------------------------------------------------
# ClusterResult glue: building a result, and merge / rename / split / reassign_noise on one
# ----------------------------------------------------------------------------------------------------

def _cluster_hierarchy(X, embedding, n_themes, *, mode, random_state, cache, n_neighbors, show_progress_bar):
    """Run the hierarchy for ``cluster(X, "hierarchy")``: (Hierarchy, the coordinates it ran on, how)."""
    from kosbert_viz.geometry.reduce import _check_matrix

    n = len(X)
    if embedding is not None:
        Z = _check_matrix(embedding, "embedding")
        if len(Z) != n:
            raise ValueError(f"embedding has {len(Z)} rows, X has {n}")
        how = "given"
    elif n > 7 and X.shape[1] > 5:
        from kosbert_viz.geometry.layout import HIERARCHY_RUNS, layout

        lay = layout(X, n_neighbors=n_neighbors, cluster_runs=HIERARCHY_RUNS, mode=mode, random_state=random_state,
                     cache=cache, show_progress_bar=show_progress_bar)
        Z, how = lay.cluster_coords, "layout"
    else:
        from kosbert_viz.geometry.reduce import _unit_rows

        Z, how = _unit_rows(X), "none"
    if isinstance(n_themes, (tuple, list)) and len(n_themes) != 2:
        raise ValueError(f"n_clusters for method='hierarchy' must be an int or a (lo, hi) range, got {n_themes!r}")
    copies = identical_rows(np.asarray(X))[0]  # copies of one text share a theme at every level
    h = build_hierarchy(Z, n_themes=n_themes, copies=copies, random_state=random_state)
    return h, np.asarray(Z, np.float32), how


def _attach(res, h, Z):
    """Fill a ClusterResult's hierarchy fields from a :class:`Hierarchy` built on coordinates ``Z``."""
    res.embedding = np.asarray(Z, np.float32)
    res.levels = [np.asarray(l, np.int64) for l in h.levels]
    res.default_level = int(h.default_level)
    res.tree = h.tree
    res.names = {}
    res.outlier_score, res.is_outlier = outlier_scores(res.embedding, res.levels, res.default_level)
    crit = h.criterion
    res.params["hierarchy"] = {
        **h.params, "timings": {k: round(v, 4) for k, v in h.timings.items()},
        "agreement_by_count": {int(k): round(float(a), 3) for k, a in zip(crit.k, crit.agreement)},
    }
    return res


def _levels(res):
    if res.levels:
        return [np.asarray(l).copy() for l in res.levels], int(res.default_level)
    return [np.asarray(res.labels).copy()], 0


def _level_index(res, level):
    levels, default = _levels(res)
    if level is None:
        return default
    lv = int(level)
    if lv < 0:
        lv += len(levels)
    if not 0 <= lv < len(levels):
        raise ValueError(f"level must be between 0 and {len(levels) - 1} (or negative from the end), got {level}")
    return lv


def _rebuilt(res, levels, default_level, names, centroids=None, cluster_ids=None, X=None):
    """A new ClusterResult with ``levels`` and everything derived from them kept consistent."""
    import copy
    import dataclasses

    from kosbert_viz.themes.cluster import _centroids

    tree_old = res.tree if res.tree is not None else tree_from_levels(_levels(res)[0])
    tree = tree_from_levels(levels, tree_old, names)
    alive = set(tree.node.tolist())
    names = {k: v for k, v in names.items() if k in alive}
    labels = np.asarray(levels[default_level])
    if X is not None:
        centroids, cluster_ids = _centroids(np.asarray(X, np.float32), labels)
    new = dataclasses.replace(res, labels=labels, levels=levels if res.levels else [], tree=tree,
                              default_level=default_level if res.levels else None, names=names,
                              centroids=centroids, cluster_ids=cluster_ids,
                              params=copy.deepcopy(res.params), scores={})
    if res.levels and res.embedding is not None:
        new.outlier_score, new.is_outlier = outlier_scores(res.embedding, levels, default_level)
    new.params.setdefault("edits", []).append(None)
    return new


def merge_themes(res, ids, name=None, level=None, X=None):
    """``res.merge``: the themes ``ids`` of one level become one (it keeps the smallest id).

    Merging below the default level can move texts between default-level themes; their centroids are
    then recomputed from ``X`` (the vectors that were clustered) or, without it, dropped (None)."""
    lv = _level_index(res, level)
    levels, default = _levels(res)
    before = np.array(levels[default], copy=True)
    lab = levels[lv]
    ids = sorted({int(i) for i in ids})
    present = set(np.unique(lab).tolist())
    missing = [i for i in ids if i not in present]
    if missing:
        raise ValueError(f"no theme {missing[0]} at level {lv}; got ids {ids}, expected some of {sorted(present)}")
    if len(ids) < 2:
        raise ValueError(f"merge needs at least 2 theme ids, got {ids}")
    keep = ids[0]
    members = np.isin(lab, ids)
    sizes = {i: int((lab == i).sum()) for i in ids}
    biggest = max(ids, key=lambda i: (sizes[i], -i))
    anchor = int(np.flatnonzero(lab == biggest)[0])
    lab[members] = keep
    for up in range(lv):  # coarser levels: the merged theme sits under the biggest part's ancestors
        levels[up][members] = levels[up][anchor]
    names = dict(res.names)
    tree = res.tree if res.tree is not None else tree_from_levels(_levels(res)[0])
    node_of = {(int(l), int(b)): int(nd) for nd, l, b in zip(tree.node, tree.level, tree.label)}
    old = [names.get(node_of.get((lv, i))) for i in ids]
    merged_name = name if name is not None else (" + ".join(n for n in old if n) or None)
    names = {k: v for k, v in names.items() if k not in {node_of.get((lv, i)) for i in ids[1:]}}
    if merged_name is not None:
        names[node_of[(lv, keep)]] = merged_name
    centroids, cluster_ids = res.centroids, res.cluster_ids
    if lv == default and centroids is not None and cluster_ids is not None:
        pos = {int(c): j for j, c in enumerate(cluster_ids)}
        rows = [pos[i] for i in ids if i in pos]
        w = np.array([sizes[i] for i in ids if i in pos], np.float64)
        c = (centroids[rows] * w[:, None]).sum(0) / w.sum()
        keep_rows = [j for j, cid in enumerate(cluster_ids) if int(cid) not in ids[1:]]
        centroids = centroids[keep_rows].copy()
        cluster_ids = cluster_ids[keep_rows]
        centroids[int(np.flatnonzero(cluster_ids == keep)[0])] = c
    moved = lv != default and not np.array_equal(levels[default], before)
    if moved and X is not None:
        from kosbert_viz._util.validation import check_embeddings

        X = check_embeddings(X, n=len(before), name="X")
    if moved and X is None:
        centroids = cluster_ids = None  # texts changed default-level theme: their means are unknown without X
    out = _rebuilt(res, levels, default, names, centroids, cluster_ids, X=X if moved else None)
    out.params["edits"][-1] = {"merge": ids, "level": lv, "into": keep}
    return out


def rename_themes(res, mapping, level=None):
    """``res.rename``: {theme id at ``level``: name}."""
    lv = _level_index(res, level)
    levels, default = _levels(res)
    tree = res.tree if res.tree is not None else tree_from_levels(levels)
    node_of = {int(b): int(nd) for nd, l, b in zip(tree.node, tree.level, tree.label) if l == lv}
    names = dict(res.names)
    for i, nm in dict(mapping).items():
        if int(i) not in node_of:
            raise ValueError(f"no theme {i} at level {lv}; expected one of {sorted(node_of)}")
        names[node_of[int(i)]] = str(nm)
    out = _rebuilt(res, levels, default, names, res.centroids, res.cluster_ids)
    out.params["edits"][-1] = {"rename": {int(k): str(v) for k, v in dict(mapping).items()}, "level": lv}
    return out


def split_theme(res, theme, n=2, level=None, X=None, random_state=42):
    """``res.split``: theme ``theme`` of ``level`` becomes ``n`` themes (it keeps its id; the others are new).

    The parts are groups of its fine clusters (Ward over their centres, as the hierarchy merged
    them), so every finer level still nests; with fewer than ``n`` fine clusters inside, k-means on
    its members' coordinates (``res.embedding``, else ``X``), and finer themes are split with it.
    """
    lv = _level_index(res, level)
    levels, default = _levels(res)
    lab = levels[lv]
    theme = int(theme)
    members = np.flatnonzero(lab == theme)
    if not len(members):
        raise ValueError(f"no theme {theme} at level {lv}; expected one of {sorted(np.unique(lab).tolist())}")
    n = int(n)
    if not 2 <= n <= len(members):
        raise ValueError(f"n must be between 2 and the theme's size ({len(members)}), got {n}")
    Z = res.embedding if res.embedding is not None else X
    if Z is None:
        raise ValueError("split needs coordinates: this result has no embedding, pass X=")
    Z = np.asarray(Z, np.float64)
    fine = levels[-1][members]
    fids, finv = np.unique(fine, return_inverse=True)
    finv = finv.ravel()
    if len(fids) >= n:
        C = np.stack([Z[members[finv == j]].mean(0) for j in range(len(fids))])
        w = np.bincount(finv).astype(np.float64)
        groups_of_fine = _cuts(_ward_linkage(C, w), len(fids), [n])[n]
        part = groups_of_fine[finv]
    else:
        from sklearn.cluster import KMeans

        part = KMeans(n_clusters=n, n_init=4, random_state=random_state).fit_predict(Z[members])
    # the biggest part keeps the theme's id
    counts = np.bincount(part, minlength=n)
    order = np.lexsort((np.arange(n), -counts))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    part = rank[part]
    for fl in range(lv, len(levels)):
        cur = levels[fl]
        nxt = int(cur.max()) + 1
        sub = cur[members]
        pairs, inv = np.unique(np.stack([sub, part], 1), axis=0, return_inverse=True)
        inv = inv.ravel()
        # each old theme's portion in the lowest part keeps its id; its other portions get new ids
        first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]
        new_lab = pairs[:, 0].copy()
        new_lab[~first] = nxt + np.arange(int((~first).sum()))
        cur[members] = new_lab[inv]
    centroids, cluster_ids = res.centroids, res.cluster_ids
    changed = not np.array_equal(levels[default], _levels(res)[0][default])
    if changed and X is None:
        centroids = cluster_ids = None  # the new parts' mean input vectors are unknown without X
    out = _rebuilt(res, levels, default, dict(res.names), centroids, cluster_ids, X=X if changed else None)
    out.params["edits"][-1] = {"split": theme, "level": lv, "n": n}
    return out


def reassign_result(res, strategy="centroid", X=None, k=15):
    """``res.reassign_noise``: a new result with every -1 placed; ``is_outlier`` marks the former noise."""
    import copy
    import dataclasses

    from kosbert_viz.themes.cluster import _centroids

    Z = res.embedding if res.embedding is not None else X
    if Z is None:
        raise ValueError("reassign_noise needs coordinates: this result has no embedding, pass X=")
    labels, was_noise, score = reassign_noise(res.labels, Z, strategy=strategy, k=k)
    centroids, ids = res.centroids, res.cluster_ids
    if X is not None:
        centroids, ids = _centroids(np.asarray(X, np.float32), labels)
    elif res.embedding is not None and centroids is not None:
        centroids, ids = None, None  # the old centroids left the noise out; without X they cannot be updated
    params = copy.deepcopy(res.params)
    params["reassigned_noise"] = {"strategy": strategy, "n_noise": int(was_noise.sum())}
    tree = tree_from_levels([labels]) if not res.levels else None
    return dataclasses.replace(res, labels=labels, params=params, centroids=centroids, cluster_ids=ids, scores={},
                               outlier_score=score, is_outlier=was_noise.copy(), tree=tree if not res.levels else res.tree)


# ----------------------------------------------------------------------------------------------------
# Names at every level: keywords contrasted with the node's siblings
# ----------------------------------------------------------------------------------------------------

def _sibling_ctfidf(counts):
    """c-TF-IDF rows of ``counts`` (siblings x words, dense): the classes are the siblings only."""
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    avg = counts.sum() / max(len(counts), 1)
    idf = np.log1p(avg / np.maximum(counts.sum(axis=0), 1))
    return tf * idf


def _representatives(members, texts, X, Z, docs, keys, n_rep):
    if X is not None:
        c = X[members].mean(0)
        order = np.argsort(-(X[members] @ c), kind="stable")
    elif Z is not None:
        order = np.argsort(np.linalg.norm(Z[members] - Z[members].mean(0), axis=1), kind="stable")
    else:
        top = set(keys)
        order = np.argsort([-len(top.intersection(docs[i])) for i in members], kind="stable")
    rep, seen = [], set()
    for i in members[order]:
        t = texts[i]
        if t not in seen:
            rep.append(t)
            seen.add(t)
        if len(rep) >= n_rep:
            break
    return rep


def _distinct_sibling_names(rows):
    """No two siblings share a name: a repeated name gets its theme's number, ``"배송 (3)"`` (the largest keeps
    the plain name). Siblings whose keywords are all the same word would otherwise read as one theme."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["level"], r["parent"], r["name"]), []).append(r)
    for same in groups.values():
        if len(same) > 1:
            for r in sorted(same, key=lambda r: (-r["size"], r["label"]))[1:]:
                r["name"] = f"{r['name']} ({r['label']})"


def hierarchy_names(texts, result, embeddings=None, *, namer=None, top_n: int = 10, n_representative: int = 3,
                    name_words: int = 3, stems: bool = False, extra_stopwords=(), stopwords=None,
                    show_progress_bar: bool | None = None):
    """Keywords, a name and representative texts for every node of a hierarchy result's tree.

    A node's keywords are c-TF-IDF scores where the classes are its **siblings** (the nodes with the
    same parent; the top level's siblings are the whole corpus), so sub-themes of one theme differ
    from each other, times the corpus-wide idf of its level (so a word frequent everywhere, such as
    영화 in movie reviews, does not name every theme). Siblings never share a first keyword: in
    order of size, each node whose first keyword is taken puts its next distinct keyword first; at
    the default level and above, first keywords are distinct across the whole level. Siblings never
    share a name either: when no distinct keyword is left (or ``namer`` repeats itself), the smaller
    ones get their number, ``"배송 (3)"``. A node with a single child passes its keywords down (same
    texts). Representative texts are the node's own members nearest its centroid
    (``embeddings``, cosine; else the result's clustering coordinates).

    namer : ``callable(keywords, representative_texts) -> str`` (e.g. an LLM call); default: the first
        ``name_words`` distinct keywords joined by " · "
    Stores the names in ``result.names`` (node id -> name) and the tree's ``name`` column.
    Returns a pandas DataFrame: node, level, label, parent, size, name, stability (the tree's: how reliably
    the theme re-appears when its level is re-fitted, 0-1; NaN after an edit changed it), keywords,
    scores, representative.

    >>> table = kv.hierarchy_names(texts, res, embeddings=emb)
    >>> table[table.level == res.default_level][["name", "size"]]
    """
    import pandas as pd
    from scipy.sparse import csr_matrix

    from kosbert_viz.naming.keywords import _display, _naming_inputs, _short_name, _tokenize

    levels, default_level = _levels(result)
    n = len(levels[0])
    if namer is not None and not callable(namer):
        raise TypeError(f"namer must be callable(keywords, representative_texts) -> str, got {type(namer).__name__}")
    texts, top_n, stop, X = _naming_inputs(texts, top_n, extra_stopwords, stopwords, embeddings, n=n)
    Z = None if result.embedding is None else np.asarray(result.embedding, np.float32)

    pairs = _tokenize(texts, stems, stop, show_progress_bar)
    docs = [[k for k, _ in d] for d in pairs]
    spelling: dict = {}
    vocab: dict = {}
    rows, cols = [], []
    for i, d in enumerate(pairs):
        for k, f in d:
            if k.isascii():
                spelling.setdefault(k, {}).setdefault(f, 0)
                spelling[k][f] += 1
            rows.append(i)
            cols.append(vocab.setdefault(k, len(vocab)))
    from collections import Counter

    spelling = {k: Counter(v) for k, v in spelling.items()}
    words = np.array(list(vocab) or [""], dtype=object)
    dtm = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(len(vocab), 1)))

    tree = result.tree if result.tree is not None else tree_from_levels(levels)
    info: dict = {}  # node -> (keys, scores)
    out_rows = []
    for lv, lab in enumerate(levels):
        lab = np.asarray(lab)
        t_lv = tree[tree.level == lv]
        ids = t_lv.label.to_numpy()
        pos = {int(b): j for j, b in enumerate(ids)}
        ind = csr_matrix((np.ones(n), (np.searchsorted(ids, lab), np.arange(n))), shape=(len(ids), n))
        node_counts = (ind @ dtm).tocsr()
        order = np.argsort(lab, kind="stable")
        starts = np.searchsorted(lab[order], ids)
        ends = np.r_[starts[1:], n]
        # the whole corpus as classes too (k nodes of this level): words common everywhere (영화, 정말) rank low
        total = np.asarray(dtm.sum(axis=0)).ravel()
        idf_level = np.log1p(total.sum() / max(len(ids), 1) / np.maximum(total, 1))
        ranked = {}
        groups = []
        for parent, group in t_lv.groupby("parent", sort=True):
            group = group.sort_values(["size", "label"], ascending=[False, True], kind="stable")
            groups.append(group)
            labs = group.label.to_numpy()
            if len(group) == 1 and parent >= 0 and parent in info:
                keys, scs = info[parent]
                cols_ = np.array([vocab[k] for k in keys], np.int64)
                ranked[int(group.node.iloc[0])] = (list(keys), list(scs), cols_)
                continue
            sub = node_counts[[pos[int(b)] for b in labs]]
            used_cols = np.unique(sub.indices)
            dense = sub[:, used_cols].toarray()
            sc = _sibling_ctfidf(dense) if len(group) > 1 else dense / max(dense.sum(), 1)
            sc = sc * idf_level[used_cols]
            for r, nd in enumerate(group.node.to_numpy()):
                o = np.argsort(-sc[r], kind="stable")
                o = o[dense[r, o] > 0]  # every word of the node, best first (the tail serves clashes)
                # a keyword is used by at least 1% of the node's texts (and twice), when the node has such words:
                # the corpus idf would otherwise lift one-off slang and typos
                floor = max(2.0, 0.01 * float(group["size"].iloc[r]))
                o = np.r_[o[dense[r, o] >= floor], o[dense[r, o] < floor]]
                ranked[int(nd)] = ([str(w) for w in words[used_cols[o[:top_n]]]], sc[r, o].tolist(), used_cols[o])
        # first keywords distinct among siblings; down to the default level, across the whole level
        # (those levels are read as one flat list on the map and in the report)
        if lv <= default_level:
            groups = [t_lv.sort_values(["size", "label"], ascending=[False, True], kind="stable")]
        for group in groups:
            firsts: set = set()
            for nd in group.node.to_numpy():  # biggest first
                keys, scs, allw = ranked[int(nd)]
                if keys and keys[0] in firsts:
                    j = next((j for j in range(len(allw)) if str(words[allw[j]]) not in firsts), None)
                    if j is not None:
                        w = str(words[allw[j]])
                        keep = [(k, sv) for k, sv in zip(keys, scs) if k != w]
                        keys = [w] + [k for k, _ in keep]
                        scs = [scs[j]] + [sv for _, sv in keep]
                if keys:
                    firsts.add(keys[0])
                info[int(nd)] = (keys[:top_n], scs[:top_n])
        scores = t_lv.stability if "stability" in t_lv else [float("nan")] * len(t_lv)
        for nd, b, par, size, stab in zip(t_lv.node, t_lv.label, t_lv.parent, t_lv["size"], scores):
            keys, scs = info[int(nd)]
            kws = [_display(k, spelling) for k in keys]
            members = order[starts[pos[int(b)]]:ends[pos[int(b)]]]
            rep = _representatives(members, texts, X, Z, docs, keys, n_representative)
            if namer is not None:
                name = str(namer(list(kws), list(rep)))
            else:
                name = _short_name(kws, name_words) if kws else f"theme {int(b)}"
            out_rows.append({"node": int(nd), "level": lv, "label": int(b), "parent": int(par), "size": int(size),
                             "name": name, "stability": round(float(stab), 3), "keywords": kws,
                             "scores": [round(s, 5) for s in scs], "representative": rep})
    _distinct_sibling_names(out_rows)
    table = pd.DataFrame(out_rows, columns=["node", "level", "label", "parent", "size", "name", "stability", "keywords",
                                            "scores", "representative"])
    result.names = {int(nd): nm for nd, nm in zip(table.node, table.name)}
    result.tree = tree_from_levels(levels, tree, result.names)
    return table
