"""Peak memory of streaming encode(): 1,000,000 short texts from a generator into a memmap.

    python benchmarks/bench_encode_memory.py [--n 1000000] [--cache]

Texts are real movie reviews streamed from ../shared/data/nsmc/raw_reviews.tsv.gz (cycled
with a suffix to reach --n distinct texts; synthetic where the file is absent), encoded
with the tiny test model. The reference in the same run is the naive way: the whole list
in memory, then plain SentenceTransformer.encode on it (measured on --ref-n texts and
reported per million). Prints JSON; peak RSS is the process's ru_maxrss, measured in a
fresh subprocess for each side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/data/nsmc/raw_reviews.tsv.gz"

CHILD = r"""
import gzip, itertools, json, os, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
os.environ["HF_HUB_OFFLINE"] = "1"
mode, n, model, out_path, data, use_cache = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6] == "1"

def reviews():
    for rnd in itertools.count():
        if os.path.exists(data):
            with gzip.open(data, "rt", encoding="utf-8") as fh:
                next(fh)
                for line in fh:
                    text = line.rstrip("\n").split("\t")[-1]
                    yield text if rnd == 0 else f"{{text}} ({{rnd}})"
        else:
            for i in range(1_000_000):
                yield f"리뷰 {{rnd}}-{{i}} 재밌어요 배송 빨라요"

texts = itertools.islice(reviews(), n)
t = time.perf_counter()
if mode == "ours":
    import kosbert_viz as kv
    enc = kv.load_encoder(model)
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float32, shape=(n, enc.dim))
    kv.encode(texts, enc, out=out, cache=(out_path + ".cache") if use_cache else None, show_progress_bar=False)
    out.flush()
else:
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(model, device="cpu")
    emb = st.encode(list(texts), batch_size=32, convert_to_numpy=True, show_progress_bar=False)
wall = time.perf_counter() - t
print(json.dumps({{"n": n, "wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def child(mode, n, model, out_path, use_cache):
    code = CHILD.format(root=str(ROOT))
    p = subprocess.run(
        [sys.executable, "-c", code, mode, str(n), model, out_path, str(DATA), "1" if use_cache else "0"],
        capture_output=True,
        text=True,
    )
    if p.returncode:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--ref-n", type=int, default=200_000)
    ap.add_argument("--cache", action="store_true", help="also write every vector to a disk cache")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    from tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="kv-bench-mem-"))
    model = str(build_tiny_model(work / "tiny"))
    ours = child("ours", args.n, model, str(work / "emb.npy"), args.cache)
    ref = child("st_list", args.ref_n, model, "", False)
    print(
        json.dumps(
            {
                "benchmark": "encode_memory",
                "model": "tiny test BERT (32-d)",
                "cache": args.cache,
                "ours_generator_to_memmap": ours,
                "reference_list_then_st_encode": ref,
                "ours_texts_per_s": ours["n"] / ours["wall_s"],
                "ref_texts_per_s": ref["n"] / ref["wall_s"],
                "source": "nsmc raw_reviews" if DATA.exists() else "synthetic",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
