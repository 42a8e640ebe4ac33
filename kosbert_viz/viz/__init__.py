"""Plotly figures: the cluster map, charts, notebook renderers and static export."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = [
    "cluster_map",
    "cluster_sizes",
    "hierarchy_chart",
    "k_sweep_chart",
    "keyword_chart",
    "save_image",
    "silhouette_chart",
    "similarity_heatmap",
    "use_notebook_renderer",
]
__getattr__ = lazy_attributes(
    __name__,
    {
        "cluster_map": "scatter",
        "cluster_sizes": "charts",
        "hierarchy_chart": "charts",
        "k_sweep_chart": "charts",
        "keyword_chart": "charts",
        "save_image": "export",
        "silhouette_chart": "charts",
        "similarity_heatmap": "charts",
        "use_notebook_renderer": "renderers",
    },
    submodules={"charts", "export", "renderers", "scatter"},
)
