"""CPU backends for a ko-sbert-shaped BERT-base: ONNX Runtime and OpenVINO vs plain PyTorch.

    python benchmarks/bench_encode_cpu_backends.py [--n 300] [--repeats 3] [--tiny-n 20000]
        [--workdir DIR] [--skip-threads] > benchmarks/results/bench_encode_cpu_backends.json

Run it in a scratch environment with onnx, onnxruntime, openvino and nncf installed next to
the project's torch / transformers / sentence-transformers (see "versions" in the output).
sentence-transformers' own backend="onnx" / "openvino" needs optimum-onnx / optimum-intel,
whose released versions pin transformers < 4.58 / < 5.6 and so cannot be installed next to
sentence-transformers 6.x + transformers 5.24; this benchmark therefore exports and runs the
graphs with the runtimes directly (torch.onnx.export, onnxruntime, openvino, nncf).

Model: tests/tiny_model.build_tiny_model(hidden_size=768, num_layers=12, vocab_size=32000,
max_seq_length=128): random weights, Korean WordPiece vocabulary, mean pooling. The builder
keeps its own num_attention_heads=2 and intermediate_size=2*hidden (1536), and the WordPiece
trainer stops at the vocabulary the corpus supports; the real ko-sbert has 12 heads and 3072.

Texts: 300 YNAT headlines (random_state=0). Every backend runs the same pipeline as
SentenceTransformer.encode: sort by length, batches of 32, tokenizer padding to the longest
in the batch, truncation at 128, mean pooling (inside the exported graph). Reference:
SentenceTransformer.encode(texts, batch_size=32) fp32 in the same process, interleaved with
the candidates in every repeat (the machine is shared). Reports median-of-repeats seconds,
texts/s, ratio vs the reference and per-vector cosine vs the reference vectors.

Thread study: torch.set_num_threads(1) vs (2) on the same BERT-base, and on the default tiny
model (hidden 32, 2 layers) with --tiny-n YNAT headlines, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = ROOT.parent / "shared/data/dacon_news_topic_ynat/train_data.csv"
BAR = {"min_ratio": 1.3, "min_cosine": 0.99}
THREADS = 2  # this machine's cores; every backend gets the same number


def _versions():
    out = {"python": platform.python_version()}
    for pkg in (
        "torch",
        "transformers",
        "sentence-transformers",
        "tokenizers",
        "numpy",
        "onnx",
        "onnxruntime",
        "openvino",
        "nncf",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _cpu():
    info = {"cpu_count": os.cpu_count(), "machine": platform.machine()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name"):
                info["model"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["isa"] = sorted(f for f in flags if f.startswith(("avx512_vnni", "avx512_bf16", "amx", "avx2")))
                break
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def _cosine(ref, got):
    return (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)


class _Pooled:
    """BertModel + attention-mask mean pooling (what sentence-transformers' Pooling does)."""

    def __new__(cls, hf_model):
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                h = self.m(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(h.dtype)
                return (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

        return Pooled(hf_model).eval()


def export_onnx(model_dir, path):
    """Export BertModel + mean pooling from a fresh eager-attention copy of the model folder.

    Eager attention (not the SDPA default) gives the MatMul/Softmax graph that onnxruntime's
    BERT optimizer fuses into its Attention kernel; the fp32 maths is the same.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu", model_kwargs={"attn_implementation": "eager"})

    enc = st.tokenizer(
        ["배송이 빨라요", "앱이 업데이트 후에 자꾸 꺼져요"],
        padding=True,
        truncation=True,
        max_length=st.max_seq_length,
        return_tensors="pt",
    )
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {k: {0: "batch", 1: "seq"} for k in names}
    axes["sentence_embedding"] = {0: "batch"}
    with torch.no_grad():
        # TorchScript exporter: its graph is the one onnxruntime's BERT fusions recognise.
        torch.onnx.export(
            _Pooled(st[0].auto_model),
            tuple(enc[k] for k in names),
            str(path),
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return path


class BatchedRunner:
    """Same batching as SentenceTransformer.encode: length-sorted batches of 32, pad to longest."""

    def __init__(self, st, run, batch_size=32):
        self.st, self.run, self.batch_size = st, run, batch_size
        self.dim = st[0].auto_model.config.hidden_size

    def encode(self, texts):
        order = np.argsort([-len(t) for t in texts], kind="stable")  # ST sorts by -len(text)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            idx = order[i : i + self.batch_size]
            enc = self.st.tokenizer(
                [texts[j] for j in idx],
                padding=True,
                truncation=True,
                max_length=self.st.max_seq_length,
                return_tensors="np",
            )
            feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            out[idx] = self.run(feed)
        return out


def ort_runner(st, path, threads=THREADS):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return BatchedRunner(st, lambda feed: sess.run(None, feed)[0])


def ov_runner(st, ov_model, precision="f32", threads=THREADS):
    import openvino as ov

    core = ov.Core()
    cfg = {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": precision,
    }
    compiled = core.compile_model(ov_model, "CPU", cfg)
    req = compiled.create_infer_request()
    return BatchedRunner(st, lambda feed: req.infer(feed)[0].copy())


def build_candidates(st, model_dir, work, calib_texts, log):
    """name -> (BatchedRunner, notes); failures are recorded, not fatal."""
    cands, failed = {}, {}
    onnx_path = work / "model.onnx"
    t = time.perf_counter()
    export_onnx(model_dir, onnx_path)
    log["onnx_export_s"] = time.perf_counter() - t
    hf_cfg = st[0].auto_model.config

    # --- ONNX Runtime -------------------------------------------------------------------
    try:
        cands["ort_fp32"] = (ort_runner(st, onnx_path), "onnxruntime CPU EP, ORT_ENABLE_ALL graph optimisation")
    except Exception as e:  # noqa: BLE001
        failed["ort_fp32"] = repr(e)
    fused = work / "model_fused.onnx"
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        opt = optimize_model(
            str(onnx_path),
            model_type="bert",
            num_heads=hf_cfg.num_attention_heads,
            hidden_size=hf_cfg.hidden_size,
            opt_level=1,
        )
        log["ort_fusion_stats"] = opt.get_fused_operator_statistics()
        opt.save_model_to_file(str(fused))
        cands["ort_fp32_fused"] = (
            ort_runner(st, fused),
            "onnxruntime.transformers.optimizer BERT fusions (Attention, LayerNorm, Gelu) + ORT_ENABLE_ALL",
        )
    except Exception as e:  # noqa: BLE001
        failed["ort_fp32_fused"] = repr(e)
        fused = onnx_path
    if "ort_fp32_fused" in cands:
        cands["ort_fp32_fused_1thread"] = (
            ort_runner(st, fused, threads=1),
            "ort_fp32_fused with intra_op_num_threads=1",
        )
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q8 = work / "model_int8_dynamic.onnx"
        t = time.perf_counter()
        # What optimum's AutoQuantizationConfig.avx512_vnni(is_static=False) does: int8 weights,
        # uint8 activations quantised per batch at run time, MatMul-family ops, per-tensor.
        import onnx

        quantize_dynamic(
            str(fused),
            str(q8),
            weight_type=QuantType.QInt8,
            per_channel=False,
            reduce_range=False,
            # the fused graph has com.microsoft ops that ONNX shape inference cannot type
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        log["ort_int8_quantize_s"] = time.perf_counter() - t
        cands["ort_int8_dynamic"] = (
            ort_runner(st, q8),
            "onnxruntime.quantization.quantize_dynamic QInt8 weights (on the fused graph)",
        )
        cands["ort_int8_dynamic_1thread"] = (
            ort_runner(st, q8, threads=1),
            "ort_int8_dynamic with intra_op_num_threads=1",
        )
    except Exception as e:  # noqa: BLE001
        failed["ort_int8_dynamic"] = repr(e)

    # --- OpenVINO -----------------------------------------------------------------------
    try:
        import openvino as ov

        ov_model = ov.convert_model(str(onnx_path))
        cands["ov_fp32"] = (
            ov_runner(st, ov_model, "f32"),
            "openvino CPU, INFERENCE_PRECISION_HINT=f32, LATENCY, 1 stream",
        )
        cands["ov_fp32_1thread"] = (ov_runner(st, ov_model, "f32", threads=1), "ov_fp32 with INFERENCE_NUM_THREADS=1")
        cands["ov_bf16"] = (
            ov_runner(st, ov_model, "bf16"),
            "openvino CPU, INFERENCE_PRECISION_HINT=bf16 (its default where the CPU has avx512_bf16/AMX)",
        )
    except Exception as e:  # noqa: BLE001
        failed["ov_fp32"] = repr(e)
        ov_model = None
    if ov_model is not None:
        try:
            import nncf

            t = time.perf_counter()
            wc = nncf.compress_weights(ov.convert_model(str(onnx_path)), mode=nncf.CompressWeightsMode.INT8_ASYM)
            log["ov_int8_weights_s"] = time.perf_counter() - t
            cands["ov_int8_weights"] = (
                ov_runner(st, wc, "f32"),
                "nncf.compress_weights INT8_ASYM (weight-only int8; activations f32)",
            )
        except Exception as e:  # noqa: BLE001
            failed["ov_int8_weights"] = repr(e)
        try:
            import nncf

            def feeds():
                for i in range(0, len(calib_texts), 8):
                    enc = st.tokenizer(
                        calib_texts[i : i + 8],
                        padding=True,
                        truncation=True,
                        max_length=st.max_seq_length,
                        return_tensors="np",
                    )
                    yield {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}

            batches = list(feeds())
            t = time.perf_counter()
            sq = nncf.quantize(
                ov.convert_model(str(onnx_path)),
                nncf.Dataset(batches),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(batches),
            )
            log["ov_int8_static_s"] = time.perf_counter() - t
            cands["ov_int8_static"] = (
                ov_runner(st, sq, "f32"),
                f"nncf.quantize ModelType.TRANSFORMER, {len(calib_texts)} other YNAT "
                "headlines as calibration (what export_static_quantized_openvino_model does)",
            )
        except Exception as e:  # noqa: BLE001
            failed["ov_int8_static"] = repr(e)
    return cands, failed


def bench_backends(st, texts, cands, repeats):
    import torch

    torch.set_num_threads(THREADS)

    def st_encode(threads):
        def run():
            torch.set_num_threads(threads)
            try:
                return st.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
            finally:
                torch.set_num_threads(THREADS)

        return run

    runs = {"torch_st_fp32": st_encode(THREADS), "torch_st_fp32_1thread": st_encode(1)}
    runs.update({name: (lambda r=r: r.encode(texts)) for name, (r, _) in cands.items()})
    times = {k: [] for k in runs}
    vecs = {}
    for k, f in runs.items():  # warm-up (first-call allocations, OpenVINO shape compilation)
        vecs[k] = f()
    names = list(runs)
    for rep in range(repeats):
        order = names[rep % len(names) :] + names[: rep % len(names)]  # rotate so no backend always goes first
        for k in order:
            t = time.perf_counter()
            vecs[k] = runs[k]()
            times[k].append(time.perf_counter() - t)
    ref = vecs["torch_st_fp32"]
    m_ref = statistics.median(times["torch_st_fp32"])
    m_ref1 = statistics.median(times["torch_st_fp32_1thread"])
    rows = {}
    for k in names:
        m = statistics.median(times[k])
        cos = _cosine(ref, vecs[k])
        ratio = m_ref / m
        rows[k] = {
            "s_median": m,
            "texts_per_s": len(texts) / m,
            "ratio_vs_torch": ratio,
            "ratio_vs_torch_1thread": m_ref1 / m,
            "min_cosine": float(cos.min()),
            "median_cosine": float(np.median(cos)),
            "passes_bar": None
            if k.startswith("torch_")
            else bool(ratio >= BAR["min_ratio"] and cos.min() >= BAR["min_cosine"]),
            "notes": {
                "torch_st_fp32": f"reference: SentenceTransformer.encode(texts, batch_size=32), torch fp32, {THREADS} threads",
                "torch_st_fp32_1thread": "the same with torch.set_num_threads(1)",
            }.get(k)
            or cands[k][1],
            "runs_s": times[k],
        }
    return rows


def bench_threads(st, texts, repeats):
    import torch

    times = {1: [], 2: []}
    st.encode(texts[:64], batch_size=32, show_progress_bar=False)
    for rep in range(repeats):
        for n in (1, 2) if rep % 2 == 0 else (2, 1):
            torch.set_num_threads(n)
            t = time.perf_counter()
            st.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
            times[n].append(time.perf_counter() - t)
    torch.set_num_threads(THREADS)
    out = {"texts": len(texts)}
    for n in (1, 2):
        m = statistics.median(times[n])
        out[f"threads_{n}"] = {"s_median": m, "texts_per_s": len(texts) / m, "runs_s": times[n]}
    out["speedup_2_vs_1"] = out["threads_1"]["s_median"] / out["threads_2"]["s_median"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tiny-n", type=int, default=20000)
    ap.add_argument("--calib-n", type=int, default=300)
    ap.add_argument("--workdir", default=None, help="reuse built models / exported graphs from here")
    ap.add_argument("--skip-threads", action="store_true")
    args = ap.parse_args()
    # Libraries (nncf's progress tables, exporters) print to stdout: keep stdout for the JSON alone.
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    import pandas as pd
    import torch
    from sentence_transformers import SentenceTransformer
    from tiny_model import build_tiny_model

    torch.set_num_threads(THREADS)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="kv-bench-cpu-backends-"))
    work.mkdir(parents=True, exist_ok=True)
    base_dir = work / "bert-base-ko"
    if not (base_dir / "modules.json").exists():
        build_tiny_model(base_dir, hidden_size=768, num_layers=12, vocab_size=32000, max_seq_length=128)
    titles = pd.read_csv(DATA)["title"].astype(str)
    texts = titles.sample(args.n, random_state=0).tolist()
    calib = titles.drop(titles.sample(args.n, random_state=0).index).sample(args.calib_n, random_state=1).tolist()

    st = SentenceTransformer(str(base_dir), device="cpu")
    cfg = st[0].auto_model.config
    result = {
        "benchmark": "encode_cpu_backends",
        "device": "cpu",
        "threads_per_backend": THREADS,
        "cpu": _cpu(),
        "versions": _versions(),
        "bar": BAR,
        "model": {
            "built_with": "tests/tiny_model.build_tiny_model(hidden_size=768, num_layers=12, vocab_size=32000, max_seq_length=128)",
            "layers": cfg.num_hidden_layers,
            "hidden": cfg.hidden_size,
            "heads": cfg.num_attention_heads,
            "intermediate": cfg.intermediate_size,
            "vocab_size_actual": cfg.vocab_size,
            "max_seq_length": st.max_seq_length,
            "pooling": "mean",
            "weights": "random",
            "attn_implementation_torch_reference": getattr(cfg, "_attn_implementation", None),
            "onnx_export": "torch.onnx.export(dynamo=False, opset 17) of BertModel(attn_implementation=eager) + mean pooling",
        },
        "texts": {
            "source": "YNAT train titles, sample(n, random_state=0)",
            "n": len(texts),
            "mean_chars": float(np.mean([len(t) for t in texts])),
        },
        "repeats": args.repeats,
    }
    log = {}
    cands, failed = build_candidates(st, base_dir, work, calib, log)
    result["build_log"] = log
    result["failed"] = failed
    result["backends"] = bench_backends(st, texts, cands, args.repeats)
    result["passing"] = [k for k, v in result["backends"].items() if v["passes_bar"]]
    result["passing_fp32_only"] = [k for k in result["passing"] if "int8" not in k and "bf16" not in k]

    if not args.skip_threads:
        result["torch_threads"] = {"bert_base": bench_threads(st, texts, args.repeats)}
        tiny_dir = work / "tiny"
        if not (tiny_dir / "modules.json").exists():
            build_tiny_model(tiny_dir)
        tiny = SentenceTransformer(str(tiny_dir), device="cpu")
        tiny_texts = titles.sample(args.tiny_n, random_state=0).tolist()
        result["torch_threads"]["tiny_32x2"] = bench_threads(tiny, tiny_texts, args.repeats)
    result["cpu"]["loadavg_end"] = os.getloadavg()
    json_out.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    json_out.flush()


if __name__ == "__main__":
    main()
