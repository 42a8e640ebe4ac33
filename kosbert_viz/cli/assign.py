"""``kosbert-viz assign``: place a table's texts into a saved map and report the batch."""

from __future__ import annotations

from pathlib import Path

from kosbert_viz.cli.common import (
    CLIError,
    check_count,
    check_csv_output,
    check_output,
    column_error,
    nonempty_texts,
    read_input,
    write_csv,
)
from kosbert_viz.cli.trends import (
    FREQS,
    check_trend_columns,
    trend_columns,
    trend_sections,
)

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``assign`` sub-command and its options."""
    asg = sub.add_parser("assign", help="place a table's texts into a saved map (tm.save) and report the batch")
    asg.add_argument("map_dir", help="a folder written by TextMap.save")
    asg.add_argument("file", help=".csv, .tsv, .txt (also .gz), .parquet or .xlsx")
    asg.add_argument("--text-col", required=True)
    asg.add_argument("-o", "--output", default="kosbert_viz_assign.html")
    asg.add_argument("--csv", default=None, help="also write one row per text (theme, name, novelty, is_new, x, y)")
    asg.add_argument(
        "--time-col",
        default=None,
        help="a column of dates: adds 'Themes over time' of the batch (read as for map --time-col)",
    )
    asg.add_argument("--date-format", default=None, help="strptime format of --time-col (default: detected)")
    asg.add_argument("--tz", default=None, metavar="ZONE", help="time zone of --time-col (as for map --tz)")
    asg.add_argument(
        "--freq",
        default=None,
        type=str.upper,
        choices=FREQS,
        help="period of 'Themes over time' (default: from the batch's time span, as for map)",
    )
    asg.add_argument("--class-col", default=None, help="a column of categories: adds 'Themes by class' of the batch")
    asg.add_argument("--model", default=None, help="the map's model (default: the one recorded in the map)")
    asg.add_argument("--sep", default=None, help="field separator (default: detected)")
    asg.add_argument("--encoding", default=None, help="text encoding (default: detected)")
    asg.add_argument("--sheet", default=None, help="Excel sheet name, or its number from 0 (default: the first, 0)")
    asg.add_argument("--limit", type=int, default=None, help="only the first N rows")
    asg.add_argument("--title", default=None)
    asg.add_argument("--cache-dir", default=None)
    asg.set_defaults(func=run)


def run(args) -> int:
    """Place the texts of a table into a saved map and write a report of the batch (candidates first)."""
    check_count(args.limit, "--limit", 1, "a positive number of rows (or leave --limit out for all rows)")
    output = check_output(args.output)
    csv_to = check_csv_output(args.csv)
    from kosbert_viz.exceptions import MapFileError, ModelMismatchError
    from kosbert_viz.maps.textmap import load_map

    map_dir = Path(args.map_dir)
    if not (map_dir / "map.json").is_file():
        raise CLIError(
            f"{map_dir} is not a saved map (no map.json); save one with kosbert-viz map ... --save-map "
            f"{map_dir} or tm.save(path)"
        )
    df, _ = read_input(args)
    if args.text_col not in df.columns:
        raise column_error(args.text_col, "--text-col", df, args)
    check_trend_columns(args, df)
    df, texts = nonempty_texts(df, args)
    if not len(texts):
        raise CLIError(f"{args.file} has no non-empty text in column {args.text_col!r}")
    meta = trend_columns(args, df)
    from kosbert_viz.maps.placement import batch_map
    from kosbert_viz.report.assignment import write_assignment_report

    try:
        tm = load_map(map_dir, model=args.model)
        a = tm.assign(list(texts), df.reset_index(drop=True), cache=args.cache_dir or "auto")
    except (MapFileError, ModelMismatchError) as exc:
        raise CLIError(str(exc)) from None
    trends = trend_sections(batch_map(tm, a, cache=args.cache_dir or "auto"), meta, args) if meta else []
    path = write_assignment_report(
        tm, a, output, title=args.title or f"kosbert_viz: {Path(args.file).name}", trends=trends
    )
    if args.csv:
        print(f"assignments written to {write_csv(a.table(), csv_to).resolve()}")
    n_new = int(a.is_new.sum())
    print(
        f"{len(a):,} {'text' if len(a) == 1 else 'texts'} placed; "
        f"{n_new:,} new-theme {'candidate' if n_new == 1 else 'candidates'}"
    )
    print(f"report written to {Path(path).resolve()}")
    return 0
