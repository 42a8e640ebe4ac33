"""The encoding engine for Transformer + Pooling sentence-transformers models.

Texts are tokenized in pieces of 8,192 by a private copy of the model's Rust
tokenizer (all cores, no GIL), the next piece in a background thread while the
device encodes the current one. Within a piece, texts are sorted by token length
and cut into batches by a token budget; padding is built on the device from one
flat upload of the ids. In fp32 each text is padded to its own length rounded up
to a multiple of 8, never to a neighbour's, so on CPU every vector is bit-identical
whatever else was encoded with it (on CUDA, cuBLAS picks kernels by batch shape, so
the last bits can differ: max 4e-6 measured on an H200). The model's own module stack runs (Transformer
-> Pooling -> Normalize/Dense...) and each vector goes back to its input position;
on CUDA a piece's vectors come back in one non-blocking copy, with no copy back
or host padding per batch. int8 (the CPU default) runs each text alone through ONNX
Runtime, one worker per core (:mod:`kosbert_viz.embed.onnx_runner`). On CUDA out-of-memory the budget is halved and
the batch retried; rows are only written once a batch succeeded, so none is lost or
duplicated. Any other module stack falls back to ``SentenceTransformer.encode``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

import numpy as np

logger = logging.getLogger("kosbert_viz")

_FAST_MODULES = {"Pooling", "Normalize", "Dense", "LayerNorm", "Dropout"}
# padded tokens per forward pass; 65,536 was the fastest of 32k-262k on an H200 (bench_encode.py)
DEFAULT_BUDGET = {"cpu": 4096, "mps": 16384, "cuda": 65536}
# fp32 batches pad every text to its own length rounded up to this multiple, never to a
# neighbour's: on CPU a vector is then bit-identical whatever else was in the call (cache hits too)
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
    if getattr(model, "default_prompt_name", None) or any(type(m).__name__ not in _FAST_MODULES for m in modules[1:]):
        return False
    return True


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


# texts tokenized at once; the next piece is tokenized in a background thread while the
# device encodes this one (on CUDA, each piece's vectors come back in one copy)
_PIECE = 8192
# texts on which the Rust tokenizer copy must give the wrapper's ids before it is used
PROBE_TEXTS = [
    "",
    "   ",
    "배송이 너무 늦어서 환불을 요청했어요",
    "앱 update 후 login 안 됨 ㅋㅋ 👍",
    "가나다 " * 200,
    "처음 " + "가 " * 1200 + "끝",
    "Ａ　전각 ＡＢＣ\t탭\n줄바꿈",
    "e\u0301 cafe\u0301 한글",
]


class _Tokenized:
    """Token ids of many texts as one flat int64 array plus offsets and lengths."""

    def __init__(self, ids: list[list[int]], truncated: int):
        self.lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        self.offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(self.offsets[-1]))
        self.truncated = truncated


class _FastTokenizer:
    """Token ids as the model's tokenizer gives them, from a private copy of its Rust tokenizer.

    ``encode_batch`` runs in Rust on all cores without the GIL and skips the
    wrapper's per-text Python dictionaries (4x to 6x the wrapper's call on a
    16-core machine, bench_encode.py). The copy
    is only used if it gives the wrapper's ids on probe texts; otherwise the
    wrapper itself is called.
    """

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, int(max_length)
        self.backend = None
        try:
            from tokenizers import Tokenizer

            backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
            backend.no_padding()
            backend.enable_truncation(self.max_length, direction=getattr(tokenizer, "truncation_side", "right"))
            self.backend = backend
            if self._backend_ids(PROBE_TEXTS)[0] != self._wrapper_ids(PROBE_TEXTS)[0]:
                self.backend = None
        except Exception:  # noqa: BLE001 - any doubt: use the wrapper
            self.backend = None

    def _backend_ids(self, texts):
        encode = getattr(self.backend, "encode_batch_fast", None) or self.backend.encode_batch
        encs = encode(texts, add_special_tokens=True)
        ids = [e.ids for e in encs]
        return ids, sum(1 for e in encs if len(e.ids) >= self.max_length and e.overflowing)

    def _wrapper_ids(self, texts):
        ids = self.tokenizer(
            texts,
            add_special_tokens=True,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        at_limit = [i for i, t in enumerate(ids) if len(t) >= self.max_length]
        truncated = 0
        if at_limit:  # only texts that reached the limit can have been cut
            full = self.tokenizer(
                [texts[i] for i in at_limit],
                add_special_tokens=True,
                truncation=False,
                verbose=False,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            truncated = sum(len(f) > self.max_length for f in full["input_ids"])
        return ids, truncated

    def __call__(self, texts: list[str]) -> _Tokenized:
        return _Tokenized(*(self._backend_ids(texts) if self.backend is not None else self._wrapper_ids(texts)))


def _fast_tokenizer(encoder, tokenizer, max_length: int) -> _FastTokenizer:
    cached = getattr(encoder, "_fast_tokenizer", None)
    if cached is None or cached.tokenizer is not tokenizer or cached.max_length != max_length:
        cached = _FastTokenizer(tokenizer, max_length)
        try:
            encoder._fast_tokenizer = cached
        except AttributeError:
            pass
    return cached


class _ThreadTuner:
    """CPU only: the thread count chosen by measured speed, not assumed.

    With every core busy elsewhere, OpenMP threads wait on each other: on a 2-core
    machine with one other busy process, 2 threads ran a BERT-base 2.7x and a small
    model 25x slower than 1 thread (bench_encode_cpu_backends.py); elsewhere 2 threads
    win. So one batch runs with the caller's setting and one with 1 thread, the faster
    (padded tokens/s) is kept, and every ``recheck_s`` seconds the other count is tried again.

    The first trial waits for ``trial_after_s`` seconds of encoding: a short run (a few
    hundred texts) would spend a large share of its time in the trial (two batches of 300
    YNAT titles: half of the run on the slower count, 0.58x ``SentenceTransformer.encode``).
    Two rules keep the trial from misleading itself: the first batch after a switch
    is not measured (it pays for a new thread pool: that made 1 thread look faster than
    2 on a quiet machine, and a run kept the slower count), and the other count must be
    ``margin`` times faster to be chosen (batches of other lengths differ by some
    percent at the same speed).
    The caller's setting is restored at the end. Vectors did not depend on the thread
    count in our tests (BERT-base widths, oneDNN/MKL on x86).
    """

    def __init__(self, user: int, apply, *, recheck_s: float = 60.0, margin: float = 1.15, trial_after_s: float = 5.0):
        self.user, self.apply, self.recheck_s, self.margin = int(user), apply, recheck_s, margin
        self.trial_after_s, self.encoded_s = trial_after_s, 0.0  # no trial before this much encoding
        self.options = [self.user, 1] if self.user > 1 else [self.user]
        self.best = self.current = self.applied = self.user
        self.trials: list[int] = []
        self.rates: dict[int, float] = {}  # latest padded tokens/s of each thread count
        self.next_trial = time.perf_counter()
        self.settling = True  # the first batch after a switch pays one-off costs: not measured
        self.lock = threading.Lock()  # one encoder may serve several worker threads (device=["cpu", "cpu"])

    def _set(self, threads: int) -> None:
        if threads != self.applied:
            self.apply(threads)
            self.applied = threads
            self.settling = True

    def before(self) -> None:
        if len(self.options) == 1:
            return
        with self.lock:
            due = self.encoded_s >= self.trial_after_s and time.perf_counter() >= self.next_trial
            if not self.trials and not self.settling and due:
                # first every option once; later only the other one, against the kept one's latest rate
                self.trials = [t for t in self.options if t != self.best or self.best not in self.rates]
            self.current = self.trials[0] if self.trials else self.best
            self._set(self.current)

    def after(self, tokens: int, seconds: float) -> None:
        if len(self.options) == 1:
            return
        with self.lock:
            rate = tokens / max(seconds, 1e-9)
            self.encoded_s += seconds
            if self.settling:
                self.settling = False
                return
            if not self.trials or self.trials[0] != self.current:
                self.rates[self.current] = rate
                return
            self.rates[self.trials.pop(0)] = rate
            if not self.trials:
                others = [t for t in self.rates if t != self.best]
                best = self.best  # at first the caller's count, unless another clearly wins
                challenger = max(others, key=self.rates.get, default=best)
                if self.rates[challenger] > self.margin * self.rates.get(best, 0.0):
                    best = challenger
                if best != self.best:
                    logger.info(
                        "kosbert_viz: %d thread(s) encode faster here now (%s padded tokens/s)",
                        best,
                        {t: round(r) for t, r in self.rates.items()},
                    )
                self.best = best
                self.next_trial = time.perf_counter() + self.recheck_s

    def restore(self) -> None:
        with self.lock:
            self._set(self.user)
            self.current = self.user


class _Runner:
    """Runs length-sorted, token-budget batches of one tokenized piece on the device.

    Padding is built on the device from the flat ids (one small upload per piece, no
    per-batch host padding or copies). On CUDA no vector is copied back per batch:
    each piece's vectors come back in one pinned, non-blocking copy that is
    collected after the next piece has been queued.
    """

    def __init__(self, encoder, *, budget: int, batch_size, max_length: int, progress, tune_threads=True):
        import torch

        self.torch, self.encoder, self.model = torch, encoder, encoder.model
        self.device = encoder.device
        self.cuda = self.device.startswith("cuda")
        self.budget, self.batch_size, self.max_length = budget, batch_size, max_length
        self.progress = progress
        self.tuner = None
        if self.device == "cpu" and tune_threads:  # kept on the encoder: later calls skip the trial for 60 s
            user, apply = torch.get_num_threads(), torch.set_num_threads
            self.tuner = getattr(encoder, "_thread_tuner", None)
            if self.tuner is None or self.tuner.user != user:
                self.tuner = _ThreadTuner(user, apply)
                try:
                    encoder._thread_tuner = self.tuner
                except AttributeError:
                    pass
        tokenizer = self.model[0].tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.wants_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        # fp32: batch-independent padding gives bit-identical vectors whatever else is in the call
        # (cache hits, other texts); reduced precision on GPUs trades that for fuller batches.
        self.exact = encoder.precision == "fp32"
        self.cols = torch.arange(max_length, device=self.device)
        self.pending: list = []  # (event, pinned host tensor, out rows) of queued CUDA pieces
        self.warned = False

    def _to_device(self, array: np.ndarray):
        t = self.torch.from_numpy(array)
        if self.cuda:
            return t.pin_memory().to(self.device, non_blocking=True)
        return t if self.device == "cpu" else t.to(self.device)

    def _forward(self, flat, offsets, lengths, sel, width: int):
        torch = self.torch
        lens, starts = lengths[sel], offsets[sel]
        cols = self.cols[:width]
        mask = cols[None, :] < lens[:, None]
        ids = flat[torch.where(mask, starts[:, None] + cols[None, :], 0)].masked_fill_(~mask, self.pad_id)
        feats = {"input_ids": ids, "attention_mask": mask.long()}
        if self.wants_types:
            feats["token_type_ids"] = torch.zeros_like(ids)
        feats["modality"] = "text"
        feats = self.model(feats)
        emb = feats["sentence_embedding"].float()
        if self.encoder.normalize:
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return emb

    def run(self, tok: _Tokenized, out: np.ndarray) -> None:
        """Encode one piece into ``out`` (its rows, in the piece's order)."""
        torch = self.torch
        n = len(tok.lengths)
        order = np.argsort(-tok.lengths, kind="stable")
        sorted_lengths = tok.lengths[order]
        bucket_of = np.clip(-(-sorted_lengths // _BUCKET) * _BUCKET, 1, self.max_length)
        flat = tok.flat if len(tok.flat) else np.array([self.pad_id], np.int64)  # all texts empty, no specials
        flat, offsets, lengths, d_order = (self._to_device(a) for a in (flat, tok.offsets, tok.lengths, order))
        if self.cuda:
            result = torch.empty((n, self.encoder.dim), dtype=torch.float32, device=self.device)
        else:
            result = torch.from_numpy(out)
        start = 0
        while start < n:
            width = max(1, int(sorted_lengths[start]))  # longest first within what is left
            if self.exact:  # every text padded to its own length rounded up to _BUCKET
                width = int(bucket_of[start])
            size = max(1, self.budget // width)
            if self.batch_size:
                size = min(size, int(self.batch_size))
            stop = min(n, start + size)
            if self.exact:  # one padded width per batch, a function of each text's own length only
                stop = min(stop, int(np.searchsorted(-bucket_of, -bucket_of[start], side="right")))
            sel = d_order[start:stop]
            try:
                if self.tuner is not None:
                    self.tuner.before()
                    began = time.perf_counter()
                emb = self._forward(flat, offsets, lengths, sel, width)
                if self.cuda or self.device == "cpu":
                    result[sel] = emb
                else:  # mps and others: rows come back batch by batch
                    result[torch.from_numpy(order[start:stop])] = emb.cpu()
                if self.tuner is not None:
                    self.tuner.after((stop - start) * width, time.perf_counter() - began)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not _is_oom(exc) or stop - start == 1:
                    raise
                if self.cuda:
                    torch.cuda.empty_cache()
                elif self.device.startswith("mps"):
                    torch.mps.empty_cache()
                self.budget //= 2
                if not self.warned:
                    logger.warning(
                        "kosbert_viz: out of memory at a batch of %d texts; halving the token "
                        "budget to %d and retrying (no rows are lost).",
                        stop - start,
                        self.budget,
                    )
                    self.warned = True
                continue
            if not self.cuda and self.progress is not None:
                self.progress.update(stop - start)
            start = stop
        if self.cuda:
            host = torch.empty((n, self.encoder.dim), dtype=torch.float32, pin_memory=True)
            host.copy_(result, non_blocking=True)
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(self.device))  # this GPU's stream, whatever thread runs it
            self.pending.append((event, host, out))
            self.collect(keep=1)

    def collect(self, keep: int = 0) -> None:
        """Wait for queued CUDA pieces (all but the newest ``keep``) and write their rows."""
        while len(self.pending) > keep:
            event, host, out = self.pending.pop(0)
            event.synchronize()
            out[:] = host.numpy()
            if self.progress is not None:
                self.progress.update(len(out))


def encode_sentence_transformer(
    encoder, texts: list[str], *, batch_size=None, token_budget=None, progress=None
) -> np.ndarray:
    """Encode distinct texts with a loaded :class:`SentenceTransformerEncoder`."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    model, device = encoder.model, encoder.device
    out = np.empty((len(texts), encoder.dim), np.float32)
    if not texts:
        return out
    if not fast_path_supported(model):
        return _encode_fallback(encoder, texts, out, batch_size=batch_size, progress=progress)

    tokenizer = model[0].tokenizer
    max_length = int(
        encoder.max_seq_length
        or min(
            tokenizer.model_max_length,
            getattr(
                getattr(model[0], "auto_model", None) and model[0].auto_model.config, "max_position_embeddings", 512
            ),
        )
    )
    tokenize = _fast_tokenizer(encoder, tokenizer, max_length)
    budget = int(token_budget or (None if batch_size else DEFAULT_BUDGET.get(device.split(":")[0], 8192)) or 0)
    if not budget:  # fixed sentence count, like sentence-transformers
        budget = int(batch_size) * max_length
    if getattr(encoder, "onnx", None) is not None:  # int8: each text alone through ONNX Runtime, a worker per core
        from kosbert_viz.embed.onnx_runner import OnnxRunner

        runner = OnnxRunner(encoder, progress=progress)
    else:
        runner = _Runner(encoder, budget=budget, batch_size=batch_size, max_length=max_length, progress=progress)
    encoder.last_truncated = 0  # encode() warns once per call with the total
    starts = range(0, len(texts), _PIECE)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kosbert_viz-tokenize") as pool, torch.inference_mode():
        upcoming = pool.submit(tokenize, texts[:_PIECE])
        try:
            for start in starts:
                tok = upcoming.result()
                if start + _PIECE < len(texts):  # tokenize the next piece while this one is encoded
                    upcoming = pool.submit(tokenize, texts[start + _PIECE : start + 2 * _PIECE])
                encoder.last_truncated += tok.truncated
                runner.run(tok, out[start : start + len(tok.lengths)])
            runner.collect()
        finally:
            if runner.tuner is not None:
                runner.tuner.restore()
    encoder.last_token_budget = runner.budget
    return out


def _encode_fallback(encoder, texts, out, *, batch_size=None, progress=None) -> np.ndarray:
    """Any other module stack: ``SentenceTransformer.encode`` in chunks (for progress)."""
    step = max(1, (batch_size or 32) * 8)
    for start in range(0, len(texts), step):
        chunk = texts[start : start + step]
        out[start : start + len(chunk)] = encoder.model.encode(
            chunk,
            batch_size=batch_size or 32,
            convert_to_numpy=True,
            show_progress_bar=False,
            normalize_embeddings=encoder.normalize,
        )
        if progress is not None:
            progress.update(len(chunk))
    return out
