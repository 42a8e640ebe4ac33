"""``encode()``: Korean texts -> float32 sentence vectors, cached on disk.

>>> import kosbert_viz as kv
>>> emb = kv.encode(["배송이 빨라요", "환불은 언제 되나요?"])   # (2, 768) with ko-sbert
>>> emb.dtype, len(emb)
(dtype('float32'), 2)
>>> kv.encode("배송이 빨라요").shape == emb.shape[1:]         # one str: one vector
True
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from itertools import islice

import numpy as np

from kosbert_viz._util.validation import check_positive_int, iter_texts
from kosbert_viz.embed.cache import (
    CacheWriteError,
    EmbeddingCache,
    normalize_text,
    text_keys,
)
from kosbert_viz.embed.models import load_encoder

__all__ = ["encode"]

_CHUNK = 65536  # texts handled at once: bounds memory for generators and huge inputs


def resolve_cache(cache) -> EmbeddingCache | None:
    if cache is None or cache is False:
        return None
    if isinstance(cache, EmbeddingCache):
        return cache
    if cache is True or cache == "auto":
        return EmbeddingCache()
    if isinstance(cache, (str, os.PathLike)):
        return EmbeddingCache(cache)
    raise TypeError(f"cache must be 'auto', None, a folder path or an EmbeddingCache, got {type(cache).__name__}")


def encode(
    texts: str | Iterable[str],
    model=None,
    *,
    batch_size: int | None = None,
    token_budget: int | None = None,
    device: str | list[str] | None = None,
    precision: str = "auto",
    normalize: bool = False,
    cache="auto",
    show_progress_bar: bool | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Encode texts into sentence vectors.

    Parameters
    ----------
    texts : str or iterable of str
        A list, pandas Series, tuple or any iterable (a generator over a huge file
        works; memory stays bounded by the chunk). A single string gives a 1-D vector.
        Texts are Unicode-NFC normalised before encoding; each distinct text is
        encoded once per call.
    model : str, path, SentenceTransformer or OfflineEncoder, optional
        Default ``$KOSBERT_VIZ_MODEL``, else ``jhgan/ko-sbert-multitask``.
    batch_size : int, optional
        Largest number of texts per forward pass. Without ``token_budget`` the batches
        are fixed-size (length-sorted), like sentence-transformers.
    token_budget : int, optional
        Padded tokens per forward pass (default 4096 on CPU, 65536 on CUDA).
    device : str or list of str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``; default cuda > mps > cpu. A list
        (``["cuda:0", "cuda:1"]``) runs one worker per device, results in input order.
    precision : {"auto", "fp32", "fp16", "bf16", "int8"}
        ``auto`` is fp16 on CUDA and int8 on a CPU: the transformer in ONNX Runtime with
        int8 weights, exported once per model, each text run alone (so its vector never
        depends on its batch), within cosine 0.999 of fp32 on probe texts or else fp32
        with a warning; cached apart from fp32 vectors. ``fp32`` gives the exact vectors. A
        ``SentenceTransformer`` passed in keeps its own dtype.
    normalize : bool
        L2-normalise the vectors.
    cache : "auto", None, path or EmbeddingCache
        ``"auto"`` uses ``$KOSBERT_VIZ_CACHE`` or the user cache dir; None turns it off.
        Only texts missing from the cache are encoded.
    show_progress_bar : bool, optional
        Default: shown for more than 256 texts or unknown lengths.
    out : ndarray or numpy.memmap, optional
        Preallocated ``(n, dim)`` float32 output (for corpora larger than RAM).

    Returns
    -------
    numpy.ndarray of float32, shape ``(n, dim)`` in input order (``(dim,)`` for a str).

    Example
    -------
    >>> emb = kv.encode(df["review"], cache="kv-cache")        # a cache folder of your choice
    >>> unit = kv.encode(df["review"][:3], normalize=True)     # unit-length rows
    >>> np.allclose(unit, emb[:3] / np.linalg.norm(emb[:3], axis=1, keepdims=True))
    True
    """
    single = isinstance(texts, str)
    if single:
        texts = [texts]
    if texts is None or isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a str or an iterable of str, got {type(texts).__name__}")
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise ValueError(f"texts must be one-dimensional, got an array of shape {texts.shape}")
    if hasattr(texts, "ndim") and getattr(texts, "ndim", 1) != 1:
        raise ValueError(
            f"texts must be one column of texts, got a {type(texts).__name__} of shape "
            f"{getattr(texts, 'shape', '?')}: pick the column, e.g. df['review']"
        )
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    token_budget = check_positive_int(token_budget, "token_budget", allow_none=True)
    encoder = load_encoder(model, device=device, precision=precision, normalize=normalize)
    store = resolve_cache(cache)
    total = len(texts) if isinstance(texts, (Sequence, np.ndarray)) or hasattr(texts, "__len__") else None
    if out is not None:
        if out.dtype != np.float32 or out.ndim != 2 or out.shape[1] != encoder.dim:
            raise ValueError(f"out must be a float32 array of shape (n, {encoder.dim}), got {out.dtype} {out.shape}")
        if total is not None and len(out) != total:
            raise ValueError(f"out has {len(out)} rows, expected {total} (one per text)")
    if show_progress_bar is None:
        show_progress_bar = total is None or total > 256

    from tqdm.auto import tqdm

    bar = tqdm(
        total=total, desc=f"encode ({encoder.device})", unit="text", disable=not show_progress_bar, dynamic_ncols=True
    )
    stats = {"hits": 0, "encoded": 0, "dup": 0, "truncated": 0}
    pieces: list[np.ndarray] = []
    done = 0
    cache_warned = False
    iterator = iter_texts(iter(texts))
    try:
        while True:
            chunk = list(islice(iterator, _CHUNK))
            if not chunk:
                break
            vecs, cache_warned = _encode_chunk(
                chunk, encoder, store, stats, bar, batch_size, token_budget, cache_warned
            )
            if out is not None:
                if done + len(vecs) > len(out):
                    raise ValueError(f"out has {len(out)} rows, but the input has more texts")
                out[done : done + len(vecs)] = vecs
            else:
                pieces.append(vecs)
            done += len(vecs)
    finally:
        bar.close()
    if stats["truncated"]:
        warnings.warn(
            f"{stats['truncated']} of {stats['encoded']} encoded texts are longer than max_seq_length="
            f"{getattr(encoder, 'max_seq_length', '?')} tokens and were truncated (as sentence-transformers does).",
            UserWarning,
            stacklevel=2,
        )
    if out is not None:
        if done != len(out):
            raise ValueError(f"out has {len(out)} rows, but the input had {done} texts")
        result = out
    elif not pieces:
        result = np.empty((0, encoder.dim), np.float32)
    else:
        result = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    encode.last_stats = dict(stats, total=done)
    return result[0] if single else result


