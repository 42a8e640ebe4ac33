"""kv.search (exact, blocked) against sentence_transformers.util.semantic_search, and the faiss index.

    .venv/bin/python benchmarks/bench_search.py                      # 1,000 queries x 1M x 768, top-10
    .venv/bin/python benchmarks/bench_search.py --n 100000 --repeats 1

Both exact searches run in this process on the same random unit vectors, interleaved; the results are
compared (same top-k sets, scores within 1e-5). Peak memory is the highest RSS above the
level before each call (sampled every 5 ms). The approximate index is timed per nprobe, with
recall@k against the exact answer. Prints one JSON object with medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time

import numpy as np


class PeakRSS:
    """Highest resident set size above the level at entry, sampled in a thread."""

    def __init__(self, every: float = 0.005):
        import psutil

        self._proc, self._every = psutil.Process(), every

    def __enter__(self):
        self.base = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self._every)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        self.extra_mib = (self.peak - self.base) / 2**20


def unit_vectors(n: int, dim: int, seed: int, block: int = 65536) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, block):
        x = rng.standard_normal((min(block, n - s), dim), dtype=np.float32)
        out[s : s + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def clustered_unit_vectors(
    n: int, dim: int, seed: int, centers: int = 2000, spread: float = 0.6, block: int = 65536
) -> np.ndarray:
    """Unit vectors around random topic centres: the kind of structure real text embeddings have."""
    rng = np.random.default_rng(12345)  # same centres for corpus and queries
    mu = rng.standard_normal((centers, dim), dtype=np.float32) / np.sqrt(dim)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, block):
        m = min(block, n - s)
        x = mu[rng.integers(0, centers, m)] + spread * rng.standard_normal((m, dim), dtype=np.float32) / np.sqrt(dim)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def timed(fns: dict, repeats: int):
    """Run each function ``repeats`` times, interleaved (a, b, a, b, ...) so that load from
    other processes on a shared machine falls on both alike. Returns {name: (result, stats)}."""
    times = {name: [] for name in fns}
    mems = {name: [] for name in fns}
    results = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                results[name] = fn()
                times[name].append(time.perf_counter() - t0)
            mems[name].append(mem.extra_mib)
    return {
        name: (
            results[name],
            {
                "median_s": round(statistics.median(times[name]), 3),
                "runs_s": [round(t, 3) for t in times[name]],
                "peak_extra_rss_mib": round(max(mems[name]), 1),
            },
        )
        for name in fns
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="corpus vectors")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nlist", type=int, default=None, help="faiss inverted lists (default sqrt(n))")
    ap.add_argument("--nprobe", default="8,32,128", help="comma-separated nprobe values to time")
    ap.add_argument("--skip-ann", action="store_true")
    ap.add_argument(
        "--data",
        default="random",
        choices=["random", "clustered"],
        help="random unit vectors (the issue's setting; no neighbourhood structure, the worst case "
        "for an approximate index) or unit vectors around 2,000 topic centres",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from sentence_transformers.util import semantic_search

    import kosbert_viz as kv

    make = unit_vectors if args.data == "random" else clustered_unit_vectors
    C = make(args.n, args.dim, args.seed)
    Q = make(args.queries, args.dim, args.seed + 1)
    k = args.top_k
    report = {
        "benchmark": "search",
        "data": args.data,
        "n_corpus": args.n,
        "dim": args.dim,
        "n_queries": args.queries,
        "top_k": k,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }

    Qt, Ct = torch.from_numpy(Q), torch.from_numpy(C)
    runs = timed(
        {"ours": lambda: kv.search(Q, C, top_k=k), "st": lambda: semantic_search(Qt, Ct, top_k=k)}, args.repeats
    )
    ours_df, report["kosbert_viz_exact"] = runs["ours"]
    st, report["sentence_transformers_semantic_search"] = runs["st"]
    ours_idx = ours_df["index"].to_numpy().reshape(args.queries, k)
    ours_score = ours_df["score"].to_numpy().reshape(args.queries, k)

    st_idx = np.array([[h["corpus_id"] for h in hits] for hits in st])
    st_score = np.array([[h["score"] for h in hits] for hits in st])
    same_sets = np.array([set(a) == set(b) for a, b in zip(ours_idx, st_idx)])
    report["same_results"] = {
        "queries_with_identical_top_k": int(same_sets.sum()),
        "max_abs_score_diff": float(np.abs(ours_score - st_score).max()),
        "all_equal": bool(same_sets.all() and np.abs(ours_score - st_score).max() < 1e-5),
    }
    report["speed_ratio_ours_vs_st"] = round(
        report["sentence_transformers_semantic_search"]["median_s"] / report["kosbert_viz_exact"]["median_s"], 3
    )

    if not args.skip_ann:
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            index = kv.build_index(C, nlist=args.nlist, seed=args.seed)
            build_s = time.perf_counter() - t0
        ann = {
            "index": repr(index),
            "build_s": round(build_s, 2),
            "build_peak_extra_rss_mib": round(mem.extra_mib, 1),
            "by_nprobe": [],
        }
        for nprobe in [int(x) for x in args.nprobe.split(",") if x]:
            df, t = timed(
                {"ann": lambda: kv.search(Q, C, top_k=k, index=index, nprobe=nprobe, recall_sample=0)}, args.repeats
            )["ann"]
            got = df.groupby("query", sort=True)["index"].apply(set)
            recall = float(np.mean([len(got.get(q, set()) & set(ours_idx[q])) / k for q in range(args.queries)]))
            ann["by_nprobe"].append(
                {
                    "nprobe": nprobe,
                    "median_s": t["median_s"],
                    "recall_at_k": round(recall, 4),
                    "speedup_vs_exact": round(report["kosbert_viz_exact"]["median_s"] / t["median_s"], 2),
                }
            )
        report["ann_faiss_ivf"] = ann
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
