"""The ``kosbert-viz`` command.

    kosbert-viz demo [-o report.html]
    kosbert-viz map reviews.csv --text-col review [--label-col topic] -o report.html
    kosbert-viz map reviews.csv --text-col review --time-col date [--freq M] --class-col product
    kosbert-viz map may.csv --text-col review --save-map maps/may      (then: kosbert-viz assign maps/may june.csv)
    kosbert-viz assign MAP_DIR new.csv --text-col review [-o batch.html] [--csv out.csv]
                       [--time-col date] [--class-col product]
    kosbert-viz cache info | clear [--model NAME] | prune --max-bytes 2GB
    kosbert-viz evaluate korsts path/to/KorSTS [--model NAME]
    kosbert-viz finetune pairs.csv -o ./my-model [--model NAME] [--eval dev.csv] [--epochs N]

Every mistake a user can make (a bad file, a bad option, an output that cannot be written, no
model) ends in one ``error: ...`` line that says what to change, exit status 2, and is found
before any model is loaded or any text encoded. ``--debug`` shows the traceback of an unexpected error.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from kosbert_viz._util.validation import quoted
from kosbert_viz.io.dates import DateError, check_tz, parse_dates
from kosbert_viz.themes.stability import UNSTABLE_BELOW

_BANNER = "!" * 78
# The clustering methods of `map` and `demo` and the option each one reads (--k or --min-cluster-size).
METHODS = ("hierarchy", "kmeans", "hdbscan")
DEFAULT_METHOD = "hierarchy"
MIN_TEXTS = 4  # map_texts lays the 2-D map out from each text's neighbours


class CLIError(Exception):
    """A user mistake: printed as one ``error: ...`` line, exit status 2."""


def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size such as 500MB or 2GB, got {text!r}")
    unit = (m.group(2) or "b").rstrip("b").rstrip("i")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(unit or " "))


_MODEL_HINT = {
    "map": ("  On the command line: --model ./ko-sbert-multitask (a downloaded folder), --model offline "
            "(the offline encoder, lower Korean quality), or --offline-fallback (use the offline encoder only "
            "when ko-sbert cannot be loaded); or set KOSBERT_VIZ_MODEL."),
    "demo": ("  On the command line: drop --no-fallback (demo then falls back to the offline encoder), or pass "
             "--model ./ko-sbert-multitask (a downloaded folder) or --model offline; or set KOSBERT_VIZ_MODEL."),
    "evaluate": ("  On the command line: --model ./ko-sbert-multitask (a downloaded folder) or --model offline; "
                 "or set KOSBERT_VIZ_MODEL."),
}


def _encoder_or_offline(model, allow_offline: bool, command: str = "map"):
    """Load the ko-sbert model; with allow_offline, fall back loudly to the offline encoder."""
    from kosbert_viz.embed.models import ModelLoadError, OfflineEncoder, load_encoder

    try:
        return load_encoder(model), None
    except ModelLoadError as exc:
        if not allow_offline:
            raise ModelLoadError(f"{exc}\n{_MODEL_HINT[command]}") from None
        notice = ("The ko-sbert model could not be loaded, so this report was made with the OFFLINE "
                  "fallback model (multilingual Universal Sentence Encoder v3, fast-universal-sentence-"
                  "encoder). Its Korean quality is lower (KorSTS ~71 vs 84.7 Spearman). "
                  "Provide the model (see README) for real results.")
        print(f"{_BANNER}\n{notice}\nReason:\n{exc}\n{_BANNER}", file=sys.stderr, flush=True)
        try:
            return OfflineEncoder(), notice
        except ImportError as imp:
            raise CLIError(f"{exc}\n\nThe offline fallback is not installed either: {imp}") from None


def _check_output(output) -> Path:
    """The report path, checked writable before any work: not a folder, its folder writable."""
    text = str(output)
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(("/", os.sep)):
        raise CLIError(f"-o {text} is a folder, expected a file name: use -o {path / 'report.html'}")
    if path.suffix.lower() not in (".html", ".htm"):
        print(f"note: -o {text} does not end in .html; browsers may not open it as a report", file=sys.stderr)
    if path.exists() and not os.access(path, os.W_OK):
        raise CLIError(f"-o {text} exists and is read-only; choose another -o path or make it writable")
    _check_writable_under(path, f"-o {text}", "-o path")
    return path


def _check_writable_under(path: Path, what: str, other: str) -> None:
    """The nearest existing folder above ``path`` (the writers create missing ones) must take a new file."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(f"{what} cannot be written: {parent} is a file, not a folder; choose another {other}")
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".kosbert_viz-write-check-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CLIError(f"{what} cannot be written: the folder {parent} is not writable ({reason}); "
                       f"choose another {other}") from None


