"""``kosbert-viz map``: map a table's column of texts into an HTML report (and optionally save the map)."""

from __future__ import annotations

import sys
from pathlib import Path

from kosbert_viz.cli.clustering import (
    add_clustering_options,
    check_against_texts,
    check_clustering,
    map_kwargs,
)
from kosbert_viz.cli.common import (
    CLIError,
    check_count,
    check_csv_output,
    check_output,
    check_writable_under,
    column_error,
    encoder_or_offline,
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
    """The ``map`` sub-command and its options."""
    mp = sub.add_parser("map", help="map a CSV/TSV/TXT/Parquet/Excel column of texts into an HTML report")
    mp.add_argument("file", help=".csv, .tsv, .txt (also .gz), .parquet or .xlsx")
    mp.add_argument("--text-col", required=True)
    mp.add_argument("--label-col", default=None, help="known labels: shown on hover and scored (ARI/NMI)")
    mp.add_argument(
        "--time-col",
        default=None,
        help="a column of dates: adds 'Themes over time' (shares per period, emerging and fading "
        "themes) to the report. Read as YYYY-MM-DD, ISO 8601, YYYY/MM/DD, YYYY.MM.DD, "
        "YY.MM.DD (NSMC), YYYYMMDD or YYYY-MM (the first that reads every cell)",
    )
    mp.add_argument(
        "--date-format",
        default=None,
        help="strptime format of --time-col, e.g. '%%d/%%m/%%Y' (default: detected, see --time-col)",
    )
    mp.add_argument(
        "--tz",
        default=None,
        metavar="ZONE",
        help="time zone of --time-col, an IANA name such as Asia/Seoul: dates with a zone (+09:00, Z) "
        "are converted to it, dates without one are taken to be in it, periods follow its clock "
        "(default: as written; dates in several zones are converted to UTC)",
    )
    mp.add_argument(
        "--freq",
        default=None,
        type=str.upper,
        choices=FREQS,
        help="period of 'Themes over time': D, W, M, Q or Y (default: from the time span: D under "
        "3 weeks, W under 6 months, M under 4 years, else Q)",
    )
    mp.add_argument(
        "--class-col",
        default=None,
        help="a column of categories (product, channel, rating ...): adds 'Themes by class' "
        "(the themes most over-represented in each class, lift and q-value) to the report",
    )
    mp.add_argument("-o", "--output", default="kosbert_viz_report.html")
    mp.add_argument(
        "--csv",
        default=None,
        metavar="FILE",
        help="also write one row per text: your columns, theme and name at every level, stability, "
        "outlier flags, map position (UTF-8 with BOM: Excel opens it; an input column named like one of "
        "these gets _input added)",
    )
    mp.add_argument(
        "--save-map",
        default=None,
        metavar="FOLDER",
        help="also save the map (texts, vectors, themes, layout, --time-col/--class-col columns; "
        "checksummed) to this new folder, for kosbert-viz assign and kv.load_map",
    )
    mp.add_argument(
        "--model", default=None, help="model name or folder, or 'offline' (default: $KOSBERT_VIZ_MODEL or ko-sbert)"
    )
    add_clustering_options(mp, hdbscan_size=True)
    mp.add_argument(
        "--sep", default=None, help="field separator (default: detected among , ; tab |); '\\t' or 'tab' for tab"
    )
    mp.add_argument(
        "--encoding",
        default=None,
        help="text encoding (default: detected: UTF-8 with or without BOM, UTF-16, CP949/EUC-KR)",
    )
    mp.add_argument("--sheet", default=None, help="Excel sheet name, or its number from 0 (default: the first, 0)")
    mp.add_argument("--limit", type=int, default=None, help="only the first N rows")
    mp.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "fp16", "bf16", "int8"],
        help="auto: int8 (ONNX Runtime) on a CPU, fp16 on CUDA; fp32 gives exact vectors (slower on a CPU)",
    )
    mp.add_argument("--title", default=None)
    mp.add_argument("--cache-dir", default=None)
    mp.add_argument(
        "--offline-fallback", action="store_true", help="use the offline model (loudly) when ko-sbert cannot be loaded"
    )
    mp.set_defaults(func=run)


