"""Issue 13 granularity check: 100,000 NSMC raw reviews (seeded sample), offline encoder, the theme
hierarchy's default level and its names. Writes benchmarks/results/nsmc_100k_themes.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/nsmc_100k_themes.py
"""

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import kosbert_viz as kv

df = pd.read_csv(
    str(Path(__file__).resolve().parents[2] / "shared/data/nsmc/raw_reviews.tsv.gz"),
    sep="\t",
    dtype=str,
    keep_default_na=False,
    quoting=3,
    nrows=200_000,
)
df = df[df.review.str.strip() != ""]
t = df.review.sample(100_000, random_state=0).tolist()
t0 = time.time()
E = kv.encode(t, "offline", cache="auto", show_progress_bar=False)
te = time.time() - t0
t0 = time.time()
res = kv.cluster(E, "hierarchy", cache="auto")
tc = time.time() - t0
names = kv.hierarchy_names(t, res, embeddings=E)
top = names[names.level == res.default_level].sort_values("size", ascending=False)
out = {
    "n": len(t),
    "encode_s": round(te, 1),
    "hierarchy_with_layout_s": round(tc, 1),
    "themes_per_level": [int(len(np.unique(l))) for l in res.levels],
    "default_level": res.default_level,
    "n_default": int(res.n_clusters),
    "top_names": list(zip(top.name, top["size"].astype(int).tolist())),
}
print(json.dumps(out, ensure_ascii=False, indent=1))
json.dump(
    out, open(str(Path(__file__).resolve().parent / "results/nsmc_100k_themes.json"), "w"), ensure_ascii=False, indent=1
)