def _check_save_map(folder) -> Path | None:
    """--save-map: a folder that does not exist yet, under a writable one (checked before any work)."""
    if folder is None:
        return None
    path = Path(str(folder)).expanduser()
    if path.exists():
        raise CLIError(f"--save-map {folder} exists; choose a new folder (a saved map is not overwritten from "
                       "the command line: tm.save(path, overwrite=True) replaces one)")
    _check_writable_under(path, f"--save-map {folder}", "folder")
    return path


def _check_count(value, flag: str, minimum: int, what: str) -> None:
    if value is not None and value < minimum:
        raise CLIError(f"{flag} {value}: expected {what}")


def _check_clustering(args) -> None:
    """Options checked before the file is read (their bounds that need the text count come later)."""
    _check_count(args.k, "--k", 2, "at least 2 clusters (or leave --k out for an automatic number)")
    _check_count(getattr(args, "level", None), "--level", 0, "a level of the theme tree: 0 (the coarsest) or more")
    if getattr(args, "level", None) is not None and args.method != "hierarchy":
        raise CLIError(f"--level {args.level} needs --method hierarchy (the default); {args.method} gives one level")
    _check_count(getattr(args, "min_cluster_size", None), "--min-cluster-size", 2,
                 "at least 2 texts per cluster (HDBSCAN's smallest group; default max(5, n/100))")


def _check_against_texts(args, n: int, where: str) -> None:
    if n < MIN_TEXTS:
        raise CLIError(f"{where} has {n} text{'s' if n != 1 else ''} to map, expected at least {MIN_TEXTS} "
                       "(a map lays each text out from its neighbours); add rows, or use kv.encode() for a few texts")
    if args.k is not None and args.k > n:
        raise CLIError(f"--k {args.k} is more than the {n} texts of {where}; expected --k between 2 and {n}, "
                       "or leave --k out for an automatic number")


def _map_kwargs(args) -> dict:
    """map_texts' clustering options from the command line (one place for `map` and `demo`)."""
    kw = {"method": args.method, "n_clusters": args.k}
    if getattr(args, "level", None) is not None:
        if args.method != "hierarchy":
            raise CLIError(f"--level {args.level} needs --method hierarchy (the default); {args.method} gives one level")
        kw["level"] = args.level
    if getattr(args, "min_cluster_size", None) is not None:
        kw["min_cluster_size"] = args.min_cluster_size
    return kw


def _cmd_demo(args) -> int:
    _check_clustering(args)
    output = _check_output(args.output)
    from kosbert_viz.datasets import load_sample
    from kosbert_viz.maps.fit import map_texts
    from kosbert_viz.report.html import write_report

    df = load_sample()
    _check_against_texts(args, len(df), "the bundled sample")
    encoder, notice = _encoder_or_offline(args.model, allow_offline=not args.no_fallback, command="demo")
    tm = map_texts(df["text"], encoder, cache=args.cache_dir or "auto", hover_data={"topic": df["topic"]},
                   title="kosbert_viz demo: bundled Korean sample corpus", **_map_kwargs(args))
    path = write_report(tm, output, title="kosbert_viz demo", notice=notice)
    print(f"model: {tm.manifest['model']['name']}  texts: {len(tm.texts)}  {_themes_line(tm)}")
    for row in tm.table.itertuples(index=False):
        stab = getattr(row, "stability", None)
        mark = "" if stab is None or stab != stab else f"  stability {stab:.2f}" + (
            " (unstable)" if stab < UNSTABLE_BELOW else "")
        print(f"  [{row.cluster:>2}] {row.size:>4}  {row.name}{mark}")
    print(f"report written to {Path(path).resolve()}")
    return 0


