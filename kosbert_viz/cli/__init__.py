"""The ``kosbert-viz`` command."""
from kosbert_viz._util.lazy import lazy_attributes

__getattr__ = lazy_attributes(__name__, {},
                              submodules={"main"})
