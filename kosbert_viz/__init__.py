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

__version__ = "0.1.0"

_EXPORTS = {
    "encode": "encoding",
    "load_encoder": "models",
    "OfflineEncoder": "models",
    "ModelLoadError": "models",
    "DEFAULT_MODEL": "models",
    "EmbeddingCache": "cache",
    "CacheFullError": "cache",
    "CacheWriteError": "cache",
    "CacheNotWritableError": "cache",
    "reduce": "reduction",
    "cluster": "clustering",
    "ClusterResult": "clustering",
    "sweep": "clustering",
    "Sweep": "clustering",
    "cluster_layout": "layouts",
    "Layout": "layouts",
    "layout": "layouts",
    "nearest_neighbors": "reduction",
    "keywords": "naming",
    "hierarchy_names": "hierarchy",
    "build_hierarchy": "hierarchy",
    "cluster_map": "plot",
    "cluster_sizes": "charts",
    "keyword_chart": "charts",
    "hierarchy_chart": "charts",
    "k_sweep_chart": "charts",
    "silhouette_chart": "charts",
    "similarity_heatmap": "charts",
    "use_notebook_renderer": "renderers",
    "save_image": "export",
    "map_texts": "pipeline",
    "map_vectors": "pipeline",
    "TextMap": "pipeline",
    "write_report": "report",
    "search": "similarity",
    "duplicates": "similarity",
    "keep_one_per_group": "similarity",
    "build_index": "similarity",
    "AnnIndex": "similarity",
    "sts": "evaluate",
    "cluster_metrics": "evaluate",
    "encode_dataset": "distributed",
    "assign_dataset": "distributed",
    "load_embeddings": "distributed",
    "EncodeResult": "distributed",
    "MissingEmbeddingsError": "distributed",
    "load_map": "mapstore", "MapFileError": "mapstore", "ModelMismatchError": "mapstore",
    "Assignment": "placement",
    "topics_over_time": "trends", "TopicsOverTime": "trends", "topics_per_class": "trends",
    "TopicsPerClass": "trends",
    "read_table": "io",
    "explore": "explorer",
    "Explorer": "explorer",
    "finetune": "finetuning", "FinetuneResult": "finetuning",
    "pairs_from_duplicates": "finetuning", "pairs_from_labels": "finetuning",
}
_SUBMODULES = {"datasets", "hierarchy", "cache", "clustering", "encoding", "naming", "models", "plot", "pipeline",
               "reduction", "layouts", "report", "cli", "charts", "renderers", "export", "similarity",
               "evaluate", "distributed", "mapstore", "placement", "trends", "explorer", "finetuning", "io",
               "stability"}

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
