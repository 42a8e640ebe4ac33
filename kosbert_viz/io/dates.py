"""One date reader for the command line and the library: every cell read by one format, or an error.

pandas infers a date format from the first row and turns every row that does not fit it into NaT,
so a column mixing ``2024-01-01`` and ``2024/01/02`` silently loses half its rows, and NSMC's
``24.01.05`` becomes 2005-01-24. Here a column of strings is read with **one** format for the whole
column: ``date_format`` (strptime codes) when given, else the first of :data:`DATE_FORMATS` that reads
every non-empty cell. Otherwise :class:`DateError` names the first row that no format reads. Empty
cells (None, NaN, "", "nan") are the only NaT; the caller counts and reports them.

- Two-digit years (``YY.MM.DD``) follow Python's ``%y``: 00-68 are 20xx, 69-99 are 19xx.
- Whole numbers 1000-9999 are years; other numbers are refused (an epoch needs its unit: convert with
  ``pd.to_datetime(x, unit="s")`` first).
- datetime64 columns, ``datetime``/``Timestamp``/``date`` objects are taken as they are.

**Time zones: one zone for the whole column.** A value has a zone when it is an ISO 8601 string ending
in ``Z``/``+09:00``/``+0900`` (or read by a ``date_format`` with ``%z``), a timezone-aware
``datetime``/``Timestamp``, or a cell of a timezone-aware datetime64 column. With ``tz=None`` (the default):

- no value has a zone: the result is naive, the clock time as written;
- every value has one and they share it (e.g. all ``+09:00``): the result is in that zone, so a review
  written at 23:30 in Seoul stays on its Korean date;
- they have several (``+09:00`` and ``Z``): each is converted to **UTC**, the same instant;
- some have a zone and some do not: :class:`DateError` names the first row that differs from the first
  dated one (which zone the others are in cannot be guessed).

With ``tz="Asia/Seoul"`` (an IANA zone name) values with a zone are converted to it and values without one
are taken to be in it (a clock time that does not exist or is ambiguous there, at a daylight-saving change,
is a :class:`DateError` naming its row). The result is then in ``tz``. Periods (days, months) are counted
by the clock of the result's zone.

>>> parse_dates(["2024-01-05", "", "2024-02-01"]).isna().tolist()         # an empty cell is the only NaT
[False, True, False]
>>> parse_dates(["24.01.05", "24.12.31"]).dt.year.tolist()     # NSMC's YY.MM.DD
[2024, 2024]
>>> parse_dates(["05/01/2024", "31/12/2024"], date_format="%d/%m/%Y").dt.month.tolist()
[1, 12]
>>> parse_dates(["2024-01-01T09:00+09:00", "2024-01-01T00:00Z"]).tolist()   # several zones: UTC
[Timestamp('2024-01-01 00:00:00+0000', tz='UTC'), Timestamp('2024-01-01 00:00:00+0000', tz='UTC')]
>>> parse_dates(["2024-01-01T00:00Z", "2024-01-01 09:00"], tz="Asia/Seoul").dt.strftime("%d %H:%M %Z").tolist()
['01 09:00 KST', '01 09:00 KST']
"""

from __future__ import annotations

import datetime as _dt
import functools
import warnings
import zoneinfo
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.validation import quoted
from kosbert_viz.exceptions import DateError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["parse_dates", "DATE_FORMATS", "expected_formats", "check_tz", "DateError"]

# (label, pattern every cell must match, strptime format), tried in this order
DATE_FORMATS = (
    ("YYYY-MM-DD", r"\d{4}-\d{1,2}-\d{1,2}", "%Y-%m-%d"),
    (
        "YYYY-MM-DD HH:MM[:SS] (ISO 8601, with or without a zone such as +09:00 or Z)",
        r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?",
        "ISO8601",
    ),
    ("YYYY/MM/DD", r"\d{4}/\d{1,2}/\d{1,2}", "%Y/%m/%d"),
    ("YYYY.MM.DD", r"\d{4}\.\d{1,2}\.\d{1,2}", "%Y.%m.%d"),
    ("YY.MM.DD (NSMC style)", r"\d{2}\.\d{1,2}\.\d{1,2}", "%y.%m.%d"),
    ("YYYYMMDD", r"\d{8}", "%Y%m%d"),
    ("YYYY-MM", r"\d{4}-\d{1,2}", "%Y-%m"),
    ("YYYY", r"\d{4}", "%Y"),
)
_ZONE_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"


