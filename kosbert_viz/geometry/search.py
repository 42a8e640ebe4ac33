"""Semantic search and near-duplicate groups over sentence embeddings.

>>> emb = kv.encode(df["review"])
>>> hits = kv.search(["배송이 너무 늦어요"], emb, texts=df["review"], top_k=5)
>>> hits.columns.tolist(), hits["rank"].tolist()
(['query', 'rank', 'score', 'text', 'index'], [1, 2, 3, 4, 5])
>>> groups = kv.duplicates(emb, df["review"])        # threshold read off the vectors; or threshold=0.9
>>> df_unique = df[kv.keep_one_per_group(groups, len(df))]
>>> len(df_unique) == len(df) - int((groups["size"] - 1).sum())   # one text kept per group
True

Both are exact cosine by default and work in blocks: a query block times a corpus
block is the largest score matrix ever held, so a 1M x 768 corpus (or a memmap of
one) never needs a 1M x n_queries matrix. An approximate faiss index (the ``ann``
extra) can take over for big corpora; its recall@k is then measured against the
exact answer on a sample of the queries and reported in ``result.attrs["search"]``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.extras import require
from kosbert_viz._util.validation import check_embeddings, check_texts, identical_rows
from kosbert_viz.embed.encode import encode

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["search", "duplicates", "keep_one_per_group", "build_index", "AnnIndex"]

_QUERY_BLOCK = 1024  # queries scored at once
_CORPUS_BLOCK = 16384  # corpus rows scored at once: the score block is at most 1024 x 16384 float32 (64 MiB)
_GROUP_SAMPLE = 1000  # members used for a group's mean similarity when a group is larger than this


# --------------------------------------------------------------------------- inputs


def as_matrix(X, name: str) -> np.ndarray:
    """A 2-D float array view (no copy for float32/float64 arrays and memmaps)."""
    # NaN rows are reported with their block offset by checked_unit_rows (a memmap is not read whole here)
    X = check_embeddings(X, name=name, dtype=None, finite=False)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float32)
    return X


def _as_texts(texts, n: int, name: str = "texts") -> list | None:
    """NFC texts, one per corpus row (see ``_validation.check_texts``)."""
    return None if texts is None else check_texts(texts, name=name, n=n)


def checked_unit_rows(X: np.ndarray, what: str, offset: int = 0) -> np.ndarray:
    """float32 rows scaled to unit length (zero rows stay zero); NaN/inf rows raise."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1)
    bad = ~np.isfinite(norms)
    if bad.any():
        raise ValueError(f"{what} row {offset + int(np.argmax(bad))} contains NaN or inf")
    return X / np.maximum(norms, 1e-12)[:, None]


def _queries(queries, model, cache, dim: int):
    """(unit query vectors, labels for the ``query`` column)."""
    if isinstance(queries, str):
        queries = [queries]
    if isinstance(queries, np.ndarray) and queries.dtype.kind in "fiu" or hasattr(queries, "detach"):
        Q = as_matrix(queries[None, :] if np.ndim(queries) == 1 else queries, "queries")
        labels = list(range(len(Q)))
    else:
        if not isinstance(queries, Iterable):
            raise TypeError(
                f"queries must be a str, a list of str or an array of vectors, got {type(queries).__name__}"
            )
        labels = list(queries)
        if labels and not all(isinstance(q, str) for q in labels):
            if all(np.ndim(q) == 1 and not isinstance(q, str) for q in labels):
                Q = as_matrix(np.asarray(labels), "queries")
                labels = list(range(len(Q)))
                return checked_unit_rows(Q, "queries"), labels
            bad = next(i for i, q in enumerate(labels) if not isinstance(q, str))
            raise TypeError(
                f"queries[{bad}] is {type(labels[bad]).__name__}; give all queries as str or all as vectors"
            )
        if not labels:
            raise ValueError("queries is empty")
        blank = next((i for i, q in enumerate(labels) if not q.strip()), None)
        if blank is not None:
            raise ValueError(f"queries[{blank}] is an empty text: there is nothing to search for")
        Q = encode(labels, model, cache=cache, show_progress_bar=len(labels) > 256)
    if len(Q) == 0:
        raise ValueError("queries is empty")
    if Q.shape[1] != dim:
        raise ValueError(
            f"queries have dimension {Q.shape[1]} but the corpus has {dim} (were they encoded with the same model?)"
        )
    return checked_unit_rows(Q, "queries"), labels


