"""Reading analysts' files: tables (CSV in any Korean encoding, Excel) and dates."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["read_table"]
__getattr__ = lazy_attributes(__name__, {"read_table": "tables"}, submodules={"dates", "tables"})
