"""`kosbert-viz map` end to end on a CPU: the default (int8) against ``--precision fp32``. Prints JSON.

NSMC raw reviews (the first 10,000 and 100,000 rows of ``raw_reviews.tsv.gz``), a ko-sbert-shaped
BERT-base with random weights (``bench_encode_cpu.py`` builds it), a fresh embedding cache per run.
Each run is one ``kosbert-viz map`` process: wall time and peak RSS (``getrusage`` of the child).
The int8 export is done before the timed runs (it is once per model; ``bench_encode_cpu.py`` times it).

    python benchmarks/bench_map_cpu.py --out benchmarks/results/bench_map_cpu.json
    python benchmarks/bench_map_cpu.py --runs int8:10000 fp32:10000          # the short pair only
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from json_out import emit  # benchmarks/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "nsmc" / "raw_reviews.tsv.gz"
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    from bench_encode_cpu import build_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=["int8:10000", "fp32:10000", "int8:100000"])
    ap.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "kv-bench-bert-base-ko"))
    ap.add_argument("--out")
    args = ap.parse_args()
    model = build_model(Path(args.model_dir))
    work = Path(tempfile.mkdtemp(prefix="kv-bench-map-cpu-"))
    most = max(int(r.split(":")[1]) for r in args.runs)
    with gzip.open(DATA, "rt", encoding="utf-8") as src, open(work / "reviews.tsv", "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > most:
                break
            dst.write(line)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    subprocess.run(  # the int8 export, once, outside the timed runs
        [sys.executable, "-c", f"import kosbert_viz as kv; kv.load_encoder({model!r})"], env=env, check=True
    )
    result = {"benchmark": "map_cpu", "machine": {"cpus": os.cpu_count()}, "model": model, "runs": []}
    for run in args.runs:
        kind, n = run.split(":")
        cache = work / f"cache-{kind}-{n}"
        shutil.rmtree(cache, ignore_errors=True)
        precision = "auto" if kind == "int8" else kind
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable, "-m", "kosbert_viz.cli.main", "map", str(work / "reviews.tsv"),
                "--text-col", "review", "--model", model, "--precision", precision,
                "--cache-dir", str(cache), "--limit", n, "-o", str(work / f"{kind}-{n}.html"),
            ],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        row = {"run": run, "rc": proc.returncode, "seconds": round(seconds, 1)}
        row["peak_rss_gb"] = round(peak / 1e6, 2) if peak > before else "<= an earlier run's"
        result["runs"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    emit(result, args.out)


if __name__ == "__main__":
    main()
