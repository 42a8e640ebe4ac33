"""``Assignment``: where new texts land in a map (what :meth:`TextMap.assign` returns).

>>> a = Assignment(labels=np.array([0]), levels=[np.array([0])], coords=np.zeros((1, 2)), novelty=np.array([0.1]),
...                is_new=np.array([False]), names=["배송"], similarity=np.array([0.9]), neighbors=np.zeros((1, 1)))
>>> a.table()[["theme", "name", "is_new"]].values.tolist()
[[0, '배송', False]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.maps.documents import named

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Assignment"]


@dataclass
class Assignment:
    """Where new texts land in a map (see :meth:`TextMap.assign`).

    ``labels``: theme at the map's default level (-1 = noise); ``levels``: one array per level,
    coarsest first (the map's order); ``coords``: (n, 2) map positions; ``novelty`` in [0, 1];
    ``is_new``: candidate new theme; ``names``: theme names at the default level; ``similarity``:
    cosine to the nearest map text; ``neighbors``: the ``top_k`` map rows found (best first).
    """

    labels: np.ndarray
    levels: list
    coords: np.ndarray
    novelty: np.ndarray
    is_new: np.ndarray
    names: list
    similarity: np.ndarray
    neighbors: np.ndarray
    default_level: int = 0
    texts: list | None = None
    metadata: object = None
    info: dict = field(default_factory=dict)
    level_names: list = field(default_factory=list)  # per level, {theme id: name} (the map's names)

    def __len__(self) -> int:
        return len(self.labels)

    def table(self) -> pd.DataFrame:
        """One row per text, in the columns of :meth:`TextMap.documents`: text, theme, name, x, y, then novelty,
        is_new, similarity, ``theme_level{i}`` and ``name_level{i}`` for a theme tree, then the metadata."""
        import pandas as pd

        df = pd.DataFrame(
            {
                "text": self.texts if self.texts is not None else [None] * len(self),
                "theme": self.labels,
                "name": self.names,
                "x": self.coords[:, 0],
                "y": self.coords[:, 1],
                "novelty": self.novelty,
                "is_new": self.is_new,
                "similarity": self.similarity,
            }
        )
        if len(self.levels) > 1:
            for i, lv in enumerate(self.levels):
                df[f"theme_level{i}"] = lv
                df[f"name_level{i}"] = named(np.asarray(lv), self.level_names[i] if i < len(self.level_names) else {})
        if self.metadata is not None:
            meta = pd.DataFrame(self.metadata).reset_index(drop=True)
            for c in meta.columns:
                if c not in df:
                    df[c] = meta[c].to_numpy()
        return df

    def __repr__(self) -> str:
        return (
            f"Assignment(n={len(self)}, themes={len(np.unique(self.labels))}, "
            f"new={int(np.sum(self.is_new))}, level={self.default_level}"
            + (f" (of 0-{len(self.levels) - 1}))" if len(self.levels) > 1 else ")")
        )
