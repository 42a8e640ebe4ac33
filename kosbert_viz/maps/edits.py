"""Edits of a map: rename, merge or split its themes, each giving a new TextMap.

Each is the :class:`~kosbert_viz.themes.result.ClusterResult` edit of the same name, at the level the
map shows, followed by what depends on the themes: keywords, representative texts and names of every
level (a name set by an edit is kept; a new part gets its keywords' name), the table and the figure.
The map it came from is not changed, so ``write_report``, ``documents()``, ``save()`` and ``assign()``
of the new map all see the edit.

>>> edited = tm.rename({0: "배송 지연"})
>>> edited.table.set_index("cluster").loc[0, "name"], tm is not edited
('배송 지연', True)
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from kosbert_viz.maps.levels import map_levels_of, sub_level_kwargs
from kosbert_viz.naming.keywords import keywords
from kosbert_viz.themes.names import hierarchy_names
from kosbert_viz.viz.scatter import cluster_map, figure_title

__all__ = ["rename_map", "merge_map", "split_map", "with_clusters"]

# the TextMap class itself is below this module (textmap imports it): typed by what comes in
_MapT = TypeVar("_MapT")


def _level_of(tm) -> int | None:
    return int(tm.level) if tm.clusters.levels else None


def rename_map(tm: _MapT, mapping: dict) -> _MapT:
    """``tm.rename``: {theme id at the level shown: new name}."""
    return with_clusters(tm, tm.clusters.rename(mapping, level=_level_of(tm)))


def merge_map(tm: _MapT, ids, name: str | None = None) -> _MapT:
    """``tm.merge``: the themes ``ids`` of the level shown become one (named ``name``)."""
    return with_clusters(tm, tm.clusters.merge(ids, name, level=_level_of(tm), X=tm.embeddings))


def split_map(tm: _MapT, theme: int, n: int = 2) -> _MapT:
    """``tm.split``: theme ``theme`` of the level shown becomes ``n`` themes."""
    return with_clusters(tm, tm.clusters.split(theme, n=n, level=_level_of(tm), X=tm.embeddings))


def with_clusters(tm: _MapT, clusters, *, show_progress_bar: bool | None = False) -> _MapT:
    """A new map of ``tm``'s texts with the edited result ``clusters``: names, table, themes and figure follow."""
    texts, emb = list(tm.texts), tm.embeddings
    themes = None
    if clusters.levels:
        kept = dict(clusters.names)  # names the result carries (its own, and those set by edits) stay
        scratch = dataclasses.replace(clusters, names={}, tree=None if clusters.tree is None else clusters.tree.copy())
        themes = hierarchy_names(texts, scratch, embeddings=emb, show_progress_bar=show_progress_bar)
        themes["name"] = [kept.get(int(nd), nm) for nd, nm in zip(themes.node, themes.name)]
        names = {int(nd): nm for nd, nm in zip(themes.node, themes.name)}
        tree = clusters.tree.copy() if clusters.tree is not None else scratch.tree.copy()
        tree["name"] = [names.get(int(nd)) for nd in tree.node]
        clusters = dataclasses.replace(clusters, names=names, tree=tree)
    probe = dataclasses.replace(tm, clusters=clusters)
    levels, shown = map_levels_of(probe)
    labels = levels[shown]
    if themes is not None:
        rows = themes[themes.level == shown].rename(columns={"label": "cluster"})
        wanted = ("cluster", "size", "name", "stability", "keywords", "representative", "node", "parent")
        cols = [c for c in wanted if c in rows]
        table = rows[cols].sort_values("cluster", ignore_index=True)
    else:
        table = keywords(texts, labels, embeddings=emb, show_progress_bar=show_progress_bar)
        given = clusters.names_at()
        table["name"] = [given.get(int(c), nm) for c, nm in zip(table.cluster, table.name)]
    sub = sub_level_kwargs(levels, shown, clusters)
    figure = None
    if tm.figure is not None:
        names = dict(zip(table.cluster, table.name))
        figure = cluster_map(tm.coords, labels=labels, texts=texts, names=names, title=figure_title(tm.figure), **sub)
    return dataclasses.replace(tm, clusters=clusters, table=table, themes=themes, figure=figure, placement=None)
