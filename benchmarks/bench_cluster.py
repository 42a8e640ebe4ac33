"""Clustering + map layout: kosbert_viz against the BERTopic recipe, same run, same data. Prints JSON.

Recipe: umap-learn UMAP(5-d, cosine, min_dist 0) -> hdbscan.HDBSCAN(min_cluster_size) -> a second,
separate UMAP(2-d, cosine) for the map, both from umap-learn's spectral init and default epochs.
Ours: kv.cluster_layout(X, "hdbscan", mode=...): one shared kNN graph (NN-descent on the full unit
vectors), a 5-d clustering embedding started from the principal axes smoothed over that graph
(init="pca", 60 epochs above 10,000 points), HDBSCAN (fast_hdbscan when installed) and the 2-d map
started from the 5-d embedding (50 epochs), with the disk cache OFF for the timed run (a cached
re-run is timed separately). Timed after an untimed warm-up of numba on both sides; on YNAT each
side's first call in a fresh process (numba's compilation included) is timed too ("cold_start").

Data: the YNAT headlines (../shared/data/dacon_news_topic_ynat/train_data.csv) encoded once with the
offline encoder (USE-multilingual v3, 512-d) into the embedding cache, and a synthetic set of
768-d unit vectors with a known topic structure (default 100,000 points).

    python benchmarks/bench_cluster.py                         # full: 100k synthetic + all 45,654 YNAT
    python benchmarks/bench_cluster.py --n-synthetic 20000 --n-ynat 5000 --out /tmp/b.json
    python benchmarks/bench_cluster.py --skip-recipe           # ours only

Needs umap-learn, hdbscan (the recipe's clusterer), and optionally fast_hdbscan:
    pip install "kosbert_viz[bench]"
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from json_out import emit  # benchmarks/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parents[1]
YNAT = ROOT.parent / "shared" / "data" / "dacon_news_topic_ynat" / "train_data.csv"


def synthetic(n, d=768, n_topics=40, seed=0):
    """Unit vectors around ``n_topics`` topic directions, each with 3 sub-topics, uneven sizes, 5% background."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(n_topics, d))
    subs = topics[:, None, :] + 0.6 * rng.normal(size=(n_topics, 3, d))
    w = rng.dirichlet(np.full(n_topics, 2.0))
    lab = rng.choice(n_topics, size=n, p=w)
    sub = rng.integers(0, 3, size=n)
    X = np.empty((n, d), np.float32)
    for s in range(0, n, 20000):
        e = min(n, s + 20000)
        X[s:e] = subs[lab[s:e], sub[s:e]] + 1.4 * rng.normal(size=(e - s, d))
    bg = rng.random(n) < 0.05
    X[bg] = rng.normal(size=(int(bg.sum()), d))
    lab[bg] = -1
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, lab


def load_ynat(n, cache, seed=0):
    import pandas as pd

    from kosbert_viz.embed.encode import encode

    df = pd.read_csv(YNAT)
    if n and n < len(df):
        df = df.sample(n=n, random_state=seed).sort_index()
    t = time.perf_counter()
    X = encode(df.title.tolist(), "offline", cache=cache, show_progress_bar=False)
    return X, df.topic_idx.to_numpy(), df.title.tolist(), time.perf_counter() - t


def recipe(X, mcs, seed=None):
    import hdbscan
    import umap

    t = {}
    s = time.perf_counter()
    Z = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed).fit_transform(X)
    t["umap_5d"] = time.perf_counter() - s
    s = time.perf_counter()
    labels = hdbscan.HDBSCAN(
        min_cluster_size=mcs, metric="euclidean", cluster_selection_method="eom", prediction_data=False
    ).fit_predict(Z)
    t["hdbscan"] = time.perf_counter() - s
    s = time.perf_counter()
    xy = umap.UMAP(n_neighbors=15, n_components=2, min_dist=0.1, metric="cosine", random_state=seed).fit_transform(X)
    t["umap_2d"] = time.perf_counter() - s
    t["total"] = sum(t.values())
    return labels, xy, t


def ours(X, mcs, mode, cache=None):
    from kosbert_viz.geometry.reduce import _MEMO
    from kosbert_viz.themes.cluster_layout import cluster_layout

    _MEMO.clear()  # nothing from an earlier call in this process: disk cache or fresh work only
    s = time.perf_counter()
    res, xy = cluster_layout(
        X, "hdbscan", min_cluster_size=mcs, mode=mode, cache=cache, scores=False, show_progress_bar=False
    )
    total = time.perf_counter() - s
    t = dict(res.params["layout"]["timings"])
    t["hdbscan"] = res.seconds
    t["total"] = total
    return res.labels, xy, t