def expected_formats() -> str:
    """The formats read without ``date_format``, for messages."""
    return ", ".join(label for label, _, _ in DATE_FORMATS)


def check_tz(tz, what: str = "tz") -> _dt.tzinfo | None:
    """``tz`` as a tzinfo (None stays None), or a ValueError saying what was expected.

    >>> check_tz("Asia/Seoul")
    zoneinfo.ZoneInfo(key='Asia/Seoul')
    """
    if tz is None or isinstance(tz, _dt.tzinfo):
        return tz
    try:
        if isinstance(tz, str) and tz:
            return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    raise ValueError(f"{what}: got {quoted(tz)}, expected an IANA zone name such as 'Asia/Seoul' or 'UTC'")


def _empty(raw, text) -> np.ndarray:
    return raw.isna().to_numpy() | (text == "").to_numpy() | text.str.lower().isin(["nan", "nat", "none"]).to_numpy()


def _naive(values):
    """(values, no zones): the form every reader returns, see :func:`_in_one_zone`."""
    return values, np.zeros(len(values), dtype=bool), []


def _from_datetime64(raw):
    """A datetime64 column; a timezone-aware one as UTC clock times, with its zone."""
    import pandas as pd

    out = pd.to_datetime(raw)
    zone = getattr(out.dt, "tz", None)
    if zone is None:
        return _naive(out.astype("datetime64[ns]"))
    utc = out.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    return utc, utc.notna().to_numpy(), [zone]


