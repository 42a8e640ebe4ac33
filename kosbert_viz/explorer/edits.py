"""The explorer's edits as a new TextMap: themes made from a selection, or renamed.

The TextMap given to :func:`~kosbert_viz.explorer.build.explore` is never changed. Each edit is a
:class:`~kosbert_viz.themes.result.ClusterResult` edit (``new_theme``, ``rename``: both return a new
result), and :func:`edited_map` builds the map that goes with it: table (sizes, names, the new theme's
keywords and representative texts) and figure. ``ex.textmap`` is the latest.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable

import numpy as np

from kosbert_viz.maps.levels import map_levels_of
from kosbert_viz.maps.textmap import TextMap
from kosbert_viz.viz.scatter import cluster_map

__all__ = ["edited_map", "representative_texts"]

TABLE_COLUMNS = ["cluster", "size", "name", "keywords", "scores", "representative"]


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

    Table rows of themes whose texts did not change keep their keywords and scores; a theme whose texts
    changed keeps no stability (NaN); the new theme gets ``keywords_of(members)`` and representative texts.
    """
    import pandas as pd

    probe = dataclasses.replace(tm, clusters=clusters)
    levels, shown = map_levels_of(probe)
    codes = levels[shown]
    sizes = dict(zip(*np.unique(codes[codes >= 0], return_counts=True)))
    old = tm.table if tm.table is not None else pd.DataFrame(columns=TABLE_COLUMNS)
    rows = []
    for r in old.to_dict("records"):
        c = int(r["cluster"])
        if c in sizes and c != new_theme:
            rows.append({**r, "size": int(sizes[c]), "name": names[c]})
            if "stability" in r:  # a theme whose texts changed was not re-fitted: no score
                rows[-1]["stability"] = stability.get(c, float("nan"))
    known = {r["cluster"] for r in rows}
    for c in sizes:  # the new theme, and themes the table never had (explore() given names without a table)
        if c in known:
            continue
        members = np.flatnonzero(codes == c)
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
    title = None
    fig = tm.figure
    if fig is not None and getattr(fig.layout, "title", None) is not None and fig.layout.title.text:
        title = html.unescape(fig.layout.title.text)
    figure = cluster_map(tm.coords, labels=codes, texts=tm.texts, names=names, title=title)
    return dataclasses.replace(tm, clusters=clusters, table=table, figure=figure, placement=None)  # re-indexed on use
