"""encode() vs plain SentenceTransformer.encode on the same model and texts, same process.

    python benchmarks/bench_encode.py [--n 600] [--repeats 3] [--layers 12] [--hidden 768]

The model is ko-sbert-shaped (BERT-base: 12 layers, 768-d, mean pooling, max_seq_length 128)
with random weights and a Korean WordPiece vocabulary, since hub downloads are unavailable.
Texts: YNAT headlines from ../shared/data (synthetic Korean when absent). Cases:
  distinct  - every text once: the fast path against ST defaults (batch 32)
  repeated  - every text 3 times (real review data repeats): encode() encodes each once
Prints JSON with medians, ratios and per-vector cosine against ST.
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


def load_texts(n):
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
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    import kosbert_viz as kv
    from tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="kv-bench-enc-"))
    model_dir = str(build_tiny_model(work / "bert-base-ko", hidden_size=args.hidden, num_layers=args.layers,
                                     vocab_size=32000, max_seq_length=128))
    texts, source = load_texts(args.n)
    st = SentenceTransformer(model_dir, device="cpu")
    ours_model = kv.load_encoder(model_dir)
    result = {"benchmark": "encode", "device": "cpu", "torch_threads": torch.get_num_threads(),
              "model": f"BERT {args.layers}x{args.hidden} random weights, Korean WordPiece", "texts": source,
              "n": len(texts)}
    for case, data in (("distinct", texts), ("repeated_x3", texts * 3)):
        t_st, t_ours = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            ref = st.encode(data, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
            t_st.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = kv.encode(data, ours_model, cache=None, show_progress_bar=False)
            t_ours.append(time.perf_counter() - t)
        cos = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
        m_st, m_ours = statistics.median(t_st), statistics.median(t_ours)
        result[case] = {"texts": len(data), "st_s_median": m_st, "ours_s_median": m_ours,
                        "st_texts_per_s": len(data) / m_st, "ours_texts_per_s": len(data) / m_ours,
                        "speedup": m_st / m_ours, "min_cosine_vs_st": float(cos.min()),
                        "st_runs": t_st, "ours_runs": t_ours}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
