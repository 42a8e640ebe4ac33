"""Vectors to neighbours and coordinates: kNN graph, UMAP reduce and layouts, search and duplicates."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = [
    "AnnIndex",
    "Layout",
    "build_index",
    "duplicates",
    "keep_one_per_group",
    "layout",
    "nearest_neighbors",
    "reduce",
    "search",
]
__getattr__ = lazy_attributes(
    __name__,
    {
        "AnnIndex": "search",
        "Layout": "layout",
        "build_index": "search",
        "duplicates": "search",
        "keep_one_per_group": "search",
        "layout": "layout",
        "nearest_neighbors": "reduce",
        "reduce": "reduce",
        "search": "search",
    },
    submodules={"fuzzy", "layout", "nndescent", "reduce", "search"},
)
