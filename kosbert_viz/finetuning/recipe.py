"""The training recipe: the ko-sbert-multitask model card's settings, scaled to the data.

Batch sizes, epochs, steps and warm-up for tasks of given sizes (:func:`default_recipe`), the
losses :func:`kv.finetune` accepts and the precision it trains in.
"""

from __future__ import annotations

import math

__all__ = ["CARD_RECIPE", "LOSSES", "PRECISIONS", "default_recipe"]

#: The recipe of jhgan/ko-sbert-multitask's model card (sentence-transformers 2.x ``fit``).
CARD_RECIPE = {
    "optimizer": "AdamW",
    "learning_rate": 2e-5,
    "weight_decay": 0.01,
    "adam_epsilon": 1e-6,
    "scheduler": "WarmupLinear",
    "warmup_steps": 360,
    "epochs": 5,
    "max_grad_norm": 1.0,
    "mnrl_batch_size": 64,
    "mnrl_scale": 20.0,
    "mnrl_similarity": "cos_sim",
    "cosine_batch_size": 8,
}
MAX_WARMUP = CARD_RECIPE["warmup_steps"]
#: Pair visits the card's recipe made over KorSTS (5 epochs x ~5,750 pairs): the default epoch
#: count gives about as many visits to larger data sets, and never more than the card's 5 epochs.
PAIR_VISITS = 30_000
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
LOSSES = ("auto", "cosine", "mnrl")


def _default_batch(kind: str, n: int) -> int:
    """The card's batch sizes (64 for MNRL, 8 for cosine); MNRL batches shrink on small data
    so that an epoch still has about 8 steps, and never below 8 pairs (nor above the data)."""
    if kind == "scored":
        return min(CARD_RECIPE["cosine_batch_size"], n)
    return max(2, min(CARD_RECIPE["mnrl_batch_size"], max(8, n // 8), n))


def default_recipe(sizes: dict, kinds: dict, *, batch_size=None, epochs=None, warmup_steps=None) -> dict:
    """Batch sizes, epochs, steps and warm-up that :func:`finetune` uses for tasks of these sizes.

    >>> default_recipe({"train": 5749}, {"train": "scored"})["epochs"]
    5
    """
    batches = {k: (min(batch_size, sizes[k]) if batch_size else _default_batch(kinds[k], sizes[k])) for k in sizes}
    per_task_steps = {k: math.ceil(sizes[k] / batches[k]) for k in sizes}
    if len(sizes) == 1:
        steps_per_epoch = next(iter(per_task_steps.values()))
        visits = next(iter(sizes.values()))
    else:  # round robin: one batch of each task in turn until the shortest is used up
        shortest = min(per_task_steps.values())
        steps_per_epoch = shortest * len(sizes)
        visits = sum(min(sizes[k], shortest * batches[k]) for k in sizes)
    if epochs is None:
        epochs = int(min(CARD_RECIPE["epochs"], max(1, round(PAIR_VISITS / max(visits, 1)))))
    total = steps_per_epoch * epochs
    if warmup_steps is None:
        warmup_steps = min(MAX_WARMUP, math.ceil(0.1 * total))
    return {
        "batch_sizes": batches,
        "epochs": int(epochs),
        "steps_per_epoch": int(steps_per_epoch),
        "total_steps": int(total),
        "warmup_steps": int(warmup_steps),
        "pairs_per_epoch": int(visits),
    }


def resolve_precision(precision: str) -> str:
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision in ("fp16", "bf16") and not cuda:
        raise ValueError(
            f"precision={precision!r} trains with CUDA mixed precision, but no CUDA GPU is available; "
            "use precision='fp32' (or 'auto') on the CPU"
        )
    return precision