# --------------------------------------------------------------------------- exact top-k


def exact_topk(
    Q: np.ndarray,
    corpus: np.ndarray,
    k: int,
    *,
    corpus_block: int = _CORPUS_BLOCK,
    query_block: int = _QUERY_BLOCK,
    exclude_self_from: int | None = None,
):
    """Exact cosine top-k of unit rows ``Q`` against ``corpus`` (any norms), block by block.

    ``exclude_self_from``: Q[i] is corpus row ``exclude_self_from + i``; that pair is skipped.
    Returns (scores float32 (nq, k), indices int64 (nq, k)), best first.
    """
    import torch

    n = len(corpus)
    k = min(k, n - (exclude_self_from is not None))
    nq = len(Q)
    best_v = np.full((nq, k), -np.inf, np.float32)
    best_i = np.full((nq, k), -1, np.int64)
    if k <= 0:
        return best_v, best_i
    with torch.inference_mode():
        for qs in range(0, nq, query_block):
            q = torch.from_numpy(np.ascontiguousarray(Q[qs : qs + query_block]))
            bv = torch.full((len(q), k), -float("inf"))
            bi = torch.full((len(q), k), -1, dtype=torch.int64)
            for cs in range(0, n, corpus_block):
                c = np.ascontiguousarray(corpus[cs : cs + corpus_block], dtype=np.float32)
                norms = np.linalg.norm(c, axis=1)
                bad = ~np.isfinite(norms)
                if bad.any():
                    raise ValueError(f"corpus_embeddings row {cs + int(np.argmax(bad))} contains NaN or inf")
                if c.flags.writeable:
                    ct = torch.from_numpy(c)
                else:  # a read-only memmap: torch warns about it but only reads it
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        ct = torch.from_numpy(c)
                scores = q @ ct.T
                scores /= torch.from_numpy(np.maximum(norms, 1e-12))
                if exclude_self_from is not None:
                    lo = max(qs + exclude_self_from, cs)
                    hi = min(qs + exclude_self_from + len(q), cs + len(c))
                    if lo < hi:
                        rows = torch.arange(lo - qs - exclude_self_from, hi - qs - exclude_self_from)
                        scores[rows, torch.arange(lo - cs, hi - cs)] = -float("inf")
                v, i = torch.topk(scores, min(k, scores.shape[1]), dim=1)
                v = torch.cat([bv, v], 1)
                i = torch.cat([bi, i + cs], 1)
                bv, pos = torch.topk(v, k, dim=1)
                bi = torch.gather(i, 1, pos)
            best_v[qs : qs + len(q)] = bv.numpy()
            best_i[qs : qs + len(q)] = bi.numpy()
    return best_v, best_i


# --------------------------------------------------------------------------- approximate index


