"""Optional extras: import a package an extra installs, or say in one line how to install it.

>>> require("json", extra="core", feature="reading JSON").__name__
'json'
>>> try:
...     require("no_such_package_kv", extra="ann", feature="the approximate index")
... except ImportError as exc:
...     print(exc)
the approximate index needs no_such_package_kv: pip install "kosbert_viz[ann]"
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require", "package_version"]


def package_version(pkg: str) -> str | None:
    """The installed version of ``pkg``, or None when it is not installed.

    >>> package_version("no_such_package_kv") is None
    True
    """
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def require(*modules: str, extra: str, feature: str, conda: str | None = None) -> ModuleType:
    """Import ``modules`` (in order) for ``feature``; return the last one.

    A missing one raises ImportError naming it and the extra that installs it:
    ``pip install "kosbert_viz[<extra>]"`` (``conda``: how to get it in a conda environment, if
    that differs).
    """
    module = None
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            missing = exc.name or name
            hint = f" (conda: {conda})" if conda else ""
            raise ImportError(f'{feature} needs {missing}: pip install "kosbert_viz[{extra}]"{hint}') from exc
    return module
