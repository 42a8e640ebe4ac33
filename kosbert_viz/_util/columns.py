"""Which metadata columns are categories: one rule for the explorer (filters, colours, table columns) and the
report (filters, CSV columns), so the same data gets the same filters in both.

A category column is a categorical, str, object or bool column, or one of whole numbers (ratings, years; a
float column of whole numbers too, which is what pandas makes of an int column with gaps), with at most
``MAX_CATEGORIES`` distinct values. Dates and real-valued numbers are not categories.

>>> df = pd.DataFrame({"product": ["앱", "매장", None], "rating": [5.0, None, 1.0], "score": [0.5, 0.25, 1.0]})
>>> category_columns(df)
['product', 'rating']
>>> category_values(df["rating"]).tolist()
['5', '', '1']
"""

from __future__ import annotations

import numpy as np

MAX_CATEGORIES = 60  # a column with at most this many distinct values is a category (a filter, colours)
_EXACT_FLOATS = 2.0**53  # below this a float64 holds every whole number exactly


def _whole_numbers(s) -> bool:
    from pandas.api import types

    if types.is_bool_dtype(s.dtype) or not types.is_numeric_dtype(s.dtype):
        return False
    if types.is_integer_dtype(s.dtype):
        return True
    vals = s.dropna().to_numpy(dtype=np.float64)
    return bool(vals.size and (np.abs(vals) < _EXACT_FLOATS).all() and (vals == np.round(vals)).all())


def is_category_like(s) -> bool:
    """Categorical, str, object or bool, or whole numbers (see the module's docstring)."""
    from pandas.api import types

    return (
        isinstance(s.dtype, types.CategoricalDtype)
        or types.is_object_dtype(s.dtype)
        or types.is_string_dtype(s.dtype)
        or types.is_bool_dtype(s.dtype)
        or _whole_numbers(s)
    )


def category_label(v) -> str:
    """One value as :func:`category_values` writes it in a whole-number column (5, 5.0, "5" -> "5")."""
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and float(v).is_integer() and abs(v) < _EXACT_FLOATS:
        return str(int(v))
    return str(v)


def category_order(labels) -> list[str]:
    """Distinct labels in list and legend order: ``''`` (missing) first, whole numbers by value, then text.

    >>> category_order(["10", "2", "", "앱", "2"])
    ['', '2', '10', '앱']
    """

    def key(u: str):
        if u == "":
            return (0, 0, "")
        try:
            return (1, int(u), "")
        except ValueError:
            return (2, 0, u)

    return sorted(set(labels), key=key)


def category_codes(s) -> tuple[list[str], np.ndarray]:
    """(labels in :func:`category_order`, int32 code per row) of the column ``s``."""
    sorted_labels, inv = np.unique(category_values(s).to_numpy(dtype=object).astype(str), return_inverse=True)
    order = category_order(sorted_labels.tolist())
    position = {u: i for i, u in enumerate(order)}
    remap = np.array([position[u] for u in sorted_labels.tolist()], dtype=np.int32)
    return order, remap[inv.ravel()]


def category_columns(data, max_categories: int = MAX_CATEGORIES) -> list:
    """The category columns of the DataFrame ``data``, in its order (``[]`` for ``None``)."""
    if data is None:
        return []
    cols = []
    for c in data.columns:
        s = data[c]
        if getattr(s, "ndim", 1) != 1 or not is_category_like(s):
            continue
        try:
            if s.nunique(dropna=True) <= max_categories:
                cols.append(c)
        except TypeError:  # unhashable cells (lists, dicts)
            continue
    return cols


def category_values(s):
    """The column as str labels, ``''`` where missing; whole-number floats without ``.0`` (5.0 -> '5')."""
    import pandas as pd
    from pandas.api import types

    missing = s.isna().to_numpy()
    if _whole_numbers(s) and not types.is_integer_dtype(s.dtype):  # floats below _EXACT_FLOATS: exact as int64
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.where(missing, 0, vals).astype(np.int64).astype(str).astype(object)
    else:
        out = s.astype(str).to_numpy(dtype=object)
    out[missing] = ""
    return pd.Series(out, index=s.index, dtype=object)
