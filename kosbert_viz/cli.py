"""The ``kosbert-viz`` command.

    kosbert-viz demo [-o report.html]
    kosbert-viz map reviews.csv --text-col review [--label-col topic] -o report.html
    kosbert-viz cache info | clear [--model NAME] | prune --max-bytes 2GB
    kosbert-viz evaluate korsts path/to/KorSTS [--model NAME]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

_BANNER = "!" * 78


def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size such as 500MB or 2GB, got {text!r}")
    unit = (m.group(2) or "b").rstrip("b").rstrip("i")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(unit or " "))


def _encoder_or_offline(model, allow_offline: bool):
    """Load the ko-sbert model; with allow_offline, fall back loudly to the offline encoder."""
    from .models import ModelLoadError, OfflineEncoder, load_encoder

    try:
        return load_encoder(model), None
    except ModelLoadError as exc:
        if not allow_offline:
            raise
        notice = ("The ko-sbert model could not be loaded, so this report was made with the OFFLINE "
                  "fallback model (multilingual Universal Sentence Encoder v3, fast-universal-sentence-"
                  "encoder). Its Korean quality is lower (KorSTS ~71 vs 84.7 Spearman). "
                  "Provide the model (see README) for real results.")
        print(f"{_BANNER}\n{notice}\nReason:\n{exc}\n{_BANNER}", file=sys.stderr)
        try:
            return OfflineEncoder(), notice
        except ImportError as imp:
            raise SystemExit(f"{exc}\n\nThe offline fallback is not installed either: {imp}") from None


def _cmd_demo(args) -> int:
    from .datasets import load_sample
    from .pipeline import map_texts
    from .report import write_report

    df = load_sample()
    encoder, notice = _encoder_or_offline(args.model, allow_offline=not args.no_fallback)
    tm = map_texts(df["text"], encoder, method=args.method, n_clusters=args.k, cache=args.cache_dir or "auto",
                   hover_data={"topic": df["topic"]}, title="kosbert_viz demo: bundled Korean sample corpus")
    path = write_report(tm, args.output, title="kosbert_viz demo", notice=notice)
    print(f"model: {tm.manifest['model']['name']}  texts: {len(tm.texts)}  clusters: {tm.clusters.n_clusters}")
    for row in tm.table.itertuples(index=False):
        print(f"  [{row.cluster:>2}] {row.size:>4}  {row.name}")
    print(f"report written to {Path(path).resolve()}")
    return 0


def _read_table(path: Path, sep: str | None, encoding: str):
    import pandas as pd

    if not path.exists():
        raise SystemExit(f"error: {path} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if sep is None:
        sep = "\t" if path.suffix.lower() in (".tsv", ".tab") or path.name.endswith(".tsv.gz") else ","
    return pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False)


def _cmd_map(args) -> int:
    from .pipeline import map_texts
    from .report import write_report

    df = _read_table(Path(args.file), args.sep, args.encoding)
    if args.text_col not in df.columns:
        raise SystemExit(f"error: column {args.text_col!r} not in {args.file}; columns are {list(df.columns)}")
    if args.label_col and args.label_col not in df.columns:
        raise SystemExit(f"error: column {args.label_col!r} not in {args.file}; columns are {list(df.columns)}")
    texts = df[args.text_col].astype(str)
    keep = texts.str.strip() != ""
    if (~keep).any():
        print(f"skipping {int((~keep).sum())} empty rows", file=sys.stderr)
    df, texts = df[keep], texts[keep]
    if args.limit:
        df, texts = df.head(args.limit), texts.head(args.limit)
    encoder, notice = _encoder_or_offline(args.model, allow_offline=args.offline_fallback)
    hover = {args.label_col: df[args.label_col]} if args.label_col else None
    tm = map_texts(texts, encoder, method=args.method, n_clusters=args.k, min_cluster_size=args.min_cluster_size,
                   cache=args.cache_dir or "auto", hover_data=hover, title=args.title or Path(args.file).name)
    if args.label_col:
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        truth = df[args.label_col].astype(str).to_numpy()
        tm.manifest["agreement_with_labels"] = {
            "column": args.label_col,
            "ARI": round(float(adjusted_rand_score(truth, tm.clusters.labels)), 4),
            "NMI": round(float(normalized_mutual_info_score(truth, tm.clusters.labels)), 4),
        }
    path = write_report(tm, args.output, title=args.title or f"kosbert_viz: {Path(args.file).name}", notice=notice)
    print(f"report written to {Path(path).resolve()}")
    return 0


def _cmd_cache(args) -> int:
    from .cache import EmbeddingCache

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
    elif args.action == "clear":
        n = cache.clear(model=args.model)
        print(f"removed {n:,} entries" + (f" of {args.model}" if args.model else ""))
    elif args.action == "prune":
        if args.max_bytes is None:
            raise SystemExit("error: cache prune needs --max-bytes (e.g. --max-bytes 2GB)")
        freed = cache.prune(args.max_bytes)
        print(f"freed {freed / 2**20:.1f} MiB; cache now {cache.info()['bytes'] / 2**20:.1f} MiB")
    elif args.action == "compact":
        print(f"merged away {cache.compact()} segments")
    return 0


def _cmd_evaluate(args) -> int:
    from .evaluate import load_korsts, sts, sts_table

    try:
        pairs = load_korsts(args.path, split=args.split)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    result = sts(pairs["sentence1"], pairs["sentence2"], pairs["score"], model=args.model,
                 cache=args.cache_dir or "auto")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from .models import resolve_model_name

    table = sts_table(result)
    print(f"KorSTS {args.split}: {result['n_pairs']:,} pairs, model {resolve_model_name(args.model)[0]} (x100)")
    print(table.to_string())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kosbert-viz", description="Maps of meaning for Korean text.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="map the bundled Korean sample corpus into an HTML report")
    demo.add_argument("-o", "--output", default="kosbert_viz_demo.html")
    demo.add_argument("--model", default=None, help="model name or folder (default: $KOSBERT_VIZ_MODEL or ko-sbert)")
    demo.add_argument("--method", default="kmeans", choices=["kmeans", "hdbscan"])
    demo.add_argument("--k", type=int, default=None, help="number of k-means clusters (default: automatic)")
    demo.add_argument("--cache-dir", default=None)
    demo.add_argument("--no-fallback", action="store_true", help="fail instead of using the offline model")
    demo.set_defaults(func=_cmd_demo)

    mp = sub.add_parser("map", help="map a CSV/TSV/Parquet column of texts into an HTML report")
    mp.add_argument("file")
    mp.add_argument("--text-col", required=True)
    mp.add_argument("--label-col", default=None, help="known labels: shown on hover and scored (ARI/NMI)")
    mp.add_argument("-o", "--output", default="kosbert_viz_report.html")
    mp.add_argument("--model", default=None)
    mp.add_argument("--method", default="kmeans", choices=["kmeans", "hdbscan"])
    mp.add_argument("--k", type=int, default=None)
    mp.add_argument("--min-cluster-size", type=int, default=None)
    mp.add_argument("--sep", default=None)
    mp.add_argument("--encoding", default="utf-8")
    mp.add_argument("--limit", type=int, default=None, help="only the first N rows")
    mp.add_argument("--title", default=None)
    mp.add_argument("--cache-dir", default=None)
    mp.add_argument("--offline-fallback", action="store_true",
                    help="use the offline model (loudly) when ko-sbert cannot be loaded")
    mp.set_defaults(func=_cmd_map)

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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .models import ModelLoadError

    try:
        return args.func(args)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
