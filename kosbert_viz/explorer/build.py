"""``kv.explore()``: an :class:`~kosbert_viz.explorer.widget.Explorer` for a TextMap, or for coordinates,
labels and texts (inputs checked here, before any widget is built)."""

from __future__ import annotations

import numpy as np

from kosbert_viz._util.validation import check_texts
from kosbert_viz.exceptions import LevelError
from kosbert_viz.explorer.levels import levels_from_labels, textmap_levels
from kosbert_viz.explorer.scatter import widget_modules
from kosbert_viz.explorer.widget import Explorer

__all__ = ["explore"]


def explore(
    textmap=None,
    *,
    coords=None,
    labels=None,
    texts=None,
    data=None,
    names=None,
    embeddings=None,
    model=None,
    level: int | None = None,
    time_column: str | None = None,
    height: int = 560,
    random_state: int = 0,
) -> Explorer:
    """An explorer widget for a map: lasso/box selection back to Python, search, filters, texts beside it.

    >>> ex = kv.explore(tm)                                   # a TextMap
    >>> ex = kv.explore(coords=tm.coords, labels=res.labels, texts=df.review, data=df[["topic"]])
    >>> ex.selected.head()
    >>> ex.make_theme("환불 문의", ex.search("환불", select=False))  # edits give a new map: ex.textmap

    ``labels`` may be one array or a list of arrays (theme levels, coarse to fine); ``names``
    maps label -> name (or a list of such mappings, one per level). ``data``: metadata columns
    (categories get filters and colours; ``time_column``, or the first datetime column, gets a
    date range). ``embeddings`` + ``model`` enable semantic search.
    """
    import pandas as pd

    widget_modules()
    primary = 0
    if textmap is not None:
        if coords is not None or labels is not None or texts is not None:
            raise TypeError("pass either a TextMap or coords=/labels=/texts=, not both")
        coords, texts = textmap.coords, textmap.texts
        embeddings = textmap.embeddings if embeddings is None else embeddings
        if data is None:  # the TextMap's metadata (kv.map_texts / load_map / extend keep it there)
            data = getattr(textmap, "metadata", None)
            data = getattr(textmap, "data", None) if data is None else data
    else:
        if coords is None or texts is None:
            raise TypeError("explore() needs a TextMap, or coords= and texts= (labels= optional)")
        lv_arrays = (
            [np.zeros(len(coords), np.int64)]
            if labels is None
            else (
                list(labels)
                if isinstance(labels, (list, tuple)) and len(labels) and np.ndim(labels[0]) == 1
                else [labels]
            )
        )
        names_by_level = (
            list(names)
            if isinstance(names, (list, tuple)) and names and hasattr(names[0], "items")
            else [names] + [None] * (len(lv_arrays) - 1)
        )
    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"coords must have shape (n, 2) or (n, 3), got {xy.shape}")
    n = len(xy)
    texts = check_texts(texts, n=n)
    if not np.isfinite(xy[:, :2]).all():
        raise ValueError("coords contain NaN or inf")
    if textmap is not None:
        levels, primary = textmap_levels(textmap, names)
    else:
        levels = levels_from_labels(lv_arrays, names_by_level)
    for i, lv in enumerate(levels):
        if len(lv.codes) != n:
            raise ValueError(
                f"labels{f'[{i}]' if len(levels) > 1 else ''} has {len(lv.codes)} entries, expected {n} (one per point)"
            )
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            data = pd.DataFrame(data)
        if len(data) != n:
            raise ValueError(f"data has {len(data)} rows, expected {n} (one per text)")
        data = data.reset_index(drop=True)
        if time_column is None:
            time_column = next((str(c) for c in data.columns if pd.api.types.is_datetime64_any_dtype(data[c])), None)
        elif time_column not in data.columns:
            raise KeyError(f"time_column {time_column!r} is not a column of data; got {list(data.columns)}")
    elif time_column is not None:
        raise ValueError("time_column needs data= with that column")
    if embeddings is not None and len(embeddings) != n:
        raise ValueError(f"embeddings has {len(embeddings)} rows, expected {n} (one per text)")
    if level is not None:
        if not 0 <= int(level) < len(levels):
            raise LevelError(f"level must be in [0, {len(levels)}), got {level}")
    ex = Explorer(
        xy,
        levels,
        texts,
        data=data,
        embeddings=embeddings,
        model=model,
        textmap=textmap,
        primary=primary,
        time_column=time_column,
        height=height,
        random_state=random_state,
    )
    if level is not None and int(level) != primary:
        ex._level = int(level)
        ex._frame["theme"] = ex._theme_cat(ex._level)
    return ex
