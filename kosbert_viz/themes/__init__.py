"""Coordinates to themes: flat clustering, the theme hierarchy, edits and stability."""
from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["ClusterResult", "Sweep", "build_hierarchy", "cluster", "hierarchy_names", "sweep"]
__getattr__ = lazy_attributes(__name__, {"ClusterResult": "cluster", "Sweep": "cluster", "build_hierarchy": "hierarchy", "cluster": "cluster", "hierarchy_names": "hierarchy", "sweep": "cluster"},
                              submodules={"cluster", "hierarchy", "stability"})
