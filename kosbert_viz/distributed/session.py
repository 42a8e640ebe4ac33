"""Ray itself: importing it, connecting to a cluster, and shutting it down so numba still works."""

from __future__ import annotations

import logging
import os
import sys
from types import ModuleType

from kosbert_viz._util.extras import require

log = logging.getLogger("kosbert_viz")


def restore_builtin_print() -> None:
    """Put back the built-in ``print`` that Ray swaps out.

    Ray Data's progress bars (``ray.experimental.tqdm_ray``) and ``ray.shutdown()`` leave a
    Python function in ``builtins.print``; numba cannot compile code that calls it, so UMAP
    and NN-descent then fail in the same process ("Untyped global name 'print'").
    """
    import builtins

    tqdm_ray = sys.modules.get("ray.experimental.tqdm_ray")
    original = getattr(tqdm_ray, "_print", None)
    if (
        original is not None
        and builtins.print is not original
        and type(original) is type(len)
        and type(builtins.print) is not type(len)
    ):
        builtins.print = original


def shutdown_ray() -> None:
    """``ray.shutdown()`` that leaves numba (UMAP) working: see :func:`restore_builtin_print`.

    Use it instead of ``ray.shutdown()`` in a notebook.
    """
    import_ray().shutdown()
    restore_builtin_print()


def import_ray() -> ModuleType:
    """The ``ray`` module, or an ImportError naming the ``distributed`` extra."""
    require(
        "ray",
        "ray.data",
        extra="distributed",
        feature="kosbert_viz.distributed (Ray Data)",
        conda='pip install "ray[data]" inside the environment',
    )
    import ray

    return ray


# -- Ray ------------------------------------------------------------------------------------
def connect_ray(ray, address: str | None, init_kwargs: dict | None) -> str:
    if ray.is_initialized():
        return "the running Ray"
    kwargs = dict(init_kwargs or {})
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("logging_level", logging.WARNING)
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        ray.init(address=address, **kwargs)  # address=None lets Ray read $RAY_ADDRESS itself
        return f"the Ray cluster at {target}"
    ray.init(**kwargs)
    return "a local Ray"


def fsspec_http_broken() -> bool:
    """fsspec is installed but its HTTP filesystem cannot be imported (no aiohttp)."""
    import importlib.util

    if importlib.util.find_spec("fsspec") is None:
        return False
    return importlib.util.find_spec("aiohttp") is None


def ray_version(ray) -> tuple[int, int]:
    try:
        major, minor = ray.__version__.split(".")[:2]
        return int(major), int(minor)
    except ValueError:  # pragma: no cover - dev builds
        return (99, 0)
