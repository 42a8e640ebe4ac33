"""One date reader for the command line and the library: every cell read by one format, or an error.

pandas infers a date format from the first row and turns every row that does not fit it into NaT,
so a column mixing ``2024-01-01`` and ``2024/01/02`` silently loses half its rows, and NSMC's
``24.01.05`` becomes 2005-01-24. Here a column of strings is read with **one** format for the whole
column: ``date_format`` (strptime codes) when given, else the first of :data:`DATE_FORMATS` that reads
every non-empty cell. Otherwise :class:`DateError` names the first row that no format reads. Empty
cells (None, NaN, "", "nan") are the only NaT; the caller counts and reports them.

- Two-digit years (``YY.MM.DD``) follow Python's ``%y``: 00-68 are 20xx, 69-99 are 19xx.
- ISO 8601 with a zone (``+09:00``, ``Z``): the clock time as written counts (a review written at
  23:30 in Seoul stays on its Korean date); so do timezone-aware datetimes.
- Whole numbers 1000-9999 are years; other numbers are refused (an epoch needs its unit: convert with
  ``pd.to_datetime(x, unit="s")`` first).
- datetime64 columns, ``datetime``/``Timestamp`` objects pass through.

>>> parse_dates(["2024-01-05", "", "2024-02-01"]).isna().tolist()         # an empty cell is the only NaT
[False, True, False]
>>> parse_dates(["24.01.05", "24.12.31"]).dt.year.tolist()     # NSMC's YY.MM.DD
[2024, 2024]
>>> parse_dates(["05/01/2024", "31/12/2024"], date_format="%d/%m/%Y").dt.month.tolist()
[1, 12]
"""
from __future__ import annotations

import datetime as _dt
import warnings

import numpy as np

from ._validation import quoted
from .exceptions import DateError

__all__ = ["parse_dates", "DATE_FORMATS", "expected_formats", "DateError"]

# (label, pattern every cell must match, strptime format), tried in this order
DATE_FORMATS = (
    ("YYYY-MM-DD", r"\d{4}-\d{1,2}-\d{1,2}", "%Y-%m-%d"),
    ("YYYY-MM-DD HH:MM[:SS] (ISO 8601; a zone suffix is ignored: the clock time as written counts)",
     r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", "ISO8601"),
    ("YYYY/MM/DD", r"\d{4}/\d{1,2}/\d{1,2}", "%Y/%m/%d"),
    ("YYYY.MM.DD", r"\d{4}\.\d{1,2}\.\d{1,2}", "%Y.%m.%d"),
    ("YY.MM.DD (NSMC style)", r"\d{2}\.\d{1,2}\.\d{1,2}", "%y.%m.%d"),
    ("YYYYMMDD", r"\d{8}", "%Y%m%d"),
    ("YYYY-MM", r"\d{4}-\d{1,2}", "%Y-%m"),
    ("YYYY", r"\d{4}", "%Y"),
)
def expected_formats() -> str:
    """The formats read without ``date_format``, for messages."""
    return ", ".join(label for label, _, _ in DATE_FORMATS)


def _empty(raw, text) -> np.ndarray:
    return raw.isna().to_numpy() | (text == "").to_numpy() | text.str.lower().isin(["nan", "nat", "none"]).to_numpy()


def _from_objects(raw, name):
    """datetime / Timestamp / date objects (timezone-aware ones at their own wall-clock time)."""
    import pandas as pd

    out = []
    for i, v in enumerate(raw):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            out.append(pd.NaT)
        elif isinstance(v, (pd.Timestamp, _dt.datetime)):
            out.append(pd.Timestamp(v).tz_localize(None) if getattr(v, "tzinfo", None) else pd.Timestamp(v))
        elif isinstance(v, (_dt.date, np.datetime64)):
            out.append(pd.Timestamp(v))
        else:
            raise DateError(f"{name}: row {i + 1} has {quoted(str(v))} ({type(v).__name__}), which is not a date; "
                            "expected one kind of value for the whole column")
    return pd.Series(pd.to_datetime(pd.Series(out, dtype=object)), dtype="datetime64[ns]")


def _from_numbers(raw, name):
    import pandas as pd

    v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(v)
    years = ok & (v == np.round(v)) & (v >= 1000) & (v <= 9999)
    if (ok & ~years).any():
        i = int(np.flatnonzero(ok & ~years)[0])
        raise DateError(f"{name}: row {i + 1} has the number {quoted(str(raw.iloc[i]))}, which is not a date; whole "
                        "numbers 1000-9999 are read as years, and an epoch needs its unit: convert it first, "
                        "e.g. pd.to_datetime(values, unit='s')")
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    out[years] = pd.to_datetime(v[years].astype(np.int64).astype(str), format="%Y")
    return out


def parse_dates(values, *, date_format: str | None = None, name: str = "dates", hint: str = "give the format"):
    """``values`` as a datetime64 Series (NaT only for empty cells), read by one format (see the module).

    Raises :class:`DateError` naming the first row no format reads (or a column with no date at all).
    ``name`` is how messages call the column, ``hint`` how the caller passes a format (the CLI: its flag).
    """
    import pandas as pd

    raw = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object)
                                                               if not hasattr(values, "dtype") else values)
    raw = raw.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        out = pd.to_datetime(raw)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out.astype("datetime64[ns]")
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise DateError(f"{name}: True/False values are not dates")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return _from_numbers(raw, name)
    kinds = {type(v) for v in raw if v is not None and not (isinstance(v, float) and np.isnan(v))}
    if kinds and all(issubclass(k, (_dt.date, np.datetime64)) for k in kinds):
        return _from_objects(raw, name)
    if kinds and all(issubclass(k, (int, np.integer)) and not issubclass(k, (bool, np.bool_)) for k in kinds):
        return _from_numbers(raw, name)
    text = raw.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).str.strip()
    empty = _empty(raw, text)
    if empty.all():
        raise DateError(f"{name} has no dates (every cell is empty); expected dates such as 2024-05-31 "
                        f"({expected_formats()})")
    candidates = [(f"date_format {date_format!r}", None, date_format)] if date_format else list(DATE_FORMATS)
    best = None
    for label, pattern, fmt in candidates:
        ok = ~empty
        if pattern is not None:
            ok = ok & text.str.fullmatch(pattern).fillna(False).to_numpy()
        parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        if ok.any():
            cells = text[ok]
            if fmt == "ISO8601":  # the clock time as written: a +09:00 review stays on its Korean date
                cells = cells.str.replace(r"(?:Z|[+-]\d{2}:?\d{2})$", "", regex=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = pd.to_datetime(cells, format=fmt, errors="coerce")
            if getattr(got.dt, "tz", None) is not None:
                got = got.dt.tz_localize(None)
            parsed[ok] = got
        bad = ~empty & parsed.isna().to_numpy()
        if not bad.any():
            return parsed
        if best is None or bad.sum() < best[0].sum():
            best = (bad, label)
    bad, _ = best
    first = int(bad.argmax())
    expected = (f"the format {date_format!r}" if date_format
                else f"one format for the whole column: {expected_formats()}")
    raise DateError(f"{name}: row {first + 1} has {quoted(str(raw.iloc[first]))}, which is not a date "
                    f"({int(bad.sum())} of {int((~empty).sum())} dated rows fail); expected {expected}; or {hint} "
                    "(strptime codes, e.g. '%d/%m/%Y')")
