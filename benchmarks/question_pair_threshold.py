"""Question_pair: is one question a rewording of the other? Cosine of the pair >= a threshold.

    KOSBERT_VIZ_MODEL=offline .venv/bin/python benchmarks/question_pair_threshold.py
    .venv/bin/python benchmarks/question_pair_threshold.py --model jhgan/ko-sbert-multitask

The threshold is the one that maximises F1 on the train split (kor_pair_train.csv); precision,
recall and F1 are then measured on the test split (kor_Pair_test.csv) at that threshold.
Reads ../shared/data/Question_pair. Prints one JSON object.

Note the labels: the data set's README says 0 = the same question, 1 = a different question,
despite the column name ``is_duplicate``. A "duplicate" here is therefore ``is_duplicate == 0``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "Question_pair"


def read_pairs(path: Path):
    import pandas as pd

    df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    df = df[["question1", "question2", "is_duplicate"]]
    df = df[(df.question1.str.strip() != "") & (df.question2.str.strip() != "")]
    # README: "같은 질문 0, 다른 질문 1" (0 = same question), whatever the column is called
    return df.assign(same=(df.is_duplicate.astype(int) == 0).astype(int))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--model", default=None, help="default: $KOSBERT_VIZ_MODEL or ko-sbert ('offline' for USE)")
    ap.add_argument("--cache-dir", default=None, help="embedding cache (default: none)")
    args = ap.parse_args(argv)

    import kosbert_viz as kv
    from kosbert_viz.evaluate import best_threshold, pair_similarity, precision_recall_f1

    train = read_pairs(Path(args.data) / "kor_pair_train.csv")
    test = read_pairs(Path(args.data) / "kor_Pair_test.csv")
    t0 = time.perf_counter()
    encoder = kv.load_encoder(args.model)

    def sims(df):
        e1 = kv.encode(df.question1.tolist(), encoder, cache=args.cache_dir)
        e2 = kv.encode(df.question2.tolist(), encoder, cache=args.cache_dir)
        return pair_similarity(e1, e2, "cosine")

    s_train, s_test = sims(train), sims(test)
    fit = best_threshold(s_train, train.same.to_numpy())
    result = precision_recall_f1(s_test, test.same.to_numpy(), fit["threshold"])
    # kv.duplicates' default ("auto"): chosen on the test questions themselves, no labels used
    corpus = list(dict.fromkeys(test.question1.tolist() + test.question2.tolist()))
    groups = kv.duplicates(kv.encode(corpus, encoder, cache=args.cache_dir), corpus)
    auto_t = groups.attrs["threshold"]
    auto = precision_recall_f1(s_test, test.same.to_numpy(), auto_t)
    best_test = best_threshold(s_test, test.same.to_numpy())  # the best fixed threshold in hindsight
    from sklearn.metrics import roc_auc_score

    report = {
        "benchmark": "question_pair_threshold",
        "model": getattr(encoder, "name", str(encoder)),
        "rule": "same question when cosine(question1, question2) >= threshold (label: is_duplicate == 0)",
        "threshold_from_train": round(fit["threshold"], 4),
        "train": {k: round(v, 4) if isinstance(v, float) else v for k, v in fit.items() if k != "threshold"},
        "test": {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items() if k != "threshold"},
        "duplicates_auto": {
            "threshold": round(auto_t, 4),
            "rule": groups.attrs["threshold_rule"],
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in auto.items() if k != "threshold"},
        },
        "best_fixed_on_test": {k: round(v, 4) if isinstance(v, float) else v for k, v in best_test.items()},
        "old_default_0.9_on_test": {
            k: round(v, 4) if isinstance(v, float) else v
            for k, v in precision_recall_f1(s_test, test.same.to_numpy(), 0.9).items()
        },
        "test_base_rate": round(float(test.same.mean()), 4),
        "test_roc_auc": round(float(roc_auc_score(test.same, s_test)), 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return report


if __name__ == "__main__":
    main()
