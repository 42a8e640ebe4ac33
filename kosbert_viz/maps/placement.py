"""Placing new texts into an existing map: a theme at every level, a position, a novelty score.

>>> a = tm.assign(df["review"][:50])               # encoded through the cache, with the map's model
>>> a.labels, a.names, a.coords, a.novelty, a.is_new
>>> a.table().sort_values("novelty", ascending=False).head(20)   # candidates for a new theme

How a text is placed: its ``top_k`` most cosine-similar map texts are found (exact, in blocks,
for maps under 30,000 texts; above that an inverted-file index over the map's vectors, built once
with a fixed seed and saved with the map). Each neighbour votes for its theme with its cosine
(clipped at 0), level by level from the coarsest: when the levels nest, each finer level is voted
among the neighbours inside the theme won one level up (so the result nests too). The position is
the vote-weighted mean of the coordinates of the neighbours that share the winning theme. A text that is already in the map (cosine 1 to a
map text) gets that text's themes and position back.

``novelty`` is the share of the map's own texts that lie closer to their nearest neighbour than the
new text lies to its nearest map text (0 = as close as anything in the map, 1 = farther than every
map text from its neighbour; measured on a seeded sample of 2,000 map texts). ``is_new`` flags
``novelty >= new_threshold`` (default 0.99): about 1% of texts like the map's own are flagged.
Everything is deterministic: a map and its saved copy assign identically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from kosbert_viz._util.validation import (
    check_embeddings,
    check_positive_int,
    check_texts,
)
from kosbert_viz.embed.encode import encode
from kosbert_viz.embed.models import (
    OFFLINE_ALIAS,
    ModelLoadError,
    OfflineEncoder,
    load_encoder,
    resolve_model_name,
    select_device,
)
from kosbert_viz.exceptions import ModelMismatchError
from kosbert_viz.geometry.search import checked_unit_rows, exact_topk
from kosbert_viz.maps.assignment import Assignment
from kosbert_viz.maps.checks import check_model
from kosbert_viz.maps.levels import (
    level_names,
    map_levels,
    map_levels_of,
    theme_names,
    verified_embeddings,
)
from kosbert_viz.naming.keywords import keywords
from kosbert_viz.viz.scatter import cluster_map

if TYPE_CHECKING:
    from kosbert_viz.embed.models import MultiDeviceEncoder, SentenceTransformerEncoder

__all__ = ["Assignment", "assign", "assign_vectors", "batch_map", "extend", "prepare", "PlacementState", "map_encoder"]

_MapT = TypeVar("_MapT")  # a TextMap (not imported here: maps.textmap imports this module)

_IVF_FROM = 30_000  # maps with at least this many texts use the inverted-file index
_REF_SAMPLE = 2_000  # map texts whose nearest-neighbour similarity makes the novelty reference
_QUERY_BLOCK = 32_768  # new texts placed at once
_EXACT = 1 - 1e-5  # cosine at which a new text is the map text itself
_STATE_VERSION = 1


# --------------------------------------------------------------------------- state


class PlacementState:
    """What placement needs besides the map's vectors; saved with the map so copies agree exactly."""

    def __init__(self, n: int, ref_sim: np.ndarray, index: str, centroids=None, lists=None, seed: int = 0, rows=None):
        self.n, self.index, self.seed = int(n), index, int(seed)
        self.ref_sim = np.asarray(ref_sim, np.float32)
        self.centroids = None if centroids is None else np.asarray(centroids, np.float32)
        self.lists = None if lists is None else np.asarray(lists, np.int64)
        # rows: the map rows new texts are placed by (a fit_sample map: the fitted texts, so a text placed
        # at fit time and placed again gets the same themes and position); None: every row
        self.rows = None if rows is None else np.asarray(rows, np.int64)
        self._perm = None  # map rows grouped by list, and the unit vectors in that order (derived, not saved)
        self._base = None  # X[rows] (derived, not saved)

    def params(self) -> dict:
        return {
            "version": _STATE_VERSION,
            "n": self.n,
            "index": self.index,
            "seed": self.seed,
            "nlist": None if self.centroids is None else int(len(self.centroids)),
            "placed_by": "all rows" if self.rows is None else f"{len(self.rows)} fitted rows",
        }

    def arrays(self) -> dict:
        out = {"ref_sim": self.ref_sim}
        if self.centroids is not None:
            out.update(ivf_centroids=self.centroids, ivf_lists=self.lists.astype(np.int32))
        if self.rows is not None:
            out["rows"] = self.rows
        return out

    @classmethod
    def from_arrays(cls, params: dict, arrays: dict) -> PlacementState | None:
        if not params or "ref_sim" not in arrays:
            return None
        state = cls(
            params["n"],
            arrays["ref_sim"],
            params["index"],
            arrays.get("ivf_centroids"),
            arrays.get("ivf_lists"),
            params.get("seed", 0),
            arrays.get("rows"),
        )
        base = state.n if state.rows is None else len(state.rows)
        if state.rows is not None and len(state.rows) and (state.rows.min() < 0 or state.rows.max() >= state.n):
            raise ValueError(f"placement rows point outside the map's {state.n} texts")
        if state.lists is not None and len(state.lists) != base:
            raise ValueError(f"the placement index lists {len(state.lists)} texts, expected {base}")
        return state

    def placing_by(self, n: int, rows, base=None) -> PlacementState:
        """This state's index for a map of ``n`` texts that places by ``rows`` (``base``: those rows'
        vectors, when the caller holds them already); the derived arrays are shared, not rebuilt."""
        state = PlacementState(n, self.ref_sim, self.index, self.centroids, self.lists, self.seed, rows=rows)
        state._base, state._perm = base, self._perm
        return state

    def base(self, X) -> np.ndarray:
        """The vectors new texts are compared with: every map row, or the fitted rows only."""
        if self.rows is None:
            return X
        if self._base is None:
            self._base = np.ascontiguousarray(X[self.rows], dtype=np.float32)
        return self._base

    def grouped(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._perm is None:
            order = np.argsort(self.lists, kind="stable")
            bounds = np.searchsorted(self.lists[order], np.arange(len(self.centroids) + 1))
            U = np.empty((len(order), X.shape[1]), np.float32)
            for s in range(0, len(order), 65_536):
                U[s : s + 65_536] = checked_unit_rows(X[order[s : s + 65_536]], "map embeddings")
            self._perm = (order, bounds, U)
        return self._perm


def _build_ivf(X, seed: int):
    """Spherical k-means lists (2 sqrt(n) of them; 4 rounds on 30 texts per list) over the unit map vectors, seeded."""
    n = len(X)
    nlist = max(1, int(round(2 * np.sqrt(n))))
    rng = np.random.default_rng(seed)
    m = min(n, 30 * nlist)
    train = checked_unit_rows(X[np.sort(rng.choice(n, m, replace=False))], "map embeddings")
    C = train[np.sort(rng.choice(m, nlist, replace=False))].copy()
    import torch

    T = torch.from_numpy(train)
    for _ in range(4):
        _, a = exact_topk(train, C, 1)
        a = a[:, 0]
        sums = torch.zeros((nlist, train.shape[1]), dtype=torch.float32)
        sums.index_add_(0, torch.from_numpy(a), T)
        filled = np.bincount(a, minlength=nlist) > 0
        C[filled] = checked_unit_rows(sums.numpy()[filled].astype(np.float32), "centroids")
    lists = np.empty(n, np.int32)
    for s in range(0, n, 65_536):
        _, a = exact_topk(checked_unit_rows(X[s : s + 65_536], "map embeddings", s), C, 1)
        lists[s : s + len(a)] = a[:, 0]
    return C, lists


def prepare(tm, *, random_state: int = 0) -> PlacementState:
    """The placement state of ``tm`` (built once, kept on the map and saved with it)."""
    state = tm.placement
    X = tm.embeddings
    if state is not None and state.n == len(X):
        return state
    X = verified_embeddings(tm)
    n = len(X)
    if n < 2:
        raise ValueError(f"a map needs at least 2 texts to place new ones, got {n}")
    if n >= _IVF_FROM:
        C, lists = _build_ivf(X, random_state)
        state = PlacementState(n, np.zeros(0, np.float32), "ivf", C, lists, random_state)
    else:
        state = PlacementState(n, np.zeros(0, np.float32), "exact", seed=random_state)
    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(n, min(n, _REF_SAMPLE), replace=False))
    sims, idx = _neighbours(X, state, checked_unit_rows(X[sample], "map embeddings"), 2)
    not_self = idx[:, 0] != sample
    state.ref_sim = np.sort(np.where(not_self, sims[:, 0], sims[:, 1])).astype(np.float32)
    tm.placement = state
    return state


