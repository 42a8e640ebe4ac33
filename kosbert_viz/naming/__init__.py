"""Korean theme names: tokenizing, c-TF-IDF keywords and short names."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["keywords"]
__getattr__ = lazy_attributes(__name__, {"keywords": "keywords"}, submodules={"keywords"})
