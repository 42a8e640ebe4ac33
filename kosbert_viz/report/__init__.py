"""Standalone HTML reports of a map and of a batch assignment."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["write_report"]
__getattr__ = lazy_attributes(__name__, {"write_report": "html"}, submodules={"assignment", "html", "ui"})
