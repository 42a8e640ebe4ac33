"""The CPU default (``precision="auto"``: int8 through ONNX Runtime) against ``SentenceTransformer.encode``. Prints JSON.

The model is ko-sbert-shaped (BERT-base: 12 layers, 768-d, 12 heads, FFN 3072, mean pooling,
max_seq_length 128) with random weights and a Korean WordPiece vocabulary (hub downloads are
unavailable here). Texts: YNAT news titles (short, about 19 tokens) and NSMC movie reviews
(longer), ``--n`` of each, sampled with random_state 0.

Each setting runs in its own process, with 1 and with 2 threads (``torch.set_num_threads``, which
also sets how many workers our int8 path runs; pinning the process to one core instead slowed a
single-threaded ONNX Runtime session by 1.4x on this VM, 103 against 146 texts/s, and PyTorch not at
all, so it would not measure what a 1-core machine gives):

- the reference: ``SentenceTransformer.encode(texts, batch_size=32)`` in fp32 at every thread
  count up to the setting, best kept (its best thread count);
- ours: ``kv.encode(texts, model, cache=None)`` with its defaults (int8 on a CPU), and
  ``precision="fp32"`` for comparison;
- ``--repeats`` timed runs each after one untimed warm-up, medians reported; the ratio is ours
  over the reference's best; the minimum cosine of our vectors against the reference's.

``short``: 300 YNAT titles as a notebook's first call, in a fresh process: the load (export
excluded: it is done once beforehand and reported on its own) and the first call, timed.

    python benchmarks/bench_encode_cpu.py --out benchmarks/results/bench_encode_cpu.json
    python benchmarks/bench_encode_cpu.py --n 200 --repeats 1      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from json_out import emit  # benchmarks/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def texts_of(corpus: str, n: int) -> list[str]:
    import pandas as pd

    if corpus == "ynat":
        df = pd.read_csv(DATA / "dacon_news_topic_ynat" / "train_data.csv")
        return df.title.astype(str).sample(n, random_state=0).tolist()
    df = pd.read_csv(DATA / "nsmc" / "nsmc_like_balanced_10k.tsv", sep="\t")
    return df.document.dropna().astype(str).sample(n, random_state=0).tolist()


def build_model(folder: Path) -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_model import build_tiny_model

    if not (folder / "modules.json").exists():
        build_tiny_model(
            folder,
            hidden_size=768,
            num_layers=12,
            num_heads=12,
            intermediate_size=3072,
            vocab_size=32000,
            max_seq_length=128,
        )
    return str(folder)


def child_throughput(model: str, corpus: str, n: int, nthreads: int, repeats: int) -> dict:
    """In a process limited to ``nthreads`` threads: the reference at each thread count, ours int8 and fp32."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    import kosbert_viz as kv

    texts = texts_of(corpus, n)
    st = SentenceTransformer(model, device="cpu")

    def timed(fn) -> tuple[float, object]:
        fn(texts[:32])  # warm-up
        runs, last = [], None
        for _ in range(repeats):
            t = time.perf_counter()
            last = fn(texts)
            runs.append(time.perf_counter() - t)
        return statistics.median(runs), last

    reference = {}
    ref_vectors = None
    for threads in range(1, nthreads + 1):
        torch.set_num_threads(threads)
        s, ref_vectors = timed(lambda x: st.encode(x, batch_size=32, show_progress_bar=False))
        reference[threads] = len(texts) / s
    best_threads = max(reference, key=reference.get)
    torch.set_num_threads(nthreads)
    out = {
        "threads": nthreads,
        "reference_texts_per_s": {str(k): round(v, 1) for k, v in reference.items()},
        "reference_best": {"threads": best_threads, "texts_per_s": round(reference[best_threads], 1)},
    }
    for name, precision in (("ours_default", "auto"), ("ours_fp32", "fp32")):
        enc = kv.load_encoder(model, precision=precision)
        s, vectors = timed(lambda x, e=enc: kv.encode(x, e, cache=None, show_progress_bar=False))
        a, b = np.asarray(vectors, np.float64), np.asarray(ref_vectors, np.float64)
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        out[name] = {
            "precision": enc.precision,
            "texts_per_s": round(len(texts) / s, 1),
            "ratio_vs_reference_best": round((len(texts) / s) / reference[best_threads], 2),
            "min_cosine_vs_reference": round(float(cos.min()), 5),
        }
    return out


