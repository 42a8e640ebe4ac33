"""The explorer's edits as a new TextMap: themes made from a selection, or renamed.

The TextMap given to :func:`~kosbert_viz.explorer.build.explore` is never changed. Each edit is a
:class:`~kosbert_viz.themes.result.ClusterResult` edit (``new_theme``, ``rename``: both return a new
result), and :func:`edited_map` builds the map that goes with it: table (sizes, names, the new theme's
keywords and representative texts) and figure. ``ex.textmap`` is the latest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from kosbert_viz.maps.levels import map_levels_of, sub_level_kwargs
from kosbert_viz.maps.textmap import TextMap
from kosbert_viz.themes.result import ClusterResult
from kosbert_viz.viz.scatter import cluster_map, figure_title

__all__ = ["edited_map", "representative_texts", "name_new_themes"]

TABLE_COLUMNS = ["cluster", "size", "name", "keywords", "scores", "representative"]


def name_new_themes(clusters: ClusterResult, keywords_of: Callable, n_words: int = 3) -> ClusterResult:
    """Name the themes an edit made without one (the levels below the edited one: a theme made from a
    selection brings its own sub-themes) by their top keywords; ``clusters`` is the edit's new result,
    changed in place and returned. ``keywords_of(indices) -> list[str]``."""
    tree = clusters.tree
    if tree is None:
        return clusters
    arrays = clusters.levels or [clusters.labels]
    tree = tree.copy()
    for row, nd, lv, b in zip(tree.index, tree.node, tree.level, tree.label):
        if int(nd) in clusters.names or b < 0 or lv >= len(arrays):
            continue
        kws = keywords_of(np.flatnonzero(np.asarray(arrays[lv]) == b))[:n_words]
        if kws:
            clusters.names[int(nd)] = " · ".join(kws)
            tree.loc[row, "name"] = clusters.names[int(nd)]
    clusters.tree = tree
    return clusters


def representative_texts(texts: list, members: np.ndarray, embeddings=None, k: int = 3) -> list[str]:
    """Up to ``k`` distinct texts of ``members``, nearest their mean vector first (in order without vectors)."""
    if len(members) == 0:
        return []
    order = members
    if embeddings is not None:
        X = np.asarray(embeddings[members], np.float32)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        order = members[np.argsort(-(X @ X.mean(axis=0)), kind="stable")]
    out: list[str] = []
    for i in order:
        if texts[i] not in out:
            out.append(texts[i])
        if len(out) >= k:
            break
    return out


def _changed(old_sizes: dict, new_sizes: dict, c: int) -> bool:
    return old_sizes.get(c) != new_sizes.get(c)


def _themes_table(tm: TextMap, clusters, keywords_of, members_of):
    """``tm.themes`` (the named tree) for the edited ``clusters``: a node whose size did not change keeps
    its keywords and representative texts; a changed or new one gets them from its members now."""
    import pandas as pd

    old, tree = tm.themes, clusters.tree
    if old is None or tree is None:
        return old
    kept = {(int(r["level"]), int(r["label"]), int(r["size"])): r for r in old.to_dict("records")}
    rows = []
    for t in tree.to_dict("records"):
        lv, label, size = int(t["level"]), int(t["label"]), int(t["size"])
        row = dict(kept.get((lv, label, size)) or {})
        if not row:
            members = members_of(lv, label)
            row = {
                "keywords": keywords_of(members) if keywords_of is not None else [],
                "scores": [],
                "representative": representative_texts(tm.texts, members, tm.embeddings),
            }
        row.update(node=int(t["node"]), level=lv, label=label, parent=int(t["parent"]), size=size)
        row.update(name=clusters.names.get(int(t["node"]), t.get("name")), stability=t.get("stability", float("nan")))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(old.columns))


def edited_map(
    tm: TextMap,
    clusters,
    names: dict,
    *,
    stability: dict,
    new_theme: int | None = None,
    keywords_of: Callable[[np.ndarray], list] | None = None,
) -> TextMap:
    """A new TextMap: ``tm`` with ``clusters`` (an edited result) and its shown level's ``names`` ({code: name}).

    Themes whose texts did not change keep their keywords, representative texts and scores; a theme whose
    texts changed (and the new one) gets ``keywords_of(members)`` and representative texts of its members
    now, and no stability (NaN: it was not re-fitted). The theme tree (``tm.themes``) and the figure follow.
    """
    import pandas as pd

    probe = dataclasses.replace(tm, clusters=clusters)
    levels, shown = map_levels_of(probe)
    old_levels, _ = map_levels_of(tm)
    codes = levels[shown]
    sizes = dict(zip(*np.unique(codes[codes >= 0], return_counts=True)))
    old_codes = np.asarray(old_levels[shown])
    old_sizes = dict(zip(*np.unique(old_codes[old_codes >= 0], return_counts=True)))

    def members_of(level: int, label: int) -> np.ndarray:
        return np.flatnonzero(np.asarray(levels[level]) == label)

    old = tm.table if tm.table is not None else pd.DataFrame(columns=TABLE_COLUMNS)
    rows = []
    for r in old.to_dict("records"):
        c = int(r["cluster"])
        if c in sizes and c != new_theme:
            rows.append({**r, "size": int(sizes[c]), "name": names[c]})
            if _changed(old_sizes, sizes, c):  # its texts changed: keywords and quotes from its members now
                members = members_of(shown, c)
                rows[-1]["representative"] = representative_texts(tm.texts, members, tm.embeddings)
                if keywords_of is not None:
                    rows[-1]["keywords"] = keywords_of(members)
            if "stability" in r:  # a theme whose texts changed was not re-fitted: no score
                rows[-1]["stability"] = stability.get(c, float("nan"))
    known = {r["cluster"] for r in rows}
    for c in sizes:  # the new theme, and themes the table never had (explore() given names without a table)
        if c in known:
            continue
        members = members_of(shown, c)
        rows.append(
            {
                "cluster": int(c),
                "size": int(sizes[c]),
                "name": names[c],
                "stability": stability.get(c, float("nan")),
                "keywords": keywords_of(members) if c == new_theme and keywords_of is not None else [],
                "scores": [],
                "representative": representative_texts(tm.texts, members, tm.embeddings),
            }
        )
    table = pd.DataFrame(sorted(rows, key=lambda r: r["cluster"]), columns=list(old.columns))
    sub = sub_level_kwargs(levels, shown, clusters)
    figure = cluster_map(tm.coords, labels=codes, texts=tm.texts, names=names, title=figure_title(tm.figure), **sub)
    themes = _themes_table(tm, clusters, keywords_of, members_of)
    return dataclasses.replace(tm, clusters=clusters, table=table, themes=themes, figure=figure, placement=None)
