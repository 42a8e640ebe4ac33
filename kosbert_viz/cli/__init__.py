"""The ``kosbert-viz`` command."""

from kosbert_viz._util.lazy import lazy_attributes

__getattr__ = lazy_attributes(
    __name__,
    {},
    submodules={"assign", "cache", "clustering", "common", "demo", "evaluate", "finetune", "main", "map", "trends"},
)
