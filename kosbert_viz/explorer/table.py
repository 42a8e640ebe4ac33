"""The side panel's table of selected texts: its order and its HTML (the first ``TABLE_ROWS`` rows).

>>> import pandas as pd
>>> rows = pd.DataFrame({"index": [3], "theme": ["배송"], "text": ["<늦어요>"]})
>>> "&lt;늦어요&gt;" in table_html(rows, 1, [])
True
"""

from __future__ import annotations

import functools
import html
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TABLE_ROWS", "EMPTY_TABLE", "table_order", "table_html", "legend_html"]

TABLE_ROWS = 300  # rows drawn in the side panel's table (the DataFrame holds all of them)
EMPTY_TABLE = (
    "<p style='color:#777'>Lasso some points (the lasso button left of the map, then drag; "
    "or press and hold, then drag) or search, to list their texts here.</p>"
)
_NONE = object()  # "no such column" (a column may be named None)


def table_order(
    idx: np.ndarray, key: str, ascending: bool, *, texts: list, theme: pd.Categorical, data: pd.DataFrame
) -> np.ndarray:
    """Positions into ``idx`` in the table's order (stable; ties keep index order): by "index", "length",
    "theme" (its name, as the table shows it: ``theme`` holds every point's) or a column of ``data``."""
    import pandas as pd

    if key == "length":
        values = np.fromiter((len(texts[i]) for i in idx), np.int64, len(idx))
    elif key == "theme":  # by name: rank the categories, then sort the ranks
        rank = pd.Series(np.asarray(theme.categories, dtype=object)).rank(method="dense").to_numpy(np.int64)
        values = rank[theme.codes[idx]]
    elif (col := next((c for c in data.columns if str(c) == key), _NONE)) is not _NONE:
        values = data[col].iloc[idx].reset_index(drop=True)
        return values.sort_values(ascending=ascending, kind="stable").index.to_numpy()
    else:  # "index": idx is sorted already
        return np.arange(len(idx)) if ascending else np.arange(len(idx))[::-1]
    return np.argsort(values if ascending else -values, kind="stable")


@functools.cache
def _css() -> str:
    return (resources.files("kosbert_viz.explorer") / "static" / "selection.css").read_text(encoding="utf-8")


def table_html(shown: pd.DataFrame, n_selected: int, category_columns: list) -> str:
    """The table of the rows ``shown`` (index, theme, text, category columns), every value escaped."""
    cols = ["index", "theme", "text"] + [c for c in category_columns if c in shown.columns]
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in shown[cols].itertuples(index=False)
    )
    more = (
        f"<p>showing {TABLE_ROWS:,} of {n_selected:,} (all are in <code>ex.selected</code>)</p>"
        if n_selected > TABLE_ROWS
        else ""
    )
    return (
        f"<style>{_css()}</style><table class='kv-selection' style='border-collapse:collapse;font-size:12px'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"
    )


def legend_html(colors: dict) -> str:
    """The map's colours as a list beside it (a legend that never covers points), names escaped; a long
    list scrolls."""
    if not colors:
        return ""
    items = "".join(
        f"<div style='display:flex;align-items:center;gap:6px;line-height:1.3'>"
        f"<span style='flex:0 0 10px;height:10px;border-radius:50%;background:{html.escape(str(c))}'></span>"
        f"<span style='overflow-wrap:anywhere'>{html.escape(str(name))}</span></div>"
        for name, c in colors.items()
    )
    return f"<div class='kv-legend' style='max-height:180px;overflow:auto;font-size:12px'>{items}</div>"
