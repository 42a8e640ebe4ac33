"""``check_texts`` (every public function's text check: str rows, NFC, lone surrogates) against the
per-text loop it used before (``list(iter_texts(texts))``), in one process, alternating.

    .venv/bin/python benchmarks/bench_check_texts.py            # 1M synthetic reviews, NSMC's 200k if present

Cases: texts that are clean already (the common case: one joined NFC/surrogate check per chunk, then a
copy); the same with one decomposed (NFD) row at the end; all rows NFD (a macOS export: each chunk is
normalised joined and split back); all rows NFD and holding a newline (the worst case: the chunk check
fails, then each row is normalised on its own). Outputs are compared for equality. Prints one JSON object with medians and
ratios, and writes it to benchmarks/results/bench_check_texts.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NSMC = ROOT.parent / "shared" / "data" / "nsmc" / "raw_reviews.tsv.gz"


def _nsmc(limit: int) -> list[str] | None:
    if not NSMC.exists():
        return None
    out = []
    with gzip.open(NSMC, "rt", encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 5 and parts[4]:
                out.append(unicodedata.normalize("NFC", parts[4]))
            if len(out) >= limit:
                break
    return out


def _time(fn, texts, repeats: int) -> dict:
    from kosbert_viz._util.validation import iter_texts

    new, old = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        a = fn(texts)
        new.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = list(iter_texts(texts))
        old.append(time.perf_counter() - t)
        assert a == b, "check_texts and the per-text loop disagree"
    m_new, m_old = statistics.median(new), statistics.median(old)
    return {
        "n": len(texts),
        "check_texts_s": round(m_new, 4),
        "per_text_loop_s": round(m_old, 4),
        "ratio": round(m_new / m_old, 3),
    }


def main(argv=None) -> int:
    from kosbert_viz._util.validation import check_texts

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_check_texts.json"))
    args = ap.parse_args(argv)
    synthetic = [f"리뷰 {i}: 배송이 빨라요, 포장도 꼼꼼했어요 {i % 97}" for i in range(args.n)]
    out = {
        "setup": f"one process, alternating, median of {args.repeats}; load average {os.getloadavg()[0]:.2f}",
        "reference": "list(iter_texts(texts)): check_texts before this change",
        "synthetic_clean": _time(check_texts, synthetic, args.repeats),
        "synthetic_one_nfd_row_last": _time(
            check_texts, synthetic[:-1] + [unicodedata.normalize("NFD", "환불 문의")], args.repeats
        ),
        "synthetic_all_nfd": _time(check_texts, [unicodedata.normalize("NFD", t) for t in synthetic], args.repeats),
        "synthetic_multiline_all_nfd": _time(
            check_texts, [unicodedata.normalize("NFD", t.replace(":", "\n")) for t in synthetic], args.repeats
        ),
    }
    real = _nsmc(200_000)
    if real is not None:
        out["nsmc_clean"] = _time(check_texts, real, args.repeats)
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
