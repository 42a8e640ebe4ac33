"""``TextMap``: what :func:`kosbert_viz.map_texts` produced, saved and loaded without pickle.

>>> path = tm.save("maps/my-map", overwrite=True)   # safe files (npy + JSON), checksummed
>>> tm = kv.load_map("maps/my-map")
>>> a = tm.assign(df["review"][:10])         # themes at every level, positions, novelty
>>> tm2 = tm.extend(df["review"][:10])       # the map with them, for the next report
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.maps import placement as placing
from kosbert_viz.maps import store
from kosbert_viz.maps.documents import documents_table, write_excel
from kosbert_viz.maps.edits import merge_map, rename_map, split_map
from kosbert_viz.maps.levels import map_levels_of, theme_names
from kosbert_viz.themes.result import ClusterResult
from kosbert_viz.viz.scatter import cluster_map

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

__all__ = ["TextMap", "load_map", "draw_figure"]


@dataclass
class TextMap:
    """Everything :func:`map_texts` produced; save it, place new texts into it, grow it.

    ``placement`` holds the index that :meth:`assign` searches (built on first use by
    :func:`~kosbert_viz.maps.placement.prepare`, or loaded with the map); ``embeddings_file`` is the
    saved embeddings file still to be checked against its sha256 on first use (None once checked);
    ``source`` the folder a loaded map came from.
    """

    texts: list
    embeddings: np.ndarray
    coords: np.ndarray
    clusters: ClusterResult
    table: object  # pandas DataFrame from keywords()
    figure: object  # plotly Figure (load_map draws it; None with load_map(..., draw=False))
    manifest: dict = field(default_factory=dict)
    metadata: object = None  # pandas DataFrame, one row per text (optional)
    themes: object = None  # method="hierarchy": every node of the theme tree, named (see hierarchy_names)
    level: int = 0  # the level of clusters.levels that colours the figure and fills table
    placement: object = field(default=None, repr=False, compare=False)  # PlacementState
    embeddings_file: object = field(default=None, repr=False, compare=False)  # (path, sha256) to check
    source: str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        shown = self.clusters.levels[self.level] if self.clusters.levels else self.clusters.labels
        levels = f", level={self.level} (of 0-{len(self.clusters.levels) - 1})" if self.clusters.levels else ""
        model = ((self.manifest or {}).get("model") or {}).get("name")
        return (
            f"TextMap(n={len(self.texts)}, themes={len(np.unique(shown[shown >= 0]))}{levels}, "
            f"method={self.clusters.method!r}, model={model!r})"
        )

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the map to the folder ``path`` (see :mod:`kosbert_viz.maps.store`); returns the path."""
        return store.save_map(self, path, overwrite=overwrite)

    def assign(
        self,
        texts,
        metadata=None,
        *,
        model=None,
        top_k: int = 15,
        new_threshold: float = 0.99,
        cache="auto",
        show_progress_bar: bool | None = None,
    ) -> placing.Assignment:
        """Place new texts: theme at every level, map position, novelty (see :mod:`kosbert_viz.maps.placement`).

        ``model`` defaults to the map's own; another model is refused.

        >>> a = tm.assign(["배송이 또 늦었어요"])
        >>> names, flags = a.names, a.is_new
        """
        return placing.assign(
            self,
            texts,
            metadata,
            model=model,
            top_k=top_k,
            new_threshold=new_threshold,
            cache=cache,
            show_progress_bar=show_progress_bar,
        )

    def documents(self) -> pd.DataFrame:
        """One row per text, in input order: text, theme and name (at the level shown and at every level of
        a theme tree), map position, stability, outlier flags, metadata (see
        :func:`kosbert_viz.maps.documents.documents_table`). Save it: ``tm.documents().to_excel("themes.xlsx")``.

        >>> tm.documents()[["text", "name"]].head(3).shape
        (3, 2)
        """
        return documents_table(self)

    def to_excel(self, path) -> Path:
        """Save the map's texts and themes as an .xlsx workbook (sheets: texts, themes, one per level; see
        :func:`kosbert_viz.maps.documents.write_excel`). Needs the ``excel`` extra. Returns the path."""
        return write_excel(self, path)

    def rename(self, mapping: dict) -> TextMap:
        """A new map whose themes at the level shown are renamed: ``tm.rename({0: "배송 지연"})``."""
        return rename_map(self, mapping)

    def merge(self, ids, name: str | None = None) -> TextMap:
        """A new map where the themes ``ids`` of the level shown are one, named ``name`` (default: their
        names joined by " + "); keywords, table and figure follow."""
        return merge_map(self, ids, name)

    def split(self, theme: int, n: int = 2) -> TextMap:
        """A new map where ``theme`` of the level shown is ``n`` themes, each named by its keywords."""
        return split_map(self, theme, n)

    def extend(self, texts, metadata=None, *, model=None, top_k: int = 15, cache="auto") -> TextMap:
        """A new TextMap with ``texts`` placed into this one (themes and names kept; figure redrawn).

        ``texts`` may be what :meth:`assign` returned: ``tm.extend(tm.assign(batch))`` places once.
        """
        return placing.extend(self, texts, metadata, model=model, top_k=top_k, cache=cache)


def draw_figure(tm) -> object:
    """The map's figure: its texts at the level it shows, named as in its table."""
    levels, shown = map_levels_of(tm)
    return cluster_map(tm.coords, labels=levels[shown], texts=tm.texts, names=theme_names(tm) or None)


def load_map(path, *, model=None, verify: str = "auto", draw: bool = True) -> TextMap:
    """Load a map saved with :meth:`TextMap.save`.

    ``model``: the encoder you mean to use with it (name, folder or encoder); a map made with
    another model is refused (:class:`~kosbert_viz.exceptions.ModelMismatchError`). ``verify``:
    ``"auto"`` checks map.json's own sha256 and every file's now except the embeddings, which are
    memory-mapped and checked on first use; ``"all"`` checks them now too; ``"none"`` checks sizes
    only. ``draw=False`` leaves ``figure`` None (workers that only place texts).

    >>> path = tm.save("maps/reviews", overwrite=True)
    >>> tm = kv.load_map("maps/reviews")
    >>> names = tm.assign(["배송이 또 늦었어요"]).names
    """
    tm = TextMap(**store.read_map(path, model=model, verify=verify))
    if draw and tm.texts:
        tm.figure = draw_figure(tm)
    return tm
