"""Subprocess workers for the cache's concurrency, crash and full-disk tests.

python cache_worker.py encode CACHE MODEL START STOP OUT.npy
python cache_worker.py writeloop CACHE SEED
python cache_worker.py fill CACHE LIMIT_BYTES
"""

from __future__ import annotations

import sys

import numpy as np

DIM = 64
FP = "synthetic-fingerprint"


def synthetic_vectors(ids) -> np.ndarray:
    """A vector that is a pure function of its id, to check every stored row."""
    return np.stack([np.random.default_rng(int(i)).standard_normal(DIM).astype(np.float32) for i in ids])


def synthetic_texts(ids) -> list[str]:
    return [f"문장 번호 {int(i)} 배송 환불" for i in ids]


def main(argv):
    from kosbert_viz.embed.cache import CacheFullError, EmbeddingCache, text_keys

    mode, cache_dir = argv[0], argv[1]
    if mode == "encode":
        import kosbert_viz as kv

        model, start, stop, out = argv[2], int(argv[3]), int(argv[4]), argv[5]
        texts = [f"동시에 쓰는 문장 {i} 택배가 늦어요" for i in range(start, stop)]
        emb = kv.encode(texts, model, cache=cache_dir, show_progress_bar=False, batch_size=16)
        np.save(out, emb)
    elif mode == "writeloop":
        cache = EmbeddingCache(cache_dir)
        rng = np.random.default_rng(int(argv[2]))
        print("ready", flush=True)
        while True:
            ids = rng.integers(0, 50_000, size=int(rng.integers(200, 3000)))
            cache.put(FP, text_keys(FP, synthetic_texts(ids)), synthetic_vectors(ids))
    elif mode == "fill":
        import resource
        import signal

        limit = int(argv[2])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write then fails with EFBIG
        cache = EmbeddingCache(cache_dir)
        ids = np.arange(100)
        cache.put(FP, text_keys(FP, synthetic_texts(ids)), synthetic_vectors(ids))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        big = np.arange(100, 100 + 5000)
        try:
            cache.put(FP, text_keys(FP, synthetic_texts(big)), synthetic_vectors(big))
        except CacheFullError as exc:
            print("CacheFullError:", exc)
            return 3
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