def _themes_line(tm) -> str:
    res = tm.clusters
    if res.levels:
        counts = [len(set(lv.tolist())) for lv in res.levels]
        return (f"themes: {counts[tm.level]} at level {tm.level} (themes per level, coarsest first: "
                f"{', '.join(map(str, counts))}; --level picks another)")
    return f"clusters: {res.n_clusters} ({res.method})"


def _read_input(args):
    """The input table (kosbert_viz.io.tables.read_table), with one stderr line on what was detected."""
    from kosbert_viz.io.tables import TableError, read_table, sep_name

    try:
        df, info = read_table(args.file, sep=args.sep, encoding=args.encoding, sheet=args.sheet)
    except (TableError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    name = Path(args.file).name
    if info.get("sheet") is not None:
        print(f"read {name}: sheet {info['sheet']!r}, {info['rows']:,} rows", file=sys.stderr)
    elif info.get("encoding") is not None:
        said = [f"encoding {info['encoding']}" + (" (detected)" if info.get("encoding_detected") else "")]
        said.append(f"separator {sep_name(info['sep'])}" + (" (detected)" if info.get("sep_detected") else ""))
        print(f"read {name}: {info['rows']:,} rows, " + ", ".join(said), file=sys.stderr)
    return df, info


def _nonempty_texts(df, args):
    """The rows with a non-empty text (one stderr line on how many were skipped), the first --limit of them."""
    texts = df[args.text_col].astype(str)
    keep = texts.str.strip() != ""
    if (~keep).any():
        print(f"skipping {int((~keep).sum())} empty rows", file=sys.stderr)
    df, texts = df[keep], texts[keep]
    if args.limit:
        df, texts = df.head(args.limit), texts.head(args.limit)
    return df, texts


def _column_error(col: str, flag: str, df, args) -> CLIError:
    import difflib

    cols = [str(c) for c in df.columns]
    near = difflib.get_close_matches(col, [c for c in cols if len(c) <= 1000], n=1)
    hint = f"; did you mean {flag} {near[0]!r}?" if near else ""
    seps = [c for c in ",;\t|" if len(cols) == 1 and c in cols[0]]
    if seps:
        hint = f"; the header {quoted(cols[0])} was not split: pass the separator, e.g. --sep {seps[0]!r}"
    return CLIError(f"column {quoted(col)} not in {args.file}; columns are {quoted(cols)}{hint}")

FREQS = ("D", "W", "M", "Q", "Y")


def _parse_dates(values, col: str, date_format: str | None = None, tz: str | None = None):
    """--time-col's dates as datetime64 (NaT for empty cells) by :func:`kosbert_viz.io.dates.parse_dates`,
    or a CLIError naming the first bad row (rows counted from 1 = the first row under the header)."""
    try:
        return parse_dates(values, date_format=date_format, tz=tz, name=f"--time-col {col!r}",
                           hint="pass --date-format", tz_hint="pass --tz ZONE")
    except DateError as exc:
        raise CLIError(str(exc)) from None


def _auto_freq(dates) -> str:
    """--freq when not given, from the time span: D under 3 weeks, W under ~6 months (183 days),
    M under 4 years, Q beyond."""
    span = (dates.max() - dates.min()).days
    return "D" if span < 21 else "W" if span < 183 else "M" if span < 4 * 365 else "Q"



def _check_trend_columns(args, df) -> None:
    """--time-col and --class-col name columns of the table; --freq, --date-format and --tz need --time-col;
    --tz is a zone name."""
    for col, flag in ((args.time_col, "--time-col"), (args.class_col, "--class-col")):
        if col and col not in df.columns:
            raise _column_error(col, flag, df, args)
    for flag, value in (("--freq", args.freq), ("--date-format", args.date_format), ("--tz", args.tz)):
        if value and not args.time_col:
            raise CLIError(f"{flag} needs --time-col (the column of dates)")
    try:
        check_tz(args.tz, "--tz")
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _trend_columns(args, df) -> dict:
    """{column: values} for --time-col (parsed dates) and --class-col (str, missing kept), one per row."""
    meta = {}
    if args.time_col:
        dates = _parse_dates(df[args.time_col], args.time_col, args.date_format, args.tz)
        if dates.isna().any():
            print(f"{int(dates.isna().sum())} rows without a date in {args.time_col!r} are left out of "
                  "'Themes over time'", file=sys.stderr)
        meta[args.time_col] = dates
    if args.class_col:
        classes = df[args.class_col].reset_index(drop=True)
        meta[args.class_col] = classes.where(classes.isna(), classes.astype(str))
    return meta


def _trends(tm, meta: dict, args) -> list:
    """The report's trend sections of ``tm`` ('Themes over time', 'Themes by class'), each announced."""
    from kosbert_viz.maps.trends import topics_over_time, topics_per_class

    trends = []
    if args.time_col:
        dated = meta[args.time_col].dropna()
        freq = args.freq or _auto_freq(dated)
        tot = topics_over_time(tm, meta[args.time_col], freq=freq)
        trends.append(tot)
        print(f"themes over time: {tot.info['n_periods']} periods of {freq}"
              f"{'' if args.freq else ' (from the time span; --freq sets it)'}; "
              f"{int((tot.ranking.trend != 'stable').sum())} themes emerging or fading")
    if args.class_col:
        pc = topics_per_class(tm, meta[args.class_col])
        trends.append(pc)
        print(f"themes by class: {pc.table['class'].nunique()} classes of {args.class_col!r}; "
              f"{len(pc.distinctive)} distinctive (class, theme) pairs")
    return trends


def _cmd_map(args) -> int:
    _check_count(args.limit, "--limit", 1, "a positive number of rows (or leave --limit out for all rows)")
    _check_clustering(args)
    output = _check_output(args.output)
    save_to = _check_save_map(args.save_map)
    df, _ = _read_input(args)
    if args.text_col not in df.columns:
        raise _column_error(args.text_col, "--text-col", df, args)
    if args.label_col and args.label_col not in df.columns:
        raise _column_error(args.label_col, "--label-col", df, args)
    _check_trend_columns(args, df)
    df, texts = _nonempty_texts(df, args)
    _check_against_texts(args, len(texts), f"{args.file} (column {args.text_col!r})")
    meta = _trend_columns(args, df)
    from kosbert_viz.maps.fit import map_texts
    from kosbert_viz.report.html import write_report

    encoder, notice = _encoder_or_offline(args.model, allow_offline=args.offline_fallback, command="map")
    hover = {args.label_col: df[args.label_col]} if args.label_col else None
    tm = map_texts(texts, encoder, cache=args.cache_dir or "auto", hover_data=hover,
                   title=args.title or Path(args.file).name, **_map_kwargs(args))
    trends = []
    if meta:
        import pandas as pd

        tm.metadata = pd.DataFrame(meta)
        trends = _trends(tm, meta, args)
    if args.label_col:
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        truth = df[args.label_col].astype(str).to_numpy()
        tm.manifest["agreement_with_labels"] = {
            "column": args.label_col,
            "ARI": round(float(adjusted_rand_score(truth, tm.clusters.labels)), 4),
            "NMI": round(float(normalized_mutual_info_score(truth, tm.clusters.labels)), 4),
        }
    path = write_report(tm, output, title=args.title or f"kosbert_viz: {Path(args.file).name}", notice=notice,
                        trends=trends)
    print(f"report written to {Path(path).resolve()}")
    if save_to is not None:
        print(f"map saved to {Path(tm.save(save_to)).resolve()} (next: kosbert-viz assign {save_to} new.csv "
              f"--text-col {args.text_col})")
    return 0


def _cmd_cache(args) -> int:
    from kosbert_viz.embed.cache import EmbeddingCache

    cache = EmbeddingCache(args.cache_dir)
    if args.action == "info":
        info = cache.info()
        if args.json:
            print(json.dumps(info, ensure_ascii=False, indent=2))
            return 0
        print(f"cache: {info['path']}\nentries: {info['entries']:,}  size: {info['bytes'] / 2**20:.1f} MiB")
        for m in info["models"]:
            print(f"  {m['model']}  [{m['fingerprint']}]  dim={m['dim']} {m['dtype']}  "
                  f"entries={m['entries']:,}  {m['bytes'] / 2**20:.1f} MiB  segments={m['segments']}"
                  + (f"  corrupt={m['corrupt_segments']}" if m["corrupt_segments"] else ""))
        if info.get("tmp_files"):
            print(f"temp files left by interrupted writes (or a write in progress): {info['tmp_files']:,}, "
                  f"{info['tmp_bytes'] / 2**20:.1f} MiB; `cache compact` removes those over an hour old")
    elif args.action == "clear":
        n = cache.clear(model=args.model)
        print(f"removed {n:,} entries" + (f" of {args.model}" if args.model else ""))
    elif args.action == "prune":
        if args.max_bytes is None:
            raise CLIError("cache prune needs --max-bytes (e.g. --max-bytes 2GB)")
        freed = cache.prune(args.max_bytes)
        print(f"freed {freed / 2**20:.1f} MiB; cache now {cache.info()['bytes'] / 2**20:.1f} MiB")
    elif args.action == "compact":
        print(f"merged away {cache.compact()} segments")
    return 0


def _cmd_evaluate(args) -> int:
    from kosbert_viz.evaluate import load_korsts, sts, sts_table

    from kosbert_viz.embed.models import ModelLoadError

    try:
        pairs = load_korsts(args.path, split=args.split)
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    try:
        result = sts(pairs["sentence1"], pairs["sentence2"], pairs["score"], model=args.model,
                     cache=args.cache_dir or "auto")
    except ModelLoadError as exc:
        raise ModelLoadError(f"{exc}\n{_MODEL_HINT['evaluate']}") from None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from kosbert_viz.embed.models import resolve_model_name

    table = sts_table(result)
    print(f"KorSTS {args.split}: {result['n_pairs']:,} pairs, model {resolve_model_name(args.model)[0]} (x100)")
    print(table.to_string())
    return 0


def _cmd_finetune(args) -> int:
    """Fine-tune the encoder on a table of pairs (kv.finetune) and print the before/after STS table."""
    from kosbert_viz.finetuning import train as finetuning

    for value, flag in ((args.epochs, "--epochs"), (args.batch_size, "--batch-size")):
        if value is not None and value < (2 if flag == "--batch-size" else 1):
            raise CLIError(f"{flag} must be at least {2 if flag == '--batch-size' else 1}, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise CLIError(f"--lr must be a positive number, got {args.lr}")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"-o {out} is a file, expected a folder for the new model")
    df, _ = _read_input(args)
    try:
        tasks = finetuning._as_tasks(df)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"{args.file}: {exc}") from None
    evaluation = None
    if args.eval:
        path = Path(args.eval)
        if path.is_dir() or path.name.startswith("sts-"):  # KorSTS: tab-separated with quoting off
            from kosbert_viz.evaluate import load_korsts

            try:
                evaluation = load_korsts(path, split="dev")
            except (FileNotFoundError, ValueError) as exc:
                raise CLIError(str(exc)) from None
        else:
            from kosbert_viz.io.tables import TableError, read_table

            try:
                evaluation, _ = read_table(path)
            except (TableError, ValueError) as exc:
                raise CLIError(str(exc)) from None
        try:
            finetuning._eval_frame(evaluation)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"--eval {args.eval}: {exc}") from None
    print(f"training on {sum(len(t) for t in tasks):,} {tasks[0].kind} rows from {args.file} "
          f"({tasks[0].loss_name})", file=sys.stderr)
    try:
        res = finetuning.finetune(
            df, args.model, output_dir=out, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.lr or 2e-5, eval=evaluation, resume=bool(args.resume),
            precision=args.precision, cache=args.cache_dir or "auto",
            show_progress_bar=None if not args.quiet else False)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    r = res.recipe
    print(f"model: {res.base_model} -> {Path(res.output_dir).resolve()}")
    print(f"recipe: {r['epochs']} epoch(s), {r['total_steps']} steps, warm-up {r['warmup_steps']}, "
          f"batch {r['batch_sizes']}, lr {r['learning_rate']:g}; {res.pairs_per_second:.1f} pairs/s")
    if res.before and res.after:
        print(f"STS on {res.n_eval:,} pairs ({res.eval_source}), x100:")
        print(res.table.to_string())
    else:
        print("no evaluation: too few scored pairs to hold out (a correlation needs at least 30); "
              "pass --eval dev.csv with sentence1, sentence2, score")
    print(f"use it: kv.encode(texts, model={str(res.output_dir)!r})")
    return 0


