"""Themes: kv.cluster(X, "hierarchy") against k-means given the true k and the BERTopic recipe, same run. Prints JSON.

Quality (default): on the bundled sample (480 texts, 10 topics) and YNAT (45,654 headlines, 7 topics),
optionally Chatbot_data (3 categories) and Question_pair (unique questions; no topics, so the score is
how often a pair marked "same question" lands in one theme, against pairs marked different):
- ours: ``kv.cluster(X, "hierarchy")`` at its default level, and the level whose theme count is
  closest to the true k;
- k-means given the true k (``kv.cluster(X, "kmeans", n_clusters=k)``, on unit vectors);
- the BERTopic recipe: umap-learn UMAP(5-d, cosine, min_dist 0, 15 neighbours) + hdbscan.HDBSCAN
  (min_cluster_size 10); its noise (-1) counts as one more label in ARI / NMI, as it does for BERTopic.
ARI, NMI, number of themes and unassigned fraction per method. NSMC (10k balanced reviews, and
optionally 100k raw reviews) has no topics: the number of default-level themes and their names.

Speed (``--speed``): synthetic 100,000 x 768 clustered unit vectors (benchmarks/bench_cluster.py's
generator). Ours = ``kv.layout`` (5-d clustering embedding + 2-d map, one kNN graph, disk cache off)
+ the hierarchy on its 5-d embedding; the recipe = UMAP 5-d + hdbscan + a separate UMAP 2-d. Both
warmed up first (numba compiles untimed, on both the exact and the NN-descent paths).

Vectors: the offline encoder (model="offline"), cached in ``--cache``.

    python benchmarks/bench_topics.py --cache /path/to/cache --datasets sample ynat chatbot qpair nsmc10k
    python benchmarks/bench_topics.py --speed --n-speed 100000
    python benchmarks/bench_topics.py --datasets sample --out /tmp/t.json

Needs umap-learn and hdbscan (pip install "kosbert_viz[bench]").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))


def load(name, n_nsmc_raw=100_000, seed=0):
    """(texts, truth or None, extra) of a named data set."""
    import pandas as pd

    import kosbert_viz as kv

    if name == "sample":
        df = kv.datasets.load_sample()
        return df.text.tolist(), df.topic.to_numpy(), {}
    if name == "ynat":
        df = pd.read_csv(DATA / "dacon_news_topic_ynat" / "train_data.csv")
        return df.title.tolist(), df.topic_idx.to_numpy(), {}
    if name == "chatbot":
        df = pd.read_csv(DATA / "Chatbot_data" / "ChatbotData.csv")
        return df.Q.tolist(), df.label.to_numpy(), {}
    if name == "qpair":
        df = pd.read_csv(
            DATA / "Question_pair" / "kor_pair_train.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False
        )
        q1, q2 = df.question1.str.strip(), df.question2.str.strip()
        ok = (q1 != "") & (q2 != "")
        q1, q2, same = q1[ok], q2[ok], (df.is_duplicate[ok].astype(int) == 0).to_numpy()  # README: 0 = same
        texts = list(dict.fromkeys(list(q1) + list(q2)))
        pos = {t: i for i, t in enumerate(texts)}
        pairs = np.array([[pos[a], pos[b]] for a, b in zip(q1, q2)])
        return texts, None, {"pairs": pairs, "same": same}
    if name == "nsmc10k":
        df = pd.read_csv(DATA / "nsmc" / "nsmc_like_balanced_10k.tsv", sep="\t")
        return df.document.astype(str).tolist(), None, {}
    if name == "nsmc100k":
        df = pd.read_csv(
            DATA / "nsmc" / "raw_reviews.tsv.gz", sep="\t", usecols=["review"], dtype=str, keep_default_na=False
        )
        df = df[df.review.str.strip() != ""]
        df = df.sample(n=min(n_nsmc_raw, len(df)), random_state=seed).sort_index()
        return df.review.tolist(), None, {}
    raise ValueError(f"unknown data set {name!r}")


def agreement(truth, labels):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "ari": round(float(adjusted_rand_score(truth, labels)), 4),
        "nmi": round(float(normalized_mutual_info_score(truth, labels)), 4),
        "n_themes": int(len(np.unique(labels[labels >= 0]))),
        "unassigned_fraction": round(float(np.mean(labels < 0)), 4),
    }


def pair_agreement(labels, pairs, same):
    together = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    together &= labels[pairs[:, 0]] >= 0
    return {
        "n_themes": int(len(np.unique(labels[labels >= 0]))),
        "unassigned_fraction": round(float(np.mean(labels < 0)), 4),
        "same_pairs_in_one_theme": round(float(together[same].mean()), 4),
        "different_pairs_in_one_theme": round(float(together[~same].mean()), 4),
    }


def recipe_labels(X, mcs=10, seed=None):
    import hdbscan
    import umap

    t = time.perf_counter()
    Z = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed).fit_transform(X)
    lab = hdbscan.HDBSCAN(min_cluster_size=mcs, metric="euclidean", cluster_selection_method="eom").fit_predict(Z)
    return np.asarray(lab), time.perf_counter() - t


def quality(name, args):
    import kosbert_viz as kv
    from kosbert_viz.themes.names import hierarchy_names

    texts, truth, extra = load(name, args.n_nsmc_raw)
    t = time.perf_counter()
    X = kv.encode(texts, model="offline", cache=args.cache, show_progress_bar=False)
    out = {"n": len(texts), "dim": int(X.shape[1]), "encode_seconds": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    res = kv.cluster(X, "hierarchy", cache=args.layout_cache, scores=False, show_progress_bar=False)
    out["ours_seconds_with_layout"] = round(time.perf_counter() - t, 1)
    hp = res.params["hierarchy"]
    out["ours_levels_theme_counts"] = hp["level_sizes"]
    out["ours_default_k"] = hp["default_k"]
    out["ours_theme_range"] = hp["theme_range"]
    out["ours_hierarchy_seconds"] = round(sum(hp["timings"].values()), 3)
    out["ours_outlier_fraction"] = round(float(res.is_outlier.mean()), 4)
    if truth is not None:
        k = int(len(np.unique(truth)))
        out["true_k"] = k
        out["ours_default"] = agreement(truth, res.labels)
        sizes = [len(np.unique(l)) for l in res.levels]
        near = int(np.argmin([abs(s - k) for s in sizes]))
        out["ours_level_closest_to_true_k"] = agreement(truth, res.levels[near])
        out["ours_all_levels"] = {int(s): agreement(truth, l)["ari"] for s, l in zip(sizes, res.levels)}
        t = time.perf_counter()
        km = kv.cluster(X, "kmeans", n_clusters=k, scores=False, show_progress_bar=False)
        out["kmeans_true_k"] = {
            **agreement(truth, km.labels),
            "seconds": round(time.perf_counter() - t, 1),
            "estimator": km.params["estimator"],
        }
        if not args.skip_recipe:
            lab, sec = recipe_labels(X)
            out["bertopic_recipe"] = {**agreement(truth, lab), "seconds": round(sec, 1)}
        kmari = out["kmeans_true_k"]["ari"]
        out["targets"] = {
            "default_ari_over_kmeans_ari": round(out["ours_default"]["ari"] / kmari, 3) if kmari > 0 else None,
            "default_ari_at_least_0.9x_kmeans": out["ours_default"]["ari"] >= 0.9 * kmari,
            "closest_level_ari_at_least_kmeans": out["ours_level_closest_to_true_k"]["ari"] >= kmari,
        }
    elif "pairs" in extra:
        out["ours_default"] = pair_agreement(res.labels, extra["pairs"], extra["same"])
        if not args.skip_recipe:
            lab, sec = recipe_labels(X)
            out["bertopic_recipe"] = {**pair_agreement(lab, extra["pairs"], extra["same"]), "seconds": round(sec, 1)}
    else:
        out["ours_default_themes"] = res.n_clusters
        out["default_in_8_40"] = 8 <= res.n_clusters <= 40
    if name.startswith("nsmc") or name == "sample":
        t = time.perf_counter()
        table = hierarchy_names(texts, res, embeddings=X, top_n=5)
        out["naming_seconds"] = round(time.perf_counter() - t, 1)
        top = table[table.level == res.default_level].sort_values("size", ascending=False)
        out["default_level_names"] = [
            {
                "name": r.name,
                "size": int(r.size),
                "keywords": r.keywords[:5],
                "example": r.representative[0] if r.representative else "",
            }
            for r in top.itertuples()
        ]
    return out


def speed(args):
    """100k x 768: ours (layout + hierarchy) vs the recipe (UMAP 5-d + hdbscan + UMAP 2-d), same run."""
    from bench_cluster import recipe, synthetic

    import kosbert_viz as kv
    from kosbert_viz.geometry.reduce import _MEMO

    def ours(X):
        _MEMO.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        lay = kv.layout(X, mode=args.mode, cache=None, show_progress_bar=False)
        t1, c1 = time.perf_counter(), time.process_time()
        res = kv.cluster(
            X, "hierarchy", embedding=lay.cluster_coords, mode=args.mode, scores=False, show_progress_bar=False
        )
        t2, c2 = time.perf_counter(), time.process_time()
        return res, {
            "layout": t1 - t0,
            "hierarchy": t2 - t1,
            "total": t2 - t0,
            "layout_cpu": c1 - c0,
            "hierarchy_cpu": c2 - c1,
            "total_cpu": c2 - c0,
            "hierarchy_stages": res.params["hierarchy"]["timings"],
            "layout_stages": lay.timings,
        }

    # warm-up (untimed): numba on both sides, exact (small) and NN-descent (9,000 points) paths
    for n, seed in ((3000, 1), (9000, 2)):
        Xw = synthetic(n, d=64, n_topics=5, seed=seed)[0]
        if not args.skip_recipe:
            recipe(Xw, 10)
        ours(Xw)
    X, truth = synthetic(args.n_speed)
    out = {"n": len(X), "dim": int(X.shape[1]), "mode": args.mode, "runs": []}
    for rep in range(args.repeats):
        run = {}
        if not args.skip_recipe:
            w, c = time.perf_counter(), time.process_time()
            lab, _, st = recipe(X, 10)
            run["recipe"] = {
                "wall": round(time.perf_counter() - w, 2),
                "cpu": round(time.process_time() - c, 2),
                "stages": {k: round(v, 2) for k, v in st.items()},
                **agreement(truth, lab),
            }
            print(f"[speed] recipe: {run['recipe']['wall']} s", file=sys.stderr)
        res, t = ours(X)
        run["ours"] = {
            "wall": round(t["total"], 2),
            "layout": round(t["layout"], 2),
            "hierarchy": round(t["hierarchy"], 3),
            "cpu": round(t["total_cpu"], 2),
            "layout_cpu": round(t["layout_cpu"], 2),
            "hierarchy_cpu": round(t["hierarchy_cpu"], 3),
            "hierarchy_stages": {k: round(v, 3) for k, v in t["hierarchy_stages"].items()},
            "layout_stages": {k: round(v, 2) for k, v in t["layout_stages"].items()},
            "default_k": res.n_clusters,
            **agreement(truth, res.labels),
        }
        print(f"[speed] ours: {run['ours']['wall']} s (hierarchy {run['ours']['hierarchy']} s)", file=sys.stderr)
        out["runs"].append(run)
    o = np.median([r["ours"]["wall"] for r in out["runs"]])
    hs = np.median([r["ours"]["hierarchy"] for r in out["runs"]])
    ly = np.median([r["ours"]["layout"] for r in out["runs"]])
    out["ours_wall_median"] = round(float(o), 2)
    out["hierarchy_over_layout"] = round(float(hs / ly), 4)
    out["hierarchy_over_layout_cpu"] = round(
        float(np.median([r["ours"]["hierarchy_cpu"] / r["ours"]["layout_cpu"] for r in out["runs"]])), 4
    )
    out["target_hierarchy_le_10pct_of_layout"] = bool(hs <= 0.1 * ly)
    if not args.skip_recipe:
        r = np.median([x["recipe"]["wall"] for x in out["runs"]])
        out["recipe_wall_median"] = round(float(r), 2)
        out["ours_over_recipe"] = round(float(o / r), 3)
        out["ours_over_recipe_cpu"] = round(
            float(np.median([x["ours"]["cpu"] / x["recipe"]["cpu"] for x in out["runs"]])), 3
        )
        out["target_le_0.33x_recipe"] = bool(o <= 0.33 * r)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--datasets",
        nargs="*",
        default=["sample", "ynat"],
        choices=["sample", "ynat", "chatbot", "qpair", "nsmc10k", "nsmc100k"],
    )
    ap.add_argument("--cache", default="auto", help="embedding cache folder (vectors are encoded once)")
    ap.add_argument(
        "--layout-cache", default=None, help="disk cache for the layouts (default: none, every run computes its layout)"
    )
    ap.add_argument("--n-nsmc-raw", type=int, default=100_000, help="reviews drawn from raw_reviews.tsv.gz")
    ap.add_argument("--skip-recipe", action="store_true")
    ap.add_argument("--speed", action="store_true", help="also the 100k x 768 timing")
    ap.add_argument("--n-speed", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--mode", default="fast", choices=["fast", "deterministic"], help="ours, in --speed")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_topics.json"))
    ap.add_argument(
        "--update",
        action="store_true",
        help="keep the other sections of an existing --out file (each section is one run)",
    )
    args = ap.parse_args(argv)

    import kosbert_viz

    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {"kosbert_viz": kosbert_viz.__version__},
        "encoder": "offline",
    }
    for mod in ("umap", "hdbscan", "fast_hdbscan", "sklearn"):
        try:
            report["versions"][mod] = getattr(__import__(mod), "__version__", "installed")
        except ImportError:
            report["versions"][mod] = None
    for name in args.datasets:
        print(f"[quality] {name}", file=sys.stderr)
        try:
            report[name] = quality(name, args)
        except FileNotFoundError as exc:
            report[name] = {"skipped": str(exc)}
        print(json.dumps({name: report[name]}, ensure_ascii=False)[:600], file=sys.stderr)
    if args.speed:
        report["speed"] = speed(args)
    report["run_finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out and args.update and Path(args.out).exists():
        old = json.loads(Path(args.out).read_text(encoding="utf-8"))
        sections = {k: v for k, v in report.items() if k not in ("machine", "versions", "encoder", "run_finished")}
        for k in sections:
            old[k] = (
                {**sections[k], "run_finished": report["run_finished"]}
                if isinstance(sections[k], dict)
                else sections[k]
            )
        text = json.dumps(old, indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