def unique_texts(texts) -> tuple[list[str], list[str], np.ndarray]:
    """NFC forms of ``texts``, their distinct values in first-seen order, and each row's index into those.

    >>> unique_texts(["가", "나", "가"])[1:]
    (['가', '나'], array([0, 1, 0]))
    """
    nfc = [normalize_text(t) for t in texts]
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(t, len(first)) for t in nfc), dtype=np.int64, count=len(nfc))
    return nfc, list(first), inverse


def _encode_chunk(chunk, encoder, store, stats, bar, batch_size, token_budget, cache_warned):
    """Encode one chunk: NFC, de-duplicate, look up the cache, encode the misses, store them."""
    nfc, unique, inverse = unique_texts(chunk)
    stats["dup"] += len(nfc) - len(unique)
    vecs = np.empty((len(unique), encoder.dim), np.float32)
    found = np.zeros(len(unique), bool)
    if store is not None:
        keys = text_keys(encoder.fingerprint, unique)
        got, found = store.get(encoder.fingerprint, keys)
        if found.any():
            vecs[found] = got[found]
        stats["hits"] += int(found.sum())
    rows_hit = int(np.count_nonzero(found[inverse]))
    bar.update(rows_hit)
    todo = np.flatnonzero(~found)
    if len(todo):
        encoder.last_truncated = 0
        vecs[todo] = encoder.encode_unique(
            [unique[i] for i in todo], batch_size=batch_size, token_budget=token_budget, progress=bar
        )
        stats["truncated"] += getattr(encoder, "last_truncated", 0)
        stats["encoded"] += len(todo)
        if store is not None:
            try:
                store.put(encoder.fingerprint, keys[todo], vecs[todo], model=encoder.name, details=encoder.details)
            except CacheWriteError as exc:  # disk full, no permission, read-only: warn, keep the vectors
                if not cache_warned:
                    warnings.warn(
                        f"{exc} The vectors of this call are returned but not cached.", RuntimeWarning, stacklevel=3
                    )
                    cache_warned = True
    bar.update(len(nfc) - rows_hit - len(todo))  # repeated texts, encoded once
    bar.set_postfix(hits=stats["hits"], encoded=stats["encoded"], refresh=False)
    return vecs[inverse], cache_warned