# --------------------------------------------------------------------------- search


def _neighbours(X, state: PlacementState, Q: np.ndarray, k: int):
    """(cosine, map row) of the ``k`` nearest map texts of each unit row of ``Q``, best first."""
    k = min(k, len(X))
    if state.index == "exact":
        return exact_topk(Q, X, k)
    import torch

    order, bounds, U = state.grouped(X)
    Ut = torch.from_numpy(U)
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    nlist = len(state.centroids)
    nprobe = min(nlist, 10)
    _, probes = exact_topk(Q, state.centroids, nprobe)
    nq = len(Q)
    width = nprobe * k
    buf_v = np.full((nq, width), -np.inf, np.float32)
    buf_i = np.full((nq, width), -1, np.int64)
    qid = np.repeat(np.arange(nq), nprobe)
    slot = np.tile(np.arange(nprobe), nq)
    flat = probes.ravel()
    by_list = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[by_list], np.arange(nlist + 1))

    def run(worker: int, workers: int):
        # many small products: one torch thread per worker, the workers side by side (torch frees the GIL);
        # each (query, probe slot) cell is written by exactly one list, so the result is schedule-free
        torch.set_num_threads(1)
        for lst in range(worker, nlist, workers):
            sel = by_list[starts[lst] : starts[lst + 1]]
            lo, hi = bounds[lst], bounds[lst + 1]
            if not len(sel) or hi == lo:
                continue
            rows = qid[sel]
            with torch.inference_mode():  # unit rows on both sides: the product is the cosine
                scores = torch.from_numpy(Q[rows]) @ Ut[lo:hi].T
                v, i = torch.topk(scores, min(k, hi - lo), dim=1)
            v, i = v.numpy(), i.numpy()
            cols = slot[sel, None] * k + np.arange(v.shape[1])
            buf_v[rows[:, None], cols] = v
            buf_i[rows[:, None], cols] = order[lo + i]

    threads = torch.get_num_threads()
    workers = max(1, min(threads, 8))
    try:
        if workers == 1:
            run(0, 1)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as pool:
                for f in [pool.submit(run, w, workers) for w in range(workers)]:
                    f.result()
    finally:
        torch.set_num_threads(threads)
    with torch.inference_mode():
        v, pos = torch.topk(torch.from_numpy(buf_v), k, dim=1)
    pos = pos.numpy()
    return v.numpy(), np.take_along_axis(buf_i, pos, 1)


