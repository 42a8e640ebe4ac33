"""``kosbert-viz demo``: map the bundled Korean sample corpus into an HTML report."""

from __future__ import annotations

from pathlib import Path

from kosbert_viz.cli.clustering import (
    add_clustering_options,
    check_against_texts,
    check_clustering,
    map_kwargs,
    themes_line,
)
from kosbert_viz.cli.common import check_output, encoder_or_offline
from kosbert_viz.themes.stability import UNSTABLE_BELOW

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``demo`` sub-command and its options."""
    demo = sub.add_parser("demo", help="map the bundled Korean sample corpus into an HTML report")
    demo.add_argument("-o", "--output", default="kosbert_viz_demo.html")
    demo.add_argument("--model", default=None, help="model name or folder (default: $KOSBERT_VIZ_MODEL or ko-sbert)")
    add_clustering_options(demo, hdbscan_size=False)
    demo.add_argument("--cache-dir", default=None)
    demo.add_argument("--no-fallback", action="store_true", help="fail instead of using the offline model")
    demo.set_defaults(func=run)


def run(args) -> int:
    check_clustering(args)
    output = check_output(args.output)
    from kosbert_viz.datasets import load_sample
    from kosbert_viz.maps.fit import map_texts
    from kosbert_viz.report.html import write_report

    df = load_sample()
    check_against_texts(args, len(df), "the bundled sample")
    encoder, notice = encoder_or_offline(args.model, allow_offline=not args.no_fallback, command="demo")
    tm = map_texts(
        df["text"],
        encoder,
        cache=args.cache_dir or "auto",
        hover_data={"topic": df["topic"]},
        title="kosbert_viz demo: bundled Korean sample corpus",
        **map_kwargs(args),
    )
    path = write_report(tm, output, title="kosbert_viz demo", notice=notice)
    print(f"model: {tm.manifest['model']['name']}  texts: {len(tm.texts)}  {themes_line(tm)}")
    for row in tm.table.itertuples(index=False):
        stab = getattr(row, "stability", None)
        mark = (
            ""
            if stab is None or stab != stab
            else f"  stability {stab:.2f}" + (" (unstable)" if stab < UNSTABLE_BELOW else "")
        )
        print(f"  [{row.cluster:>2}] {row.size:>4}  {row.name}{mark}")
    print(f"report written to {Path(path).resolve()}")
    return 0
