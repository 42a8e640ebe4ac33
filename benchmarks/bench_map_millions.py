"""Maps of millions (issue 14): ``kv.map_vectors(..., fit_sample=100_000)`` on 1,000,000 precomputed vectors.

    python benchmarks/bench_map_millions.py                  # 1M with fit_sample=100k, then 200k without
    python benchmarks/bench_map_millions.py --n 500000       # a smaller run

Input: synthetic clustered 768-d float32 vectors (40 themes, 8 sub-themes each, Gaussian spread)
with short synthetic texts drawn from each theme's own vocabulary (so naming has words to find).
Both runs call the same public function (``kv.map_vectors``, the lower level of ``map_texts``) with
``cache=None`` (no layout read from or written to disk). Reference in the same run: the map of
200,000 such vectors without a sample. Each run is a separate child process, so its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes the input vectors) is its own;
the wall time counts ``map_vectors`` only (not generating the vectors), figure included.
JSON on stdout and in results/bench_map_millions.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
os.environ.setdefault("NUMBA_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "bench_map_millions.json"


def synthetic(n: int, dim: int = 768, n_themes: int = 40, seed: int = 0):
    from synthetic_vectors import clustered_sampler

    rng = np.random.default_rng(seed)
    X, theme, sub = clustered_sampler(dim, n_themes, rng)(n)
    words = rng.integers(0, 12, (n, 4))
    texts = [f"주제{t}말{a} 주제{t}말{b} 소{s}어{c} 공통{d}" for t, s, (a, b, c, d) in zip(theme, sub, words)]
    return X, texts, theme


def child(n: int, fit_sample: int | None) -> dict:
    t = time.perf_counter()
    X, texts, theme = synthetic(n)
    gen_s = time.perf_counter() - t
    rss_input = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    from sklearn.metrics import adjusted_rand_score

    import kosbert_viz as kv

    t = time.perf_counter()
    tm = kv.map_vectors(X, texts, fit_sample=fit_sample, cache=None, show_progress_bar=False)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    lv = tm.clusters.levels or [tm.clusters.labels]
    shown = np.asarray(lv[tm.level])
    return {
        "n": n,
        "fit_sample": fit_sample,
        "wall_s": round(wall, 1),
        "peak_rss_gb": round(peak, 2),
        "rss_after_generating_input_gb": round(rss_input, 2),
        "generate_s": round(gen_s, 1),
        "themes_per_level": [int(len(np.unique(x))) for x in lv],
        "level_shown": int(tm.level),
        "ari_vs_true_theme_at_level_shown": round(float(adjusted_rand_score(theme, shown)), 4),
        "table_size_sum": int(tm.table["size"].sum()),
        "timings_s": tm.manifest.get("timings_s"),
        "fit_sample_record": tm.manifest.get("fit_sample"),
        "figure_traces": len(tm.figure.data),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--fit-sample", type=int, default=100_000)
    ap.add_argument("--ref-n", type=int, default=200_000)
    ap.add_argument("--child", nargs=2, metavar=("N", "FIT_SAMPLE"))
    args = ap.parse_args()
    if args.child:
        n, fs = int(args.child[0]), int(args.child[1])
        print("RESULT " + json.dumps(child(n, fs or None)), flush=True)
        return
    runs = {}
    load_start = os.getloadavg()
    for name, n, fs in (("sampled", args.n, args.fit_sample), ("reference_no_sample", args.ref_n, 0)):
        p = subprocess.run([sys.executable, __file__, "--child", str(n), str(fs)], capture_output=True, text=True)
        line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        runs[name] = (
            json.loads(line[-1][7:]) if line else {"n": n, "failed": p.returncode, "stderr_tail": p.stderr[-2000:]}
        )
        print(name, json.dumps(runs[name]), file=sys.stderr, flush=True)
    s, r = runs["sampled"], runs["reference_no_sample"]
    out = {
        "benchmark": "map_vectors with fit_sample (issue 14, maps of millions)",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": load_start,
            "load_average_at_end": os.getloadavg(),
            "note": "one run each, the two runs one after the other",
        },
        "targets": {"wall_s_1m": 300, "peak_rss_gb": 8},
        "runs": runs,
    }
    if "wall_s" in s and "wall_s" in r:
        out["summary"] = {
            "sampled_wall_s": s["wall_s"],
            "sampled_peak_rss_gb": s["peak_rss_gb"],
            "reference_wall_s": r["wall_s"],
            "reference_peak_rss_gb": r["peak_rss_gb"],
            "meets_targets": s["n"] >= 1_000_000 and s["wall_s"] <= 300 and s["peak_rss_gb"] <= 8,
        }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
