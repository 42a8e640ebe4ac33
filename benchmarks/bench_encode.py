"""encode() vs plain SentenceTransformer.encode on the same model and texts, same process.

    python benchmarks/bench_encode.py [--n 600] [--repeats 3] [--layers 12] [--hidden 768]
    python benchmarks/bench_encode.py --device cuda [--n-synthetic 50000] [--n 20000] [--ynat-file F]

The model is ko-sbert-shaped (BERT-base: 12 layers, 768-d, mean pooling, max_seq_length 128)
with random weights and a Korean WordPiece vocabulary, since hub downloads are unavailable.
Texts: YNAT headlines from ../shared/data (synthetic Korean when absent). Cases:
  distinct       - every text once: the fast path against ST defaults (batch 32) and ST on 1 thread
  repeated       - every text 3 times (real review data repeats): encode() encodes each once
  distinct_int8  - precision="int8" (ONNX Runtime, the CPU default); export time reported
Prints JSON with medians, ratios and per-vector cosine against ST.

On ``--device cuda`` two corpora are run: synthetic Korean (words of the bundled
corpus, about 22 tokens a sentence, p95 about 45) and YNAT headlines. References:
ST defaults (fp32, batch 32), batch 256, TF32 batch 256, fp16 batch 1024. Ours:
fp16 (the CUDA default), bf16 and fp32, a token-budget sweep, the tokenizer alone,
and two checks on the CUDA path (pieces are bit-identical in fp32; a real
out-of-memory under a capped memory fraction backs off and completes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def synthetic_korean(n, seed=0):
    """Random Korean sentences from the bundled corpus' words (lognormal word counts)."""
    from kosbert_viz.datasets import load_sample

    words = sorted({w for t in load_sample().text for w in t.split()})
    rng = np.random.default_rng(seed)
    counts = np.clip(rng.lognormal(np.log(15.2), 0.55, n).astype(int), 1, 90)
    return [" ".join(rng.choice(words, k)) for k in counts]


