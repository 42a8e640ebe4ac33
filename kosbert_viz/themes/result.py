"""``ClusterResult``: labels, and for the theme hierarchy its levels, tree and names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.themes.edits import (
    merge_themes,
    new_theme,
    reassign_result,
    rename_themes,
    split_theme,
)
from kosbert_viz.themes.tree import level_index, levels_of, tree_from_levels

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ClusterResult:
    """Cluster labels (``-1`` = noise) and what describes them.

    ``scores`` holds the internal scores (silhouette with cosine distance, Davies-Bouldin,
    Calinski-Harabasz; on samples for big inputs) and, when ``truth`` was given, ARI, NMI,
    V-measure, homogeneity and completeness. ``centroids`` are the mean input vectors of each
    cluster, in the order of ``cluster_ids``.
    """

    labels: np.ndarray
    method: str
    params: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    centroids: np.ndarray | None = None
    cluster_ids: np.ndarray | None = None
    silhouette_by_k: dict = field(default_factory=dict)
    embedding: np.ndarray | None = None  # the low-dimensional coordinates HDBSCAN ran on, if any
    seconds: float = 0.0
    # method="hierarchy" (see kosbert_viz.themes.hierarchy): nested levels, coarsest first; labels = levels[default_level]
    levels: list = field(default_factory=list)
    default_level: int | None = None
    tree: object = None  # pandas DataFrame: node, parent, level, label, size, name
    names: dict = field(default_factory=dict)  # tree node id -> name (names_at(level) maps labels to names)
    outlier_score: np.ndarray | None = None  # per text, higher = further from its theme
    is_outlier: np.ndarray | None = None

    def names_at(self, level: int | None = None) -> dict:
        """{theme label: name} at ``level`` (default: the default level) for the named themes."""

        lv = level_index(self, level)
        tree = self.tree if self.tree is not None else tree_from_levels(levels_of(self)[0])
        return {
            int(b): self.names[int(nd)]
            for nd, l, b in zip(tree.node, tree.level, tree.label)
            if l == lv and int(nd) in self.names
        }

    def _over(self, levels: list, default_level: int) -> ClusterResult:
        """The same themes (centroids, tree, names) over other texts: ``levels`` holds every level's labels
        for them (one list even without a hierarchy), ``labels`` becomes ``levels[default_level]``. Scores do
        not carry over. Used where a map grows (sampled fits, ``extend``) and for a placed batch (``batch_map``)."""
        res = ClusterResult(
            labels=levels[default_level],
            method=self.method,
            params=dict(self.params),
            scores={},
            centroids=self.centroids,
            cluster_ids=self.cluster_ids,
            silhouette_by_k=dict(self.silhouette_by_k),
            embedding=None,
            seconds=self.seconds,
            tree=self.tree,
            names=self.names,
        )
        if len(levels) > 1 or self.levels:
            res.levels, res.default_level = list(levels), default_level
        return res

    def reassign_noise(self, strategy: str = "centroid", *, X=None, top_k: int = 15) -> ClusterResult:
        """A new result with every -1 placed; ``is_outlier`` keeps which texts were noise.

        strategy "centroid": nearest cluster centre; "knn": weighted vote of the ``top_k`` nearest clustered
        points; both in ``self.embedding`` (the coordinates HDBSCAN ran on), else in ``X``.

        >>> placed = kv.cluster(emb, "hdbscan").reassign_noise("knn")
        >>> placed.noise_fraction
        0.0
        """

        return reassign_result(self, strategy, X=X, k=top_k)

    def merge(self, ids, name: str | None = None, *, level: int | None = None, X=None) -> ClusterResult:
        """A new result where themes ``ids`` of ``level`` (default level) are one; it keeps the smallest id.

        A merge below the default level that moves texts between default-level themes recomputes the
        centroids from ``X`` (the clustered vectors) or, without ``X``, leaves them out (None).

        >>> themes = kv.cluster(emb, "hierarchy")
        >>> merged = themes.merge([0, 1], name="배송")
        >>> merged.n_clusters == themes.n_clusters - 1, merged.names_at()[0]
        (True, '배송')
        """

        return merge_themes(self, ids, name=name, level=level, X=X)

    def rename(self, mapping: dict, *, level: int | None = None) -> ClusterResult:
        """A new result with names set for themes of ``level``: ``res.rename({0: "배송 지연"})``."""

        return rename_themes(self, mapping, level=level)

    def new_theme(self, indices, name: str, *, level: int | None = None, X=None) -> ClusterResult:
        """A new result where the texts ``indices`` are one new theme of ``level`` named ``name``.

        The levels keep nesting (see :func:`kosbert_viz.themes.edits.new_theme`); its id is returned
        as the largest label of that level.

        >>> themes = kv.cluster(emb, "hierarchy")
        >>> edited = themes.new_theme([0, 1, 2], "환불 문의")
        >>> edited.names_at()[int(edited.labels[0])], edited.n_clusters == themes.n_clusters + 1
        ('환불 문의', True)
        """

        return new_theme(self, indices, name, level=level, X=X)

    def split(self, node: int, n: int = 2, *, level: int | None = None, X=None) -> ClusterResult:
        """A new result where theme ``node`` of ``level`` is ``n`` themes (it keeps its id, the rest are new).

        >>> themes = kv.cluster(emb, "hierarchy")
        >>> themes.split(0, n=2).n_clusters == themes.n_clusters + 1
        True
        """

        return split_theme(self, node, n=n, level=level, X=X, random_state=self.params.get("random_state", 42))

    @property
    def n_clusters(self) -> int:
        return int(len(np.unique(self.labels[self.labels >= 0])))

    @property
    def sizes(self) -> pd.Series:
        """Points per cluster label (noise included as -1), largest first (pandas Series)."""
        import pandas as pd

        return pd.Series(self.labels).value_counts().rename("size").rename_axis("cluster")

    @property
    def noise_fraction(self) -> float:
        return float(np.mean(self.labels < 0)) if len(self.labels) else 0.0

    def __repr__(self) -> str:
        s = ", ".join(f"{k}={v:.3f}" for k, v in self.scores.items() if isinstance(v, float))
        return (
            f"ClusterResult(method={self.method!r}, n_clusters={self.n_clusters}, "
            f"noise_fraction={self.noise_fraction:.3f}, n={len(self.labels)}{', ' + s if s else ''})"
        )