def child_short(model: str, n: int, nthreads: int) -> dict:
    """A notebook's first call in a fresh process: load, then the first encode of ``n`` texts.

    The packages are imported before either load is timed (a notebook imports them in its first cell).
    """
    import torch

    torch.set_num_threads(nthreads)
    import onnxruntime  # noqa: F401
    from sentence_transformers import SentenceTransformer

    import kosbert_viz as kv
    import kosbert_viz.embed.engine  # noqa: F401

    texts = texts_of("ynat", n)
    t = time.perf_counter()
    enc = kv.load_encoder(model)
    ours_load = time.perf_counter() - t
    t = time.perf_counter()
    kv.encode(texts, enc, cache=None, show_progress_bar=False)
    ours_first = time.perf_counter() - t
    t = time.perf_counter()
    st = SentenceTransformer(model, device="cpu")
    st_load = time.perf_counter() - t
    st_first = {}
    for threads in range(1, nthreads + 1):  # the reference's first call at each thread count, best kept
        torch.set_num_threads(threads)
        t = time.perf_counter()
        st.encode(texts, batch_size=32, show_progress_bar=False)
        st_first[threads] = time.perf_counter() - t
    best = min(st_first, key=st_first.get)
    return {
        "threads": nthreads,
        "n": n,
        "ours_precision": enc.precision,
        "ours_load_s": round(ours_load, 2),
        "ours_first_call_s": round(ours_first, 2),
        "reference_load_s": round(st_load, 2),
        "reference_first_call_s": {str(k): round(v, 2) for k, v in st_first.items()},
        "ratio_first_call_vs_reference_best": round(st_first[best] / ours_first, 2),
        "ratio_load_and_first_call_vs_reference_best": round((st_load + st_first[best]) / (ours_load + ours_first), 2),
    }


def run_child(*args) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--short-n", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--corpora", nargs="+", default=["ynat", "nsmc"])
    ap.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "kv-bench-bert-base-ko"))
    ap.add_argument("--out")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "throughput":
            model, corpus, n, nthreads, repeats = rest
            print(json.dumps(child_throughput(model, corpus, int(n), int(nthreads), int(repeats))))
        else:
            model, n, nthreads = rest
            print(json.dumps(child_short(model, int(n), int(nthreads))))
        return

    model = build_model(Path(args.model_dir))
    cache = Path(tempfile.mkdtemp(prefix="kv-bench-cpu-"))
    os.environ["KOSBERT_VIZ_CACHE"] = str(cache)  # a fresh export, timed here; the children reuse it
    import kosbert_viz as kv

    t = time.perf_counter()
    enc = kv.load_encoder(model)
    export_s = time.perf_counter() - t
    result = {
        "benchmark": "encode_cpu",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average_start": os.getloadavg()},
        "model": "BERT-base shape (12 x 768, 12 heads, FFN 3072), random weights, Korean WordPiece, mean pooling",
        "default_precision_on_cpu": enc.precision,
        "int8_export": {"seconds_including_load": round(export_s, 1), **getattr(enc.onnx, "report", {})},
        "n": args.n,
        "repeats": args.repeats,
        "throughput": {},
        "short": [],
    }
    for corpus in args.corpora:
        for nthreads in args.threads:
            row = run_child("throughput", model, corpus, args.n, nthreads, args.repeats)
            result["throughput"][f"{corpus}_{nthreads}thread"] = row
            print(json.dumps({f"{corpus}_{nthreads}thread": row}), file=sys.stderr, flush=True)
    for nthreads in args.threads:
        row = run_child("short", model, args.short_n, nthreads)
        result["short"].append(row)
        print(json.dumps({"short": row}), file=sys.stderr, flush=True)
    result["machine"]["load_average_end"] = os.getloadavg()
    ratios = [r["ours_default"]["ratio_vs_reference_best"] for r in result["throughput"].values()]
    result["summary"] = {
        "ratio_min": min(ratios) if ratios else None,
        "ratio_median": statistics.median(ratios) if ratios else None,
        "min_cosine": min(r["ours_default"]["min_cosine_vs_reference"] for r in result["throughput"].values()),
        "short_ratio_min": min(r["ratio_first_call_vs_reference_best"] for r in result["short"]),
        "short_ratio_with_load_min": min(r["ratio_load_and_first_call_vs_reference_best"] for r in result["short"]),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
