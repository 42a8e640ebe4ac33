"""The encoding engine for Transformer + Pooling sentence-transformers models.

Tokenize once (fast tokenizer, no padding), sort by token length, cut batches by a
token budget (in fp32 each text is padded to its own length rounded up to a multiple
of 8, never to a neighbour's, so every vector is bit-identical whatever else was
encoded with it), pad with vectorised numpy, run the model's own module stack
(Transformer -> Pooling -> Normalize/Dense...) and write each vector back to its
input position. On CUDA out-of-memory the budget is halved and the batch retried;
rows are only written once a batch succeeded, so none is lost or duplicated.
Any other module stack falls back to ``SentenceTransformer.encode``.
"""
from __future__ import annotations

import itertools
import logging

import numpy as np

logger = logging.getLogger("kosbert_viz")

_FAST_MODULES = {"Pooling", "Normalize", "Dense", "LayerNorm", "Dropout"}
DEFAULT_BUDGET = {"cpu": 4096, "mps": 16384, "cuda": 65536}
# fp32 batches pad every text to its own length rounded up to this multiple, never to a
# neighbour's: a vector is then bit-identical whatever else was in the call (cache hits too)
_BUCKET = 8


def fast_path_supported(model) -> bool:
    """True for a text Transformer followed only by pooling-type modules."""
    try:
        modules = list(model)
    except TypeError:
        return False
    if not modules or type(modules[0]).__name__ != "Transformer":
        return False
    first = modules[0]
    tokenizer = getattr(first, "tokenizer", None)
    if tokenizer is None or not getattr(tokenizer, "is_fast", False):
        return False
    config = getattr(first, "modality_config", {"text": {"method": "forward"}})
    if set(config) != {"text"} or config["text"].get("method", "forward") != "forward":
        return False
    if getattr(model, "default_prompt_name", None) or any(type(m).__name__ not in _FAST_MODULES
                                                           for m in modules[1:]):
        return False
    return True


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


class _Tokenized:
    """Token ids of many texts as one flat array plus offsets."""

    def __init__(self, tokenizer, texts: list[str], max_length: int):
        ids = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        self.lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        self.offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(self.offsets[-1]))
        at_limit = np.flatnonzero(self.lengths >= max_length)
        self.truncated = 0
        if len(at_limit):  # only texts that reached the limit can have been cut
            full = tokenizer([texts[i] for i in at_limit], add_special_tokens=True, truncation=False, verbose=False,
                             return_attention_mask=False, return_token_type_ids=False)["input_ids"]
            self.truncated = sum(len(f) > max_length for f in full)

    def pad(self, idx: np.ndarray, pad_id: int, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        lens = self.lengths[idx]
        width = int(width or lens.max())
        cols = np.arange(width)
        mask = cols[None, :] < lens[:, None]
        input_ids = np.full((len(idx), width), pad_id, dtype=np.int64)
        input_ids[mask] = self.flat[(self.offsets[idx][:, None] + cols[None, :])[mask]]
        return input_ids, mask.astype(np.int64)


def encode_sentence_transformer(encoder, texts: list[str], *, batch_size=None, token_budget=None,
                                progress=None) -> np.ndarray:
    """Encode distinct texts with a loaded :class:`SentenceTransformerEncoder`."""
    import torch

    model, device = encoder.model, encoder.device
    out = np.empty((len(texts), encoder.dim), np.float32)
    if not texts:
        return out
    if not fast_path_supported(model):
        return _encode_fallback(encoder, texts, out, batch_size=batch_size, progress=progress)

    tokenizer = model[0].tokenizer
    max_length = int(encoder.max_seq_length or tokenizer.model_max_length)
    tok = _Tokenized(tokenizer, texts, max_length)
    encoder.last_truncated = tok.truncated  # encode() warns once per call with the total
    order = np.argsort(-tok.lengths, kind="stable")
    sorted_lengths = tok.lengths[order]
    # fp32: batch-independent padding gives bit-identical vectors whatever else is in the call
    # (cache hits, other texts); reduced precision on GPUs trades that for fuller batches.
    exact = encoder.precision == "fp32"
    bucket_of = -(-sorted_lengths // _BUCKET) * _BUCKET  # lengths rounded up to a multiple of _BUCKET
    budget = int(token_budget or (None if batch_size else DEFAULT_BUDGET.get(device.split(":")[0], 8192)) or 0)
    if not budget:  # fixed sentence count, like sentence-transformers
        budget = int(batch_size) * max_length
    wants_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    pin = device.startswith("cuda")
    warned = False

    def run(idx: np.ndarray, width: int | None) -> np.ndarray:
        input_ids, mask = tok.pad(idx, pad_id, min(width, max_length) if width else None)
        feats = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if wants_types:
            feats["token_type_ids"] = torch.zeros_like(feats["input_ids"])
        if pin:
            feats = {k: v.pin_memory() for k, v in feats.items()}
        feats = {k: v.to(device, non_blocking=pin) for k, v in feats.items()}
        feats["modality"] = "text"
        emb = model(feats)["sentence_embedding"].float()
        if encoder.normalize:
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return emb.cpu().numpy()

    start, n = 0, len(texts)
    with torch.inference_mode():
        while start < n:
            width = int(sorted_lengths[start])  # longest first within what is left
            size = max(1, budget // width)
            if batch_size:
                size = min(size, int(batch_size))
            stop = min(n, start + size)
            if exact:  # one padded width per batch, a function of each text's own length only
                stop = min(stop, int(np.searchsorted(-bucket_of, -bucket_of[start], side="right")))
            idx = order[start:stop]
            try:
                out[idx] = run(idx, int(bucket_of[start]) if exact else None)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not _is_oom(exc) or len(idx) == 1:
                    raise
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                budget //= 2
                if not warned:
                    logger.warning("kosbert_viz: out of memory at a batch of %d texts; halving the token "
                                   "budget to %d and retrying (no rows are lost).", len(idx), budget)
                    warned = True
                continue
            if progress is not None:
                progress.update(len(idx))
            start = stop
    encoder.last_token_budget = budget
    return out


def _encode_fallback(encoder, texts, out, *, batch_size=None, progress=None) -> np.ndarray:
    """Any other module stack: ``SentenceTransformer.encode`` in chunks (for progress)."""
    step = max(1, (batch_size or 32) * 8)
    for start in range(0, len(texts), step):
        chunk = texts[start:start + step]
        out[start:start + len(chunk)] = encoder.model.encode(
            chunk, batch_size=batch_size or 32, convert_to_numpy=True, show_progress_bar=False,
            normalize_embeddings=encoder.normalize)
        if progress is not None:
            progress.update(len(chunk))
    return out