def _map_rows(state: PlacementState, sims, idx):
    """Neighbours as map rows (the search ran over ``state.base``)."""
    if state.rows is not None:
        idx = np.where(idx >= 0, state.rows[np.maximum(idx, 0)], -1)
    return sims, idx


# --------------------------------------------------------------------------- vote


def _vote(lab: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per row, the label with the largest summed weight (ties: the smallest label)."""
    values, codes = np.unique(lab, return_inverse=True)
    flat = np.repeat(np.arange(len(lab)), lab.shape[1]) * len(values) + codes.ravel()
    scores = np.bincount(flat, weights=w.ravel(), minlength=len(lab) * len(values)).reshape(len(lab), len(values))
    return values[np.argmax(scores, axis=1)]


def _parent_map(fine: np.ndarray, coarse: np.ndarray):
    """fine label -> coarse label when every fine theme lies in one coarse theme, else None."""
    pairs = np.unique(np.stack([fine, coarse], 1), axis=0)
    if len(pairs) != len(np.unique(fine)):
        return None
    return pairs


def assign_vectors(
    tm, vectors, *, top_k: int = 15, new_threshold: float = 0.99, leave_one_out: bool = False
) -> Assignment:
    """Place already-encoded ``vectors`` (made with the map's model) into ``tm``; see the module docstring.

    ``leave_one_out=True`` (a quality check): ``vectors`` are the map's own rows, in order, and each is
    placed by the other map texts only (its own row is skipped; no copying of its own theme).

    >>> a = assign_vectors(tm, kv.encode(texts[:5], model=tm.manifest["model"]["name"]))
    """
    top_k = check_positive_int(top_k, "top_k")
    if not 0.0 <= float(new_threshold) <= 1.0:
        raise ValueError(f"new_threshold must be between 0 and 1, got {new_threshold!r}")
    V = check_embeddings(vectors, name="vectors")
    X = tm.embeddings
    if V.shape[1] != X.shape[1]:
        raise ValueError(f"vectors have dimension {V.shape[1]}, expected {X.shape[1]} (the map's model)")
    state = prepare(tm)
    X = verified_embeddings(tm)
    base = state.base(X)
    levels, default = map_levels_of(tm)
    levels = [np.asarray(lv) for lv in levels]
    fine = levels[-1]
    coords = np.asarray(tm.coords)
    nested = all(_parent_map(fine, lv) is not None for lv in levels[:-1])
    nq = len(V)
    k = min(top_k, len(base) - bool(leave_one_out))
    out_levels = [np.empty(nq, np.int64) for _ in levels]
    out_xy = np.empty((nq, coords.shape[1]), np.float64)
    sim1 = np.empty(nq, np.float32)
    neigh = np.empty((nq, k), np.int64)
    if leave_one_out and nq != len(X):
        raise ValueError(f"leave_one_out needs the map's own {len(X)} vectors, got {nq}")
    for s in range(0, nq, _QUERY_BLOCK):
        Q = checked_unit_rows(V[s : s + _QUERY_BLOCK], "vectors", s)
        if leave_one_out:
            sims, idx = _map_rows(state, *_neighbours(base, state, Q, k + 1))
            own = idx == np.arange(s, s + len(Q))[:, None]
            drop = np.where(own.any(1), own.argmax(1), idx.shape[1] - 1)
            keep = np.ones(idx.shape, bool)
            keep[np.arange(len(Q)), drop] = False
            sims, idx = sims[keep].reshape(len(Q), -1), idx[keep].reshape(len(Q), -1)
        else:
            sims, idx = _map_rows(state, *_neighbours(base, state, Q, k))
        ok = idx >= 0
        safe = np.where(ok, idx, 0)
        w = np.where(ok, np.clip(sims, 0.0, None), 0.0).astype(np.float64)
        # top-down: each level is voted among the neighbours inside the theme won one level up,
        # so nested levels stay nested and every level gets its own majority
        wl = w
        for i, lv in enumerate(levels):
            lab = lv[safe]
            win_i = _vote(lab, wl)
            out_levels[i][s : s + len(Q)] = win_i
            if i + 1 < len(levels) and nested:
                inside = wl * (lab == win_i[:, None])
                wl = np.where(inside.sum(1, keepdims=True) > 0, inside, wl)
        win = out_levels[default][s : s + len(Q)]
        mask = w * (levels[default][safe] == win[:, None])
        total = mask.sum(1)
        mask = np.where(total[:, None] > 0, mask, ok.astype(np.float64))
        total = mask.sum(1)
        xy = np.einsum("qk,qkd->qd", mask, coords[safe]) / np.maximum(total, 1e-300)[:, None]
        same = (sims[:, 0] >= _EXACT) & (not leave_one_out)  # already in the map: its own themes and place
        if same.any():
            own = idx[same, 0]
            for i, lv in enumerate(levels):
                out_levels[i][s : s + len(Q)][same] = lv[own]
            xy[same] = coords[own]
        out_xy[s : s + len(Q)] = xy
        sim1[s : s + len(Q)] = np.minimum(sims[:, 0], 1.0)  # a copy of a map text: 1, not 1 + float32 rounding
        neigh[s : s + len(Q)] = idx
    ref = np.minimum(state.ref_sim, 1.0)  # as sim1: a copy's 1 + float32 rounding reads 1
    novelty = (len(ref) - np.searchsorted(ref, sim1, side="right")) / max(len(ref), 1)
    if not leave_one_out:
        novelty[sim1 >= _EXACT] = 0.0
    labels = out_levels[default]
    names = theme_names(tm)
    return Assignment(
        labels=labels,
        levels=out_levels,
        coords=out_xy,
        novelty=novelty.astype(np.float64),
        is_new=novelty >= float(new_threshold),
        names=[names.get(int(c), "noise" if c < 0 else str(int(c))) for c in labels],
        similarity=sim1,
        neighbors=neigh,
        default_level=default,
        info={"index": state.index, "top_k": k, "n_map": len(X), "new_threshold": float(new_threshold)},
        level_names=level_names(tm),
    )


# --------------------------------------------------------------------------- texts


def _refuse_another_name(saved: dict, model) -> None:
    """A model named (not a folder) other than the map's is refused before it is loaded: loading it could take
    minutes or fail on the network, and its vectors would be refused anyway. A folder may hold the map's model
    under another name, so it is loaded and checked by its fingerprint."""
    want = saved.get("name")
    if not want or not isinstance(model, (str, os.PathLike)) or Path(str(model)).expanduser().exists():
        return
    if str(want).startswith((".", "/", "~", "\\")) or Path(str(want)).expanduser().exists():
        return  # the map was made from a folder: the same model may come by its hub name (checked by fingerprint)
    got = resolve_model_name(model)[0]
    got = OfflineEncoder.name if got == OFFLINE_ALIAS else got
    if got != want:
        raise ModelMismatchError(
            f"this map was made with the model {want!r}, got model={str(model)!r}. Vectors of different models "
            f"are not comparable; use model={want!r} (or its local folder) or rebuild the map with the new model"
        )


def map_encoder(tm, model=None) -> SentenceTransformerEncoder | OfflineEncoder | MultiDeviceEncoder:
    """The encoder for ``tm``: ``model`` if given (refused unless it is the map's model), else the map's own."""
    saved = (tm.manifest or {}).get("model") or {}
    # the map's own precision where this machine runs it: a CPU map in fp32 stays fp32; an int8 one is the
    # CPU default ("auto": the same encoder map_texts loaded, with its fp32 fallback)
    precision = "fp32" if saved.get("precision") == "fp32" and select_device(None) == "cpu" else "auto"
    if model is None:
        name = saved.get("name")
        if not name:
            raise ModelMismatchError("this map does not record its model; pass model=")
        try:
            encoder = load_encoder("offline" if name == OfflineEncoder.name else name, precision=precision)
        except (ModelLoadError, OSError, ImportError) as exc:
            raise ModelLoadError(
                f"this map was made with {name!r}, which cannot be loaded here ({exc}); "
                "pass model= (the same model, e.g. a local folder)"
            ) from exc
    else:
        _refuse_another_name(saved, model)
        encoder = load_encoder(model, precision=precision if isinstance(model, (str, os.PathLike)) else "auto")
    check_model(saved, encoder)
    return encoder


def assign(
    tm,
    texts,
    metadata=None,
    *,
    model=None,
    top_k: int = 15,
    new_threshold: float = 0.99,
    cache="auto",
    show_progress_bar: bool | None = None,
) -> Assignment:
    """Encode ``texts`` with the map's model (through the cache) and place them; see :meth:`TextMap.assign`."""

    texts = check_texts(texts)
    if not texts:
        raise ValueError("texts is empty, expected at least one text to place")
    if metadata is not None:
        import pandas as pd

        metadata = pd.DataFrame(metadata).reset_index(drop=True)
        if len(metadata) != len(texts):
            raise ValueError(f"metadata has {len(metadata)} rows, expected one per text ({len(texts)})")
    encoder = map_encoder(tm, model)
    V = encode(texts, encoder, cache=cache, show_progress_bar=show_progress_bar)
    a = assign_vectors(tm, V, top_k=top_k, new_threshold=new_threshold)
    a.texts, a.metadata = texts, metadata
    a._vectors = V
    return a


def _check_assignment(tm, a: Assignment) -> None:
    """Refuse an assignment without texts or made on another map."""
    if a.texts is None:
        raise ValueError("the assignment has no texts (use tm.assign(texts), not assign_vectors)")
    n_levels = len(map_levels(tm.clusters)[0])
    if a.info.get("n_map") != len(tm.texts) or len(a.levels) != n_levels:
        raise ValueError(
            f"the assignment was made on a map of {a.info.get('n_map')} texts and "
            f"{len(a.levels)} levels, expected this map's {len(tm.texts)} and {n_levels}: "
            "place the texts with this map's assign()"
        )


def _vectors_of(tm, a: Assignment, *, model=None, cache="auto") -> np.ndarray:
    """The assignment's text vectors: kept by ``tm.assign``, else encoded again with the map's model."""
    V = getattr(a, "_vectors", None)
    if V is None:
        V = encode(a.texts, map_encoder(tm, model), cache=cache, show_progress_bar=False)
    return V


def themes_over(themes, levels):
    """The theme tree's table (``tm.themes``) with each node's size counted over ``levels`` (other texts)."""
    if themes is None:
        return None
    themes = themes.copy()
    for lv_i, lv in enumerate(levels):
        vals, cnt = np.unique(lv, return_counts=True)
        sizes = dict(zip(vals.tolist(), cnt.tolist()))
        rows = themes.level == lv_i
        themes.loc[rows, "size"] = [sizes.get(int(c), 0) for c in themes.loc[rows, "label"]]
    return themes


def batch_map(tm: _MapT, a: Assignment, *, model=None, cache="auto") -> _MapT:
    """The placed batch ``a`` as a TextMap of its own: its texts, vectors, places and metadata, with
    ``tm``'s themes and their names at every level (its ``table``, names and keywords, is the map's; the
    theme tree's sizes are the batch's).
    Trends of a batch take it like any map (``kosbert-viz assign --time-col/--class-col`` does this).

    >>> a = tm.assign(df["review"][:40])
    >>> batch = kv.maps.placement.batch_map(tm, a)
    >>> (len(batch.texts), batch.clusters.n_clusters <= tm.clusters.n_clusters)
    (40, True)
    """

    _check_assignment(tm, a)
    V = _vectors_of(tm, a, model=model, cache=cache)
    clusters = tm.clusters._over(list(a.levels), map_levels(tm.clusters)[1])  # the map's own default level
    manifest = dict(tm.manifest or {})
    manifest.pop("agreement_with_labels", None)  # scored on the map's texts, not these
    manifest.update(n_texts=len(a), batch_of={"n_texts": len(tm.texts)})
    return type(tm)(
        texts=list(a.texts),
        embeddings=np.asarray(V),
        coords=np.asarray(a.coords),
        clusters=clusters,
        table=tm.table,
        figure=None,
        manifest=manifest,
        metadata=a.metadata,
        themes=themes_over(getattr(tm, "themes", None), clusters.levels or []),
        level=getattr(tm, "level", 0),
    )


def extend(
    tm: _MapT,
    texts,
    metadata=None,
    *,
    assignment: Assignment | None = None,
    model=None,
    top_k: int = 15,
    cache="auto",
    keywords_top_n: int = 8,
) -> _MapT:
    """A new TextMap: ``tm`` plus ``texts`` placed by :func:`assign` (themes and their names kept).

    ``texts`` may be the :class:`Assignment` that ``tm.assign`` returned (then nothing is placed
    again); ``assignment=`` does the same, and its texts must then be ``texts``.
    """
    import pandas as pd

    if isinstance(texts, Assignment):
        if assignment is not None and assignment is not texts:
            raise ValueError("got an Assignment as texts and another as assignment=; pass one")
        assignment, texts = texts, None
    if assignment is not None:
        _check_assignment(tm, assignment)
        if texts is not None:
            if check_texts(texts) != list(assignment.texts):
                raise ValueError(
                    f"texts ({len(texts)}) are not the assignment's {len(assignment)} texts; "
                    "pass the assignment alone: tm.extend(a)"
                )
        if metadata is not None:
            if assignment.metadata is not None:
                raise ValueError("the assignment has metadata already; pass one or the other")
            metadata = pd.DataFrame(metadata).reset_index(drop=True)
            if len(metadata) != len(assignment):
                raise ValueError(f"metadata has {len(metadata)} rows, expected one per text ({len(assignment)})")
    a = assignment if assignment is not None else assign(tm, texts, metadata, model=model, top_k=top_k, cache=cache)
    new_meta = a.metadata if metadata is None else metadata
    V = _vectors_of(tm, a, model=model, cache=cache)
    all_texts = list(tm.texts) + list(a.texts)
    emb = np.concatenate([np.asarray(tm.embeddings, np.float32), np.asarray(V, np.float32)])
    coords = np.concatenate([np.asarray(tm.coords), a.coords.astype(np.asarray(tm.coords).dtype)])
    levels, res_default = map_levels(tm.clusters)
    shown = map_levels_of(tm)[1]
    new_levels = [np.concatenate([np.asarray(lv), a.levels[i]]) for i, lv in enumerate(levels)]
    res = tm.clusters._over(new_levels, res_default)
    table = keywords(all_texts, new_levels[shown], top_n=keywords_top_n, embeddings=emb, show_progress_bar=False)
    names = theme_names(tm)
    if names:  # keep the map's theme names so reports stay comparable
        table["name"] = [names.get(int(c), nm) for c, nm in zip(table["cluster"], table["name"])]
    meta = None
    old_meta = getattr(tm, "metadata", None)
    if old_meta is not None or new_meta is not None:
        parts = [
            pd.DataFrame(index=range(n)) if m is None else pd.DataFrame(m).reset_index(drop=True)
            for m, n in ((old_meta, len(tm.texts)), (new_meta, len(a)))
        ]
        meta = pd.concat(parts, ignore_index=True)
    manifest = dict(tm.manifest or {})
    manifest["n_texts"] = len(all_texts)
    manifest["extended"] = list(manifest.get("extended", [])) + [{"added": len(a), "new": int(np.sum(a.is_new))}]
    fig = cluster_map(coords, labels=new_levels[shown], texts=all_texts, names=dict(zip(table.cluster, table.name)))
    out = type(tm)(all_texts, emb, coords, res, table, fig, manifest, metadata=meta)
    for attr in ("themes", "level"):  # the theme tree (sizes as fitted) and the level shown
        if hasattr(tm, attr):
            setattr(out, attr, getattr(tm, attr))
    old_state = tm.placement
    if old_state is not None and old_state.rows is not None:  # a fit_sample map keeps placing by its fitted rows
        out.placement = old_state.placing_by(len(all_texts), old_state.rows, old_state._base)
    return out


# --------------------------------------------------------------------------- report