def _from_objects(raw, name):
    """datetime / Timestamp / date objects (timezone-aware ones as UTC clock times, with their zones)."""
    import pandas as pd

    out, aware, zones = [], np.zeros(len(raw), dtype=bool), []
    for i, v in enumerate(raw):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            out.append(pd.NaT)
        elif isinstance(v, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
            t = pd.Timestamp(v)
            if t.tz is not None:
                aware[i] = True
                zones.append(t.tz)
                t = t.tz_convert("UTC").tz_localize(None)
            out.append(t)
        else:
            raise DateError(
                f"{name}: row {i + 1} has {quoted(str(v))} ({type(v).__name__}), which is not a date; "
                "expected one kind of value for the whole column"
            )
    return pd.Series(pd.to_datetime(pd.Series(out, dtype=object)), dtype="datetime64[ns]"), aware, zones


def _from_numbers(raw, name):
    import pandas as pd

    v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(v)
    years = ok & (v == np.round(v)) & (v >= 1000) & (v <= 9999)
    if (ok & ~years).any():
        i = int(np.flatnonzero(ok & ~years)[0])
        raise DateError(
            f"{name}: row {i + 1} has the number {quoted(str(raw.iloc[i]))}, which is not a date; whole "
            "numbers 1000-9999 are read as years, and an epoch needs its unit: convert it first, "
            "e.g. pd.to_datetime(values, unit='s')"
        )
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    out[years] = pd.to_datetime(v[years].astype(np.int64).astype(str), format="%Y")
    return _naive(out)


def _read_iso(cells):
    """ISO 8601 cells: (clock times, in UTC for cells with a zone; zone offsets in minutes, NaN without one).
    An impossible offset (+25:00) is NaT: the cell is not a date."""
    import pandas as pd

    z = cells.str.extract(r"(?:(Z)|([+-])(\d{2}):?(\d{2}))$")
    hours, mins = pd.to_numeric(z[2]).to_numpy(), pd.to_numeric(z[3]).to_numpy()
    offset = np.where(z[0].notna(), 0.0, np.where(z[1] == "-", -1, 1) * (hours * 60 + mins))
    got = pd.to_datetime(cells.str.replace(_ZONE_SUFFIX, "", regex=True), format="ISO8601", errors="coerce")
    got[(hours >= 24) | (mins >= 60)] = pd.NaT
    return got - pd.to_timedelta(np.nan_to_num(offset), unit="m"), offset


def _read_cells(cells, fmt):
    """``cells`` read by ``fmt``: (clock times, in UTC for cells with a zone; aware mask; zones)."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "ISO8601":
            got, offset = _read_iso(cells)
            aware = ~np.isnan(offset) & got.notna().to_numpy()
            return got, aware, [_dt.timezone(_dt.timedelta(minutes=int(m))) for m in np.unique(offset[aware])]
        try:
            got = pd.to_datetime(cells, format=fmt, errors="coerce")
        except ValueError:  # a %z format with several zones: pandas wants them in one, UTC
            got = pd.to_datetime(cells, format=fmt, errors="coerce", utc=True)
    if getattr(got.dt, "tz", None) is None:
        return _naive(got)
    return got.dt.tz_convert("UTC").dt.tz_localize(None), got.notna().to_numpy(), [got.dt.tz]


def _from_strings(raw, name, date_format, hint):
    """Strings read by one format for the whole column, or a DateError naming the first row none reads."""
    import pandas as pd

    text = raw.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).str.strip()
    empty = _empty(raw, text)
    if empty.all():
        raise DateError(
            f"{name} has no dates (every cell is empty); expected dates such as 2024-05-31 ({expected_formats()})"
        )
    candidates = [(f"date_format {date_format!r}", None, date_format)] if date_format else list(DATE_FORMATS)
    best = None
    for label, pattern, fmt in candidates:
        ok = ~empty
        if pattern is not None:
            ok = ok & text.str.fullmatch(pattern).fillna(False).to_numpy()
        parsed, aware, zones = _naive(pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]"))
        if ok.any():
            got, aware[ok], zones = _read_cells(text[ok], fmt)
            parsed[ok] = got
        bad = ~empty & parsed.isna().to_numpy()
        if not bad.any():
            return parsed, aware, zones
        if best is None or bad.sum() < best[0].sum():
            best = (bad, label)
    bad, _ = best
    first = int(bad.argmax())
    expected = (
        f"the format {date_format!r}" if date_format else f"one format for the whole column: {expected_formats()}"
    )
    fix = "; fix that row or the format" if date_format else f"; or {hint} (strptime codes, e.g. '%d/%m/%Y')"
    raise DateError(
        f"{name}: row {first + 1} has {quoted(str(raw.iloc[first]))}, which is not a date "
        f"({int(bad.sum())} of {int((~empty).sum())} dated rows fail); expected {expected}{fix}"
    )


def _from_values(raw, name, date_format, hint):
    """An object column: date objects, whole numbers (years) or strings."""
    kinds = {type(v) for v in raw if v is not None and not (isinstance(v, float) and np.isnan(v))}
    if kinds and all(issubclass(k, (_dt.date, np.datetime64)) for k in kinds):
        return _from_objects(raw, name)
    if kinds and all(issubclass(k, (int, np.integer)) and not issubclass(k, (bool, np.bool_)) for k in kinds):
        return _from_numbers(raw, name)
    return _from_strings(raw, name, date_format, hint)


def _mixed_zones_error(raw, aware, dated, name, tz_hint):
    """Some dated rows have a zone and some not: name the first that differs from the first dated row."""
    first = int(dated.argmax())
    row = int(np.flatnonzero(dated & (aware != aware[first]))[0])
    has = "has a time zone" if aware[row] else "has no time zone"
    return DateError(
        f"{name}: row {row + 1} has {quoted(str(raw.iloc[row]))}, which {has}, while row "
        f"{first + 1} ({quoted(str(raw.iloc[first]))}) {'has one' if aware[first] else 'has none'}; "
        f"{tz_hint} (an IANA name such as 'Asia/Seoul') to read the rows without a zone in ZONE and "
        "convert the others to it"
    )


def _in_one_zone(raw, values, aware, zones, tz, name, tz_hint):
    """The readers' clock times (UTC where ``aware``) in one zone, by the rule in the module docstring."""
    import pandas as pd

    dated = values.notna().to_numpy()
    if tz is None and not aware.any():
        return values
    if tz is None and (dated & ~aware).any():
        raise _mixed_zones_error(raw, aware, dated, name, tz_hint)
    if tz is None:
        tz = zones[0] if len({str(z) for z in zones}) == 1 else _dt.timezone.utc
    utc = values.copy()
    local = dated & ~aware
    if local.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            at = values[local].dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        if at.isna().any():
            row = int(at.index[at.isna().to_numpy()][0])
            raise DateError(
                f"{name}: row {row + 1} has {quoted(str(raw.iloc[row]))}, a clock time that does not "
                f"exist or is ambiguous in {tz} (a daylight-saving change); write it with its offset"
            )
        utc[local] = at.dt.tz_convert("UTC").dt.tz_localize(None)
    return utc.dt.tz_localize("UTC").dt.tz_convert(tz).astype(pd.DatetimeTZDtype("ns", tz))


def parse_dates(
    values,
    *,
    date_format: str | None = None,
    tz=None,
    name: str = "dates",
    hint: str = "give the format",
    tz_hint: str = "pass tz=ZONE",
) -> pd.Series:
    """``values`` as a datetime64 Series (NaT only for empty cells), read by one format, in one zone (see the
    module: naive when no value has a zone and ``tz`` is None, else in one zone).

    Raises :class:`DateError` naming the first row no format reads (or a column with no date at all), or the
    first row that has a zone when others have none (without ``tz``); a ValueError for a ``tz`` that is not an
    IANA zone name. ``name`` is how messages call the column, ``hint`` and ``tz_hint`` how the caller passes a
    format and a zone (the CLI: its flags).

    >>> parse_dates(["2024-01-01 23:30"], tz="Asia/Seoul").iloc[0]
    Timestamp('2024-01-01 23:30:00+0900', tz='Asia/Seoul')
    """
    import pandas as pd

    tz = check_tz(tz)
    raw = (
        values
        if isinstance(values, pd.Series)
        else pd.Series(np.asarray(values, dtype=object) if not hasattr(values, "dtype") else values)
    )
    raw = raw.reset_index(drop=True)
    read = functools.partial(_read, name=name, date_format=date_format, hint=hint, tz=tz, tz_hint=tz_hint)
    try:
        return read(raw)
    except pd.errors.OutOfBoundsDatetime:
        raise _out_of_bounds(raw, name, read) from None


def _read(raw, *, name, date_format, hint, tz, tz_hint):
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        read = _from_datetime64(raw)
    elif pd.api.types.is_bool_dtype(raw.dtype):
        raise DateError(f"{name}: True/False values are not dates")
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        read = _from_numbers(raw, name)
    else:
        read = _from_values(raw, name, date_format, hint)
    return _in_one_zone(raw, *read, tz, name, tz_hint)


def _out_of_bounds(raw, name, read) -> DateError:
    """The error for a date pandas cannot hold (nanosecond timestamps: 1677-09-21 to 2262-04-11), naming the
    first row that overflows: the shortest head of the column whose reading overflows, found by bisection
    (about log2(n) readings, only on this error path)."""
    import pandas as pd

    def overflows(m: int) -> bool:
        try:
            read(raw.iloc[:m])
        except pd.errors.OutOfBoundsDatetime:
            return True
        except (ValueError, TypeError):  # another reading of a shorter head fails another way
            return False
        return False

    lo, hi = 1, len(raw)  # overflows(hi) holds: the whole column overflowed
    if not overflows(hi):
        return DateError(f"{name}: a date is outside the dates pandas can hold (1677-09-21 to 2262-04-11)")
    while lo < hi:
        mid = (lo + hi) // 2
        if overflows(mid):
            hi = mid
        else:
            lo = mid + 1
    return DateError(
        f"{name}: row {lo} has {quoted(str(raw.iloc[lo - 1]).strip())}, outside the dates pandas can hold "
        "(1677-09-21 to 2262-04-11); is this column a date?"
    )
