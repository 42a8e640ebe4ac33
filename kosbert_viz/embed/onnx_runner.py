"""Encoding through the int8 ONNX transformer: each text on its own, one worker per core.

Dynamic int8 quantisation scales a layer's activations by the largest value in its whole
input. In a batch, a text's vector would then depend on which other texts share the batch
(and the cache could not promise that a text always gets the same vector). Run alone, a
text's vector is a function of the text itself: the same from a cold or a warm cache, in
any batch, in any call. A text alone also carries no padding, and the cores work on
different texts at once, each through a single-threaded run: on 2 cores this ran 300 YNAT
titles at 269 texts/s against 215 for one 2-thread session taking the same texts one by one
(BERT-base shape; ``benchmarks/bench_encode_cpu.py`` measures the whole path).

The model's own modules after the transformer (pooling, normalise, dense) run per text in
PyTorch, as the fp32 path runs them.
"""

from __future__ import annotations

import os
import threading

import numpy as np

__all__ = ["OnnxRunner", "cpu_workers", "sentence_vector"]

_PROGRESS_EVERY = 64  # texts a worker encodes between progress-bar updates


def cpu_workers() -> int:
    """Workers for the int8 path: torch's thread count (``torch.set_num_threads`` limits both), at most the cores.

    The cores are those this process may run on (its CPU affinity where the OS reports one).
    """
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(int(cpus or 1), torch.get_num_threads()))


def sentence_vector(model, transformer, ids: np.ndarray, *, normalize: bool = False, pad_id: int = 0) -> np.ndarray:
    """One text's vector: ``transformer(ids, mask)`` gives its token embeddings, the model's other modules the rest.

    ``model`` is the SentenceTransformer (its modules after the first run in PyTorch); ``ids`` the text's
    token ids (1-D; empty: one masked pad, as the fp32 path pads an empty text).
    """
    import torch

    if len(ids) == 0:
        ids, mask = np.array([[pad_id]], np.int64), np.zeros((1, 1), np.int64)
    else:
        ids, mask = np.asarray(ids, np.int64)[None, :], np.ones((1, len(ids)), np.int64)
    feats = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "token_embeddings": torch.from_numpy(transformer(ids, mask)),
        "modality": "text",
    }
    if "token_type_ids" in getattr(model[0].tokenizer, "model_input_names", ()):
        feats["token_type_ids"] = torch.zeros_like(feats["input_ids"])
    for module in list(model)[1:]:
        feats = module(feats)
    emb = feats["sentence_embedding"].float()
    if normalize:
        emb = torch.nn.functional.normalize(emb, p=2, dim=1)
    return emb[0].numpy()


class OnnxRunner:
    """Encodes tokenized pieces with ``encoder.onnx`` (an :class:`~kosbert_viz.embed.onnx.OnnxInt8Transformer`).

    ``run(tok, out)`` fills ``out`` with one vector per text of ``tok`` (flat ids, offsets,
    lengths), in the piece's order. ``workers`` threads (default :func:`cpu_workers`) pull
    texts, longest first, from one shared queue, so a core slowed by other work takes fewer.
    Like the engine's batch runner it has ``collect()``, ``tuner`` and ``budget`` (nothing to collect,
    no thread trial and no token budget here: each text runs alone).
    """

    tuner = None
    budget = None

    def __init__(self, encoder, *, progress=None, workers: int | None = None):
        import torch

        self.torch, self.encoder, self.onnx, self.model = torch, encoder, encoder.onnx, encoder.model
        self.workers = int(workers or cpu_workers())
        tokenizer = encoder.model[0].tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.progress = progress
        self.lock = threading.Lock()

    def _one(self, ids: np.ndarray) -> np.ndarray:
        return sentence_vector(
            self.model, lambda i, m: self.onnx(i, m, 1), ids, normalize=self.encoder.normalize, pad_id=self.pad_id
        )

    def run(self, tok, out: np.ndarray) -> None:
        """Encode one tokenized piece into ``out`` (its rows, in the piece's order)."""
        order = np.argsort(-tok.lengths, kind="stable")  # longest first: the last texts left are short
        queue = iter(order.tolist())
        failures: list[BaseException] = []
        stop = threading.Event()  # set on a failure or an interrupt: every worker stops after its current text

        def work() -> None:
            done = 0
            try:
                with self.torch.inference_mode():
                    while not stop.is_set():
                        with self.lock:
                            i = next(queue, None)
                        if i is None:
                            break
                        start, length = int(tok.offsets[i]), int(tok.lengths[i])
                        out[i] = self._one(tok.flat[start : start + length])
                        done += 1
                        if done == _PROGRESS_EVERY:
                            self._advance(done)
                            done = 0
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failures.append(exc)
                stop.set()
            self._advance(done)

        self.onnx.session(1)  # built once here, not by every worker at once
        threads = [threading.Thread(target=work, name=f"kosbert_viz-int8-{k}") for k in range(self.workers - 1)]
        for t in threads:
            t.start()
        try:
            work()  # the caller's thread is one of the workers; it returns once the queue is empty
        finally:  # also on Ctrl-C during the joins: the others stop after their current text
            stop.set()
            for t in threads:
                t.join()
        if failures:
            raise failures[0]

    def collect(self) -> None:
        """Nothing is queued: every row is written by :meth:`run`."""

    def _advance(self, done: int) -> None:
        if done and self.progress is not None:
            with self.lock:
                self.progress.update(done)
