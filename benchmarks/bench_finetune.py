"""kv.finetune against sentence-transformers' trainer configured by hand the same way, same process.

    python benchmarks/bench_finetune.py [--n 2000] [--repeats 2] [--model-shape tiny]
    python benchmarks/bench_finetune.py --device cuda --model-shape bert-base [--precision bf16] [--n 20000]

Both sides train the same model on the same pairs with the same recipe: AdamW lr 2e-5, weight
decay 0.01, eps 1e-6, linear warm-up (10% of steps), max_grad_norm 1, one epoch, seed 42,
checkpoints at the same steps; CosineSimilarityLoss at batch 8 on KorSTS train pairs, and
MultipleNegativesRankingLoss (scale 20) at batch 64 without duplicates on its paraphrase pairs
(score >= 3; pairs of the bundled corpus' topics when ../shared/data is absent).
The reference is ``SentenceTransformerTrainer`` with torch's default thread count and, on the
CPU, also pinned to 1 thread. Reported: training pairs/s (the ``train()`` call only), the whole
call's seconds (load, train, save), ours/reference ratios, and on CUDA the peak GPU memory.

Models (random weights, Korean WordPiece, mean pooling: ko-sbert's module stack, as the hub is
unreachable): ``tiny`` (2 layers, 32-d; the tests' model) or ``bert-base`` (12 x 768, ko-sbert's shape).
Prints JSON and writes benchmarks/results/bench_finetune[_gpu].json.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
KORSTS = ROOT.parent / "shared" / "data" / "KorNLUDatasets" / "KorSTS"

SHAPES = {
    "tiny": dict(hidden_size=32, num_layers=2, num_heads=2, vocab_size=2000, max_seq_length=64),
    "bert-base": dict(
        hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072, vocab_size=32000, max_seq_length=128
    ),
}


def load_data(n: int):
    """(scored pairs, anchor/positive pairs, where from)."""
    import numpy as np
    import pandas as pd

    if KORSTS.exists():
        from kosbert_viz.evaluate import load_korsts

        sts = load_korsts(KORSTS, "train")
        scored = sts.sample(frac=1.0, random_state=0).head(n).reset_index(drop=True)
        close = sts[sts.score >= 3.0]
        pairs = pd.DataFrame({"anchor": close.sentence1, "positive": close.sentence2}).head(n).reset_index(drop=True)
        return scored, pairs, "KorSTS train"
    from kosbert_viz.datasets import load_sample

    df = load_sample()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(df), (2, n))
    scored = pd.DataFrame(
        {
            "sentence1": df.text.to_numpy()[a],
            "sentence2": df.text.to_numpy()[b],
            "score": (df.topic.to_numpy()[a] == df.topic.to_numpy()[b]).astype(float),
        }
    )
    same = [(t, rng.choice(df.text[df.topic == topic].to_numpy())) for t, topic in zip(df.text, df.topic)]
    pairs = pd.DataFrame(same, columns=["anchor", "positive"])
    pairs = pairs[pairs.anchor != pairs.positive].reset_index(drop=True)
    return scored, pairs, "bundled sample (synthetic pairs)"


def reference(model_path, data, kind, out, *, batch, warmup, precision, checkpoint_steps, threads=None):
    """sentence-transformers' own trainer, configured by hand with the same recipe."""
    import datasets
    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer import losses

    user = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        model = SentenceTransformer(model_path, device="cpu")
        if kind == "scored":
            cols = {
                "sentence1": data.sentence1.tolist(),
                "sentence2": data.sentence2.tolist(),
                "score": (data.score / 5.0).tolist(),
            }
            loss, sampler = losses.CosineSimilarityLoss(model), BatchSamplers.BATCH_SAMPLER
        else:
            cols = {"anchor": data.anchor.tolist(), "positive": data.positive.tolist()}
            loss, sampler = losses.MultipleNegativesRankingLoss(model, scale=20.0), BatchSamplers.NO_DUPLICATES
        cuda = torch.cuda.is_available()
        args = SentenceTransformerTrainingArguments(
            output_dir=str(out / "checkpoints"),
            num_train_epochs=1,
            per_device_train_batch_size=batch,
            learning_rate=2e-5,
            weight_decay=0.01,
            adam_epsilon=1e-6,
            max_grad_norm=1.0,
            lr_scheduler_type="linear",
            warmup_steps=warmup,
            batch_sampler=sampler,
            seed=42,
            fp16=precision == "fp16",
            bf16=precision == "bf16",
            save_strategy="steps",
            save_steps=checkpoint_steps,
            save_total_limit=2,
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=cuda,
            use_cpu=not cuda,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=datasets.Dataset.from_dict(cols), loss=loss
        )
        t1 = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - t1
        model.save(str(out / "model"), create_model_card=False)
        return {"train_s": train_s, "wall_s": time.perf_counter() - t0, "pairs_per_s": len(data) / train_s}
    finally:
        torch.set_num_threads(user)


