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


def _whole_numbers(s) -> bool:
    from pandas.api import types

    if types.is_bool_dtype(s.dtype) or not types.is_numeric_dtype(s.dtype):
        return False
    if types.is_integer_dtype(s.dtype):
        return True
    vals = s.dropna().to_numpy(dtype=np.float64)
    return bool(np.isfinite(vals).all() and (vals == np.round(vals)).all())


def is_category_like(s) -> bool:
    """Categorical, str, object or bool, or whole numbers (see the module's docstring)."""
    from pandas.api import types

    return (isinstance(s.dtype, types.CategoricalDtype) or types.is_object_dtype(s.dtype)
            or types.is_string_dtype(s.dtype) or types.is_bool_dtype(s.dtype) or _whole_numbers(s))


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

    missing = s.isna().to_numpy()
    if _whole_numbers(s):
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.where(missing, 0, vals).astype(np.int64).astype(str).astype(object)
    else:
        out = s.astype(str).to_numpy(dtype=object)
    out[missing] = ""
    return pd.Series(out, index=s.index, dtype=object)