def agreement(truth, labels):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    keep = truth >= 0
    return {
        "ari": round(float(adjusted_rand_score(truth[keep], labels[keep])), 4),
        "nmi": round(float(normalized_mutual_info_score(truth[keep], labels[keep])), 4),
        "n_clusters": int(len(np.unique(labels[labels >= 0]))),
        "noise_fraction": round(float(np.mean(labels < 0)), 4),
    }


def trustworthiness_sample(X, Y, n=2000, seed=0):
    from sklearn.manifold import trustworthiness

    idx = np.random.default_rng(seed).choice(len(X), min(n, len(X)), replace=False)
    return round(float(trustworthiness(X[idx], Y[idx], n_neighbors=10, metric="cosine")), 4)


def timed(fn, *a, **k):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*a, **k)
    return out, time.perf_counter() - w, time.process_time() - c


def run_one(name, X, truth, args, repeats):
    """Recipe and ours alternate ``--repeats`` times (the machine is shared: medians, wall and CPU time)."""
    out = {"n": int(len(X)), "dim": int(X.shape[1]), "min_cluster_size": args.min_cluster_size, "repeats": repeats}
    sides = ([] if args.skip_recipe else ["recipe"]) + [f"ours_{m}" for m in args.modes]
    runs = {s: [] for s in sides}
    for rep in range(repeats):
        for side in sides:
            if side == "recipe":
                (lab, xy, st), wall, cpu = timed(recipe, X, args.min_cluster_size)
            else:
                (lab, xy, st), wall, cpu = timed(ours, X, args.min_cluster_size, side.split("_", 1)[1])
            runs[side].append((wall, cpu, st))
            if rep == 0:
                out[side] = {**agreement(truth, lab), "map_trustworthiness": trustworthiness_sample(X, xy)}
            print(f"[{name}] {side} run {rep + 1}: {wall:.1f} s wall, {cpu:.1f} s cpu", file=sys.stderr)
    for side, rs in runs.items():
        out[side]["wall_seconds_median"] = round(float(np.median([r[0] for r in rs])), 2)
        out[side]["cpu_seconds_median"] = round(float(np.median([r[1] for r in rs])), 2)
        out[side]["wall_seconds_runs"] = [round(r[0], 2) for r in rs]
        out[side]["stage_seconds_first_run"] = {k: round(v, 2) for k, v in rs[0][2].items()}
    if "recipe" in out:
        for side in sides[1:]:
            o, r = out[side], out["recipe"]
            o["wall_ratio_vs_recipe"] = round(o["wall_seconds_median"] / r["wall_seconds_median"], 3)
            o["cpu_ratio_vs_recipe"] = round(o["cpu_seconds_median"] / r["cpu_seconds_median"], 3)
            o["nmi_minus_recipe"] = round(o["nmi"] - r["nmi"], 4)
    return out


def cold_start(X, args, repeats):
    """Each side's first call in a fresh Python process (imports done, numba's JIT included): what a
    `kosbert-viz map` run or a notebook's first cell pays. Sides alternate; medians."""
    import subprocess
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "X.npy"
        np.save(path, X)
        sides = ([] if args.skip_recipe else ["recipe"]) + ["ours"]
        runs = {s: [] for s in sides}
        for _ in range(repeats):
            for side in sides:
                proc = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--_cold-child",
                        side,
                        str(path),
                        str(args.min_cluster_size),
                        args.modes[0],
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[side].append(float(proc.stdout.strip().splitlines()[-1]))
                print(f"[cold] {side}: {runs[side][-1]:.1f} s", file=sys.stderr)
    for side, rs in runs.items():
        out[side] = {"wall_seconds_median": round(float(np.median(rs)), 2), "runs": [round(r, 2) for r in rs]}
    if "recipe" in out:
        out["ours"]["wall_ratio_vs_recipe"] = round(
            out["ours"]["wall_seconds_median"] / out["recipe"]["wall_seconds_median"], 3
        )
    return out


