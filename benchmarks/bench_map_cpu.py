"""`kosbert-viz map` end to end on a CPU: the default (int8) against ``--precision fp32``. Prints JSON.

NSMC raw reviews (the first 10,000 and 100,000 rows of ``raw_reviews.tsv.gz``), a ko-sbert-shaped
BERT-base with random weights (``bench_encode_cpu.py`` builds it), a fresh embedding cache per run.
Each run is one ``kosbert-viz map`` process: wall time and its own peak RSS (``os.wait4``).
The int8 export is done before the timed runs (it is once per model; ``bench_encode_cpu.py`` times it).

    python benchmarks/bench_map_cpu.py --out benchmarks/results/bench_map_cpu.json
    python benchmarks/bench_map_cpu.py --runs int8:10000 fp32:10000          # the short pair only
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
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


def encode_seconds(log: str) -> int | None:
    """The encoding stage's time, from its finished progress bar (``encode (cpu): 100%|...| n/n [mm:ss<``)."""
    done = re.findall(r"encode \(cpu\): 100%[^\[]*\[(?:(\d+):)?(\d+):(\d+)<", log)
    if not done:
        return None
    h, m, sec = done[-1]
    return int(h or 0) * 3600 + int(m) * 60 + int(sec)


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
    result = {
        "benchmark": "map_cpu",
        "machine": {"cpus": os.cpu_count(), "load_average_start": os.getloadavg()},
        "model": "BERT-base shape (12 x 768, 12 heads, FFN 3072), random weights, Korean WordPiece (bench_encode_cpu)",
        "runs": [],
    }
    for run in args.runs:
        kind, n = run.split(":")
        cache = work / f"cache-{kind}-{n}"
        shutil.rmtree(cache, ignore_errors=True)
        precision = "auto" if kind == "int8" else kind
        log = work / f"{kind}-{n}.log"
        t = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "kosbert_viz.cli.main", "map", str(work / "reviews.tsv"),
                    "--text-col", "review", "--model", model, "--precision", precision,
                    "--cache-dir", str(cache), "--limit", n, "-o", str(work / f"{kind}-{n}.html"),
                ],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (kB on Linux)
        seconds = time.perf_counter() - t
        row = {"run": run, "rc": os.waitstatus_to_exitcode(status), "seconds": round(seconds, 1)}
        row["peak_rss_gb"] = round(usage.ru_maxrss / 1e6, 2)
        row["encode_seconds"] = encode_seconds(log.read_text(errors="replace"))
        if row["rc"] != 0:
            row["log_tail"] = log.read_text(errors="replace")[-2000:]
        result["runs"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    result["machine"]["load_average_end"] = os.getloadavg()
    by = {r["run"]: r["seconds"] for r in result["runs"] if r["rc"] == 0}
    result["ratios"] = {
        f"fp32_over_int8_{n}": round(by[f"fp32:{n}"] / by[f"int8:{n}"], 2)
        for n in sorted({r.split(":")[1] for r in by})
        if f"fp32:{n}" in by and f"int8:{n}" in by
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
