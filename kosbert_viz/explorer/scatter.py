"""The map of the explorer: a jupyter-scatter ``Scatter`` with options chosen by the map's size.

>>> renderer_options(1_000)
{'syncEvents': True}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jscatter

__all__ = [
    "DENSE_MAP",
    "LARGE_MAP",
    "LASSO_MIN_DIST",
    "renderer_options",
    "widget_modules",
    "make_scatter",
    "is_number_column",
]

_EXTRA_HINT = 'the explorer needs jupyter-scatter and ipywidgets: pip install "kosbert_viz[explore]"'
DENSE_MAP = 100_000  # from this many points: a thin selection outline (selected points are dense)
LARGE_MAP = 500_000  # from this many points: regl-scatterplot's performanceMode, no tooltip histogram
LASSO_MIN_DIST = 8  # screen pixels between the lasso's vertices (jupyter-scatter's default is 3): fewer
# vertices to test each point against; the page's lasso handling at 1M points went from 0.59 s to 0.42-0.48 s


def renderer_options(n: int) -> dict:
    """regl-scatterplot options for a map of ``n`` points.

    * ``syncEvents``: regl-scatterplot publishes its events from a ``setTimeout`` by default, which runs
      after the next frame, so a lasso's selection waited for a full redraw (about 1 s at 1M points in
      software WebGL) before it was sent to Python. Published synchronously, it is sent from the
      mouse-up handler itself.
    * From ``DENSE_MAP`` points: selected points keep their size and get a 1 px outline (default: 2 px
      larger and a 2 px outline), since a wide outline around thousands of dense points merges into one
      blob; it also draws a third of the selection passes' pixels.
    * From ``LARGE_MAP`` points: ``performanceMode`` (square points, no alpha blending): the map's 0.8
      opacity is traded for speed where points overlap by the thousand.

    The frame times behind these thresholds are on the Benchmarks page (``bench_explore.py --part frames``).

    >>> renderer_options(1_000)
    {'syncEvents': True}
    >>> sorted(renderer_options(1_000_000))
    ['performanceMode', 'pointOutlineWidth', 'pointSizeSelected', 'syncEvents']
    """
    opts: dict = {"syncEvents": True}
    if n >= DENSE_MAP:
        opts.update(pointSizeSelected=0, pointOutlineWidth=1)
    if n >= LARGE_MAP:
        opts["performanceMode"] = True
    return opts


def widget_modules() -> tuple:
    """(jscatter, ipywidgets), or an ImportError naming the extra."""
    try:
        import ipywidgets
        import jscatter
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT) from exc
    return jscatter, ipywidgets


def is_number_column(s) -> bool:
    """A numeric column that is not bool (coloured on a scale)."""
    from pandas.api import types

    return types.is_numeric_dtype(s.dtype) and not types.is_bool_dtype(s.dtype)


def make_scatter(frame, colors: dict, *, height: int = 560) -> jscatter.Scatter:
    """The ``jscatter.Scatter`` of ``frame`` (columns x, y, theme, text, ...), coloured by theme with ``colors``."""
    jscatter, _ = widget_modules()
    n = len(frame)
    return jscatter.Scatter(
        data=frame,
        x="x",
        y="y",
        color_by="theme",
        color_map=colors,
        tooltip=True,
        tooltip_properties=["theme", "text"],
        tooltip_preview="text",
        tooltip_preview_text_lines=6,
        tooltip_histograms=n < LARGE_MAP,
        height=height,
        legend=False,  # the legend is beside the map (explorer.table.legend_html), never over its points
        axes=False,
        opacity=0.8,
        lasso_min_dist=LASSO_MIN_DIST,
        options=renderer_options(n),
    )