def _cold_child(side, path, mcs, mode):
    import hdbscan  # noqa: F401  (imports are not timed, the first call is)
    import umap  # noqa: F401

    import kosbert_viz.geometry.layout  # noqa: F401

    X = np.load(path)
    s = time.perf_counter()
    if side == "recipe":
        recipe(X, mcs)
    else:
        ours(X, mcs, mode)
    print(time.perf_counter() - s)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_cold-child"]:
        return _cold_child(argv[1], argv[2], int(argv[3]), argv[4])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-synthetic", type=int, default=100_000, help="synthetic 768-d points (0 to skip)")
    ap.add_argument("--n-ynat", type=int, default=0, help="YNAT headlines (0 = all 45,654; -1 to skip)")
    ap.add_argument("--min-cluster-size", type=int, default=10, help="HDBSCAN min_cluster_size for both sides")
    ap.add_argument("--modes", nargs="+", default=["fast"], choices=["fast", "deterministic"])
    ap.add_argument("--skip-recipe", action="store_true")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of recipe and ours on YNAT (medians)")
    ap.add_argument("--repeats-synthetic", type=int, default=1, help="the same on the synthetic set")
    ap.add_argument("--cache", default="auto", help="embedding cache folder for the YNAT vectors")
    ap.add_argument(
        "--cold-repeats",
        type=int,
        default=1,
        help="YNAT: each side's first call in a fresh process (JIT included), this many times",
    )
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)

    import umap

    import kosbert_viz

    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {"kosbert_viz": kosbert_viz.__version__, "umap": umap.__version__},
    }
    try:
        import fast_hdbscan  # noqa: F401

        report["versions"]["fast_hdbscan"] = getattr(fast_hdbscan, "__version__", "installed")
    except ImportError:
        report["versions"]["fast_hdbscan"] = None
    # warm up numba (JIT compilation) for both sides on a small set, untimed
    Xw, _ = synthetic(3000, d=64, n_topics=5, seed=1)
    if not args.skip_recipe:
        recipe(Xw, 10)
    for mode in args.modes:
        ours(Xw, 10, mode)
    # the NN-descent path too (umap-learn searches exactly below 4,096 points, ours below 8,192)
    Xw = synthetic(9000, d=64, n_topics=5, seed=2)[0]
    if not args.skip_recipe:
        recipe(Xw, 10)
    ours(Xw, 10, args.modes[0])

    if args.n_ynat >= 0:
        if not YNAT.exists():
            report["ynat"] = {"skipped": f"{YNAT} is absent"}
        else:
            X, truth, titles, enc_s = load_ynat(args.n_ynat, args.cache)
            res = run_one("ynat", X, truth, args, args.repeats)
            if args.cold_repeats > 0:
                res["cold_start"] = cold_start(X, args, args.cold_repeats)
            res["encode_seconds_cached"] = round(enc_s, 2)
            from kosbert_viz.themes.cluster import cluster

            s = time.perf_counter()
            km = cluster(X, "kmeans", n_clusters=7, truth=truth, scores=False, show_progress_bar=False)
            res["kmeans_k7"] = {
                "seconds": round(time.perf_counter() - s, 2),
                **{k: round(km.scores[k], 4) for k in ("ari", "nmi", "v_measure")},
                "estimator": km.params["estimator"],
            }
            s = time.perf_counter()
            hd = cluster(X, "hdbscan", truth=truth, scores=False, cache=None, mode="fast", show_progress_bar=False)
            res["hdbscan_default"] = {
                "seconds_reusing_the_5d_embedding": round(time.perf_counter() - s, 2),
                **{k: round(hd.scores[k], 4) for k in ("ari", "nmi", "v_measure")},
                "min_cluster_size": hd.params["min_cluster_size"],
                "n_clusters": hd.n_clusters,
                "noise_fraction": round(hd.noise_fraction, 4),
            }
            report["ynat"] = res
    if args.n_synthetic > 0:
        X, truth = synthetic(args.n_synthetic)
        report["synthetic"] = run_one("synthetic", X, truth, args, args.repeats_synthetic)
        # a re-run with the disk cache on: the second call reads everything back
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            ours(X, args.min_cluster_size, args.modes[0], cache=tmp)
            s = time.perf_counter()
            ours(X, args.min_cluster_size, args.modes[0], cache=tmp)
            report["synthetic"]["ours_cached_rerun_seconds"] = round(time.perf_counter() - s, 2)
    emit(report, args.out, indent=2)


if __name__ == "__main__":
    main()
