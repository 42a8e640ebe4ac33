"""Theme hierarchy: nested levels of themes, a default level chosen for reading, names at every level.

``kv.cluster(X, method="hierarchy")`` runs :func:`build_hierarchy` on the 5-D clustering embedding of
``kv.layout(X)`` (the one HDBSCAN uses; it shares the map's neighbour graph):

1. **over-cluster**: k-means into ``m = clip(2 * sqrt(n), 16, 1000)`` fine clusters (fitted on at most
   ``max(10000, 20 m)`` points, then every point goes to its nearest centre: nobody is left out);
2. **merge upward**: Ward's linkage over the fine centres, each weighted by its size (so the merge
   cost is the exact increase of the within-theme sum of squares, as if Ward ran on the points);
3. **levels**: cuts of that one dendrogram, so they nest; a geometric ladder of theme counts
   (ratio ~2.5) around the default level, coarsest first, the fine clusters last;
4. **default level** (see :func:`choose_default_level`): the theme count ``k`` in a readable range
   (8-40 for 1,000+ texts, fewer for small corpora) whose cut *persists the longest relative to
   what a structureless dendrogram would give*: the log of the merge-cost jump ``h(k->k-1) / h(k+1->k)``
   divided by its expected value under the power law ``h(k) ~ k^-b`` fitted to the whole dendrogram;
   among the k whose score is within one robust standard deviation of the best, the fewest themes.
   Scale-free (no distance threshold), no constant k, and not biased toward the smallest k the
   way a raw largest-gap rule is.

Every text is placed at every level. ``outlier_score`` is a text's distance to its fine cluster's
centre divided by the median such distance in its theme; ``is_outlier`` flags scores above
``OUTLIER_RATIO`` (3x the theme's typical spread).

Names live in ``result.names``: a dict from tree node id to name; ``result.tree`` has a ``name``
column and ``result.names_at(level)`` maps the labels of one level to names.

Edits return a new result and keep ids stable: ``merge(ids)`` keeps the smallest id (the merged theme
moves under the biggest part's parent at coarser levels), ``split(theme, n)`` keeps the id for the
biggest part and numbers the others after the level's largest id (the parts are groups of the theme's
fine clusters, so finer levels stay nested), ``rename({id: name})``. Ids are the labels of one level
(``level=None``: the default level); tree node ids of untouched themes do not change.

>>> res = kv.cluster(emb, method="hierarchy")       # res.labels = the default level
>>> res.levels, res.default_level, res.tree         # coarsest level first; node, parent, level, label, size
>>> names = kv.hierarchy_names(texts, res, embeddings=emb)   # node, level, parent, size, name, keywords, ...
>>> res2 = res.merge([3, 7], name="배송 문의").split(0, n=2).rename({1: "환불"})
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["build_hierarchy", "Hierarchy", "choose_default_level", "default_theme_range", "hierarchy_names",
           "tree_from_levels", "outlier_scores", "reassign_noise", "OUTLIER_RATIO"]

OUTLIER_RATIO = 3.0  # a text more than 3x its theme's typical distance from its fine centre is an outlier
_FIT_SAMPLE = 10_000  # k-means for the fine clusters is fitted on at most max(this, 20 m) points
_MAX_FINE = 1000
_LADDER_RATIO = 2.5


@dataclass
class Hierarchy:
    """Nested levels of labels (coarsest first; each level labelled 0..k-1, largest theme first)."""

    levels: list
    default_level: int
    tree: object  # pandas DataFrame
    fine_labels: np.ndarray
    fine_centers: np.ndarray
    linkage: np.ndarray  # (m-1, 4): fine-cluster ids merged, merge cost, size (scipy layout)
    criterion: object  # pandas DataFrame: k, merge_cost, log_jump, expected, score, in_range
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


def _n_fine(n: int) -> int:
    return int(min(_MAX_FINE, max(16, round(2 * math.sqrt(n))), n))


def _fine_clusters(Z, m, random_state):
    """k-means with ``m`` centres on (a sample of) Z, then every point to its nearest centre."""
    from sklearn.cluster import KMeans

    n = len(Z)
    fit_n = min(n, max(_FIT_SAMPLE, 20 * m))
    idx = np.arange(n) if fit_n >= n else np.sort(np.random.default_rng(random_state).choice(n, fit_n, replace=False))
    km = KMeans(n_clusters=m, n_init=1, max_iter=30, tol=1e-4, random_state=random_state)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # a small low-dimensional fit: threads cost more than they bring (0.3 s vs 2.5 s CPU)
        km.fit(Z[idx])
    centers = km.cluster_centers_.astype(np.float64)
    labels = _nearest_center(Z, centers)
    # centres that lost every point (possible after the sample fit) are dropped
    used = np.unique(labels)
    if len(used) < m:
        remap = np.full(m, -1, np.int64)
        remap[used] = np.arange(len(used))
        labels, centers = remap[labels], centers[used]
    sums = np.zeros_like(centers)
    np.add.at(sums, labels, Z)
    counts = np.bincount(labels, minlength=len(centers)).astype(np.float64)
    return labels, sums / counts[:, None], counts


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


def _ward_linkage(C, w):
    """Ward's linkage of weighted points ``C`` (weights ``w``): an (m-1, 4) scipy-style matrix.

    Merge cost = increase of the total within-cluster sum of squares (Lance-Williams update).
    """
    m = len(C)
    C = np.asarray(C, np.float64)
    w = np.asarray(w, np.float64)
    sq = np.maximum((C ** 2).sum(1)[:, None] + (C ** 2).sum(1)[None, :] - 2 * C @ C.T, 0.0)
    D = (w[:, None] * w[None, :] / (w[:, None] + w[None, :])) * sq
    np.fill_diagonal(D, np.inf)
    size = w.copy()
    count = np.ones(m)
    ident = np.arange(m)
    alive = np.ones(m, bool)
    rarg = np.argmin(D, axis=1)
    rmin = D[np.arange(m), rarg]
    out = np.zeros((max(m - 1, 0), 4))
    for step in range(m - 1):
        i = int(np.argmin(rmin))
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


def choose_default_level(linkage, m, k_range):
    """The theme count in ``k_range`` whose cut persists longest relative to a structureless dendrogram.

    ``h(k)`` is the merge cost that takes k themes to k-1. For data without structure at any scale,
    ``log h(k)`` falls linearly in ``log k`` (a power law, slope ``-b``, fitted here by least squares
    on the dendrogram's own merges with k from 2 to m/2). The cut at k lives from ``h(k+1)`` to
    ``h(k)``; its log-lifetime ``log h(k) - log h(k+1)`` is expected to be ``b * log((k+1)/k)``.
    Score = observed / expected. The winner is the *smallest* k in range whose score is within one
    robust standard deviation (1.4826 x MAD of the scores over the whole fitted dendrogram) of the
    best: scores closer than that are not told apart by the data, and fewer themes are easier to read.
    Returns (k, table).
    """
    import pandas as pd

    h = np.asarray(linkage[:, 2], np.float64)
    ks = m - 1 - np.arange(m - 1)  # merge s takes m - s groups to m - s - 1: h_of_k[k] = cost k -> k-1
    h_of_k = np.full(m + 2, np.nan)
    h_of_k[ks + 1] = h
    h_of_k = np.maximum(h_of_k, 1e-9 * max(float(np.nanmax(h_of_k)), 1e-300))  # identical centres merge at 0
    fit_k = np.arange(2, max(3, m // 2) + 1)
    fit_k = fit_k[fit_k <= m]
    x, y = np.log(fit_k), np.log(h_of_k[fit_k])
    ok = np.isfinite(y)
    b = -np.polyfit(x[ok], y[ok], 1)[0] if ok.sum() >= 2 else 1.0
    b = max(float(b), 1e-3)
    lo, hi = int(k_range[0]), int(min(k_range[1], m - 1))
    lo = min(lo, hi)
    rows = []
    for k in range(2, m):
        jump = math.log(h_of_k[k]) - math.log(h_of_k[k + 1])
        expected = b * math.log((k + 1) / k)
        rows.append({"k": k, "merge_cost": float(h_of_k[k]), "log_jump": jump, "expected": expected,
                     "score": jump / expected, "in_range": lo <= k <= hi})
    table = pd.DataFrame(rows, columns=["k", "merge_cost", "log_jump", "expected", "score", "in_range"])
    cand = table[table.in_range]
    if cand.empty:
        return max(2, min(hi, m)), table
    # the spread of the score over the fitted part of the dendrogram (robust: 1.4826 x MAD, so the few
    # strong cuts do not inflate it): differences below it are noise, and then fewer themes (easier to read) win
    fitted = table.score[(table.k >= 2) & (table.k <= max(3, m // 2))].to_numpy()
    tol = float(1.4826 * np.median(np.abs(fitted - np.median(fitted)))) if len(fitted) > 2 else 0.0
    table["tolerance"] = tol
    best = float(cand.score.max())
    return int(cand.k[cand.score >= best - tol].min()), table


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


def build_hierarchy(Z, *, n_fine: int | None = None, n_themes=None, ladder_ratio: float = _LADDER_RATIO,
                    random_state: int = 42) -> Hierarchy:
    """Nested theme levels for the rows of ``Z`` (a low-dimensional clustering embedding).

    n_fine : number of fine clusters (the finest level); default ``clip(2 sqrt(n), 16, 1000)``
    n_themes : the default level's theme count: an int to fix it, or a (lo, hi) range to choose in
        (default :func:`default_theme_range`)
    ladder_ratio : theme counts of neighbouring levels differ by about this factor
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    n = len(Z)
    if n < 2:
        raise ValueError(f"need at least 2 points for a hierarchy, got {n}")
    timings = {}
    t = time.perf_counter()
    m = _n_fine(n) if n_fine is None else int(n_fine)
    if not 2 <= m <= n:
        raise ValueError(f"n_fine must be between 2 and the number of points ({n}), got {n_fine}")
    fine, centers, weights = _fine_clusters(Z, m, random_state)
    m = len(centers)
    timings["fine_kmeans"] = time.perf_counter() - t
    t = time.perf_counter()
    link = _ward_linkage(centers, weights) if m > 1 else np.zeros((0, 4))
    timings["ward"] = time.perf_counter() - t
    t = time.perf_counter()
    if n_themes is None:
        k_range = default_theme_range(n)
    elif isinstance(n_themes, (int, np.integer)):
        if not 1 <= int(n_themes) <= m:
            raise ValueError(f"n_themes must be between 1 and the number of fine clusters ({m}), got {n_themes}")
        k_range = (int(n_themes), int(n_themes))
    else:
        lo, hi = (int(v) for v in n_themes)
        if not 1 <= lo <= hi:
            raise ValueError(f"n_themes must be an int or a (lo, hi) range with 1 <= lo <= hi, got {n_themes!r}")
        k_range = (lo, hi)
    if m <= 2:
        default_k, crit = m, None
    elif k_range[0] == k_range[1]:
        default_k = min(k_range[0], m)
        crit = choose_default_level(link, m, k_range)[1]
    else:
        default_k, crit = choose_default_level(link, m, k_range)
    ks = _ladder(default_k, m, ladder_ratio)
    cuts = _cuts(link, m, ks)
    levels = [_by_size(cuts[k][fine]) for k in ks]
    default_level = ks.index(default_k)
    tree = tree_from_levels(levels)
    timings["levels"] = time.perf_counter() - t
    params = {"n_fine": m, "theme_range": list(k_range), "default_k": int(default_k), "level_sizes": ks,
              "ladder_ratio": ladder_ratio, "criterion": "log merge-cost jump / power-law expectation",
              "random_state": random_state}
    return Hierarchy(levels, default_level, tree, fine, centers, link, crit, params, timings)


def tree_from_levels(levels, old_tree=None, names=None):
    """The tree table of nested ``levels``: node, parent, level, label, size, name.

    ``node`` ids of (level, label) pairs found in ``old_tree`` are kept; new pairs get new ids.
    ``parent`` is -1 at the coarsest level. Raises ValueError if the levels do not nest.
    """
    import pandas as pd

    known = {}
    next_id = 0
    if old_tree is not None and len(old_tree):
        known = {(int(l), int(b)): int(nd) for nd, l, b in zip(old_tree.node, old_tree.level, old_tree.label)}
        next_id = int(old_tree.node.max()) + 1
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
            rows.append({"node": nd, "parent": par, "level": lv, "label": b, "size": c,
                         "name": (names or {}).get(nd)})
    return pd.DataFrame(rows, columns=["node", "parent", "level", "label", "size", "name"])


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
    from .reduction import _check_matrix

    n = len(X)
    if embedding is not None:
        Z = _check_matrix(embedding, "embedding")
        if len(Z) != n:
            raise ValueError(f"embedding has {len(Z)} rows, X has {n}")
        how = "given"
    elif n > 7 and X.shape[1] > 5:
        from .layouts import layout

        lay = layout(X, n_neighbors=n_neighbors, mode=mode, random_state=random_state, cache=cache,
                     show_progress_bar=show_progress_bar)
        Z, how = lay.cluster_coords, "layout"
    else:
        from .reduction import _unit_rows

        Z, how = _unit_rows(X), "none"
    if isinstance(n_themes, (tuple, list)) and len(n_themes) != 2:
        raise ValueError(f"n_clusters for method='hierarchy' must be an int or a (lo, hi) range, got {n_themes!r}")
    h = build_hierarchy(Z, n_themes=n_themes, random_state=random_state)
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
        "criterion_scores": ({} if crit is None else
                             {int(k): round(float(s), 3) for k, s in zip(crit.k, crit.score) if k <= 60}),
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

    from .clustering import _centroids

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
        from ._validation import check_embeddings

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

    from .clustering import _centroids

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


def hierarchy_names(texts, result, embeddings=None, *, namer=None, top_n: int = 10, n_representative: int = 3,
                    name_words: int = 3, stems: bool = False, extra_stopwords=(), stopwords=None,
                    show_progress_bar: bool | None = None):
    """Keywords, a name and representative texts for every node of a hierarchy result's tree.

    A node's keywords are c-TF-IDF scores where the classes are its **siblings** (the nodes with the
    same parent; the top level's siblings are the whole corpus), so sub-themes of one theme differ
    from each other, times the corpus-wide idf of its level (so a word frequent everywhere, such as
    영화 in movie reviews, does not name every theme). Siblings never share a first keyword: in
    order of size, each node whose first keyword is taken puts its next distinct keyword first; at
    the default level and above, first keywords are distinct across the whole level. A node with a single child passes its
    keywords down (same texts). Representative texts are the node's own members nearest its centroid
    (``embeddings``, cosine; else the result's clustering coordinates).

    namer : ``callable(keywords, representative_texts) -> str`` (e.g. an LLM call); default: the first
        ``name_words`` distinct keywords joined by " · "
    Stores the names in ``result.names`` (node id -> name) and the tree's ``name`` column.
    Returns a pandas DataFrame: node, level, label, parent, size, name, keywords, representative.

    >>> table = kv.hierarchy_names(texts, res, embeddings=emb)
    >>> table[table.level == res.default_level][["name", "size"]]
    """
    import pandas as pd
    from scipy.sparse import csr_matrix

    from .naming import _display, _naming_inputs, _short_name, _tokenize

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
        for nd, b, par, size in zip(t_lv.node, t_lv.label, t_lv.parent, t_lv["size"]):
            keys, scs = info[int(nd)]
            kws = [_display(k, spelling) for k in keys]
            members = order[starts[pos[int(b)]]:ends[pos[int(b)]]]
            rep = _representatives(members, texts, X, Z, docs, keys, n_representative)
            if namer is not None:
                name = str(namer(list(kws), list(rep)))
            else:
                name = _short_name(kws, name_words) if kws else f"theme {int(b)}"
            out_rows.append({"node": int(nd), "level": lv, "label": int(b), "parent": int(par), "size": int(size),
                             "name": name, "keywords": kws, "scores": [round(s, 5) for s in scs],
                             "representative": rep})
    table = pd.DataFrame(out_rows, columns=["node", "level", "label", "parent", "size", "name", "keywords", "scores",
                                            "representative"])
    result.names = {int(nd): nm for nd, nm in zip(table.node, table.name)}
    result.tree = tree_from_levels(levels, tree, result.names)
    return table
