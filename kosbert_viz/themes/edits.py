"""Edits of a result: merge, rename, split themes and place noise; each returns a new result."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from kosbert_viz._util.validation import check_embeddings
from kosbert_viz.themes.hierarchy import dendrogram_cuts, ward_linkage
from kosbert_viz.themes.tree import (
    cluster_centroids,
    level_index,
    levels_of,
    outlier_scores,
    reassign_noise,
    tree_from_levels,
)

_ResultT = TypeVar("_ResultT")  # a ClusterResult (not imported: themes.result imports this module)


def _rebuilt(res, levels, default_level, names, centroids=None, cluster_ids=None, X=None):
    """A new ClusterResult with ``levels`` and everything derived from them kept consistent."""
    import copy
    import dataclasses

    tree_old = res.tree if res.tree is not None else tree_from_levels(levels_of(res)[0])
    tree = tree_from_levels(levels, tree_old, names)
    alive = set(tree.node.tolist())
    names = {k: v for k, v in names.items() if k in alive}
    labels = np.asarray(levels[default_level])
    if X is not None:
        centroids, cluster_ids = cluster_centroids(np.asarray(X, np.float32), labels)
    new = dataclasses.replace(
        res,
        labels=labels,
        levels=levels if res.levels else [],
        tree=tree,
        default_level=default_level if res.levels else None,
        names=names,
        centroids=centroids,
        cluster_ids=cluster_ids,
        params=copy.deepcopy(res.params),
        scores={},
    )
    if res.levels and res.embedding is not None:
        new.outlier_score, new.is_outlier = outlier_scores(res.embedding, levels, default_level)
    new.params.setdefault("edits", []).append(None)
    return new


def merge_themes(res: _ResultT, ids, name=None, level=None, X=None) -> _ResultT:
    """``res.merge``: the themes ``ids`` of one level become one (it keeps the smallest id).

    Merging below the default level can move texts between default-level themes; their centroids are
    then recomputed from ``X`` (the vectors that were clustered) or, without it, dropped (None)."""
    lv = level_index(res, level)
    levels, default = levels_of(res)
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
    tree = res.tree if res.tree is not None else tree_from_levels(levels_of(res)[0])
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
        X = check_embeddings(X, n=len(before), name="X")
    if moved and X is None:
        centroids = cluster_ids = None  # texts changed default-level theme: their means are unknown without X
    out = _rebuilt(res, levels, default, names, centroids, cluster_ids, X=X if moved else None)
    out.params["edits"][-1] = {"merge": ids, "level": lv, "into": keep}
    return out


def rename_themes(res: _ResultT, mapping, level=None) -> _ResultT:
    """``res.rename``: {theme id at ``level``: name}."""
    lv = level_index(res, level)
    levels, default = levels_of(res)
    tree = res.tree if res.tree is not None else tree_from_levels(levels)
    node_of = {int(b): int(nd) for nd, l, b in zip(tree.node, tree.level, tree.label) if l == lv}
    names = dict(res.names)
    if not isinstance(mapping, dict):
        raise TypeError(f"rename takes a dict {{theme id: name}}, got {type(mapping).__name__}")
    for i, nm in mapping.items():
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"theme ids are integers (the labels of the level), got {i!r}")
        if not isinstance(nm, str) or not nm.strip():
            raise ValueError(f"a theme's name is a non-empty str, got {nm!r} for theme {i}")
        if int(i) not in node_of:
            raise ValueError(f"no theme {i} at level {lv}; expected one of {sorted(node_of)}")
        names[node_of[int(i)]] = nm.strip()
    out = _rebuilt(res, levels, default, names, res.centroids, res.cluster_ids)
    out.params["edits"][-1] = {"rename": {int(k): str(v) for k, v in dict(mapping).items()}, "level": lv}
    return out


def split_theme(res: _ResultT, theme, n=2, level=None, X=None, random_state=42) -> _ResultT:
    """``res.split``: theme ``theme`` of ``level`` becomes ``n`` themes (it keeps its id; the others are new).

    The parts are groups of its fine clusters (Ward over their centres, as the hierarchy merged
    them), so every finer level still nests; with fewer than ``n`` fine clusters inside, k-means on
    its members' coordinates (``res.embedding``, else ``X``), and finer themes are split with it.
    """
    lv = level_index(res, level)
    levels, default = levels_of(res)
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
        groups_of_fine = dendrogram_cuts(ward_linkage(C, w), len(fids), [n])[n]
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
    changed = not np.array_equal(levels[default], levels_of(res)[0][default])
    if changed and X is None:
        centroids = cluster_ids = None  # the new parts' mean input vectors are unknown without X
    out = _rebuilt(res, levels, default, dict(res.names), centroids, cluster_ids, X=X if changed else None)
    out.params["edits"][-1] = {"split": theme, "level": lv, "n": n}
    return out


def new_theme(res: _ResultT, indices, name, level=None, X=None) -> _ResultT:
    """``res.new_theme``: the texts ``indices`` become one new theme of ``level`` named ``name``.

    The new theme gets the next free id. Coarser levels place it under the themes of its biggest part's
    ancestors, so the levels still nest; at finer levels each theme's moved texts become a theme of their
    own (a finer theme moved whole keeps its id). Default-level centroids are recomputed from ``X`` (the
    clustered vectors) or, without it, left out (None); the themes that lost texts lose their stability.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a theme needs a non-empty name, got {name!r}")
    lv = level_index(res, level)
    levels, default = levels_of(res)
    n = len(levels[0])
    idx = np.unique(np.asarray(indices, dtype=np.int64).ravel())
    if not len(idx):
        raise ValueError("a new theme needs at least one text, got 0 indices")
    if idx[0] < 0 or idx[-1] >= n:
        raise ValueError(f"indices must be in [0, {n}), got {int(idx[0] if idx[0] < 0 else idx[-1])}")
    lab = levels[lv]
    new = int(lab.max(initial=-1)) + 1
    parts, counts = np.unique(lab[idx], return_counts=True)
    biggest = int(parts[np.argmax(counts)])
    anchor = int(idx[np.flatnonzero(lab[idx] == biggest)[0]])
    for up in range(lv):
        levels[up][idx] = levels[up][anchor]
    lab[idx] = new
    for fl in range(lv + 1, len(levels)):
        cur = levels[fl]
        nxt = int(cur.max()) + 1
        for old in np.unique(cur[idx]).tolist():
            moved = idx[cur[idx] == old]
            if len(moved) < int((cur == old).sum()):
                cur[moved] = nxt
                nxt += 1
    centroids, cluster_ids = res.centroids, res.cluster_ids
    changed = not np.array_equal(levels[default], levels_of(res)[0][default])
    if changed and X is not None:
        X = check_embeddings(X, n=n, name="X")
    if changed and X is None:
        centroids = cluster_ids = None
    out = _rebuilt(res, levels, default, dict(res.names), centroids, cluster_ids, X=X if changed else None)
    node = out.tree.node[(out.tree.level == lv) & (out.tree.label == new)].iloc[0]
    out.names[int(node)] = name.strip()
    out.tree.loc[out.tree.node == node, "name"] = name.strip()
    out.params["edits"][-1] = {"new_theme": int(new), "level": lv, "size": int(len(idx))}
    return out


def reassign_result(res: _ResultT, strategy="centroid", X=None, k=15) -> _ResultT:
    """``res.reassign_noise``: a new result with every -1 placed; ``is_outlier`` marks the former noise."""
    import copy
    import dataclasses

    Z = res.embedding if res.embedding is not None else X
    if Z is None:
        raise ValueError("reassign_noise needs coordinates: this result has no embedding, pass X=")
    labels, was_noise, score = reassign_noise(res.labels, Z, strategy=strategy, k=k)
    centroids, ids = res.centroids, res.cluster_ids
    if X is not None:
        centroids, ids = cluster_centroids(np.asarray(X, np.float32), labels)
    elif res.embedding is not None and centroids is not None:
        centroids, ids = None, None  # the old centroids left the noise out; without X they cannot be updated
    params = copy.deepcopy(res.params)
    params["reassigned_noise"] = {"strategy": strategy, "n_noise": int(was_noise.sum())}
    tree = tree_from_levels([labels]) if not res.levels else None
    return dataclasses.replace(
        res,
        labels=labels,
        params=params,
        centroids=centroids,
        cluster_ids=ids,
        scores={},
        outlier_score=score,
        is_outlier=was_noise.copy(),
        tree=tree if not res.levels else res.tree,
    )