def _cmd_assign(args) -> int:
    """Place the texts of a table into a saved map and write a report of the batch (candidates first)."""
    _check_count(args.limit, "--limit", 1, "a positive number of rows (or leave --limit out for all rows)")
    output = _check_output(args.output)
    from kosbert_viz.exceptions import MapFileError, ModelMismatchError
    from kosbert_viz.maps.textmap import load_map

    map_dir = Path(args.map_dir)
    if not (map_dir / "map.json").is_file():
        raise CLIError(f"{map_dir} is not a saved map (no map.json); save one with kosbert-viz map ... --save-map "
                       f"{map_dir} or tm.save(path)")
    df, _ = _read_input(args)
    if args.text_col not in df.columns:
        raise _column_error(args.text_col, "--text-col", df, args)
    _check_trend_columns(args, df)
    df, texts = _nonempty_texts(df, args)
    if not len(texts):
        raise CLIError(f"{args.file} has no non-empty text in column {args.text_col!r}")
    meta = _trend_columns(args, df)
    from kosbert_viz.maps.placement import batch_map
    from kosbert_viz.report.assignment import write_assignment_report

    try:
        tm = load_map(map_dir, model=args.model)
        a = tm.assign(list(texts), df.reset_index(drop=True), cache=args.cache_dir or "auto")
    except (MapFileError, ModelMismatchError) as exc:
        raise CLIError(str(exc)) from None
    trends = _trends(batch_map(tm, a, cache=args.cache_dir or "auto"), meta, args) if meta else []
    path = write_assignment_report(tm, a, output, title=args.title or f"kosbert_viz: {Path(args.file).name}",
                                   trends=trends)
    if args.csv:
        a.table().to_csv(args.csv, index=False, encoding="utf-8-sig")
        print(f"assignments written to {Path(args.csv).resolve()}")
    print(f"{len(a):,} texts placed; {int(a.is_new.sum()):,} new-theme candidates")
    print(f"report written to {Path(path).resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kosbert-viz", description="Maps of meaning for Korean text.")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the Python traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="map the bundled Korean sample corpus into an HTML report")
    demo.add_argument("-o", "--output", default="kosbert_viz_demo.html")
    demo.add_argument("--model", default=None, help="model name or folder (default: $KOSBERT_VIZ_MODEL or ko-sbert)")
    _add_clustering_options(demo, hdbscan_size=False)
    demo.add_argument("--cache-dir", default=None)
    demo.add_argument("--no-fallback", action="store_true", help="fail instead of using the offline model")
    demo.set_defaults(func=_cmd_demo)

    mp = sub.add_parser("map", help="map a CSV/TSV/TXT/Parquet/Excel column of texts into an HTML report")
    mp.add_argument("file", help=".csv, .tsv, .txt (also .gz), .parquet or .xlsx")
    mp.add_argument("--text-col", required=True)
    mp.add_argument("--label-col", default=None, help="known labels: shown on hover and scored (ARI/NMI)")
    mp.add_argument("--time-col", default=None,
                    help="a column of dates: adds 'Themes over time' (shares per period, emerging and fading "
                         "themes) to the report. Read as YYYY-MM-DD, ISO 8601, YYYY/MM/DD, YYYY.MM.DD, "
                         "YY.MM.DD (NSMC), YYYYMMDD or YYYY-MM (the first that reads every cell)")
    mp.add_argument("--date-format", default=None, help="strptime format of --time-col, e.g. '%%d/%%m/%%Y' "
                    "(default: detected, see --time-col)")
    mp.add_argument("--tz", default=None, metavar="ZONE",
                    help="time zone of --time-col, an IANA name such as Asia/Seoul: dates with a zone (+09:00, Z) "
                         "are converted to it, dates without one are taken to be in it, periods follow its clock "
                         "(default: as written; dates in several zones are converted to UTC)")
    mp.add_argument("--freq", default=None, type=str.upper, choices=FREQS,
                    help="period of 'Themes over time': D, W, M, Q or Y (default: from the time span: D under "
                         "3 weeks, W under 6 months, M under 4 years, else Q)")
    mp.add_argument("--class-col", default=None,
                    help="a column of categories (product, channel, rating ...): adds 'Themes by class' "
                         "(the themes most over-represented in each class, lift and q-value) to the report")
    mp.add_argument("-o", "--output", default="kosbert_viz_report.html")
    mp.add_argument("--save-map", default=None, metavar="FOLDER",
                    help="also save the map (texts, vectors, themes, layout, --time-col/--class-col columns; "
                         "checksummed) to this new folder, for kosbert-viz assign and kv.load_map")
    mp.add_argument("--model", default=None,
                    help="model name or folder, or 'offline' (default: $KOSBERT_VIZ_MODEL or ko-sbert)")
    _add_clustering_options(mp, hdbscan_size=True)
    mp.add_argument("--sep", default=None,
                    help="field separator (default: detected among , ; tab |); '\\t' or 'tab' for tab")
    mp.add_argument("--encoding", default=None,
                    help="text encoding (default: detected: UTF-8 with or without BOM, UTF-16, CP949/EUC-KR)")
    mp.add_argument("--sheet", default=None, help="Excel sheet name, or its number from 0 (default: the first, 0)")
    mp.add_argument("--limit", type=int, default=None, help="only the first N rows")
    mp.add_argument("--title", default=None)
    mp.add_argument("--cache-dir", default=None)
    mp.add_argument("--offline-fallback", action="store_true",
                    help="use the offline model (loudly) when ko-sbert cannot be loaded")
    mp.set_defaults(func=_cmd_map)

    asg = sub.add_parser("assign", help="place a table's texts into a saved map (tm.save) and report the batch")
    asg.add_argument("map_dir", help="a folder written by TextMap.save")
    asg.add_argument("file", help=".csv, .tsv, .txt (also .gz), .parquet or .xlsx")
    asg.add_argument("--text-col", required=True)
    asg.add_argument("-o", "--output", default="kosbert_viz_assign.html")
    asg.add_argument("--csv", default=None, help="also write one row per text (theme, name, novelty, is_new, x, y)")
    asg.add_argument("--time-col", default=None,
                     help="a column of dates: adds 'Themes over time' of the batch (read as for map --time-col)")
    asg.add_argument("--date-format", default=None, help="strptime format of --time-col (default: detected)")
    asg.add_argument("--tz", default=None, metavar="ZONE", help="time zone of --time-col (as for map --tz)")
    asg.add_argument("--freq", default=None, type=str.upper, choices=FREQS,
                     help="period of 'Themes over time' (default: from the batch's time span, as for map)")
    asg.add_argument("--class-col", default=None,
                     help="a column of categories: adds 'Themes by class' of the batch")
    asg.add_argument("--model", default=None, help="the map's model (default: the one recorded in the map)")
    asg.add_argument("--sep", default=None, help="field separator (default: detected)")
    asg.add_argument("--encoding", default=None, help="text encoding (default: detected)")
    asg.add_argument("--sheet", default=None, help="Excel sheet name, or its number from 0 (default: the first, 0)")
    asg.add_argument("--limit", type=int, default=None, help="only the first N rows")
    asg.add_argument("--title", default=None)
    asg.add_argument("--cache-dir", default=None)
    asg.set_defaults(func=_cmd_assign)

    cache = sub.add_parser("cache", help="inspect or clean the embedding cache")
    cache.add_argument("action", choices=["info", "clear", "prune", "compact"])
    cache.add_argument("--cache-dir", default=None, help="default: $KOSBERT_VIZ_CACHE or the user cache dir")
    cache.add_argument("--model", default=None, help="clear only this model (name or fingerprint)")
    cache.add_argument("--max-bytes", type=_size, default=None, help="prune down to this size, e.g. 2GB")
    cache.add_argument("--json", action="store_true")
    cache.set_defaults(func=_cmd_cache)

    ev = sub.add_parser("evaluate", help="reproduce the model card's KorSTS table (8 correlations)")
    ev.add_argument("task", choices=["korsts"])
    ev.add_argument("path", help="the KorSTS folder (with sts-test.tsv) or one of its .tsv files")
    ev.add_argument("--split", default="test", choices=["train", "dev", "test"])
    ev.add_argument("--model", default=None, help="model name or folder (default: $KOSBERT_VIZ_MODEL or ko-sbert)")
    ev.add_argument("--cache-dir", default=None)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_cmd_evaluate)

    ft = sub.add_parser("finetune", help="adapt the model to your domain from a table of pairs (kv.finetune)")
    ft.add_argument("file", help="pairs: sentence1,sentence2,score (0-5 or 0-1) | anchor,positive[,negative]")
    ft.add_argument("-o", "--output", required=True, help="folder for the new model")
    ft.add_argument("--model", default=None, help="base model name or folder (default: $KOSBERT_VIZ_MODEL or ko-sbert)")
    ft.add_argument("--eval", default=None, help="scored pairs for the before/after table (or a KorSTS folder); "
                    "default: 10%% of scored training pairs")
    ft.add_argument("--epochs", type=int, default=None, help="default: 5, fewer for large data (about 30k pairs seen)")
    ft.add_argument("--batch-size", type=int, default=None, help="default: 8 for scored pairs, 64 for pairs")
    ft.add_argument("--lr", type=float, default=None, help="learning rate (default 2e-5, the model card's)")
    ft.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    ft.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in -o")
    ft.add_argument("--sep", default=None, help="field separator (default: detected)")
    ft.add_argument("--encoding", default=None, help="text encoding (default: detected)")
    ft.add_argument("--sheet", default=None, help="Excel sheet name, or its number from 0 (default: the first, 0)")
    ft.add_argument("--cache-dir", default=None)
    ft.add_argument("--quiet", action="store_true", help="no progress bar")
    ft.set_defaults(func=_cmd_finetune)
    for command in sub.choices.values():  # `kosbert-viz map ... --debug` as well as `kosbert-viz --debug map ...`
        if "--debug" not in command._option_string_actions:
            command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                 help="show the Python traceback of an unexpected error")
    return parser


