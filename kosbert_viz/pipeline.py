"""``map_texts()``: the whole job in one call - encode, cluster, lay out, name, draw.

>>> tm = kv.map_texts(df["review"], method="hdbscan")
>>> tm.figure            # the interactive map
>>> tm.table             # cluster names, sizes, keywords, representative texts
>>> kv.write_report(tm, "report.html")
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_texts
from .clustering import ClusterResult
from .encoding import encode
from .naming import keywords
from .layouts import cluster_layout
from .models import load_encoder
from .plot import cluster_map
from .report import build_manifest

__all__ = ["map_texts", "TextMap"]


@dataclass
class TextMap:
    """Everything :func:`map_texts` produced; save it, place new texts into it, grow it.

    >>> tm.save("maps/reviews")                  # safe files (npy + JSON), checksummed
    >>> tm = kv.load_map("maps/reviews")
    >>> a = tm.assign(new_reviews)               # themes at every level, positions, novelty
    >>> tm2 = tm.extend(new_reviews)             # the map with them, for the next report
    """

    texts: list
    embeddings: np.ndarray
    coords: np.ndarray
    clusters: ClusterResult
    table: object  # pandas DataFrame from keywords()
    figure: object  # plotly Figure (a loaded map draws it on first access)
    manifest: dict = field(default_factory=dict)
    metadata: object = None  # pandas DataFrame, one row per text (optional)
    _placement: object = field(default=None, repr=False, compare=False)
    _embeddings_check: object = field(default=None, repr=False, compare=False)
    _source: object = field(default=None, repr=False, compare=False)

    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        if name == "figure" and value is None and object.__getattribute__(self, "texts"):
            from .placement import theme_names

            value = cluster_map(self.coords, labels=self.clusters.labels, texts=self.texts,
                                names=theme_names(self) or None)
            object.__setattr__(self, "figure", value)
        return value

    def save(self, path, *, overwrite: bool = False):
        """Write the map to the folder ``path`` (see :mod:`kosbert_viz.mapstore`); returns the path."""
        from .mapstore import save_map

        return save_map(self, path, overwrite=overwrite)

    def assign(self, texts, metadata=None, *, model=None, top_k: int = 15, new_threshold: float = 0.99,
               cache="auto", show_progress_bar: bool | None = None):
        """Place new texts: theme at every level, map position, novelty (see :mod:`kosbert_viz.placement`).

        ``model`` defaults to the map's own; another model is refused.

        >>> a = tm.assign(["배송이 또 늦었어요"])
        >>> a.names, a.is_new
        """
        from .placement import assign

        return assign(self, texts, metadata, model=model, top_k=top_k, new_threshold=new_threshold, cache=cache,
                      show_progress_bar=show_progress_bar)

    def extend(self, texts, metadata=None, *, model=None, top_k: int = 15, cache="auto"):
        """A new TextMap with ``texts`` placed into this one (themes and names kept; figure redrawn)."""
        from .placement import extend

        return extend(self, texts, metadata, model=model, top_k=top_k, cache=cache)


def map_texts(texts, model=None, *, method: str = "kmeans", n_clusters: int | None = None,
              min_cluster_size: int | None = None, cache="auto", random_state: int = 42,
              top_n: int = 8, title: str | None = None, hover_data=None, device: str | None = None,
              show_progress_bar: bool | None = None) -> TextMap:
    """Encode ``texts``, cluster them, name the clusters and draw the map.

    Clustering and the map share one neighbour graph (:func:`kosbert_viz.cluster_layout`): HDBSCAN
    runs on a 5-D embedding and the 2-D map starts from it; k-means runs on the vectors themselves.
    ``cache`` is as in :func:`encode` and holds the layouts too (under ``<folder>/reduce``);
    ``cache=None`` or ``False`` keeps nothing on disk (neither vectors nor layouts).
    ``texts`` must be a collection of str (a single str is refused); they are NFC-normalised, so
    the map, its names and the report show one form of each text.
    """
    texts = check_texts(texts)
    if len(texts) < 4:
        raise ValueError(f"map_texts needs at least 4 texts (a 2-D map is laid out from each text's neighbours), "
                         f"got {len(texts)}")
    timings = {}
    t = time.perf_counter()
    encoder = load_encoder(model, device=device)
    timings["load_model"] = time.perf_counter() - t
    t = time.perf_counter()
    emb = encode(texts, encoder, cache=cache, show_progress_bar=show_progress_bar)
    timings["encode"] = time.perf_counter() - t
    t = time.perf_counter()
    res, coords = cluster_layout(emb, method, n_clusters=n_clusters, min_cluster_size=min_cluster_size,
                                 random_state=random_state, cache=cache,
                                 show_progress_bar=show_progress_bar)
    timings["cluster_and_layout"] = time.perf_counter() - t
    t = time.perf_counter()
    table = keywords(texts, res.labels, top_n=top_n, embeddings=emb)
    timings["keywords"] = time.perf_counter() - t
    fig = cluster_map(coords, labels=res.labels, texts=texts, names=dict(zip(table.cluster, table.name)),
                      hover_data=hover_data, title=title)
    manifest = build_manifest(encoder=encoder, seeds={"random_state": random_state}, timings=timings,
                              extra={"n_texts": len(texts), "clustering": {"method": res.method, **res.params}})
    return TextMap(texts, emb, coords, res, table, fig, manifest)
