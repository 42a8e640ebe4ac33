"""The clustering options of ``map`` and ``demo`` (--method, --k, --level, --min-cluster-size): their
arguments, their checks and the keyword arguments of :func:`kosbert_viz.maps.fit.map_texts` they become."""

from __future__ import annotations

from kosbert_viz.cli.common import CLIError, check_count

__all__ = [
    "METHODS",
    "DEFAULT_METHOD",
    "MIN_TEXTS",
    "add_clustering_options",
    "check_clustering",
    "check_against_texts",
    "map_kwargs",
    "themes_line",
]

# The clustering methods of `map` and `demo` and the option each one reads (--k or --min-cluster-size).
METHODS = ("hierarchy", "kmeans", "hdbscan")
DEFAULT_METHOD = "hierarchy"
MIN_TEXTS = 4  # map_texts lays the 2-D map out from each text's neighbours


def add_clustering_options(parser, *, hdbscan_size: bool) -> None:
    parser.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        choices=METHODS,
        help="hierarchy (default): nested themes, a readable level shown; kmeans or hdbscan: one level",
    )
    parser.add_argument(
        "--k",
        type=int,
        default=None,
        help="number of themes of the default level (hierarchy) or of k-means clusters, at least 2 "
        "(default: automatic)",
    )
    parser.add_argument(
        "--level",
        type=int,
        default=None,
        help="hierarchy: the level the map and the table show, 0 = the coarsest "
        "(default: the level chosen for reading)",
    )
    if hdbscan_size:
        parser.add_argument(
            "--min-cluster-size",
            type=int,
            default=None,
            help="HDBSCAN's smallest cluster, at least 2 (default: max(5, n/100))",
        )


def check_clustering(args) -> None:
    """Options checked before the file is read (their bounds that need the text count come later)."""
    check_count(args.k, "--k", 2, "at least 2 clusters (or leave --k out for an automatic number)")
    check_count(getattr(args, "level", None), "--level", 0, "a level of the theme tree: 0 (the coarsest) or more")
    if getattr(args, "level", None) is not None and args.method != "hierarchy":
        raise CLIError(f"--level {args.level} needs --method hierarchy (the default); {args.method} gives one level")
    check_count(
        getattr(args, "min_cluster_size", None),
        "--min-cluster-size",
        2,
        "at least 2 texts per cluster (HDBSCAN's smallest group; default max(5, n/100))",
    )


def check_against_texts(args, n: int, where: str) -> None:
    if n < MIN_TEXTS:
        raise CLIError(
            f"{where} has {n} text{'s' if n != 1 else ''} to map, expected at least {MIN_TEXTS} "
            "(a map lays each text out from its neighbours); add rows, or use kv.encode() for a few texts"
        )
    if args.k is not None and args.k > n:
        raise CLIError(
            f"--k {args.k} is more than the {n} texts of {where}; expected --k between 2 and {n}, "
            "or leave --k out for an automatic number"
        )


def map_kwargs(args) -> dict:
    """map_texts' clustering options from the command line (one place for `map` and `demo`)."""
    kw = {"method": args.method, "n_clusters": args.k}
    if getattr(args, "level", None) is not None:
        if args.method != "hierarchy":
            raise CLIError(
                f"--level {args.level} needs --method hierarchy (the default); {args.method} gives one level"
            )
        kw["level"] = args.level
    if getattr(args, "min_cluster_size", None) is not None:
        kw["min_cluster_size"] = args.min_cluster_size
    return kw


def themes_line(tm) -> str:
    """One line on the map's themes: per level for a hierarchy, else the clusters."""
    res = tm.clusters
    if res.levels:
        counts = [len(set(lv.tolist())) for lv in res.levels]
        return (
            f"themes: {counts[tm.level]} at level {tm.level} (themes per level, coarsest first: "
            f"{', '.join(map(str, counts))}; --level picks another)"
        )
    return f"clusters: {res.n_clusters} ({res.method})"