def ours(model_path, data, out, *, precision, batch):
    import kosbert_viz as kv

    t0 = time.perf_counter()
    res = kv.finetune(
        data,
        model_path,
        output_dir=out,
        epochs=1,
        eval=False,
        precision=precision,
        show_progress_bar=False,
        batch_size=batch,
    )
    return {
        "train_s": res.train_seconds,
        "wall_s": time.perf_counter() - t0,
        "pairs_per_s": res.pairs_per_second,
        "recipe": {k: res.recipe[k] for k in ("batch_sizes", "total_steps", "warmup_steps", "precision")},
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="training pairs per loss")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model-shape", default="tiny", choices=sorted(SHAPES))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="auto", help="auto (bf16/fp16 on CUDA, fp32 on the CPU), fp32, fp16, bf16")
    ap.add_argument("--losses", default="cosine,mnrl")
    ap.add_argument("--out", default=None, help="result JSON (default benchmarks/results/bench_finetune[_gpu].json)")
    args = ap.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA GPU")
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # both sides on the CPU
    from tiny_model import build_tiny_model

    from kosbert_viz.finetuning.recipe import default_recipe, resolve_precision

    precision = resolve_precision(args.precision)
    scored, pairs, source = load_data(args.n)
    tmp = Path(tempfile.mkdtemp(prefix="bench_finetune_"))
    model_path = str(build_tiny_model(tmp / "model", **SHAPES[args.model_shape]))
    report = {
        "benchmark": "finetune",
        "device": args.device,
        "model_shape": args.model_shape,
        "precision": precision,
        "data": source,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_start": list(os.getloadavg()),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        "cases": {},
    }
    for name in args.losses.split(","):
        kind, data = ("scored", scored) if name == "cosine" else ("pairs", pairs)
        batch = 8 if kind == "scored" else 64
        plan = default_recipe({"train": len(data)}, {"train": kind}, batch_size=batch, epochs=1)
        checkpoint_steps = max(1, min(500, plan["total_steps"] // 10))
        runs = {"reference": [], "ours": []}
        if args.device == "cpu":
            runs["reference_1thread"] = []
        peak = {}
        for r in range(args.repeats):
            for side in runs:  # interleaved, so load on the machine hits both sides alike
                out = tmp / f"{name}-{side}-{r}"
                if args.device == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                if side == "ours":
                    runs[side].append(ours(model_path, data, out, precision=args.precision, batch=batch))
                else:
                    runs[side].append(
                        reference(
                            model_path,
                            data,
                            kind,
                            out,
                            batch=batch,
                            warmup=plan["warmup_steps"],
                            precision=precision,
                            checkpoint_steps=checkpoint_steps,
                            threads=1 if side == "reference_1thread" else None,
                        )
                    )
                if args.device == "cuda":
                    peak[side] = max(peak.get(side, 0), torch.cuda.max_memory_allocated())
                print(
                    json.dumps(
                        {
                            "case": name,
                            "side": side,
                            "repeat": r,
                            "pairs_per_s": round(runs[side][-1]["pairs_per_s"], 2),
                        }
                    ),
                    file=sys.stderr,
                )
        case = {"pairs": len(data), "batch": batch, "steps": plan["total_steps"], "runs": runs}
        for side, rs in runs.items():
            case[f"{side}_pairs_per_s_median"] = statistics.median(x["pairs_per_s"] for x in rs)
            case[f"{side}_wall_s_median"] = statistics.median(x["wall_s"] for x in rs)
        case["ratio_pairs_per_s"] = case["ours_pairs_per_s_median"] / case["reference_pairs_per_s_median"]
        case["ratio_wall"] = case["reference_wall_s_median"] / case["ours_wall_s_median"]
        if "reference_1thread" in runs:
            case["ratio_pairs_per_s_vs_1thread"] = (
                case["ours_pairs_per_s_median"] / case["reference_1thread_pairs_per_s_median"]
            )
        if peak:
            case["peak_gpu_memory_mib"] = {k: round(v / 2**20, 1) for k, v in peak.items()}
        report["cases"][name] = case
    report["load_average_end"] = list(os.getloadavg())
    out = (
        Path(args.out)
        if args.out
        else ROOT
        / "benchmarks"
        / "results"
        / ("bench_finetune.json" if args.device == "cpu" else "bench_finetune_gpu.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
