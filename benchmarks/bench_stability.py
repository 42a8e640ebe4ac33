"""Themes you can trust twice: does the default level move with the seed or with float noise? Prints JSON.

For each corpus, ``kv.cluster(X, "hierarchy")`` runs 7 times on the offline encoder's vectors:
random_state 42, 0, 1, 2, 3, and the vectors times ``1 + 1e-6 * N(0, 1)`` (what another CPU's last
bits, or another batch, would change) with random_state 42 and 0. Reported per corpus:

- the default level's theme counts and their max / min;
- pairwise ARI between the 7 runs' default labels (median, min; 21 pairs), also split into pairs
  of seeds and pairs (same seed, perturbed or not);
- the reference, run here on the same 7 inputs: sklearn ``KMeans(n_init=10)`` on the unit vectors
  with the hierarchy's most common theme count, and its pairwise ARI;
- quality where the corpus has topics: ARI of the default level against them (median over the
  runs) and k-means given the true k (``kv.cluster(X, "kmeans", n_clusters=true k)``, n_init 4,
  as ``bench_topics.py`` runs it), and the ratio;
- the mean stability score of the default level's themes, and how many are marked unstable.

``--cost`` times ``kv.map_vectors`` (cache off, fresh process, after an untimed 9,000-text map that
compiles numba's code and loads kiwi) at 10,000 YNAT titles
and 100,000 raw NSMC reviews, for this checkout and for ``--baseline`` (a git ref, checked out in
a temporary worktree), alternating, ``--repeats`` times; reports medians and the ratio.

    python benchmarks/bench_stability.py --cache /tmp/kv-cache --out benchmarks/results/bench_stability.json
    python benchmarks/bench_stability.py --datasets sample ynat10k --cost --baseline c1b395b
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))

SEEDS = (42, 0, 1, 2, 3)
PERTURBED = (42, 0)
NOISE = 1e-6


def corpus(name):
    """(texts, truth or None) of a named corpus."""
    import pandas as pd

    import kosbert_viz as kv

    if name == "sample":
        df = kv.datasets.load_sample()
        return df.text.tolist(), pd.factorize(df.topic)[0]
    if name == "ynat10k":
        df = pd.read_csv(DATA / "dacon_news_topic_ynat" / "train_data.csv").head(10_000)
        return df.title.tolist(), df.topic_idx.to_numpy()
    if name == "nsmc10k":
        df = pd.read_csv(DATA / "nsmc" / "nsmc_like_balanced_10k.tsv", sep="\t")
        return df.document.astype(str).tolist(), None
    if name == "chatbot":
        df = pd.read_csv(DATA / "Chatbot_data" / "ChatbotData.csv")
        return df.Q.tolist(), df.label.to_numpy()
    raise ValueError(f"unknown corpus {name!r}")


def perturbed(X, seed):
    rng = np.random.default_rng(1000 + seed)
    return (X * (1 + NOISE * rng.standard_normal(X.shape))).astype(np.float32)


def pairwise(labels, pairs=None):
    from sklearn.metrics import adjusted_rand_score

    pairs = list(itertools.combinations(range(len(labels)), 2)) if pairs is None else pairs
    vals = [adjusted_rand_score(labels[a], labels[b]) for a, b in pairs]
    return {"median": round(float(np.median(vals)), 4), "min": round(float(np.min(vals)), 4), "n_pairs": len(vals)}


def stability_run(name, cache):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    import kosbert_viz as kv

    texts, truth = corpus(name)
    X = kv.encode(texts, model="offline", cache=cache, show_progress_bar=False)
    inputs = [(s, False, X) for s in SEEDS] + [(s, True, perturbed(X, s)) for s in PERTURBED]
    runs = []
    for seed, pert, V in inputs:
        t = time.perf_counter()
        res = kv.cluster(V, "hierarchy", random_state=seed, cache=None, show_progress_bar=False)
        tree = res.tree[res.tree.level == res.default_level]
        runs.append(
            {
                "random_state": seed,
                "perturbed": pert,
                "themes": res.n_clusters,
                "labels": res.labels,
                "seconds": round(time.perf_counter() - t, 2),
                "mean_stability": round(float(tree.stability.mean()), 3),
                "unstable": int((tree.stability < kv.themes.stability.UNSTABLE_BELOW).sum()),
            }
        )
    counts = [r["themes"] for r in runs]
    labels = [r["labels"] for r in runs]
    seed_pairs = list(itertools.combinations(range(len(SEEDS)), 2))
    pert_pairs = [(SEEDS.index(s), len(SEEDS) + i) for i, s in enumerate(PERTURBED)]
    k_ref = int(np.bincount(counts).argmax())
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    ref = [
        KMeans(n_clusters=k_ref, n_init=10, random_state=seed).fit_predict(V / np.linalg.norm(V, axis=1, keepdims=True))
        for seed, _, V in inputs
    ]
    out = {
        "n": len(texts),
        "theme_counts": counts,
        "count_ratio": round(max(counts) / min(counts), 3),
        "ari_all": pairwise(labels),
        "ari_seeds": pairwise(labels, seed_pairs),
        "ari_perturbed_vs_same_seed": pairwise(labels, pert_pairs),
        "kmeans_reference": {"k": k_ref, "n_init": 10, "on": "unit vectors", "ari_all": pairwise(ref)},
        "runs": [{k: v for k, v in r.items() if k != "labels"} for r in runs],
    }
    out["ari_vs_kmeans"] = round(out["ari_all"]["median"] / max(out["kmeans_reference"]["ari_all"]["median"], 1e-9), 3)
    if truth is not None:
        k_true = len(np.unique(truth))
        ours = [adjusted_rand_score(truth, lab) for lab in labels]
        km = kv.cluster(U, "kmeans", n_clusters=k_true, truth=truth, scores=False, show_progress_bar=False)
        out["quality"] = {
            "ari_truth_median": round(float(np.median(ours)), 4),
            "ari_truth_min": round(float(np.min(ours)), 4),
            "kmeans_true_k": {"k": k_true, "ari": round(float(km.scores["ari"]), 4)},
            "ratio": round(float(np.median(ours)) / max(float(km.scores["ari"]), 1e-9), 3),
        }
    return out


COST_SCRIPT = r"""
import json, sys, time
import numpy as np
import kosbert_viz as kv
X = np.load(sys.argv[1]); texts = open(sys.argv[2], encoding="utf-8").read().split("\n")
# warm-up, untimed: numba compiles (NN-descent only runs from 8,192 points) and kiwi loads; a fresh worktree
# has no numba cache yet, so without this its first run paid the compilation
kv.map_vectors(X[:9000], texts[:9000], cache=None, show_progress_bar=False)
t = time.perf_counter()
tm = kv.map_vectors(X, texts, cache=None, show_progress_bar=False)
print(json.dumps({"seconds": time.perf_counter() - t, "themes": int(tm.clusters.n_clusters)}))
"""


def cost_run(cache, baseline, repeats, sizes):
    import pandas as pd

    import kosbert_viz as kv

    work = Path(tempfile.mkdtemp(prefix="kv-stab-"))
    tree = work / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), baseline], check=True, capture_output=True
    )
    try:
        sets = {}
        if 10_000 in sizes:
            texts, _ = corpus("ynat10k")
            sets["ynat10k"] = texts
        if 100_000 in sizes:
            df = pd.read_csv(
                DATA / "nsmc" / "raw_reviews.tsv.gz", sep="\t", usecols=["review"], dtype=str, keep_default_na=False
            )
            df = df[df.review.str.strip() != ""]
            sets["nsmc100k"] = df.sample(n=100_000, random_state=0).sort_index().review.tolist()
        script = work / "cost.py"
        script.write_text(COST_SCRIPT)
        out = {}
        for name, texts in sets.items():
            texts = [t.replace("\n", " ").replace("\r", " ") for t in texts]
            X = kv.encode(texts, model="offline", cache=cache, show_progress_bar=False)
            np.save(work / f"{name}.npy", X)
            (work / f"{name}.txt").write_text("\n".join(texts), encoding="utf-8")
            times = {"this": [], "baseline": []}
            themes = {}
            for _ in range(repeats):
                for which, path in (("baseline", tree), ("this", ROOT)):
                    env = dict(os.environ, PYTHONPATH=str(path), HF_HUB_OFFLINE="1")
                    r = subprocess.run(
                        [sys.executable, str(script), str(work / f"{name}.npy"), str(work / f"{name}.txt")],
                        env=env,
                        capture_output=True,
                        text=True,
                        cwd=str(work),
                    )
                    if r.returncode:
                        raise RuntimeError(r.stderr[-2000:])
                    got = json.loads(r.stdout.strip().splitlines()[-1])
                    times[which].append(round(got["seconds"], 2))
                    themes[which] = got["themes"]
            med = {k: float(np.median(v)) for k, v in times.items()}
            out[name] = {
                "n": len(texts),
                "seconds": times,
                "median": med,
                "themes": themes,
                "ratio": round(med["this"] / med["baseline"], 3),
            }
            print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
        return {"baseline": baseline, "repeats": repeats, "results": out}
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["sample", "ynat10k", "nsmc10k", "chatbot"])
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "kosbert-viz-bench-cache"))
    ap.add_argument("--cost", action="store_true", help="also time map_vectors against --baseline")
    ap.add_argument("--cost-only", action="store_true")
    ap.add_argument("--baseline", default="c1b395b")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "noise": f"vectors * (1 + {NOISE:g} * N(0, 1))",
        "seeds": list(SEEDS),
        "perturbed_seeds": list(PERTURBED),
    }
    if not args.cost_only:
        result["corpora"] = {}
        for name in args.datasets:
            t = time.perf_counter()
            result["corpora"][name] = stability_run(name, args.cache)
            result["corpora"][name]["bench_seconds"] = round(time.perf_counter() - t, 1)
            print(
                json.dumps({name: {k: v for k, v in result["corpora"][name].items() if k != "runs"}}),
                file=sys.stderr,
                flush=True,
            )
    if args.cost or args.cost_only:
        result["cost"] = cost_run(args.cache, args.baseline, args.repeats, args.sizes)
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
