"""The JupyterLab explorer widget (jupyter-scatter) whose selections come back to Python."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["Explorer", "explore"]
__getattr__ = lazy_attributes(
    __name__,
    {"Explorer": "widget", "explore": "build"},
    submodules={"build", "edits", "keywords", "levels", "scatter", "selection", "table", "widget"},
)
