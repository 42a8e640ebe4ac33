"""Adapt the encoder to your domain: fine-tune ko-sbert with the model card's recipe.

>>> scored = pd.DataFrame({"sentence1": ["배송이 늦어요", "환불해 주세요", "앱이 꺼져요", "택배가 안 와요"] * 4,
...                        "sentence2": ["배송 지연", "반품 처리 부탁", "날씨가 좋네요", "배송이 느려요"] * 4,
...                        "score": [4.5, 4.0, 0.5, 4.2] * 4})          # sentence1, sentence2, score (0-5 or 0-1)
>>> res = kv.finetune(scored, output_dir="my-model", epochs=1)   # base: $KOSBERT_VIZ_MODEL or ko-sbert
>>> res.table.columns.tolist()[:3]                               # the card's 8 numbers, before and after
['pearson_before', 'pearson_after', 'pearson_gain']
>>> new = kv.encode(texts[:5], model="my-model")                 # a normal sentence-transformers folder

``train`` can be scored pairs (CosineSimilarityLoss), ``(anchor, positive)`` pairs or
``(anchor, positive, negative)`` triplets (MultipleNegativesRankingLoss, scale 20, cosine,
batches without duplicate texts), or a dict of several for multi-task round-robin training,
as jhgan/ko-sbert-multitask was trained. Training runs in sentence-transformers' own
``SentenceTransformerTrainer`` (needs ``pip install "kosbert_viz[finetune]"``).

Training pairs from an analysis:

>>> groups = kv.duplicates(emb, texts)
>>> pairs = kv.pairs_from_duplicates(groups, texts)              # (anchor, positive)
>>> triplets = kv.pairs_from_labels(texts, labels, embeddings=emb)  # (anchor, positive, hard negative)
>>> triplets.columns.tolist()
['anchor', 'positive', 'negative']
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kosbert_viz._util.validation import check_labels, check_positive_int, check_texts
from kosbert_viz.embed.models import forget_loaded
from kosbert_viz._util.extras import require

__all__ = ["finetune", "FinetuneResult", "pairs_from_duplicates", "pairs_from_labels", "default_recipe"]

log = logging.getLogger("kosbert_viz")

#: The recipe of jhgan/ko-sbert-multitask's model card (sentence-transformers 2.x ``fit``).
CARD_RECIPE = {
    "optimizer": "AdamW", "learning_rate": 2e-5, "weight_decay": 0.01, "adam_epsilon": 1e-6,
    "scheduler": "WarmupLinear", "warmup_steps": 360, "epochs": 5, "max_grad_norm": 1.0,
    "mnrl_batch_size": 64, "mnrl_scale": 20.0, "mnrl_similarity": "cos_sim", "cosine_batch_size": 8,
}
MAX_WARMUP = CARD_RECIPE["warmup_steps"]
#: Pair visits the card's recipe made over KorSTS (5 epochs x ~5,750 pairs): the default epoch
#: count gives about as many visits to larger data sets, and never more than the card's 5 epochs.
PAIR_VISITS = 30_000
CHECKPOINT_DIR = "checkpoints"
RECORD_FILE = "kosbert_viz_finetune.json"
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
#: Fewest scored pairs the before/after STS numbers are computed on: the standard error of Spearman's rho
#: is about 1/sqrt(n - 1), +-0.19 (19 points x100) on 30 pairs but +-0.71 on 3, and 2 pairs give +-100.
MIN_EVAL_PAIRS = 30
#: Largest share of the scored training pairs held out to reach MIN_EVAL_PAIRS (scikit-learn's default
#: test share); with fewer than MIN_EVAL_PAIRS / MAX_HOLD_OUT = 120 scored pairs nothing is held out.
MAX_HOLD_OUT = 0.25
LOSSES = ("auto", "cosine", "mnrl")

_SCORE_COLUMNS = ("score", "label", "similarity")
_KIND_COLUMNS = {"scored": ("sentence1", "sentence2", "score"), "pairs": ("anchor", "positive"),
                 "triplets": ("anchor", "positive", "negative")}


# --------------------------------------------------------------------------- input


@dataclass
class _Task:
    name: str
    kind: str            # "scored", "pairs" or "triplets"
    columns: dict        # column name -> list (texts; scores as floats in 0-1)
    score_scale: float = 1.0  # 5.0 when the scores were given on KorSTS's 0-5 scale

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    @property
    def loss_name(self) -> str:
        return "CosineSimilarityLoss" if self.kind == "scored" else "MultipleNegativesRankingLoss"

    def subset(self, rows) -> "_Task":
        return _Task(self.name, self.kind, {k: [v[i] for i in rows] for k, v in self.columns.items()},
                     self.score_scale)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _scores(values, where: str) -> tuple[list[float], float]:
    """Scores as floats in 0-1 and the scale they were given on (1 or 5)."""
    try:
        arr = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(i for i, v in enumerate(values) if not _is_number(v) and not _parses(v))
        raise TypeError(f"{where}[{bad}] is {values[bad]!r}, expected a number (a similarity score 0-5 or 0-1)") \
            from None
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}[{int(np.argmax(~np.isfinite(arr)))}] is NaN or inf, expected a score 0-5 or 0-1")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or hi > 5:
        row = int(np.argmin(arr)) if lo < 0 else int(np.argmax(arr))
        raise ValueError(f"{where} must lie between 0 and 5 (KorSTS) or 0 and 1, got {arr[row]:g} at row {row}")
    scale = 5.0 if hi > 1 else 1.0
    return (arr / scale).tolist(), scale


def _parses(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _texts(values, where: str) -> list[str]:
    out = check_texts(values, name=where)
    empty = next((i for i, t in enumerate(out) if not t.strip()), None)
    if empty is not None:
        raise ValueError(f"{where}[{empty}] is an empty text, expected a sentence")
    return out


def _from_frame(df, name: str) -> _Task:
    where = name if name in ("train", "eval") else f"train[{name!r}]"
    if len(df.columns) == 0 or len(df) == 0:
        raise ValueError(f"{where} is empty, expected at least 2 rows of pairs")
    cols = [str(c) for c in df.columns]
    df = df.set_axis(cols, axis=1)
    score_col = next((c for c in _SCORE_COLUMNS if c in cols), None)
    if {"anchor", "positive"} <= set(cols):
        kind = "triplets" if "negative" in cols else "pairs"
        text_cols = list(_KIND_COLUMNS[kind])
    elif {"sentence1", "sentence2"} <= set(cols):
        kind, text_cols = ("scored" if score_col else "pairs"), ["sentence1", "sentence2"]
    elif len(cols) in (2, 3):  # unnamed columns, by position
        last_numeric = len(cols) == 3 and all(_is_number(v) or _parses(v) for v in df[cols[2]].head(50))
        if last_numeric:
            kind, text_cols, score_col = "scored", cols[:2], cols[2]
        else:
            kind, text_cols = ("pairs" if len(cols) == 2 else "triplets"), cols
    else:
        raise ValueError(
            f"{where} has the columns {cols}, expected sentence1, sentence2, score (scored pairs), "
            "anchor, positive (pairs) or anchor, positive, negative (triplets), or 2-3 columns in that order")
    return _build(name, kind, [df[c].tolist() for c in text_cols], df[score_col].tolist() if kind == "scored" else None,
                  text_cols, where)


def _from_rows(rows, name: str) -> _Task:
    where = name if name in ("train", "eval") else f"train[{name!r}]"
    rows = list(rows)
    if not rows:
        raise ValueError(f"{where} is empty, expected at least 2 pairs")
    widths = set()
    for i, r in enumerate(rows):
        if isinstance(r, (str, bytes)) or not hasattr(r, "__len__"):
            raise TypeError(f"{where}[{i}] is {type(r).__name__}, expected a tuple (sentence1, sentence2, score), "
                            "(anchor, positive) or (anchor, positive, negative)")
        widths.add(len(r))
    if len(widths) != 1 or next(iter(widths)) not in (2, 3):
        raise ValueError(f"{where} rows have {sorted(widths)} entries, expected all 2 (anchor, positive) "
                         "or all 3 (sentence1, sentence2, score / anchor, positive, negative)")
    width = widths.pop()
    cols = [[r[j] for r in rows] for j in range(width)]
    if width == 3 and all(_is_number(v) for v in cols[2]):
        return _build(name, "scored", cols[:2], cols[2], ["sentence1", "sentence2"], where)
    kind = "pairs" if width == 2 else "triplets"
    return _build(name, kind, cols, None, list(_KIND_COLUMNS[kind]), where)


def _build(name, kind, text_values, score_values, source_cols, where) -> _Task:
    out_cols = _KIND_COLUMNS[kind]
    columns = {}
    for col, src, values in zip(out_cols, source_cols, text_values):
        columns[col] = _texts(values, f"{where}[{src!r}]" if isinstance(src, str) and not src.isdigit() else where)
    scale = 1.0
    if kind == "scored":
        columns["score"], scale = _scores(score_values, f"{where} scores")
    n = len(columns[out_cols[0]])
    if n < 2:
        raise ValueError(f"{where} has a single pair, expected at least 2 (in-batch negatives and "
                         "correlations need more than one)")
    if kind != "scored" and len(set(columns["anchor"])) < 2:
        raise ValueError(f"{where} has only one distinct anchor text, expected at least 2: "
                         "MultipleNegativesRankingLoss learns from the other pairs of a batch")
    return _Task(name, kind, columns, scale)


def _as_task(data, name: str = "train") -> _Task:
    if isinstance(data, _Task):
        return data
    if hasattr(data, "columns") and hasattr(data, "iloc"):  # a DataFrame
        return _from_frame(data, name)
    if isinstance(data, (str, bytes, os.PathLike)):
        raise TypeError(f"train must be a DataFrame, a list of tuples or a dict of them, got {type(data).__name__}; "
                        "read a file first (pd.read_csv) or use `kosbert-viz finetune FILE`")
    if data is None or not hasattr(data, "__iter__"):
        raise TypeError(f"train must be a DataFrame, a list of tuples or a dict of them, got {type(data).__name__}")
    return _from_rows(data, name)


def _as_tasks(train) -> list[_Task]:
    if isinstance(train, dict):
        if not train:
            raise ValueError("train is an empty dict, expected one or more named data sets")
        for key in train:
            if not isinstance(key, str) or not key:
                raise TypeError(f"the keys of a train dict name the tasks and must be non-empty str, got {key!r}")
        return [_as_task(v, k) for k, v in train.items()]
    return [_as_task(train)]


def _data_hash(tasks) -> str:
    h = hashlib.blake2b(digest_size=16)
    for t in tasks:
        h.update(json.dumps([t.name, t.kind, t.columns], ensure_ascii=False).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- recipe


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
    return {"batch_sizes": batches, "epochs": int(epochs), "steps_per_epoch": int(steps_per_epoch),
            "total_steps": int(total), "warmup_steps": int(warmup_steps), "pairs_per_epoch": int(visits)}


class _TaskBatchSampler:
    """The batch sampler of each task: no duplicate texts in a batch for MNRL (sentence-transformers'
    ``NoDuplicatesBatchSampler``), a shuffled batch for cosine pairs; each with its own batch size.

    Called by the trainer for every data set (sentence-transformers' callable ``batch_sampler``).
    """

    def __init__(self, batch_sizes: dict):
        self.batch_sizes = dict(batch_sizes)  # kind -> batch size

    def __call__(self, dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

        if "score" in dataset.column_names:
            return _SeededBatchSampler(dataset, batch_size=self.batch_sizes.get("scored", batch_size),
                                       drop_last=drop_last, valid_label_columns=valid_label_columns,
                                       generator=generator, seed=seed)
        kind = "triplets" if "negative" in dataset.column_names else "pairs"
        return NoDuplicatesBatchSampler(dataset, batch_size=self.batch_sizes.get(kind, batch_size),
                                        drop_last=drop_last, valid_label_columns=valid_label_columns,
                                        generator=generator, seed=seed)

    def __repr__(self) -> str:
        return f"_TaskBatchSampler({self.batch_sizes})"


def _seeded_batch_sampler_class():
    from sentence_transformers.base.sampler import DefaultBatchSampler

    class SeededBatchSampler(DefaultBatchSampler):
        """sentence-transformers' default (shuffled) batch sampler, reshuffled from ``seed + epoch``.

        The stock one draws each epoch's order from a generator seeded once, so a run resumed in
        epoch 3 would replay epoch 1's order; this one gives every epoch the same order whether
        the run was interrupted or not (as ``NoDuplicatesBatchSampler`` does).
        """

        def __init__(self, dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
            import torch

            self._generator = generator if generator is not None else torch.Generator()
            super().__init__(range(len(dataset)), batch_size=batch_size, drop_last=drop_last,
                             valid_label_columns=valid_label_columns, generator=self._generator, seed=seed)
            self.n = len(dataset)

        def __iter__(self):
            import torch

            self._generator.manual_seed(int(self.seed or 0) + int(self.epoch))
            order = torch.randperm(self.n, generator=self._generator).tolist()
            for start in range(0, self.n, self.batch_size):
                batch = order[start:start + self.batch_size]
                if len(batch) < self.batch_size and self.drop_last:
                    return
                yield batch

    return SeededBatchSampler


def _SeededBatchSampler(*args, **kwargs):  # noqa: N802 - a class built on first use (lazy import)
    global _SEEDED
    if _SEEDED is None:
        _SEEDED = _seeded_batch_sampler_class()
    return _SEEDED(*args, **kwargs)


_SEEDED = None


#: torch's thread setting -> (the faster count, when a run ended): reused for this long, as the encoder's trial is
_THREAD_MEMO: dict[int, tuple[int, float]] = {}
THREAD_MEMO_SECONDS = 120.0


def _thread_trial_callback(threads):
    """A trainer callback that sets torch's CPU thread count: ``threads`` if given, else measured.

    With every core busy elsewhere, torch's OpenMP threads wait on each other: on this project's
    busy 2-core machine sentence-transformers' trainer on torch's 2 threads trained a tiny BERT 10-13x
    slower than on 1 (benchmarks/bench_finetune.py; the encoder measured the same, README). So one warm-up step and one measured step run on 1 thread, one step on torch's
    setting, and the faster is kept for the rest of the run (one step at most pays for a slow
    setting). A run that starts within 2 minutes of one that measured reuses its choice. The caller's
    setting is restored at the end. ``threads=`` pins the count instead
    (bit-identical resumes are tested with a pinned count).
    """
    import torch
    from transformers import TrainerCallback

    class ThreadTrial(TrainerCallback):
        def __init__(self):
            self.user = None
            self.times: dict[int, float] = {}
            self.seen = 0
            self.t0 = 0.0
            self.chosen = threads

        def on_train_begin(self, args, state, control, **kwargs):
            self.user = torch.get_num_threads()
            memo = _THREAD_MEMO.get(self.user)
            if threads is not None:
                torch.set_num_threads(int(threads))
            elif self.user == 1 or args.device.type != "cpu":
                self.chosen = self.user
            elif memo is not None and time.monotonic() - memo[1] < THREAD_MEMO_SECONDS:
                self.chosen = memo[0]  # measured by a run that ended moments ago: no new trial
                torch.set_num_threads(self.chosen)
            else:
                torch.set_num_threads(1)

        def on_step_begin(self, args, state, control, **kwargs):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            dt = time.perf_counter() - self.t0
            self.seen += 1
            if self.chosen is not None:
                return
            if self.seen == 2:  # step 1 warmed up on 1 thread, step 2 measured on it
                self.times[1] = dt
                torch.set_num_threads(self.user)
            elif self.seen == 3:  # step 3 on torch's setting: one step at most where many threads are slow
                self.times[self.user] = dt
                self.chosen = min(self.times, key=self.times.get)
                torch.set_num_threads(self.chosen)
                log.info("kosbert_viz: training on %d CPU thread(s) (seconds per step: %s)", self.chosen,
                         {t: round(v, 4) for t, v in self.times.items()})

        def on_train_end(self, args, state, control, **kwargs):
            if self.user is not None:
                if threads is None and self.chosen is not None and args.device.type == "cpu":
                    _THREAD_MEMO[self.user] = (self.chosen, time.monotonic())
                torch.set_num_threads(self.user)

    return ThreadTrial()


# --------------------------------------------------------------------------- result


@dataclass
class FinetuneResult:
    """What :func:`finetune` did: where the model is, the STS numbers before and after, the recipe.

    ``table`` is the model card's eight numbers (x100), before and after, one row per similarity.
    """

    output_dir: str
    base_model: str
    before: dict | None
    after: dict | None
    recipe: dict
    data_hash: str
    n_train: dict
    n_eval: int
    eval_source: str
    seconds: float
    train_seconds: float
    pairs_per_second: float
    training_loss: float | None = None
    resumed_from: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def table(self):
        """A DataFrame: rows cosine/euclidean/manhattan/dot; pearson and spearman before, after, and gain."""
        import pandas as pd

        from kosbert_viz.evaluate import SIMILARITIES

        rows = []
        for kind in SIMILARITIES:
            row = {"similarity": kind}
            for stat in ("pearson", "spearman"):
                b = self.before[f"{stat}_{kind}"] if self.before else float("nan")
                a = self.after[f"{stat}_{kind}"] if self.after else float("nan")
                row.update({f"{stat}_before": round(b, 2), f"{stat}_after": round(a, 2),
                            f"{stat}_gain": round(a - b, 2)})
            rows.append(row)
        table = pd.DataFrame(rows).set_index("similarity")
        table.attrs["n_pairs"] = self.n_eval
        return table

    def __repr__(self) -> str:
        gain = ""
        if self.before and self.after:
            gain = (f", cosine Spearman {self.before['spearman_cosine']:.2f} -> "
                    f"{self.after['spearman_cosine']:.2f}")
        return (f"FinetuneResult({self.output_dir!r}, base={self.base_model!r}, pairs={sum(self.n_train.values())}, "
                f"epochs={self.recipe['epochs']}{gain})")


# --------------------------------------------------------------------------- training


def _require_training():
    require("accelerate", "datasets", "sentence_transformers", extra="finetune",
            feature="kv.finetune (sentence-transformers' trainer)")


def _load_base(model):
    """(a fresh SentenceTransformer to train, the base model's name, what to evaluate 'before' with)."""
    import copy

    from kosbert_viz.embed.models import OFFLINE_ALIAS, OfflineEncoder, SentenceTransformerEncoder, OBJECT_ATTR, \
        load_error, resolve_model_name

    if isinstance(model, OfflineEncoder) or model == OFFLINE_ALIAS:
        raise TypeError("the offline encoder (USE) cannot be fine-tuned, expected a sentence-transformers model: "
                        "a hub name such as 'jhgan/ko-sbert-multitask' or a local model folder")
    if isinstance(model, SentenceTransformerEncoder):
        model = model.model
    if model is not None and not isinstance(model, (str, os.PathLike)):
        if not (hasattr(model, "encode") and hasattr(model, "tokenize")):
            raise TypeError(f"model must be a model name, a folder or a SentenceTransformer, got {type(model).__name__}")
        trained = copy.deepcopy(model)  # never change the caller's object (nor its cached fingerprint)
        trained.__dict__.pop(OBJECT_ATTR, None)
        name = str(getattr(model, "name_or_path", None) or getattr(model.model_card_data, "base_model", None)
                   or type(model).__name__)
        return trained, name, model
    name, source = resolve_model_name(model)
    if name == OFFLINE_ALIAS:
        return _load_base(OFFLINE_ALIAS)
    from sentence_transformers import SentenceTransformer

    try:
        trained = SentenceTransformer(name, device="cpu")
    except Exception as exc:
        raise load_error(name, source, exc) from exc
    return trained, name, name


def _resolve_precision(precision: str) -> str:
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision in ("fp16", "bf16") and not cuda:
        raise ValueError(f"precision={precision!r} trains with CUDA mixed precision, but no CUDA GPU is available; "
                         "use precision='fp32' (or 'auto') on the CPU")
    return precision


def _latest_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("checkpoint-")
             and p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def _eval_frame(eval):
    task = _as_task(eval, "eval")
    if task.kind != "scored":
        raise ValueError("eval must be scored pairs (sentence1, sentence2, score), got "
                         f"{task.kind} ({', '.join(task.columns)})")
    if len(task) < MIN_EVAL_PAIRS:
        raise ValueError(f"eval has {len(task)} scored pairs, expected at least {MIN_EVAL_PAIRS}: the standard error "
                         f"of a Spearman correlation is about 1/sqrt(n-1), +-{1 / math.sqrt(len(task) - 1):.2f} on "
                         f"{len(task)} pairs, too wide to tell a gain from noise; pass more pairs or eval=False")
    return task


def _hold_out(tasks: list, random_state) -> tuple:
    """(held-out scored pairs or None, where they came from); takes them out of the first scored task.

    10% of its pairs, at least :data:`MIN_EVAL_PAIRS`, at most :data:`MAX_HOLD_OUT` of them; a task
    too small for that is not evaluated (one warning) and trains on all its pairs.
    """
    i = next((i for i, t in enumerate(tasks) if t.kind == "scored"), None)
    if i is None:
        return None, "none"
    t = tasks[i]
    n_hold = max(MIN_EVAL_PAIRS, int(round(0.1 * len(t))))
    if n_hold > MAX_HOLD_OUT * len(t):
        need = math.ceil(MIN_EVAL_PAIRS / MAX_HOLD_OUT)
        log.warning("kosbert_viz: %r has %d scored pairs, too few for a held-out evaluation: a Spearman correlation "
                    "needs at least %d pairs (its standard error is about 1/sqrt(n-1)) and at most a quarter of the "
                    "data is held out, so %d scored pairs or more; training on all of them with no before/after "
                    "numbers (pass eval= with %d+ scored pairs to evaluate)",
                    t.name, len(t), MIN_EVAL_PAIRS, need, MIN_EVAL_PAIRS)
        return None, f"none (fewer than {need} scored pairs: too few to hold out {MIN_EVAL_PAIRS})"
    perm = np.random.default_rng(random_state).permutation(len(t))
    tasks[i] = t.subset(sorted(perm[n_hold:]))
    share = "10%" if n_hold == int(round(0.1 * len(t))) else str(n_hold)
    return t.subset(sorted(perm[:n_hold])), f"{share} of {t.name!r} held out"


def _sts(task: _Task, model, cache):
    from kosbert_viz.evaluate import sts

    return sts(task.columns["sentence1"], task.columns["sentence2"], task.columns["score"], model=model, cache=cache)


def _our_checkpoints(folder: Path) -> bool:
    """True when ``folder`` holds only what finetune writes there: its run file (required), the
    trainer's checkpoint-* folders and its logs. Anything else is the user's and is never removed."""
    if not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    mine = all(e.name in ("kosbert_viz_run.json", "runs") or (e.is_dir() and e.name.startswith("checkpoint-"))
               for e in entries)
    return mine and (folder / "kosbert_viz_run.json").exists()


def finetune(train, model=None, *, output_dir, loss: str = "auto", epochs: int | None = None,
             batch_size: int | None = None, learning_rate: float = 2e-5, warmup_steps: int | None = None,
             eval=None, random_state: int = 42, resume=False, checkpoint_steps: int | None = None,
             keep_checkpoints: bool = False, precision: str = "auto", show_progress_bar: bool | None = None,
             threads: int | None = None, cache="auto") -> FinetuneResult:
    """Fine-tune a sentence-transformers model (default ko-sbert) with the model card's recipe.

    Parameters
    ----------
    train : DataFrame, list of tuples, or dict of them
        - scored pairs ``(sentence1, sentence2, score)``, scores 0-5 (KorSTS) or 0-1:
          CosineSimilarityLoss (scores scaled to 0-1), batch 8;
        - ``(anchor, positive)`` pairs or ``(anchor, positive, negative)`` triplets:
          MultipleNegativesRankingLoss (scale 20, cosine), batch 64 without duplicate texts;
        - a dict ``{name: data}`` of several: multi-task, one batch of each in turn (round robin).
        DataFrames are read by column name (``sentence1/sentence2/score``, ``anchor/positive[/negative]``)
        or, with 2-3 columns, by position.
    model : name, folder or SentenceTransformer (default ``$KOSBERT_VIZ_MODEL`` or ko-sbert); never changed.
    output_dir : folder for the new model (a normal sentence-transformers folder) and its checkpoints.
    loss : "auto" (by data kind), "cosine" (scored data only) or "mnrl" (pairs/triplets only).
    epochs, batch_size, warmup_steps : default to the card's recipe scaled to the data (see README).
    eval : scored pairs (at least 30) to compute the card's 8 STS numbers on before and after; default:
        10% of the scored training pairs held out, at least 30 and at most a quarter (none, with a
        warning, below 120 scored pairs; none when training on pairs only); ``False``: no evaluation.
    random_state : seeds the model's dropout, batch order and the held-out split.
    resume : True: continue from the latest checkpoint in ``output_dir``; a path: from that checkpoint.
    checkpoint_steps : save a checkpoint every N steps (default min(500, a tenth of the run)), in
        ``output_dir/checkpoints``; removed after a finished run unless ``keep_checkpoints=True``.
    precision : "auto" (bf16 or fp16 mixed precision on CUDA, fp32 on the CPU), "fp32", "fp16", "bf16".
    threads : CPU only: torch threads for training; default measured (torch's setting or 1, the faster).
    cache : embedding cache for the "before" evaluation of the base model (the new model's is never cached).

    Returns
    -------
    FinetuneResult with ``output_dir``, ``before``/``after`` (:func:`kv.sts` dicts), ``table``,
    ``recipe``, ``data_hash``, ``seconds`` and ``pairs_per_second``.

    Example
    -------
    Training a real model takes minutes, so the suite skips this one (the module's example trains):

    >>> res = kv.finetune(korsts_train, output_dir="ko-sbert-reviews", eval=korsts_dev)  # doctest: +SKIP
    >>> res.table.loc["cosine"]  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    if output_dir is None or not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(f"output_dir must be a folder path, got {type(output_dir).__name__}")
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output_dir {str(out)!r} is a file, expected a folder for the new model")
    if out.is_dir() and any(out.iterdir()) and not ((out / RECORD_FILE).exists()
                                                    or _our_checkpoints(out / CHECKPOINT_DIR)):
        raise FileExistsError(f"output_dir {str(out)!r} already holds files that are not a kosbert_viz model; "
                              "choose a new or empty folder (nothing there was touched)")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    epochs = check_positive_int(epochs, "epochs", allow_none=True)
    batch_size = check_positive_int(batch_size, "batch_size", minimum=2, allow_none=True)
    warmup_steps = check_positive_int(warmup_steps, "warmup_steps", minimum=0, allow_none=True)
    checkpoint_steps = check_positive_int(checkpoint_steps, "checkpoint_steps", allow_none=True)
    threads = check_positive_int(threads, "threads", allow_none=True)
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise TypeError(f"random_state must be an int, got {random_state!r}")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")

    tasks = _as_tasks(train)
    for t in tasks:
        if loss == "cosine" and t.kind != "scored":
            raise ValueError(f"loss='cosine' needs scored pairs (sentence1, sentence2, score), got {t.kind} "
                             f"in {t.name!r}")
        if loss == "mnrl" and t.kind == "scored":
            raise ValueError(f"loss='mnrl' needs (anchor, positive[, negative]) texts, got scored pairs in {t.name!r}; "
                             "use loss='cosine' or drop the score column")
    data_hash = _data_hash(tasks)

    # evaluation pairs: given, or 10% (at least MIN_EVAL_PAIRS) of the scored training pairs held out
    eval_task, eval_source = None, "none"
    if eval is not None and eval is not False:
        eval_task, eval_source = _eval_frame(eval), "eval"
    elif eval is None:
        eval_task, eval_source = _hold_out(tasks, random_state)
    if eval_task is not None and np.ptp(eval_task.columns["score"]) == 0:
        if eval_source == "eval":
            raise ValueError("all eval scores are equal: correlations are undefined; give eval pairs with varied scores")
        log.warning("kosbert_viz: the held-out scored pairs all have the same score; no before/after evaluation "
                    "(pass eval= pairs with varied scores)")
        eval_task, eval_source = None, "none (held-out scores all equal)"

    sizes = {t.name: len(t) for t in tasks}
    kinds = {t.name: t.kind for t in tasks}
    plan = default_recipe(sizes, kinds, batch_size=batch_size, epochs=epochs, warmup_steps=warmup_steps)
    prec = _resolve_precision(precision)
    if checkpoint_steps is None:
        checkpoint_steps = max(1, min(500, plan["total_steps"] // 10))
    show = show_progress_bar if show_progress_bar is not None else plan["total_steps"] >= 100

    _require_training()
    trained, base_name, before_model = _load_base(model)
    before = _sts(eval_task, before_model, cache) if eval_task is not None else None

    import datasets
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    try:
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import losses
    from sentence_transformers.base.sampler import MultiDatasetBatchSamplers
    from sentence_transformers.util import cos_sim

    loss_fns, sets = {}, {}
    for t in tasks:
        sets[t.name] = datasets.Dataset.from_dict(t.columns)
        if t.kind == "scored":
            loss_fns[t.name] = losses.CosineSimilarityLoss(trained)
        else:
            loss_fns[t.name] = losses.MultipleNegativesRankingLoss(trained, scale=CARD_RECIPE["mnrl_scale"],
                                                                   similarity_fct=cos_sim)
    single = len(tasks) == 1
    kind_batches = {}
    for t in tasks:
        b = plan["batch_sizes"][t.name]
        if kind_batches.setdefault(t.kind, b) != b:  # two tasks of one kind, different sizes: use the smaller
            kind_batches[t.kind] = min(kind_batches[t.kind], b)

    ckpt_dir = out / CHECKPOINT_DIR
    if Path(base_name).expanduser().is_dir() and Path(base_name).expanduser().resolve() == out.resolve():
        raise ValueError(f"output_dir {str(out)!r} is the base model's own folder; write the new model elsewhere")
    run_key = {"data_hash": data_hash, "base_model": base_name, "plan": plan, "learning_rate": float(learning_rate),
               "random_state": int(random_state), "precision": prec}
    resume_from = None
    if resume is True:
        latest = _latest_checkpoint(ckpt_dir)
        if latest is None:
            log.warning("resume=True but no checkpoint in %s: training from the start", ckpt_dir)
        resume_from = str(latest) if latest else None
    elif resume not in (False, None):
        if not isinstance(resume, (str, os.PathLike)):
            raise TypeError(f"resume must be True, False or a checkpoint folder, got {resume!r}")
        resume_from = str(Path(resume).expanduser())
        if not (Path(resume_from) / "trainer_state.json").exists():
            raise FileNotFoundError(f"resume={resume_from!r} is not a checkpoint folder (no trainer_state.json); "
                                    f"checkpoints are in {ckpt_dir}")
    elif _our_checkpoints(ckpt_dir):
        shutil.rmtree(ckpt_dir)  # a fresh run: old checkpoints of an earlier run would mix in
    run_file = ckpt_dir / "kosbert_viz_run.json"
    if resume_from and run_file.exists() and Path(resume_from).parent.resolve() == ckpt_dir.resolve():
        saved = json.loads(run_file.read_text(encoding="utf-8"))
        changed = sorted(k for k in run_key if saved.get(k) != json.loads(json.dumps(run_key[k])))
        if changed:
            raise ValueError(f"resume: the checkpoints in {ckpt_dir} were made with another {', '.join(changed)}; "
                             "resume with the same data and settings, or pass resume=False to start again")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(run_key, sort_keys=True), encoding="utf-8")

    cuda = torch.cuda.is_available()
    args = SentenceTransformerTrainingArguments(
        output_dir=str(ckpt_dir),
        num_train_epochs=plan["epochs"],
        per_device_train_batch_size=max(plan["batch_sizes"].values()),
        learning_rate=float(learning_rate),
        weight_decay=CARD_RECIPE["weight_decay"],
        adam_epsilon=CARD_RECIPE["adam_epsilon"],
        max_grad_norm=CARD_RECIPE["max_grad_norm"],
        lr_scheduler_type="linear",
        warmup_steps=plan["warmup_steps"],
        batch_sampler=_TaskBatchSampler(kind_batches),
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.ROUND_ROBIN,
        seed=int(random_state),
        fp16=prec == "fp16",
        bf16=prec == "bf16",
        save_strategy="steps",
        save_steps=checkpoint_steps,
        save_total_limit=2,
        eval_strategy="no",
        logging_steps=max(1, min(50, plan["total_steps"] // 20)),
        report_to="none",
        disable_tqdm=not show,
        dataloader_pin_memory=cuda,
        use_cpu=not cuda,
    )
    trainer = SentenceTransformerTrainer(
        model=trained, args=args,
        train_dataset=sets[tasks[0].name] if single else datasets.DatasetDict(sets),
        loss=loss_fns[tasks[0].name] if single else loss_fns,
        callbacks=[_thread_trial_callback(threads)],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # no loss dicts printed to stdout; the bar shows progress
    start_step = 0
    if resume_from:
        state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
        start_step = int(state.get("global_step", 0))
    t0 = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.perf_counter() - t0
    steps_done = max(0, int(trainer.state.global_step) - start_step)
    pairs_done = plan["pairs_per_epoch"] * plan["epochs"] * steps_done / max(plan["total_steps"], 1)

    trained.save(str(out), create_model_card=False)
    forget_loaded(out)
    if not keep_checkpoints and _our_checkpoints(ckpt_dir):
        shutil.rmtree(ckpt_dir)

    recipe = {
        "base_model": base_name,
        "losses": {t.name: (t.loss_name if t.kind == "scored" else
                            f"MultipleNegativesRankingLoss(scale={CARD_RECIPE['mnrl_scale']:g}, cos_sim)")
                   for t in tasks},
        "kinds": kinds,
        "batch_sizes": plan["batch_sizes"],
        "batch_samplers": {t.name: ("shuffled" if t.kind == "scored" else "no_duplicates") for t in tasks},
        "multi_dataset_batch_sampler": None if single else "round_robin",
        "score_scale": {t.name: t.score_scale for t in tasks if t.kind == "scored"},
        "epochs": plan["epochs"],
        "steps_per_epoch": plan["steps_per_epoch"],
        "total_steps": plan["total_steps"],
        "warmup_steps": plan["warmup_steps"],
        "learning_rate": float(learning_rate),
        "weight_decay": CARD_RECIPE["weight_decay"],
        "adam_epsilon": CARD_RECIPE["adam_epsilon"],
        "max_grad_norm": CARD_RECIPE["max_grad_norm"],
        "optimizer": "AdamW",
        "scheduler": "linear warm-up, then linear decay to 0 (WarmupLinear)",
        "precision": prec,
        "random_state": int(random_state),
        "n_train": sizes,
        "n_eval": len(eval_task) if eval_task is not None else 0,
        "eval_source": eval_source,
        "versions": {"sentence_transformers": sentence_transformers.__version__,
                     "transformers": transformers.__version__, "torch": torch.__version__.split("+")[0]},
    }
    after = _sts(eval_task, str(out), None) if eval_task is not None else None
    result = FinetuneResult(
        output_dir=str(out), base_model=base_name, before=before, after=after, recipe=recipe, data_hash=data_hash,
        n_train=sizes, n_eval=recipe["n_eval"], eval_source=eval_source,
        seconds=time.perf_counter() - t_start, train_seconds=train_seconds,
        pairs_per_second=pairs_done / train_seconds if train_seconds > 0 else float("nan"),
        training_loss=float(output.training_loss) if output is not None else None,
        resumed_from=resume_from,
    )
    _write_record(out, result)
    return result


def _write_record(out: Path, res: FinetuneResult) -> None:
    """kosbert_viz_finetune.json (deterministic: hashed into the folder's fingerprint) and README.md."""
    from kosbert_viz import __version__

    record = {"base_model": res.base_model, "data_hash": res.data_hash, "recipe": res.recipe,
              "before": res.before, "after": res.after, "kosbert_viz": __version__}
    (out / RECORD_FILE).write_text(json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                   encoding="utf-8")
    r = res.recipe
    lines = [
        "---", "library_name: sentence-transformers", f"base_model: {res.base_model}",
        "tags: [sentence-transformers, sentence-similarity, korean, kosbert_viz]", "language: [ko]", "---", "",
        f"# {out.name}", "",
        f"Fine-tuned from `{res.base_model}` with `kosbert_viz.finetune` (kosbert_viz {__version__}), "
        "following the recipe of the ko-sbert-multitask model card.", "",
        "```python", "import kosbert_viz as kv", f"emb = kv.encode(texts, model=\"{out.name}\")", "```", "",
        "## Training data", "",
        f"- data hash (BLAKE2b of the training rows): `{res.data_hash}`",
    ]
    for name, n in r["n_train"].items():
        lines.append(f"- `{name}`: {n:,} {r['kinds'][name]} rows, {r['losses'][name]}, batch {r['batch_sizes'][name]} "
                     f"({r['batch_samplers'][name]})")
    lines += ["", "## Recipe", "", "| setting | value |", "|---|---|"]
    for key in ("epochs", "steps_per_epoch", "total_steps", "warmup_steps", "learning_rate", "weight_decay",
                "adam_epsilon", "max_grad_norm", "optimizer", "scheduler", "multi_dataset_batch_sampler",
                "precision", "random_state"):
        lines.append(f"| {key} | {r[key]} |")
    if res.before and res.after:
        lines += ["", f"## Evaluation ({res.n_eval:,} scored pairs: {res.eval_source}; x100)", "",
                  res.table.to_markdown() if _has_tabulate() else "```\n" + res.table.to_string() + "\n```"]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()), ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


# --------------------------------------------------------------------------- pairs from an analysis


def pairs_from_duplicates(groups, texts=None, *, max_pairs_per_group: int = 50):
    """(anchor, positive) pairs from near-duplicate groups: each member paired with its group's representative.

    ``groups`` is the DataFrame of :func:`kv.duplicates` (its ``indices``/``representative`` columns
    index ``texts``; its ``texts`` column is used when ``texts`` is omitted). A group of ``m`` members
    gives ``m - 1`` pairs (at most ``max_pairs_per_group``), so big groups do not drown the rest.
    Returns a DataFrame with columns ``anchor`` and ``positive``, ready for :func:`finetune`.

    >>> groups = kv.duplicates(emb, texts)
    >>> pairs = kv.pairs_from_duplicates(groups, texts)
    >>> pairs.columns.tolist()
    ['anchor', 'positive']
    """
    import pandas as pd

    if not hasattr(groups, "columns") or not {"indices", "representative"} <= set(groups.columns):
        raise TypeError("groups must be the DataFrame returned by kv.duplicates() (columns indices, representative)")
    max_pairs_per_group = check_positive_int(max_pairs_per_group, "max_pairs_per_group")
    if texts is not None:
        texts = check_texts(texts)
    elif "texts" not in groups.columns or groups["texts"].isna().any():
        raise ValueError("groups carry no texts (kv.duplicates was called without texts): pass texts=")
    anchors, positives = [], []
    for g, (members, rep) in enumerate(zip(groups["indices"], groups["representative"])):
        members = [int(i) for i in members]
        if texts is not None:
            if members and (min(members) < 0 or max(members) >= len(texts)):
                raise ValueError(f"group {g} refers to row {max(members)}, but texts has {len(texts)} entries")
            member_texts = {i: texts[i] for i in members}
        else:
            member_texts = dict(zip(members, check_texts(groups["texts"].iloc[g], name=f"groups.texts[{g}]")))
        rep_text = member_texts[int(rep)]
        seen = {rep_text}
        count = 0
        for i in members:
            t = member_texts[i]
            if i == int(rep) or t in seen:  # exact copies teach nothing and break no-duplicate batches
                continue
            seen.add(t)
            anchors.append(rep_text)
            positives.append(t)
            count += 1
            if count >= max_pairs_per_group:
                break
    return pd.DataFrame({"anchor": anchors, "positive": positives})


def pairs_from_labels(texts, labels, *, embeddings=None, max_pairs: int = 10_000, random_state: int = 42):
    """(anchor, positive, negative) triplets from themes: same-label positives, other-label negatives.

    Use the labels an analyst confirmed or renamed (``-1``/None rows are skipped). With ``embeddings``
    the negative is the anchor's nearest text of another theme (a hard negative: what the model
    confuses now); without, a random text of another theme. At most ``max_pairs`` triplets, spread
    evenly over the themes. Returns a DataFrame ``anchor``, ``positive``, ``negative``.

    >>> trip = kv.pairs_from_labels(df.review, df.topic, embeddings=emb)
    >>> len(trip) > 0
    True
    """
    import pandas as pd

    texts = check_texts(texts)
    codes, _ = check_labels(labels, n=len(texts))
    max_pairs = check_positive_int(max_pairs, "max_pairs")
    X = None
    if embeddings is not None:
        from kosbert_viz._util.validation import check_embeddings

        X = check_embeddings(embeddings, n=len(texts))
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(random_state)
    themes = {}
    for i, c in enumerate(codes):
        if c >= 0:
            themes.setdefault(int(c), []).append(i)
    usable = {c: rows for c, rows in themes.items() if len(set(texts[i] for i in rows)) >= 2}
    if len(usable) < 1 or len(themes) < 2:
        raise ValueError(f"need at least 2 labelled themes, one of them with 2 different texts; got {len(themes)} "
                         f"themes ({len(usable)} with 2+ different texts)")
    per_theme = max(1, max_pairs // len(usable))
    out = {"anchor": [], "positive": [], "negative": []}
    all_rows = np.flatnonzero(codes >= 0)
    for c in sorted(usable):
        rows = np.asarray(usable[c])
        others = all_rows[codes[all_rows] != c]
        k = min(per_theme, len(rows))
        for a in rng.choice(rows, size=k, replace=False):
            candidates = rows[[texts[r] != texts[a] for r in rows]]
            p = int(rng.choice(candidates))
            if X is not None:
                sims = X[others] @ X[a]
                n = int(others[int(np.argmax(sims))])
            else:
                n = int(rng.choice(others))
            out["anchor"].append(texts[int(a)])
            out["positive"].append(texts[p])
            out["negative"].append(texts[n])
    frame = pd.DataFrame(out)
    if len(frame) > max_pairs:
        frame = frame.sample(n=max_pairs, random_state=random_state).reset_index(drop=True)
    return frame
