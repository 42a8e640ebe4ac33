"""The TextMap: fitting a map of texts, placing new texts, trends, saving and loading."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = [
    "Assignment",
    "TextMap",
    "TopicsOverTime",
    "TopicsPerClass",
    "load_map",
    "map_texts",
    "map_vectors",
    "topics_over_time",
    "topics_per_class",
]
__getattr__ = lazy_attributes(
    __name__,
    {
        "Assignment": "assignment",
        "TextMap": "textmap",
        "TopicsOverTime": "trends",
        "TopicsPerClass": "trends",
        "load_map": "textmap",
        "map_texts": "fit",
        "map_vectors": "fit",
        "topics_over_time": "trends",
        "topics_per_class": "trends",
    },
    submodules={
        "assignment",
        "checks",
        "documents",
        "fit",
        "levels",
        "manifest",
        "placement",
        "store",
        "textmap",
        "trends",
    },
)
