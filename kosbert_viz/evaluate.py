"""Evaluation: the model card's KorSTS table, pair classification and cluster metrics.

Pairs with gold similarity scores (here four made-up ones; KorSTS's 1,379 test pairs are
``kv.evaluate.load_korsts("KorNLUDatasets/KorSTS", split="test")``, on which the model card
reports ``pearson_cosine`` 84.13 for jhgan/ko-sbert-multitask):

>>> pairs = pd.DataFrame({
...     "sentence1": ["배송이 빨라요", "포장이 꼼꼼해요", "환불이 안 돼요", "앱이 자꾸 꺼져요"],
...     "sentence2": ["배송이 정말 빠르네요", "가격이 비싸요", "환불을 거절당했어요", "날씨가 좋네요"],
...     "score": [4.8, 0.6, 3.9, 0.2]})
>>> r = kv.evaluate.sts(pairs.sentence1, pairs.sentence2, pairs.score)   # default model
>>> r["n_pairs"], list(r)[:2]
(4, ['pearson_cosine', 'spearman_cosine'])
>>> list(kv.evaluate.sts_table(r).columns)   # the model card's numbers beside them
['pearson', 'spearman', 'model_card_pearson', 'model_card_spearman']
>>> m = kv.evaluate.cluster_metrics(df["topic"], res.labels)   # clusters vs known topics
>>> list(m)
['ari', 'nmi', 'v_measure', 'homogeneity', 'completeness', 'purity', 'n', 'n_clusters', 'noise_fraction']
>>> m["n"], m["n_clusters"]
(480, 6)
>>> sim = pair_similarity(np.eye(3)[[0, 1, 2]], np.eye(3)[[0, 2, 2]])   # cosine of each pair
>>> sim.round(2).tolist()
[1.0, 0.0, 1.0]
>>> best_threshold(sim, [1, 0, 1])["f1"]
1.0
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.embed.encode import encode
from kosbert_viz.geometry.search import as_matrix

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "sts",
    "sts_table",
    "load_korsts",
    "MODEL_CARD_KORSTS",
    "cluster_metrics",
    "pair_similarity",
    "best_threshold",
    "precision_recall_f1",
]

SIMILARITIES = ("cosine", "euclidean", "manhattan", "dot")

#: jhgan/ko-sbert-multitask's model card, KorSTS test (x100).
MODEL_CARD_KORSTS = {
    "pearson_cosine": 84.13,
    "spearman_cosine": 84.71,
    "pearson_euclidean": 82.42,
    "spearman_euclidean": 82.66,
    "pearson_manhattan": 81.41,
    "spearman_manhattan": 81.69,
    "pearson_dot": 80.05,
    "spearman_dot": 79.69,
}


def _pair_matrices(e1, e2):
    a = as_matrix(e1, "embeddings[0]")
    b = as_matrix(e2, "embeddings[1]")
    if a.shape != b.shape:
        raise ValueError(f"the two embedding arrays must have the same shape, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("embeddings contain NaN or inf")
    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False)


def pair_similarity(e1, e2, kind: str = "cosine") -> np.ndarray:
    """Row-wise similarity of two (n, dim) arrays.

    ``cosine``; ``euclidean`` and ``manhattan`` as negative distances (higher = more similar);
    ``dot``: the four similarities of the model card's table. Computed in the embeddings'
    precision (float32 or float64) with the same operations as sentence-transformers, so
    that pairs of identical sentences (cosine 1 up to rounding) tie the same way there.
    """
    if kind not in SIMILARITIES:
        raise ValueError(f"kind must be one of {SIMILARITIES}, got {kind!r}")
    import torch

    a, b = (torch.from_numpy(np.ascontiguousarray(x)) for x in _pair_matrices(e1, e2))
    with torch.inference_mode():
        if kind == "cosine":
            a, b = torch.nn.functional.normalize(a, p=2, dim=-1), torch.nn.functional.normalize(b, p=2, dim=-1)
            sim = (a * b).sum(dim=-1)
        elif kind == "euclidean":
            sim = -torch.linalg.vector_norm(a - b, dim=-1)
        elif kind == "manhattan":
            sim = -torch.sum(torch.abs(a - b), dim=-1)
        else:
            sim = (a * b).sum(dim=-1)
    return sim.numpy().astype(np.float64)


def _encode_pairs(sentences1, sentences2, model, cache, batch_size, precision="auto"):
    s1, s2 = list(sentences1), list(sentences2)
    if len(s1) != len(s2):
        raise ValueError(f"sentences1 has {len(s1)} entries but sentences2 has {len(s2)}")
    unique = list(dict.fromkeys(s1 + s2))
    vecs = encode(unique, model, cache=cache, batch_size=batch_size, precision=precision)
    row = {t: i for i, t in enumerate(unique)}
    return vecs[[row[t] for t in s1]], vecs[[row[t] for t in s2]]


def sts(
    sentences1=None,
    sentences2=None,
    scores=None,
    *,
    model=None,
    embeddings=None,
    cache="auto",
    batch_size: int | None = None,
    precision: str = "auto",
) -> dict:
    """Pearson and Spearman correlations (x100) of four embedding similarities with gold scores.

    Parameters
    ----------
    sentences1, sentences2 : sequences of str, one pair per position
        Encoded with ``model`` (default ``$KOSBERT_VIZ_MODEL`` or ko-sbert), each distinct
        sentence once, through the embedding cache.
    scores : sequence of float
        Gold similarity of each pair (KorSTS: 0-5).
    embeddings : (array, array), optional
        Precomputed embeddings of sentences1 and sentences2 instead of encoding; then the
        sentences may be omitted.
    precision : as in :func:`kosbert_viz.encode` (``"auto"``: int8 on a CPU; ``"fp32"`` scores the
        model's exact vectors, as its model card does)

    Returns
    -------
    dict with ``pearson_cosine``, ``spearman_cosine``, ``pearson_euclidean``, ``spearman_euclidean``,
    ``pearson_manhattan``, ``spearman_manhattan``, ``pearson_dot``, ``spearman_dot`` (x100, as the
    model card reports them; same definitions as sentence-transformers'
    ``EmbeddingSimilarityEvaluator``) and ``n_pairs``.
    """
    from scipy.stats import pearsonr, spearmanr

    if scores is None:
        raise TypeError("sts() needs the gold scores")
    gold = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores)
    try:
        gold = gold.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"scores must be numbers: {exc}") from None
    if gold.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {gold.shape}")
    if embeddings is not None:
        if model is not None:
            raise ValueError("give either model= or embeddings=, not both")
        if not isinstance(embeddings, (tuple, list)) or len(embeddings) != 2:
            raise TypeError("embeddings must be a pair (embeddings of sentences1, embeddings of sentences2)")
        e1, e2 = embeddings
    else:
        if sentences1 is None or sentences2 is None:
            raise TypeError("sts() needs sentences1 and sentences2, or embeddings=(e1, e2)")
        if isinstance(sentences1, str) or isinstance(sentences2, str):
            raise TypeError("sentences1 and sentences2 must be sequences of str, not a single str")
        e1, e2 = _encode_pairs(sentences1, sentences2, model, cache, batch_size, precision)
    a, b = _pair_matrices(e1, e2)
    if len(a) != len(gold):
        raise ValueError(f"{len(a)} pairs but {len(gold)} scores")
    if len(gold) < 2:
        raise ValueError(f"need at least 2 pairs, got {len(gold)}")
    if not np.isfinite(gold).all():
        raise ValueError("scores contain NaN or inf")
    if np.ptp(gold) == 0:
        raise ValueError("all gold scores are equal: correlations are undefined")
    out = {}
    for kind in SIMILARITIES:
        sim = pair_similarity(a, b, kind)
        out[f"pearson_{kind}"] = 100.0 * float(pearsonr(gold, sim)[0])
        out[f"spearman_{kind}"] = 100.0 * float(spearmanr(gold, sim)[0])
    out["n_pairs"] = int(len(gold))
    return out


def sts_table(result: dict, *, reference: dict | None = MODEL_CARD_KORSTS, digits: int = 2) -> pd.DataFrame:
    """The result of :func:`sts` as the model card's table (a DataFrame), with the reference beside it."""
    import pandas as pd

    rows = []
    for kind in SIMILARITIES:
        row = {
            "similarity": kind,
            "pearson": round(result[f"pearson_{kind}"], digits),
            "spearman": round(result[f"spearman_{kind}"], digits),
        }
        if reference:
            row["model_card_pearson"] = reference[f"pearson_{kind}"]
            row["model_card_spearman"] = reference[f"spearman_{kind}"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("similarity")
    table.attrs["n_pairs"] = result.get("n_pairs")
    return table


def load_korsts(path, split: str = "test") -> pd.DataFrame:
    """KorSTS pairs from a folder with ``sts-{split}.tsv`` (or that file itself).

    Read tab-separated with quoting off (the sentences contain quote marks).
    Returns a DataFrame with ``sentence1``, ``sentence2`` and ``score`` (float).
    """
    import pandas as pd

    path = Path(path)
    file = path / f"sts-{split}.tsv" if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{file} not found (expected the KorSTS folder that holds sts-{split}.tsv)")
    df = pd.read_csv(file, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = {"score", "sentence1", "sentence2"} - set(df.columns)
    if missing:
        raise ValueError(f"{file} lacks the columns {sorted(missing)}; columns are {list(df.columns)}")
    out = df[["sentence1", "sentence2"]].copy()
    out["score"] = df["score"].astype(float)
    return out


# --------------------------------------------------------------------------- pair classification


def _binary(labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have one entry per similarity ({n}), got shape {y.shape}")
    uniq = set(np.unique(y).tolist())
    if not uniq <= {0, 1, True, False}:
        raise ValueError(f"labels must be 0/1 (or bool), got values {sorted(map(str, uniq))[:5]}")
    return y.astype(bool)


def precision_recall_f1(similarities, labels, threshold: float) -> dict:
    """Precision, recall and F1 of calling a pair a duplicate when similarity >= threshold."""
    s = np.asarray(similarities, dtype=np.float64)
    y = _binary(labels, len(s))
    pred = s >= threshold
    tp = int((pred & y).sum())
    precision = tp / int(pred.sum()) if pred.any() else 0.0
    recall = tp / int(y.sum()) if y.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n": int(len(s)),
        "positives": int(y.sum()),
    }


def best_threshold(similarities, labels) -> dict:
    """The threshold (similarity >= t is a duplicate) that maximises F1, with its precision/recall."""
    s = np.asarray(similarities, dtype=np.float64)
    if s.ndim != 1 or len(s) == 0:
        raise ValueError("similarities must be a non-empty 1-D sequence")
    if not np.isfinite(s).all():
        raise ValueError("similarities contain NaN or inf")
    y = _binary(labels, len(s))
    if not y.any():
        raise ValueError("labels have no positive pair: F1 is undefined")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    predicted = np.arange(1, len(s) + 1)
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # a threshold takes all tied scores
    f1 = 2 * tp / (predicted + y.sum())
    f1 = np.where(last, f1, -1.0)
    best = int(np.argmax(f1))
    return precision_recall_f1(s, y, float(s_sorted[best]))


# --------------------------------------------------------------------------- clusters


def cluster_metrics(labels_true, labels_pred, *, noise: str = "cluster") -> dict:
    """Agreement of cluster labels with known labels: ARI, NMI, V-measure and purity.

    ``noise`` says what to do with predicted label ``-1`` (HDBSCAN noise): ``"cluster"``
    counts it as one more cluster, ``"drop"`` scores only the clustered points. Purity is
    the share of points whose cluster's most common true label is their own.
    """
    from sklearn.metrics import (
        adjusted_rand_score,
        homogeneity_completeness_v_measure,
        normalized_mutual_info_score,
    )

    t = np.asarray(list(labels_true) if not hasattr(labels_true, "__array__") else labels_true)
    p = np.asarray(list(labels_pred) if not hasattr(labels_pred, "__array__") else labels_pred)
    if t.ndim != 1 or p.ndim != 1 or len(t) != len(p):
        raise ValueError(
            f"labels_true and labels_pred must be 1-D and of equal length, got shapes {t.shape} and {p.shape}"
        )
    if len(t) == 0:
        raise ValueError("no labels")
    if noise not in ("cluster", "drop"):
        raise ValueError(f"noise must be 'cluster' or 'drop', got {noise!r}")
    is_noise = np.array([str(x) == "-1" for x in p]) if p.dtype.kind not in "iu" else p == -1
    noise_fraction = float(is_noise.mean())
    n_clusters = int(len(np.unique(p[~is_noise].astype(str))))
    if noise == "drop":
        t, p = t[~is_noise], p[~is_noise]
        if len(t) == 0:
            raise ValueError("every point is noise (-1): nothing to score with noise='drop'")
    t_codes = np.unique(t.astype(str), return_inverse=True)[1]
    p_codes = np.unique(p.astype(str), return_inverse=True)[1]
    counts = np.zeros((p_codes.max() + 1, t_codes.max() + 1), np.int64)
    np.add.at(counts, (p_codes, t_codes), 1)
    h, c, v = homogeneity_completeness_v_measure(t_codes, p_codes)
    return {
        "ari": float(adjusted_rand_score(t_codes, p_codes)),
        "nmi": float(normalized_mutual_info_score(t_codes, p_codes)),
        "v_measure": float(v),
        "homogeneity": float(h),
        "completeness": float(c),
        "purity": float(counts.max(1).sum() / len(t_codes)),
        "n": int(len(t_codes)),
        "n_clusters": n_clusters,
        "noise_fraction": noise_fraction,
    }