def _add_clustering_options(parser, *, hdbscan_size: bool) -> None:
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=METHODS,
                        help="hierarchy (default): nested themes, a readable level shown; kmeans or hdbscan: one level")
    parser.add_argument("--k", type=int, default=None,
                        help="number of themes of the default level (hierarchy) or of k-means clusters, at least 2 "
                             "(default: automatic)")
    parser.add_argument("--level", type=int, default=None,
                        help="hierarchy: the level the map and the table show, 0 = the coarsest "
                             "(default: the level chosen for reading)")
    if hdbscan_size:
        parser.add_argument("--min-cluster-size", type=int, default=None,
                            help="HDBSCAN's smallest cluster, at least 2 (default: max(5, n/100))")


def _known_errors() -> tuple:
    """Errors whose message already says what to do: printed as they are."""
    from kosbert_viz.io.tables import TableError
    from kosbert_viz.embed.models import ModelLoadError

    known = [CLIError, ModelLoadError, TableError, OSError, ImportError]
    try:
        from kosbert_viz.embed.cache import CacheFullError

        known.append(CacheFullError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(known)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("KOSBERT_VIZ_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip() or type(exc).__name__
        if isinstance(exc, _known_errors()):
            print(f"error: {message}", file=sys.stderr)
        else:
            print(f"error: {type(exc).__name__}: {message}\n(run with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
