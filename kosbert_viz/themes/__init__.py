"""Coordinates to themes: flat clustering, the theme hierarchy, edits and stability."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["ClusterResult", "Sweep", "build_hierarchy", "cluster", "cluster_layout", "hierarchy_names", "sweep"]
__getattr__ = lazy_attributes(
    __name__,
    {
        "ClusterResult": "result",
        "Sweep": "cluster",
        "build_hierarchy": "hierarchy",
        "cluster": "cluster",
        "cluster_layout": "cluster_layout",
        "hierarchy_names": "names",
        "sweep": "cluster",
    },
    submodules={"cluster", "cluster_layout", "edits", "hierarchy", "names", "result", "stability", "tree"},
)
