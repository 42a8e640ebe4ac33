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
    "encode": "encode",
    "load_encoder": "models",
    "OfflineEncoder": "models",
    "ModelLoadError": "models",
    "DEFAULT_MODEL": "models",
    "EmbeddingCache": "cache",
    "CacheFullError": "cache",
    "reduce": "reduce",
    "cluster": "cluster",
    "ClusterResult": "cluster",
    "sweep": "cluster",
    "Sweep": "cluster",
    "cluster_layout": "layout",
    "Layout": "layout",
    "nearest_neighbors": "reduce",
    "keywords": "keywords",
    "cluster_map": "plot",
    "cluster_sizes": "charts",
    "keyword_chart": "charts",
    "k_sweep_chart": "charts",
    "silhouette_chart": "charts",
    "similarity_heatmap": "charts",
    "use_notebook_renderer": "renderers",
    "save_image": "export",
    "map_texts": "pipeline",
    "TextMap": "pipeline",
    "write_report": "report",
    "search": "search",
    "duplicates": "search",
    "keep_one_per_group": "search",
    "build_index": "search",
    "AnnIndex": "search",
    "sts": "evaluate",
    "cluster_metrics": "evaluate",
    "encode_dataset": "distributed",
    "load_embeddings": "distributed",
    "EncodeResult": "distributed",
    "MissingEmbeddingsError": "distributed",
}
_SUBMODULES = {"datasets", "cache", "cluster", "encode", "keywords", "models", "plot", "pipeline", "reduce",
               "report", "cli", "charts", "renderers", "export", "search", "evaluate",
               "distributed"}

__all__ = sorted(_EXPORTS) + ["datasets"]

# encode, reduce, cluster, keywords and search are functions named like their modules. Python
# sets a package attribute to the submodule when that is first imported, which would leave
# ``kv.reduce`` a module after another module imported it. Bind the functions now (these
# modules import only numpy at top level) so the names always mean the functions.
for _name in ("encode", "reduce", "cluster", "keywords", "search"):
    try:
        globals()[_name] = getattr(importlib.import_module(f".{_name}", __name__), _name)
    except ImportError:  # pragma: no cover - a module being written
        pass
del _name


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