class AnnIndex:
    """An approximate cosine index (faiss inverted file over unit vectors).

    Build it once with :func:`build_index` and pass it to :func:`search` as
    ``index=`` to reuse it. ``nprobe`` trades speed for recall; :func:`search`
    reports the recall it reached.
    """

    def __init__(
        self,
        corpus_embeddings,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        train_size: int | None = None,
        random_state: int = 0,
        add_block: int = 65536,
    ):
        faiss = require(
            "faiss", extra="ann", feature="the approximate index", conda="conda install -c conda-forge faiss-cpu"
        )
        X = as_matrix(corpus_embeddings, "corpus_embeddings")
        n, dim = X.shape
        if n < 2:
            raise ValueError(f"an approximate index needs at least 2 vectors, got {n}")
        t0 = time.perf_counter()
        self.nlist = int(nlist or max(1, min(int(np.sqrt(n)), n // 39)))
        if not 1 <= self.nlist <= n:
            raise ValueError(f"nlist must be between 1 and the number of vectors ({n}), got {self.nlist}")
        self.nprobe = int(nprobe or max(1, self.nlist // 16))
        rng = np.random.default_rng(random_state)
        m = min(n, int(train_size or max(40 * self.nlist, 10_000)))
        sample = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = int(random_state)
        index.train(checked_unit_rows(X[sample], "corpus_embeddings"))
        for s in range(0, n, add_block):
            index.add(checked_unit_rows(X[s : s + add_block], "corpus_embeddings", s))
        index.nprobe = self.nprobe
        self._index, self._quantizer = index, quantizer
        self.n, self.dim = n, dim
        self.build_seconds = time.perf_counter() - t0

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"AnnIndex(n={self.n}, dim={self.dim}, nlist={self.nlist}, nprobe={self.nprobe})"

    def search_vectors(self, Q: np.ndarray, k: int, *, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, indices) for unit query rows; index -1 where fewer than k were reached."""
        self._index.nprobe = int(nprobe or self.nprobe)
        scores, idx = self._index.search(np.ascontiguousarray(Q, dtype=np.float32), int(min(k, self.n)))
        return scores, idx.astype(np.int64)


def build_index(
    corpus_embeddings,
    *,
    nlist: int | None = None,
    nprobe: int | None = None,
    train_size: int | None = None,
    random_state: int = 0,
) -> AnnIndex:
    """Build an approximate cosine index (faiss IVF-Flat) for :func:`search`.

    ``nlist`` inverted lists (default sqrt(n)) and ``nprobe`` lists visited per
    query (default nlist/16). Needs ``pip install "kosbert_viz[ann]"``.

    >>> idx = kv.build_index(emb, nlist=8)
    >>> hits = kv.search(emb[:3], emb, index=idx, top_k=3)   # reuse idx for many calls
    >>> hits.attrs["search"]["method"], len(hits)
    ('ann', 9)
    """
    return AnnIndex(corpus_embeddings, nlist=nlist, nprobe=nprobe, train_size=train_size, random_state=random_state)


def _recall(approx_idx: np.ndarray, exact_idx: np.ndarray) -> float:
    hits = [len(set(a[a >= 0]) & set(e[e >= 0])) for a, e in zip(approx_idx, exact_idx)]
    total = int((exact_idx >= 0).sum())
    return float(sum(hits) / total) if total else 1.0


# --------------------------------------------------------------------------- search


def search(
    queries,
    corpus_embeddings,
    texts=None,
    *,
    top_k: int = 10,
    model=None,
    index="exact",
    ann_threshold: int = 1_000_000,
    nprobe: int | None = None,
    recall_sample: int = 100,
    cache="auto",
    chunk_size: int = _CORPUS_BLOCK,
    random_state: int = 0,
) -> pd.DataFrame:
    """The ``top_k`` corpus rows most cosine-similar to each query.

    Parameters
    ----------
    queries : str, list of str, or array (n_queries, dim) / (dim,)
        Strings are encoded with ``model`` (same resolution as :func:`kosbert_viz.encode`);
        use the model that made ``corpus_embeddings``.
    corpus_embeddings : array (n, dim)
        Any norms (scores are cosine). A ``numpy.memmap`` works: it is read block by block.
    texts : sequence of str, optional
        One per corpus row, shown in the ``text`` column.
    top_k : int
        Hits per query (at most n).
    index : "exact", "auto", "ann" or an :class:`AnnIndex`
        ``"exact"`` (default) scans everything. ``"ann"`` builds a faiss index for this call;
        ``"auto"`` does so only when the corpus has at least ``ann_threshold`` rows. Build one
        with :func:`build_index` and pass it here to reuse it across calls.
    nprobe : int, optional
        Inverted lists visited per query by the approximate index.
    recall_sample : int
        With an approximate index, this many queries (sampled) are also searched exactly and
        recall@k is reported in ``result.attrs["search"]["recall_at_k"]``; 0 to skip.
    chunk_size : int
        Corpus rows scored at once (memory: 1024 x chunk_size float32 scores).

    Returns
    -------
    pandas.DataFrame with one row per hit: ``query`` (the query text, or its row number for
    vectors), ``rank`` (1 = best), ``score`` (cosine), ``text`` (None without ``texts``) and
    ``index`` (corpus row). ``attrs["search"]`` says how it was searched.

    >>> hits = kv.search(["환불은 언제 되나요?", "앱이 자꾸 꺼져요"], emb, texts=texts, top_k=3)
    >>> hits[["query", "rank"]].values.tolist()[:4]
    [['환불은 언제 되나요?', 1], ['환불은 언제 되나요?', 2], ['환불은 언제 되나요?', 3], ['앱이 자꾸 꺼져요', 1]]
    >>> kv.search(emb[0], emb, top_k=1)["index"].tolist()   # a vector query finds its own row
    [0]
    """
    import pandas as pd

    if hasattr(corpus_embeddings, "embeddings") and hasattr(corpus_embeddings, "clusters"):  # a TextMap
        raise TypeError(
            "corpus_embeddings must be vectors; for a map pass its vectors and texts: "
            "kv.search(queries, tm.embeddings, texts=tm.texts)"
        )
    C = (
        corpus_embeddings
        if isinstance(corpus_embeddings, AnnIndex)
        else as_matrix(corpus_embeddings, "corpus_embeddings")
    )
    if isinstance(index, AnnIndex):
        ann = index
        if not isinstance(C, AnnIndex) and len(C) != len(ann):
            raise ValueError(f"corpus_embeddings has {len(C)} rows but the index was built on {len(ann)}")
    elif isinstance(C, AnnIndex):
        ann, index = C, "ann"
    elif index in ("exact", "auto", "ann"):
        ann = None
    else:
        raise ValueError(f"index must be 'exact', 'auto', 'ann' or an AnnIndex, got {index!r}")
    n = len(C)
    dim = C.dim if isinstance(C, AnnIndex) else C.shape[1]
    if n == 0:
        raise ValueError("corpus_embeddings is empty")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    texts = _as_texts(texts, n)
    Q, labels = _queries(queries, model, cache, dim)
    k = int(min(top_k, n))

    use_ann = ann is not None or index == "ann" or (index == "auto" and n >= ann_threshold)
    info = {"method": "exact", "n_corpus": n, "n_queries": len(Q), "top_k": k}
    if use_ann:
        if ann is None:
            ann = AnnIndex(C, nprobe=nprobe, random_state=random_state)
            info["build_seconds"] = round(ann.build_seconds, 3)
        scores, idx = ann.search_vectors(Q, k, nprobe=nprobe)
        info.update(method="ann", index=repr(ann), nprobe=int(nprobe or ann.nprobe))
        if recall_sample and not isinstance(C, AnnIndex):
            rng = np.random.default_rng(random_state)
            pick = np.sort(rng.choice(len(Q), min(recall_sample, len(Q)), replace=False))
            _, exact_idx = exact_topk(Q[pick], C, k, corpus_block=chunk_size)
            info.update(recall_at_k=round(_recall(idx[pick], exact_idx), 4), recall_queries=len(pick))
    else:
        scores, idx = exact_topk(Q, C, k, corpus_block=chunk_size)

    keep = idx >= 0
    q_row, rank = np.nonzero(keep)
    hit = idx[keep]
    df = pd.DataFrame(
        {
            "query": [labels[i] for i in q_row],
            "rank": (rank + 1).astype(np.int64),
            "score": scores[keep].astype(np.float64),
            "text": [texts[i] for i in hit] if texts is not None else [None] * len(hit),
            "index": hit,
        }
    )
    df.attrs["search"] = info
    return df


# --------------------------------------------------------------------------- near-duplicates


def _group_stats(X: np.ndarray, members: np.ndarray, rng) -> tuple[float, float, int]:
    """(mean, min) pairwise cosine within a group and its most central member."""
    sample = members if len(members) <= _GROUP_SAMPLE else np.sort(rng.choice(members, _GROUP_SAMPLE, False))
    E = checked_unit_rows(X[sample], "embeddings").astype(np.float64)
    S = E @ E.T
    m = len(sample)
    off = ~np.eye(m, dtype=bool)
    central = sample[int(np.argmax(S.sum(1) - 1.0))]
    return float(S[off].mean()), float(S[off].min()), int(central)


def duplicates(
    embeddings,
    texts=None,
    *,
    threshold: float | str | None = "auto",
    top_k: int = 10,
    min_size: int = 2,
    chunk_size: int = _CORPUS_BLOCK,
    index=None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Groups of near-duplicate texts (paraphrase mining by chunked top-k).

    Each text is compared with its ``top_k`` nearest neighbours (blocks of the corpus at a
    time, never all pairs in memory); pairs with cosine >= ``threshold`` are linked and the
    connected components become groups. A group can therefore be larger than ``top_k + 1``
    and can chain: ``min_similarity`` shows how loose a group is.

    Parameters
    ----------
    embeddings : array (n, dim)
    texts : sequence of str, optional (one per row)
    threshold : cosine similarity that makes a pair a duplicate, or ``"auto"`` (default; also None):
        the loosest threshold at which no group chains together more than 1% of the distinct texts
        (at least 20), and never below the corpus's random-pair cosine mean + 3 standard deviations
        (20,000 random pairs). Each model has its own cosine scale (ko-sbert's duplicates sit near
        0.9, the offline USE's near 0.85 and below), and so does each corpus (a corpus of one product's
        reviews is more alike than news): the rule reads both off the vectors. The value used is in
        ``attrs["threshold"]`` and how it was chosen in ``attrs["threshold_rule"]``. Below 100 distinct
        texts there is no scale to read (the cap cannot bind): only pairs of cosine 0.95 and above link.
    top_k : neighbours examined per text
    min_size : smallest group reported
    index : an :class:`AnnIndex` built on ``embeddings`` to find neighbours approximately
        (for very large corpora); default exact

    Returns
    -------
    pandas.DataFrame, one row per group, largest first (ties: higher mean similarity first):
    ``group``, ``size``, ``mean_similarity`` and ``min_similarity`` (pairwise cosine in the group;
    over a sample of 1000 members for larger groups), ``representative`` (the most central
    member), ``indices`` (rows, ascending) and ``texts``. ``attrs["pairs"]`` holds the linked
    pairs (i, j, score).

    >>> X = np.array([[1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0, 1]])
    >>> groups = kv.duplicates(X, ["배송 빨라요", "배송 빨라요!", "환불", "포장"], threshold=0.95)
    >>> groups[["size", "indices", "texts"]].values.tolist()
    [[2, [0, 1], ['배송 빨라요', '배송 빨라요!']]]
    """
    import pandas as pd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    X = as_matrix(embeddings, "embeddings")
    n = len(X)
    texts = _as_texts(texts, n)
    auto = threshold is None or (isinstance(threshold, str) and threshold == "auto")
    if not auto and (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float, np.number))
        or not -1.0 <= float(threshold) <= 1.0
    ):
        raise ValueError(f"threshold must be a cosine similarity between -1 and 1 or 'auto', got {threshold!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if min_size < 2:
        raise ValueError(f"min_size must be >= 2, got {min_size}")
    if index is not None and (not isinstance(index, AnnIndex) or len(index) != n):
        raise ValueError("index must be an AnnIndex built on these embeddings")

    rows, cols, vals = [], [], []
    for s in range(0, n, _QUERY_BLOCK):
        Q = checked_unit_rows(X[s : s + _QUERY_BLOCK], "embeddings", s)
        if index is None:
            v, i = exact_topk(Q, X, top_k, corpus_block=chunk_size, exclude_self_from=s)
        else:
            v, i = index.search_vectors(Q, top_k + 1)
            i = np.where(i == np.arange(s, s + len(Q))[:, None], -1, i)
        ok = (i >= 0) & (v >= (-np.inf if auto else threshold))
        r, c = np.nonzero(ok)
        rows.append(r + s)
        cols.append(i[r, c])
        vals.append(v[r, c])
    r = np.concatenate(rows) if rows else np.empty(0, np.int64)
    c = np.concatenate(cols) if cols else np.empty(0, np.int64)
    v = np.concatenate(vals) if vals else np.empty(0, np.float32)
    rule = {"rule": "fixed"}
    if auto:
        threshold, rule = _auto_threshold(X, r, c, v, random_state)
        keep = v >= threshold
        r, c, v = r[keep], c[keep], v[keep]
    lo, hi = np.minimum(r, c), np.maximum(r, c)
    pairs = pd.DataFrame({"i": lo, "j": hi, "score": v.astype(np.float64)})
    pairs = pairs.drop_duplicates(["i", "j"]).sort_values("score", ascending=False, ignore_index=True)

    records = []
    if len(pairs):
        graph = coo_matrix((np.ones(len(pairs)), (pairs["i"].to_numpy(), pairs["j"].to_numpy())), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        sizes = np.bincount(comp)
        order = np.argsort(comp, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)])
        rng = np.random.default_rng(random_state)
        for label in np.nonzero(sizes >= min_size)[0]:
            members = order[starts[label] : starts[label + 1]]
            mean_sim, min_sim, central = _group_stats(X, members, rng)
            records.append(
                {
                    "size": len(members),
                    "mean_similarity": mean_sim,
                    "min_similarity": min_sim,
                    "representative": central,
                    "indices": members.tolist(),
                    "texts": [texts[i] for i in members] if texts is not None else None,
                }
            )
    groups = pd.DataFrame(
        records, columns=["size", "mean_similarity", "min_similarity", "representative", "indices", "texts"]
    )
    groups = groups.sort_values(["size", "mean_similarity"], ascending=[False, False], ignore_index=True)
    groups.insert(0, "group", np.arange(len(groups), dtype=np.int64))
    groups.attrs["pairs"] = pairs
    groups.attrs["threshold"] = float(threshold)
    groups.attrs["threshold_rule"] = rule
    return groups


_AUTO_MAX_GROUP = 0.01  # "auto": no group may chain more than this share of the distinct texts ...
_AUTO_MIN_CAP = 20  # ... or this many, whichever is larger
_AUTO_Z = 3.0  # and a link must be this many random-pair standard deviations above their mean
_AUTO_MIN_TEXTS = 100  # with fewer distinct texts, "auto" links only pairs of at least _AUTO_SMALL
_AUTO_SMALL = 0.95


def _auto_threshold(X, r, c, v, random_state):
    """The loosest cosine (on a 0.01 grid) at which no linked group holds more than 1% of the distinct
    rows (identical vectors count once), floored at the random-pair mean + 3 sd. See :func:`duplicates`."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(X)
    rng = np.random.default_rng(random_state)
    m = min(20_000, max(n * (n - 1) // 2, 1))
    a, b = (rng.integers(0, n, m), rng.integers(0, n, m)) if n else (np.zeros(0, np.int64),) * 2
    a, b = a[a != b], b[a != b]
    if len(a):
        sims = np.einsum("ij,ij->i", checked_unit_rows(X[a], "embeddings"), checked_unit_rows(X[b], "embeddings"))
        mu, sd = float(sims.mean()), float(sims.std())
    else:
        mu, sd = 0.0, 0.0
    floor = min(mu + _AUTO_Z * sd, 0.99)

    unit, _ = identical_rows(X)
    n_units = int(unit.max()) + 1 if n else 0
    cap = max(_AUTO_MIN_CAP, int(np.ceil(_AUTO_MAX_GROUP * n_units)))
    if n_units < _AUTO_MIN_TEXTS:
        # too few distinct texts to read a scale: the group cap cannot bind and one random pair is no
        # spread, so two unrelated texts would pass; only near-identical ones are linked
        floor = max(floor, _AUTO_SMALL)
    chosen = 0.99
    grid = np.round(np.arange(0.99, floor - 1e-9, -0.01), 2)
    for t in grid:
        keep = v >= t
        if keep.any():
            g = coo_matrix((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(n, n))
            _, comp = connected_components(g, directed=False)
            # distinct vectors per component
            pairs_cu = np.unique(comp.astype(np.int64) * (n_units + 1) + unit)
            largest = int(np.bincount(pairs_cu // (n_units + 1)).max())
            if largest > cap:
                break
        chosen = float(t)
    rule = {
        "rule": "auto",
        "random_pair_mean": round(mu, 4),
        "random_pair_sd": round(sd, 4),
        "floor": round(floor, 4),
        "max_group": cap,
        "threshold": chosen,
    }
    return max(chosen, floor), rule


def keep_one_per_group(groups, n: int, *, keep: str = "representative") -> np.ndarray:
    """Boolean mask over ``n`` rows that keeps every text outside a group and one per group.

    ``keep="representative"`` keeps each group's most central member, ``"first"`` its
    lowest row. Use it as ``df[keep_one_per_group(groups, len(df))]``.

    >>> X = np.array([[1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0, 1]])
    >>> keep_one_per_group(kv.duplicates(X, threshold=0.95), 4, keep="first").tolist()
    [True, False, True, True]
    """
    if keep not in ("representative", "first"):
        raise ValueError(f"keep must be 'representative' or 'first', got {keep!r}")
    if not hasattr(groups, "columns") or not {"indices", "representative"} <= set(groups.columns):
        raise TypeError("groups must be the DataFrame returned by duplicates()")
    mask = np.ones(int(n), dtype=bool)
    for members, rep in zip(groups["indices"], groups["representative"]):
        members = np.asarray(members, dtype=np.int64)
        if len(members) and (members.min() < 0 or members.max() >= n):
            raise ValueError(f"groups refer to row {int(members.max())}, but n is {n}")
        mask[members] = False
        mask[rep if keep == "representative" else members.min()] = True
    return mask
