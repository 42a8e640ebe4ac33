"""The trend options of ``map`` and ``assign`` (--time-col, --date-format, --tz, --freq, --class-col):
their checks, the columns they read, and the report sections they add ('Themes over time',
'Themes by class')."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from kosbert_viz.cli.common import CLIError, column_error
from kosbert_viz.io.dates import DateError, check_tz, parse_dates

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FREQS", "parse_date_column", "auto_freq", "check_trend_columns", "trend_columns", "trend_sections"]

FREQS = ("D", "W", "M", "Q", "Y")


def parse_date_column(values, col: str, date_format: str | None = None, tz: str | None = None) -> pd.Series:
    """--time-col's dates as datetime64 (NaT for empty cells) by :func:`kosbert_viz.io.dates.parse_dates`,
    or a CLIError naming the first bad row (rows counted from 1 = the first row under the header)."""
    try:
        return parse_dates(
            values,
            date_format=date_format,
            tz=tz,
            name=f"--time-col {col!r}",
            hint="pass --date-format",
            tz_hint="pass --tz ZONE",
        )
    except DateError as exc:
        raise CLIError(str(exc)) from None


def auto_freq(dates) -> str:
    """--freq when not given, from the time span: D under 3 weeks, W under ~6 months (183 days),
    M under 4 years, Q beyond."""
    span = (dates.max() - dates.min()).days
    return "D" if span < 21 else "W" if span < 183 else "M" if span < 4 * 365 else "Q"


def check_trend_columns(args, df) -> None:
    """--time-col and --class-col name columns of the table; --freq, --date-format and --tz need --time-col;
    --tz is a zone name."""
    for col, flag in ((args.time_col, "--time-col"), (args.class_col, "--class-col")):
        if col and col not in df.columns:
            raise column_error(col, flag, df, args)
    for flag, value in (("--freq", args.freq), ("--date-format", args.date_format), ("--tz", args.tz)):
        if value and not args.time_col:
            raise CLIError(f"{flag} needs --time-col (the column of dates)")
    try:
        check_tz(args.tz, "--tz")
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def trend_columns(args, df) -> dict:
    """{column: values} for --time-col (parsed dates) and --class-col (str, missing kept), one per row."""
    meta = {}
    if args.time_col:
        dates = parse_date_column(df[args.time_col], args.time_col, args.date_format, args.tz)
        if dates.isna().any():
            print(
                f"{int(dates.isna().sum())} rows without a date in {args.time_col!r} are left out of "
                "'Themes over time'",
                file=sys.stderr,
            )
        meta[args.time_col] = dates
    if args.class_col:
        classes = df[args.class_col].reset_index(drop=True)
        meta[args.class_col] = classes.where(classes.isna(), classes.astype(str))
    return meta


def trend_sections(tm, meta: dict, args) -> list:
    """The report's trend sections of ``tm`` ('Themes over time', 'Themes by class'), each announced."""
    from kosbert_viz.maps.trends import topics_over_time, topics_per_class

    sections = []
    if args.time_col:
        dated = meta[args.time_col].dropna()
        freq = args.freq or auto_freq(dated)
        tot = topics_over_time(tm, meta[args.time_col], freq=freq)
        sections.append(tot)
        print(
            f"themes over time: {tot.info['n_periods']} periods of {freq}"
            f"{'' if args.freq else ' (from the time span; --freq sets it)'}; "
            f"{int((tot.ranking.trend != 'stable').sum())} themes emerging or fading"
        )
    if args.class_col:
        pc = topics_per_class(tm, meta[args.class_col])
        sections.append(pc)
        print(
            f"themes by class: {pc.table['class'].nunique()} classes of {args.class_col!r}; "
            f"{len(pc.distinctive)} distinctive (class, theme) pairs"
        )
    return sections
