"""Which points: positions given in any form a user has, and the points every filter keeps.

>>> checked_indices([5, 2, 2], 10).tolist()
[2, 5]
>>> checked_indices(np.array([True, False, True]), 3).tolist()
[0, 2]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.columns import category_label, category_values

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["checked_indices", "filter_mask"]


def checked_indices(indices, n: int) -> np.ndarray:
    """Sorted unique positions in [0, n) from positions, a boolean mask of n, or a DataFrame with ``index``."""
    if hasattr(indices, "columns"):
        if "index" not in indices.columns:
            raise ValueError("a DataFrame of points needs an 'index' column (as ex.selected or ex.hits has)")
        indices = indices["index"]
    arr = np.asarray(indices)
    if arr.dtype == bool:
        if len(arr) != n:
            raise ValueError(f"a boolean mask needs {n} entries, got {len(arr)}")
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"indices must be integer point positions, got dtype {arr.dtype}")
    arr = arr.astype(np.int64).ravel()
    if len(arr) > 1 and not (arr[1:] > arr[:-1]).all():  # already sorted and unique: nothing to do
        arr = np.unique(arr)
    if arr[0] < 0 or arr[-1] >= n:
        raise ValueError(f"indices must be in [0, {n}), got {arr[0]}..{arr[-1]}")
    return arr


def filter_mask(
    theme_codes: np.ndarray,
    wanted_codes: list | None,
    data: pd.DataFrame,
    categories: dict,
    labelled: dict,
    dates: pd.Series | None,
    date_range: tuple | None,
) -> tuple[np.ndarray, bool]:
    """(the points every filter keeps, whether any filter is on).

    ``wanted_codes``: themes kept (None: all); ``categories``: {column: values kept} (5, 5.0 and "5" are one
    rating), ``labelled`` holds the columns already labelled as categories; ``date_range``: (start, end),
    inclusive, a day's end being the end of that day, on ``dates``.
    """
    import pandas as pd

    keep = np.ones(len(theme_codes), bool)
    active = False
    if wanted_codes:
        keep &= np.isin(theme_codes, wanted_codes)
        active = True
    for col, values in categories.items():
        if values:
            wanted = {category_label(v) for v in values} | {str(v) for v in values}
            labels = labelled.get(col)
            if labels is None:  # any other column: labelled now
                labels = category_values(data[col])
            keep &= np.asarray(labels.isin(wanted))
            active = True
    if dates is not None and date_range is not None and any(v is not None for v in date_range):
        t = pd.to_datetime(dates)
        lo, hi = date_range
        if lo is not None:
            keep &= (t >= pd.Timestamp(lo)).to_numpy()
        if hi is not None:
            hi = pd.Timestamp(hi)
            if hi == hi.normalize():  # a day: the whole day
                hi = hi + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
            keep &= (t <= hi).to_numpy()
        active = True
    return keep, active