def run(args) -> int:
    check_count(args.limit, "--limit", 1, "a positive number of rows (or leave --limit out for all rows)")
    check_clustering(args)
    output = check_output(args.output)
    save_to = check_save_map(args.save_map)
    csv_to = check_csv_output(args.csv)
    df, _ = read_input(args)
    if args.text_col not in df.columns:
        raise column_error(args.text_col, "--text-col", df, args)
    if args.label_col and args.label_col not in df.columns:
        raise column_error(args.label_col, "--label-col", df, args)
    check_trend_columns(args, df)
    df, texts = nonempty_texts(df, args)
    check_against_texts(args, len(texts), f"{args.file} (column {args.text_col!r})")
    meta = trend_columns(args, df)
    from kosbert_viz.maps.fit import map_texts
    from kosbert_viz.report.html import write_report

    encoder, notice = encoder_or_offline(
        args.model, allow_offline=args.offline_fallback, command="map", precision=args.precision
    )
    hover = {args.label_col: df[args.label_col]} if args.label_col else None
    tm = map_texts(
        texts,
        encoder,
        cache=args.cache_dir or "auto",
        hover_data=hover,
        title=args.title or Path(args.file).name,
        **map_kwargs(args),
    )
    trends = []
    if meta:
        import pandas as pd

        tm.metadata = pd.DataFrame(meta)
        trends = trend_sections(tm, meta, args)
    if args.label_col:
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        truth = df[args.label_col].astype(str).to_numpy()
        tm.manifest["agreement_with_labels"] = {
            "column": args.label_col,
            "ARI": round(float(adjusted_rand_score(truth, tm.clusters.labels)), 4),
            "NMI": round(float(normalized_mutual_info_score(truth, tm.clusters.labels)), 4),
        }
    path = write_report(
        tm, output, title=args.title or f"kosbert_viz: {Path(args.file).name}", notice=notice, trends=trends
    )
    print(f"report written to {Path(path).resolve()}")
    if csv_to is not None:
        docs, renamed = with_input_columns(tm.documents(), df, args.text_col, parsed=meta)
        if renamed:
            print(
                "input columns renamed in the CSV, since the map's own columns have their names: "
                + ", ".join(f"{a} -> {b}" for a, b in renamed),
                file=sys.stderr,
            )
        print(f"one row per text written to {write_csv(docs, csv_to).resolve()}")
    if save_to is not None:
        print(
            f"map saved to {Path(tm.save(save_to)).resolve()} (next: kosbert-viz assign {save_to} new.csv "
            f"--text-col {args.text_col})"
        )
    return 0


def with_input_columns(docs, df, text_col, parsed=()):
    """``--csv``: the input's own columns first, row for row (the text column under its own name, holding
    the texts as mapped; a ``parsed`` column, --time-col or --class-col, as the map read it), then the map's
    columns (``tm.documents()`` less its ``text``). An input column whose name a map column has gets
    ``_input`` added. Returns (table, [(old name, new name), ...]).
    """
    import pandas as pd

    parsed = [str(c) for c in parsed if str(c) in docs.columns]
    ours = docs.drop(columns=["text", *parsed])
    inputs = [str(c) for c in df.columns]
    cols, renamed = {}, []
    for j, name in enumerate(inputs):  # by position: two columns may share a name
        if name in parsed:
            values = docs[name].to_numpy()
        elif df.columns[j] == text_col:
            values = docs["text"].to_numpy()
        else:
            values = df.iloc[:, j].to_numpy()
        if name in ours.columns or name in cols:
            new = name + "_input"
            while new in ours.columns or new in cols or new in inputs:
                new += "_"
            renamed.append((name, new))
            name = new
        cols[name] = values
    return pd.concat([pd.DataFrame(cols, index=ours.index), ours], axis=1), renamed


def check_save_map(folder) -> Path | None:
    """--save-map: a folder that does not exist yet, under a writable one (checked before any work)."""
    if folder is None:
        return None
    path = Path(str(folder)).expanduser()
    if path.exists():
        raise CLIError(
            f"--save-map {folder} exists; choose a new folder (a saved map is not overwritten from "
            "the command line: tm.save(path, overwrite=True) replaces one)"
        )
    check_writable_under(path, f"--save-map {folder}", "folder")
    return path
