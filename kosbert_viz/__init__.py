"""kosbert_viz: interactive maps of meaning for Korean text.

>>> import kosbert_viz as kv
>>> texts = kv.datasets.load_sample().text
>>> emb = kv.encode(texts)                        # ko-sbert vectors, cached on disk
>>> res = kv.cluster(emb, method="hdbscan")
>>> fig = kv.cluster_map(kv.reduce(emb), labels=res.labels, texts=texts)

Importing the package imports no torch, umap or plotly; each is loaded on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "CacheFullError": "exceptions",
    "CacheNotWritableError": "exceptions",
    "CacheWriteError": "exceptions",
    "DateError": "exceptions",
    "HangulFontMissing": "exceptions",
    "LevelError": "exceptions",
    "MapFileError": "exceptions",
    "MissingEmbeddingsError": "exceptions",
    "ModelLoadError": "exceptions",
    "ModelMismatchError": "exceptions",
    "NotATextError": "exceptions",
    "TableError": "exceptions",
    "encode": "embed.encode",
    "load_encoder": "embed.models",
    "OfflineEncoder": "embed.models",
    "DEFAULT_MODEL": "embed.models",
    "EmbeddingCache": "embed.cache",
    "reduce": "geometry.reduce",
    "cluster": "themes.cluster",
    "ClusterResult": "themes.result",
    "sweep": "themes.cluster",
    "Sweep": "themes.cluster",
    "cluster_layout": "themes.cluster_layout",
    "Layout": "geometry.layout",
    "layout": "geometry.layout",
    "nearest_neighbors": "geometry.reduce",
    "keywords": "naming.keywords",
    "hierarchy_names": "themes.names",
    "build_hierarchy": "themes.hierarchy",
    "cluster_map": "viz.scatter",
    "cluster_sizes": "viz.charts",
    "keyword_chart": "viz.charts",
    "hierarchy_chart": "viz.charts",
    "k_sweep_chart": "viz.charts",
    "silhouette_chart": "viz.charts",
    "similarity_heatmap": "viz.charts",
    "use_notebook_renderer": "viz.renderers",
    "save_image": "viz.export",
    "map_texts": "maps.fit",
    "map_vectors": "maps.fit",
    "TextMap": "maps.textmap",
    "write_report": "report.html",
    "search": "geometry.search",
    "duplicates": "geometry.search",
    "keep_one_per_group": "geometry.search",
    "build_index": "geometry.search",
    "AnnIndex": "geometry.search",
    "sts": "evaluate",
    "cluster_metrics": "evaluate",
    "encode_dataset": "distributed.encode",
    "assign_dataset": "distributed.assign",
    "load_embeddings": "distributed.encode",
    "EncodeResult": "distributed.encode",
    "load_map": "maps.textmap",
    "Assignment": "maps.assignment",
    "topics_over_time": "maps.trends",
    "TopicsOverTime": "maps.trends",
    "topics_per_class": "maps.trends",
    "TopicsPerClass": "maps.trends",
    "read_table": "io.tables",
    "explore": "explorer.build",
    "Explorer": "explorer.widget",
    "finetune": "finetuning.train",
    "FinetuneResult": "finetuning.card",
    "pairs_from_duplicates": "finetuning.pairs",
    "pairs_from_labels": "finetuning.pairs",
}
_SUBMODULES = {
    "cli",
    "datasets",
    "distributed",
    "embed",
    "evaluate",
    "exceptions",
    "explorer",
    "finetuning",
    "geometry",
    "io",
    "maps",
    "naming",
    "report",
    "themes",
    "viz",
}

__all__ = sorted(_EXPORTS) + ["datasets"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'kosbert_viz' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
