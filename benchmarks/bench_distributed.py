"""Ray Data encoding (kosbert_viz.distributed) against single-process encode().

Reads movie reviews from ../shared/data/nsmc/raw_reviews.tsv.gz, encodes them with the
tiny test model (or --model), and prints JSON:

* rows/s of single-process ``kv.encode`` (no cache) and of ``encode_dataset`` with 1
  and 2 actors (each run into a fresh cache, end to end: actor start-up included);
* Ray's start-up overhead: ``ray.init`` and a 64-text run (the actor pool's start);
* a second, fully cached run (what a resumed run costs per row);
* peak RSS of the driver during the Ray runs and during the single-process run;
* the largest difference between the Ray vectors and encode()'s.

    python benchmarks/bench_distributed.py --rows 100000
    python benchmarks/bench_distributed.py --rows 20000 --actors 1 2 --cpus 2
    python benchmarks/bench_distributed.py --model ./ko-sbert-multitask --gpu   # GPU actors
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "nsmc" / "raw_reviews.tsv.gz"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(0.02)

    def __enter__(self):
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())
        return False


def load_reviews(n: int) -> list[str]:
    import pandas as pd

    if not DATA.exists():
        sys.exit(f"{DATA} is absent (the shared data folder is only on the project's machines)")
    df = pd.read_csv(
        DATA,
        sep="\t",
        quoting=csv.QUOTE_NONE,
        usecols=["review"],
        nrows=int(n * 1.05) + 100,
        dtype={"review": str},
        keep_default_na=False,
    )
    texts = [t for t in df.review if t.strip()][:n]
    if len(texts) < n:
        print(f"note: only {len(texts)} non-empty reviews in the first rows", file=sys.stderr)
    return texts


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cpus", type=int, default=2, help="num_cpus of the local Ray")
    ap.add_argument("--batch-size", type=int, default=None, help="rows per actor call (default: the library's)")
    ap.add_argument("--model", default=None, help="model name or folder (default: the tiny test model)")
    ap.add_argument("--gpu", action="store_true", help="GPU actors (num_gpus=1 each) and encode() on cuda")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)

    import numpy as np
    import ray

    import kosbert_viz as kv
    from kosbert_viz.distributed import encode_dataset, load_embeddings, shutdown_ray

    work = Path(tempfile.mkdtemp(prefix="kv-bench-dist-"))
    model = args.model
    if model is None:
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny_model import build_tiny_model

        model = str(build_tiny_model(work / "tiny-ko-sbert"))
    texts = load_reviews(args.rows)
    n = len(texts)
    unique = len({unicodedata.normalize("NFC", t) for t in texts})
    report: dict = {
        "benchmark": "distributed",
        "rows": n,
        "distinct_texts": unique,
        "model": "tiny-ko-sbert (random weights)" if args.model is None else args.model,
        "ray": ray.__version__,
        "local_ray_cpus": args.cpus,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }

    with PeakRSS() as mem_init:
        t = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING")
        report["ray_init_s"] = round(time.perf_counter() - t, 2)
    common = dict(model=model, batch_size=args.batch_size, show_progress_bar=False)
    if args.gpu:
        common.update(num_gpus=1)

    # the actor pool's start-up: a run that has almost nothing to encode
    small = encode_dataset(texts[:64], cache=work / "cache-startup", concurrency=1, **common)
    report["actor_pool_startup_s"] = round(small.seconds, 2)

    runs = {}
    ray_vectors = None
    with PeakRSS() as mem_ray:
        for k in args.actors:
            cache = work / f"cache-{k}"
            res = encode_dataset(
                texts, cache=cache, concurrency=k, num_cpus=None if args.gpu else max(1, args.cpus // k), **common
            )
            assert res.rows == n == res.cached + res.encoded + res.repeated, res
            assert res.entries == unique, (res, unique)
            again = encode_dataset(
                texts, cache=cache, concurrency=k, num_cpus=None if args.gpu else max(1, args.cpus // k), **common
            )
            assert again.encoded == 0, again
            runs[f"ray_{k}_actor{'s' if k > 1 else ''}"] = {
                "seconds": round(res.seconds, 2),
                "rows_per_s": round(res.rows_per_s, 1),
                "rows_per_s_without_startup": round(n / max(res.seconds - small.seconds, 1e-9), 1),
                "batches": res.batches,
                "device": res.device,
                "encoded": res.encoded,
                "cached_rerun_seconds": round(again.seconds, 2),
                "cached_rerun_rows_per_s": round(again.rows_per_s, 1),
            }
            if ray_vectors is None:
                ray_vectors = load_embeddings(texts, res)
    shutdown_ray()

    with PeakRSS() as mem_single:
        t = time.perf_counter()
        single = kv.encode(texts, model, cache=None, show_progress_bar=False, device="cuda" if args.gpu else None)
        dt = time.perf_counter() - t
    runs["single_process_encode"] = {"seconds": round(dt, 2), "rows_per_s": round(n / dt, 1)}
    report["runs"] = runs
    base = runs["single_process_encode"]["rows_per_s"]
    report["speedup_vs_single_process"] = {
        k: round(v["rows_per_s"] / base, 3) for k, v in runs.items() if k.startswith("ray_")
    }
    report["max_abs_diff_vs_encode"] = float(np.abs(ray_vectors - single).max())
    report["driver_peak_rss_mb"] = {
        "ray_init": round(mem_init.peak / 2**20, 1),
        "during_ray_runs": round(mem_ray.peak / 2**20, 1),
        "during_single_process_encode": round(mem_single.peak / 2**20, 1),
    }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
