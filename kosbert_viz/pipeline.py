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
    """Everything :func:`map_texts` produced."""

    texts: list
    embeddings: np.ndarray
    coords: np.ndarray
    clusters: ClusterResult
    table: object  # pandas DataFrame from keywords()
    figure: object  # plotly Figure
    manifest: dict = field(default_factory=dict)


def map_texts(texts, model=None, *, method: str = "kmeans", n_clusters: int | None = None,
              min_cluster_size: int | None = None, cache="auto", random_state: int = 42,
              top_n: int = 8, title: str | None = None, hover_data=None, device: str | None = None,
              show_progress_bar: bool | None = None) -> TextMap:
    """Encode ``texts``, cluster them, name the clusters and draw the map.

    Clustering and the map share one neighbour graph (:func:`kosbert_viz.cluster_layout`): HDBSCAN
    runs on a 5-D embedding and the 2-D map starts from it; k-means runs on the vectors themselves.
    ``cache=None`` keeps nothing on disk (neither vectors nor layouts).
    """
    texts = list(texts)
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
                                 random_state=random_state, cache=None if cache is None else "auto",
                                 show_progress=show_progress_bar)
    timings["cluster_and_layout"] = time.perf_counter() - t
    t = time.perf_counter()
    table = keywords(texts, res.labels, top_n=top_n, embeddings=emb)
    timings["keywords"] = time.perf_counter() - t
    fig = cluster_map(coords, labels=res.labels, texts=texts, names=dict(zip(table.cluster, table.name)),
                      hover_data=hover_data, title=title)
    manifest = build_manifest(encoder=encoder, seeds={"random_state": random_state}, timings=timings,
                              extra={"n_texts": len(texts), "clustering": {"method": res.method, **res.params}})
    return TextMap(texts, emb, coords, res, table, fig, manifest)