def load_texts(n, ynat_file=None):
    if ynat_file:
        return Path(ynat_file).read_text(encoding="utf-8").splitlines()[:n], "ynat"
    path = ROOT.parent / "shared/data/dacon_news_topic_ynat/train_data.csv"
    if path.exists():
        import pandas as pd

        return pd.read_csv(path)["title"].astype(str).sample(n, random_state=0).tolist(), "ynat"
    rng = np.random.default_rng(0)
    words = "배송 환불 주문 앱 오류 날씨 병원 학교 경제 정부 대통령 선수 경기 주식 은행 여행 호텔".split()
    return [" ".join(rng.choice(words, rng.integers(4, 15))) for _ in range(n)], "synthetic"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n-synthetic", type=int, default=50_000)
    ap.add_argument("--ynat-file", help="one headline per line (for machines without ../shared)")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--gpu-suite", action="store_true", help="the GPU cases on any device (a dry run on cpu)")
    args = ap.parse_args()
    if args.device.startswith("cuda") or args.gpu_suite:
        return main_cuda(args)

    import torch
    from sentence_transformers import SentenceTransformer
    from tiny_model import build_tiny_model

    import kosbert_viz as kv

    work = Path(tempfile.mkdtemp(prefix="kv-bench-enc-"))
    model_dir = str(
        build_tiny_model(
            work / "bert-base-ko",
            hidden_size=args.hidden,
            num_layers=args.layers,
            vocab_size=32000,
            max_seq_length=128,
            num_heads=max(1, args.hidden // 64),
            intermediate_size=4 * args.hidden,
        )
    )
    texts, source = load_texts(args.n)
    st = SentenceTransformer(model_dir, device="cpu")
    ours_model = kv.load_encoder(model_dir)
    threads = torch.get_num_threads()
    t = time.perf_counter()
    try:
        ours_int8 = kv.load_encoder(model_dir, precision="int8")
        int8_export_s = time.perf_counter() - t
    except ImportError:
        ours_int8 = int8_export_s = None
    result = {
        "benchmark": "encode",
        "device": "cpu",
        "torch_threads": threads,
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "model": f"BERT {args.layers}x{args.hidden}, {max(1, args.hidden // 64)} heads, FFN {4 * args.hidden}, "
        "random weights, Korean WordPiece",
        "texts": source,
        "n": len(texts),
        "int8_export_s": int8_export_s,
    }

    def st_encode(data, n_threads):
        torch.set_num_threads(n_threads)
        try:
            return st.encode(data, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
        finally:
            torch.set_num_threads(threads)

    cases = [("distinct", texts, ours_model), ("repeated_x3", texts * 3, ours_model)]
    if ours_int8 is not None:
        cases.append(("distinct_int8", texts, ours_int8))
    for case, data, model in cases:
        timings = {"st": [], "st_1thread": [], "ours": []}
        for _ in range(args.repeats):  # interleaved, so load changes hit every variant alike
            for name, fn in (
                ("st", lambda: st_encode(data, threads)),
                ("st_1thread", lambda: st_encode(data, 1)),
                ("ours", lambda: kv.encode(data, model, cache=None, show_progress_bar=False)),
            ):
                t = time.perf_counter()
                vecs = fn()
                timings[name].append(time.perf_counter() - t)
                if name == "st":
                    ref = vecs
                elif name == "ours":
                    got = vecs
        cos = _cosine_rows(ref, got)
        med = {k: statistics.median(v) for k, v in timings.items()}
        tuner = getattr(model, "_thread_tuner", None)
        result[case] = {
            "texts": len(data),
            "st_s_median": med["st"],
            "st_1thread_s_median": med["st_1thread"],
            "ours_s_median": med["ours"],
            "st_texts_per_s": len(data) / med["st"],
            "st_1thread_texts_per_s": len(data) / med["st_1thread"],
            "ours_texts_per_s": len(data) / med["ours"],
            "speedup": med["st"] / med["ours"],
            "speedup_vs_st_1thread": med["st_1thread"] / med["ours"],
            "min_cosine_vs_st": float(cos.min()),
            "ours_threads_chosen": tuner and tuner.best,
            "runs": timings,
        }
        print(
            case, {k: round(v, 3) for k, v in result[case].items() if isinstance(v, float)}, file=sys.stderr, flush=True
        )
    result["load_average_end"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def _median_run(fn, repeats):
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        vecs = fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), runs, vecs


def _cosine_rows(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main_cuda(args):
    """GPU: ST's settings against ours on synthetic Korean and YNAT, same process, same model."""
    import torch
    from sentence_transformers import SentenceTransformer
    from tiny_model import build_tiny_model

    import kosbert_viz as kv
    from kosbert_viz.embed import engine as _fastpath

    dev = args.device
    work = Path(tempfile.mkdtemp(prefix="kv-bench-enc-"))
    model_dir = str(
        build_tiny_model(
            work / "bert-base-ko",
            hidden_size=args.hidden,
            num_layers=args.layers,
            vocab_size=32000,
            max_seq_length=128,
            num_heads=max(1, args.hidden // 64),
            intermediate_size=4 * args.hidden,
        )
    )
    st32 = SentenceTransformer(model_dir, device=dev)
    st16 = SentenceTransformer(model_dir, device=dev).half()
    ours = {p: kv.load_encoder(model_dir, device=dev, precision=p) for p in ("fp16", "bf16", "fp32")}
    ynat, ynat_source = load_texts(args.n, args.ynat_file)
    corpora = {"synthetic": synthetic_korean(args.n_synthetic), ynat_source: ynat}
    cuda = dev.startswith("cuda")
    props = torch.cuda.get_device_properties(dev) if cuda else None
    result = {
        "benchmark": "encode",
        "device": dev,
        "gpu": props.name if cuda else None,
        "gpu_memory_gib": round(props.total_memory / 2**30, 1) if cuda else None,
        "cpu_cores": os.cpu_count(),
        "versions": {
            "torch": torch.__version__,
            "sentence_transformers": __import__("sentence_transformers").__version__,
            "transformers": __import__("transformers").__version__,
            "tokenizers": __import__("tokenizers").__version__,
        },
        "model": f"BERT {args.layers}x{args.hidden}, {max(1, args.hidden // 64)} heads, FFN {4 * args.hidden}, "
        "random weights, Korean WordPiece, max_seq_length 128, "
        "mean pooling",
        "fast_path": _fastpath.fast_path_supported(st32),
        "attention": st32[0].auto_model.config._attn_implementation,
        "repeats": args.repeats,
    }

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def st_run(model, bs, texts, tf32=False):
        def go():
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            try:
                return model.encode(texts, batch_size=bs, convert_to_numpy=True, show_progress_bar=False)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False

        return go

    def ours_run(prec, texts, budget=None):
        def go():
            out = kv.encode(texts, ours[prec], cache=None, show_progress_bar=False, token_budget=budget)
            sync()
            return out

        return go

    tok = _fastpath._fast_tokenizer(ours["fp16"], ours["fp16"].model[0].tokenizer, 128)
    for name, texts in corpora.items():
        lengths = tok(texts).lengths
        warm = texts[:2000]
        for fn in (st_run(st32, 32, warm), st_run(st16, 256, warm)):  # CUDA context, cuBLAS handles, kernels
            fn()
        for p in ours:
            kv.encode(warm, ours[p], cache=None, show_progress_bar=False)
        entry = {
            "texts": len(texts),
            "distinct": len(set(texts)),
            "tokens_mean": float(lengths.mean()),
            "tokens_p95": float(np.percentile(lengths, 95)),
            "tokens_max": int(lengths.max()),
        }
        t = time.perf_counter()
        tok(texts)
        entry["tokenizer_alone_texts_per_s"] = len(texts) / (time.perf_counter() - t)
        t = time.perf_counter()
        ours["fp16"].model[0].tokenizer(texts, truncation=True, max_length=128)
        entry["hf_tokenizer_call_texts_per_s"] = len(texts) / (time.perf_counter() - t)
        cases = {
            "st_default_fp32_b32": st_run(st32, 32, texts),
            "st_fp32_b256": st_run(st32, 256, texts),
            "st_tf32_b256": st_run(st32, 256, texts, tf32=True),
            "st_fp16_b1024": st_run(st16, 1024, texts),
            "ours_fp16": ours_run("fp16", texts),
            "ours_bf16": ours_run("bf16", texts),
            "ours_fp32": ours_run("fp32", texts),
        }
        ref = None
        for case, fn in cases.items():
            med, runs, vecs = _median_run(fn, args.repeats)
            if ref is None:
                ref = vecs
            cos = _cosine_rows(ref, vecs)
            entry[case] = {
                "s_median": med,
                "texts_per_s": len(texts) / med,
                "runs": runs,
                "min_cosine_vs_st_fp32": float(cos.min()),
                "median_cosine": float(np.median(cos)),
            }
            print(name, case, round(len(texts) / med), "texts/s", file=sys.stderr, flush=True)
        st_best = max((c for c in entry if c.startswith("st_")), key=lambda c: entry[c]["texts_per_s"])
        for case in ("ours_fp16", "ours_bf16", "ours_fp32"):
            entry[case]["speedup_vs_st_default"] = (
                entry[case]["texts_per_s"] / entry["st_default_fp32_b32"]["texts_per_s"]
            )
            entry[case]["speedup_vs_best_st"] = entry[case]["texts_per_s"] / entry[st_best]["texts_per_s"]
        entry["best_st"] = st_best
        sweep = {}
        for budget in (32768, 65536, 131072, 262144):
            med, runs, _ = _median_run(ours_run("fp16", texts, budget), 1)
            sweep[str(budget)] = len(texts) / med
        entry["ours_fp16_token_budget_sweep_texts_per_s"] = sweep
        result[name] = entry

    if args.out:  # the speed figures survive a failing check
        Path(args.out).write_text(json.dumps(result, indent=2))
    texts = corpora["synthetic"][:20000]
    checks = {}
    whole = kv.encode(texts, ours["fp32"], cache=None, show_progress_bar=False)
    old_piece = _fastpath._PIECE
    _fastpath._PIECE = 777
    try:
        pieces = kv.encode(texts, ours["fp32"], cache=None, show_progress_bar=False)
    finally:
        _fastpath._PIECE = old_piece
    checks["fp32_pieces_bit_identical"] = bool(np.array_equal(whole, pieces))
    checks["fp32_pieces_max_abs_diff"] = float(np.abs(whole - pieces).max())
    one_by_one = np.stack([kv.encode(t, ours["fp32"], cache=None) for t in texts[:50]])
    checks["fp32_single_texts_bit_identical"] = bool(np.array_equal(one_by_one, whole[:50]))
    checks["fp32_single_texts_max_abs_diff"] = float(np.abs(one_by_one - whole[:50]).max())
    checks["fp32_min_cosine_vs_st_fp32"] = float(
        _cosine_rows(whole, st32.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)).min()
    )
    if not cuda:
        result["cuda_checks"] = checks
        print(json.dumps(result, indent=2))
        return
    normal = kv.encode(texts, ours["fp16"], cache=None, show_progress_bar=False)
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info(torch.cuda.current_device())
    torch.cuda.set_per_process_memory_fraction(
        min(1.0, (torch.cuda.memory_allocated(torch.cuda.current_device()) + 2**30) / total),
        torch.cuda.current_device(),
    )
    try:
        capped = kv.encode(texts, ours["fp16"], cache=None, show_progress_bar=False, token_budget=2**24)
        checks["oom_backoff_final_budget"] = ours["fp16"].last_token_budget
        checks["oom_backoff_min_cosine"] = float(_cosine_rows(normal, capped).min())
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        checks["oom_backoff_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, torch.cuda.current_device())
    result["cuda_checks"] = checks
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
