"""Training data for :func:`kv.finetune`: tables and tuples read into tasks, their hash, evaluation pairs.

A task is one data set of one kind: scored pairs ``(sentence1, sentence2, score)``, ``(anchor,
positive)`` pairs or ``(anchor, positive, negative)`` triplets; a dict of data sets gives several.
Evaluation pairs are given (``eval=``) or held out of the first scored task.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass

import numpy as np

from kosbert_viz._util.validation import check_texts

__all__ = ["MAX_HOLD_OUT", "MIN_EVAL_PAIRS", "as_tasks", "check_eval"]

log = logging.getLogger("kosbert_viz")

#: Fewest scored pairs the before/after STS numbers are computed on: the standard error of Spearman's rho
#: is about 1/sqrt(n - 1), +-0.19 (19 points x100) on 30 pairs but +-0.71 on 3, and 2 pairs give +-100.
MIN_EVAL_PAIRS = 30
#: Largest share of the scored training pairs held out to reach MIN_EVAL_PAIRS (scikit-learn's default
#: test share); with fewer than MIN_EVAL_PAIRS / MAX_HOLD_OUT = 120 scored pairs nothing is held out.
MAX_HOLD_OUT = 0.25

_SCORE_COLUMNS = ("score", "label", "similarity")
_KIND_COLUMNS = {
    "scored": ("sentence1", "sentence2", "score"),
    "pairs": ("anchor", "positive"),
    "triplets": ("anchor", "positive", "negative"),
}


@dataclass
class Task:
    name: str
    kind: str  # "scored", "pairs" or "triplets"
    columns: dict  # column name -> list (texts; scores as floats in 0-1)
    score_scale: float = 1.0  # 5.0 when the scores were given on KorSTS's 0-5 scale

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    @property
    def loss_name(self) -> str:
        return "CosineSimilarityLoss" if self.kind == "scored" else "MultipleNegativesRankingLoss"

    def subset(self, rows) -> Task:
        return Task(self.name, self.kind, {k: [v[i] for i in rows] for k, v in self.columns.items()}, self.score_scale)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _scores(values, where: str) -> tuple[list[float], float]:
    """Scores as floats in 0-1 and the scale they were given on (1 or 5)."""
    try:
        arr = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(i for i, v in enumerate(values) if not _is_number(v) and not _parses(v))
        raise TypeError(
            f"{where}[{bad}] is {values[bad]!r}, expected a number (a similarity score 0-5 or 0-1)"
        ) from None
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


def _from_frame(df, name: str) -> Task:
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
            "anchor, positive (pairs) or anchor, positive, negative (triplets), or 2-3 columns in that order"
        )
    return _build(
        name,
        kind,
        [df[c].tolist() for c in text_cols],
        df[score_col].tolist() if kind == "scored" else None,
        text_cols,
        where,
    )


def _from_rows(rows, name: str) -> Task:
    where = name if name in ("train", "eval") else f"train[{name!r}]"
    rows = list(rows)
    if not rows:
        raise ValueError(f"{where} is empty, expected at least 2 pairs")
    widths = set()
    for i, r in enumerate(rows):
        if isinstance(r, (str, bytes)) or not hasattr(r, "__len__"):
            raise TypeError(
                f"{where}[{i}] is {type(r).__name__}, expected a tuple (sentence1, sentence2, score), "
                "(anchor, positive) or (anchor, positive, negative)"
            )
        widths.add(len(r))
    if len(widths) != 1 or next(iter(widths)) not in (2, 3):
        raise ValueError(
            f"{where} rows have {sorted(widths)} entries, expected all 2 (anchor, positive) "
            "or all 3 (sentence1, sentence2, score / anchor, positive, negative)"
        )
    width = widths.pop()
    cols = [[r[j] for r in rows] for j in range(width)]
    if width == 3 and all(_is_number(v) for v in cols[2]):
        return _build(name, "scored", cols[:2], cols[2], ["sentence1", "sentence2"], where)
    kind = "pairs" if width == 2 else "triplets"
    return _build(name, kind, cols, None, list(_KIND_COLUMNS[kind]), where)


def _build(name, kind, text_values, score_values, source_cols, where) -> Task:
    out_cols = _KIND_COLUMNS[kind]
    columns = {}
    for col, src, values in zip(out_cols, source_cols, text_values):
        columns[col] = _texts(values, f"{where}[{src!r}]" if isinstance(src, str) and not src.isdigit() else where)
    scale = 1.0
    if kind == "scored":
        columns["score"], scale = _scores(score_values, f"{where} scores")
    n = len(columns[out_cols[0]])
    if n < 2:
        raise ValueError(
            f"{where} has a single pair, expected at least 2 (in-batch negatives and correlations need more than one)"
        )
    if kind != "scored" and len(set(columns["anchor"])) < 2:
        raise ValueError(
            f"{where} has only one distinct anchor text, expected at least 2: "
            "MultipleNegativesRankingLoss learns from the other pairs of a batch"
        )
    return Task(name, kind, columns, scale)


def _as_task(data, name: str = "train") -> Task:
    if isinstance(data, Task):
        return data
    if hasattr(data, "columns") and hasattr(data, "iloc"):  # a DataFrame
        return _from_frame(data, name)
    if isinstance(data, (str, bytes, os.PathLike)):
        raise TypeError(
            f"train must be a DataFrame, a list of tuples or a dict of them, got {type(data).__name__}; "
            "read a file first (pd.read_csv) or use `kosbert-viz finetune FILE`"
        )
    if data is None or not hasattr(data, "__iter__"):
        raise TypeError(f"train must be a DataFrame, a list of tuples or a dict of them, got {type(data).__name__}")
    return _from_rows(data, name)


def as_tasks(train) -> list[Task]:
    """``train`` (a DataFrame, rows of tuples, or a dict of them by task name) as checked tasks; a
    ValueError or TypeError says what is wrong with it."""
    if isinstance(train, dict):
        if not train:
            raise ValueError("train is an empty dict, expected one or more named data sets")
        for key in train:
            if not isinstance(key, str) or not key:
                raise TypeError(f"the keys of a train dict name the tasks and must be non-empty str, got {key!r}")
        return [_as_task(v, k) for k, v in train.items()]
    return [_as_task(train)]


def tasks_hash(tasks) -> str:
    h = hashlib.blake2b(digest_size=16)
    for t in tasks:
        h.update(json.dumps([t.name, t.kind, t.columns], ensure_ascii=False).encode())
    return h.hexdigest()


def check_eval(eval) -> Task:
    """``eval=`` as a task of at least MIN_EVAL_PAIRS scored pairs, or a ValueError saying why not."""
    task = _as_task(eval, "eval")
    if task.kind != "scored":
        raise ValueError(
            f"eval must be scored pairs (sentence1, sentence2, score), got {task.kind} ({', '.join(task.columns)})"
        )
    if len(task) < MIN_EVAL_PAIRS:
        raise ValueError(
            f"eval has {len(task)} scored pairs, expected at least {MIN_EVAL_PAIRS}: the standard error "
            f"of a Spearman correlation is about 1/sqrt(n-1), +-{1 / math.sqrt(len(task) - 1):.2f} on "
            f"{len(task)} pairs, too wide to tell a gain from noise; pass more pairs or eval=False"
        )
    return task


def hold_out(tasks: list, random_state) -> tuple:
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
        log.warning(
            "kosbert_viz: %r has %d scored pairs, too few for a held-out evaluation: a Spearman correlation "
            "needs at least %d pairs (its standard error is about 1/sqrt(n-1)) and at most a quarter of the "
            "data is held out, so %d scored pairs or more; training on all of them with no before/after "
            "numbers (pass eval= with %d+ scored pairs to evaluate)",
            t.name,
            len(t),
            MIN_EVAL_PAIRS,
            need,
            MIN_EVAL_PAIRS,
        )
        return None, f"none (fewer than {need} scored pairs: too few to hold out {MIN_EVAL_PAIRS})"
    perm = np.random.default_rng(random_state).permutation(len(t))
    tasks[i] = t.subset(sorted(perm[n_hold:]))
    share = "10%" if n_hold == int(round(0.1 * len(t))) else str(n_hold)
    return t.subset(sorted(perm[:n_hold])), f"{share} of {t.name!r} held out"
