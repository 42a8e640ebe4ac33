"""A map's theme levels and names, read from a :class:`~kosbert_viz.maps.textmap.TextMap` (or any object
with ``clusters``, ``level``, ``table`` and ``embeddings``).
"""

from __future__ import annotations

import numpy as np

from kosbert_viz.maps.checks import check_file

__all__ = [
    "MAX_SUBTHEME_NAMES",
    "map_levels",
    "map_levels_of",
    "theme_names",
    "level_names",
    "sub_level_kwargs",
    "verified_embeddings",
]

MAX_SUBTHEME_NAMES = 200  # a map names the level below the one it shows while it has at most this many themes


def map_levels(res) -> tuple[list[np.ndarray], int]:
    """(labels at every level, coarsest first; index of the default level ``res.labels``)."""
    labels = np.asarray(res.labels)
    levels = [np.asarray(lv) for lv in (getattr(res, "levels", None) or [])]
    d = getattr(res, "default_level", None)
    if isinstance(d, (int, np.integer)) and 0 <= d < len(levels) and np.array_equal(levels[d], labels):
        return levels, int(d)
    for i, lv in enumerate(levels):
        if lv.shape == labels.shape and np.array_equal(lv, labels):
            return levels, i
    if not levels:
        return [labels], 0
    return levels + [labels], len(levels)


def map_levels_of(tm) -> tuple[list[np.ndarray], int]:
    """(labels at every level, coarsest first; the level ``tm`` shows: ``tm.level`` when it has levels)."""
    levels, default = map_levels(tm.clusters)
    shown = getattr(tm, "level", None)
    if len(levels) > 1 and isinstance(shown, (int, np.integer)) and 0 <= shown < len(levels):
        default = int(shown)
    return levels, default


def verified_embeddings(tm) -> np.ndarray:
    check = tm.embeddings_file
    if check is not None:
        check_file(*check)
        tm.embeddings_file = None
    return tm.embeddings


def theme_names(tm) -> dict:
    table = tm.table
    if table is None or "cluster" not in getattr(table, "columns", ()):
        return {}
    return {int(c): str(nm) for c, nm in zip(table["cluster"], table["name"])}


def level_names(tm) -> list[dict]:
    """{theme id: name} per level, coarsest first: the map's table at the level it shows (over the tree's
    names there), the theme tree's names at the others."""
    levels, shown = map_levels_of(tm)
    res = tm.clusters
    if res.levels and len(res.levels) == len(levels):
        out = [res.names_at(i) for i in range(len(levels))]
    elif len(levels) == 1:
        out = [res.names_at()]
    else:
        out = [{} for _ in levels]
    out[shown] = {**out[shown], **theme_names(tm)}
    return out


def sub_level_kwargs(levels: list, shown: int, clusters) -> dict:
    """``cluster_map``'s ``sublabels`` and ``subnames``: the level below ``shown`` and its tree names, or
    nothing when there is none or it has more than MAX_SUBTHEME_NAMES themes."""
    if shown + 1 < len(levels) and len(np.unique(levels[shown + 1])) <= MAX_SUBTHEME_NAMES:
        return dict(sublabels=levels[shown + 1], subnames=clusters.names_at(shown + 1))
    return {}
