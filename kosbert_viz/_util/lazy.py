"""Lazy attributes for packages: names resolve to their module on first use, so imports stay light.

>>> getattr_ = lazy_attributes("kosbert_viz.maps", {"TextMap": "fit"}, submodules={"store"})
>>> getattr_("TextMap").__name__
'TextMap'
>>> getattr_("store").__name__
'kosbert_viz.maps.store'
"""

from __future__ import annotations

import importlib


def lazy_attributes(package: str, names: dict[str, str], submodules=()):
    """A module ``__getattr__`` for ``package``: ``names`` maps an attribute to the submodule defining it."""
    submodules = frozenset(submodules)

    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
