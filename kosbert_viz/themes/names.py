"""Names at every level of the theme tree: keywords contrasted with each node's siblings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.naming.coherence import candidate_pool, coherent_order
from kosbert_viz.naming.keywords import (
    display_form,
    naming_inputs,
    short_name,
    tokenize,
)
from kosbert_viz.themes.tree import levels_of, tree_from_levels

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["hierarchy_names"]


def _sibling_ctfidf(counts):
    """c-TF-IDF rows of ``counts`` (siblings x words, dense): the classes are the siblings only."""
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    avg = counts.sum() / max(len(counts), 1)
    idf = np.log1p(avg / np.maximum(counts.sum(axis=0), 1))
    return tf * idf


def _representatives(members, texts, X, Z, docs, keys, n_rep):
    if X is not None:
        c = X[members].mean(0)
        order = np.argsort(-(X[members] @ c), kind="stable")
    elif Z is not None:
        order = np.argsort(np.linalg.norm(Z[members] - Z[members].mean(0), axis=1), kind="stable")
    else:
        top = set(keys)
        order = np.argsort([-len(top.intersection(docs[i])) for i in members], kind="stable")
    rep, seen = [], set()
    for i in members[order]:
        t = texts[i]
        if t not in seen:
            rep.append(t)
            seen.add(t)
        if len(rep) >= n_rep:
            break
    return rep


def _distinct_sibling_names(rows):
    """No two siblings share a name: a repeated name gets its theme's number, ``"배송 (3)"`` (the largest keeps
    the plain name). Siblings whose keywords are all the same word would otherwise read as one theme."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["level"], r["parent"], r["name"]), []).append(r)
    for same in groups.values():
        if len(same) > 1:
            for r in sorted(same, key=lambda r: (-r["size"], r["label"]))[1:]:
                r["name"] = f"{r['name']} ({r['label']})"


def hierarchy_names(
    texts,
    result,
    embeddings=None,
    *,
    namer=None,
    top_n: int = 10,
    n_representative: int = 3,
    name_words: int = 3,
    stems: bool = False,
    extra_stopwords=(),
    stopwords=None,
    show_progress_bar: bool | None = None,
) -> pd.DataFrame:
    """Keywords, a name and representative texts for every node of a hierarchy result's tree.

    A node's keywords are c-TF-IDF scores where the classes are its **siblings** (the nodes with the
    same parent; the top level's siblings are the whole corpus), so sub-themes of one theme differ
    from each other, times the corpus-wide idf of its level (so a word frequent everywhere, such as
    영화 in movie reviews, does not name every theme). After the first, keywords are picked from the
    best ``max(2 * top_n, 10)`` words for their score and how often they share the node's texts with
    the words before them (:mod:`kosbert_viz.naming.coherence`). Siblings never share a first keyword: in
    order of size, each node whose first keyword is taken puts its next distinct keyword first; at
    the default level and above, first keywords are distinct across the whole level. Siblings never
    share a name either: when no distinct keyword is left (or ``namer`` repeats itself), the smaller
    ones get their number, ``"배송 (3)"``. A node with a single child passes its keywords down (same
    texts). Representative texts are the node's own members nearest its centroid
    (``embeddings``, cosine; else the result's clustering coordinates).

    namer : ``callable(keywords, representative_texts) -> str`` (e.g. an LLM call); default: the first
        ``name_words`` distinct keywords joined by " · "
    Stores the names in ``result.names`` (node id -> name) and the tree's ``name`` column.
    Returns a pandas DataFrame: node, level, label, parent, size, name, stability (the tree's: how reliably
    the theme re-appears when its level is re-fitted, 0-1; NaN after an edit changed it), keywords,
    scores, representative.

    >>> table = kv.hierarchy_names(texts, res, embeddings=emb)
    >>> table[table.level == res.default_level][["name", "size"]]
    """
    import pandas as pd
    from scipy.sparse import csr_matrix

    levels, default_level = levels_of(result)
    n = len(levels[0])
    if namer is not None and not callable(namer):
        raise TypeError(f"namer must be callable(keywords, representative_texts) -> str, got {type(namer).__name__}")
    texts, top_n, stop, X = naming_inputs(texts, top_n, extra_stopwords, stopwords, embeddings, n=n)
    Z = None if result.embedding is None else np.asarray(result.embedding, np.float32)

    pairs = tokenize(texts, stems, stop, show_progress_bar, phrases=True)
    docs = [[k for k, _ in d] for d in pairs]
    spelling: dict = {}
    vocab: dict = {}
    rows, cols = [], []
    for i, d in enumerate(pairs):
        for k, f in d:
            if k.isascii():
                spelling.setdefault(k, {}).setdefault(f, 0)
                spelling[k][f] += 1
            rows.append(i)
            cols.append(vocab.setdefault(k, len(vocab)))
    from collections import Counter

    spelling = {k: Counter(v) for k, v in spelling.items()}
    words = np.array(list(vocab) or [""], dtype=object)
    dtm = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(len(vocab), 1)))

    tree = result.tree if result.tree is not None else tree_from_levels(levels)
    info: dict = {}  # node -> (keys, scores)
    out_rows = []
    for lv, lab in enumerate(levels):
        lab = np.asarray(lab)
        t_lv = tree[tree.level == lv]
        ids = t_lv.label.to_numpy()
        pos = {int(b): j for j, b in enumerate(ids)}
        ind = csr_matrix((np.ones(n), (np.searchsorted(ids, lab), np.arange(n))), shape=(len(ids), n))
        node_counts = (ind @ dtm).tocsr()
        order = np.argsort(lab, kind="stable")
        starts = np.searchsorted(lab[order], ids)
        ends = np.r_[starts[1:], n]
        # the whole corpus as classes too (k nodes of this level): words common everywhere (영화, 정말) rank low
        total = np.asarray(dtm.sum(axis=0)).ravel()
        idf_level = np.log1p(total.sum() / max(len(ids), 1) / np.maximum(total, 1))
        ranked = {}
        groups = []
        for parent, group in t_lv.groupby("parent", sort=True):
            group = group.sort_values(["size", "label"], ascending=[False, True], kind="stable")
            groups.append(group)
            labs = group.label.to_numpy()
            if len(group) == 1 and parent >= 0 and parent in info:
                keys, scs = info[parent]
                cols_ = np.array([vocab[k] for k in keys], np.int64)
                ranked[int(group.node.iloc[0])] = (list(keys), list(scs), cols_)
                continue
            sub = node_counts[[pos[int(b)] for b in labs]]
            used_cols = np.unique(sub.indices)
            dense = sub[:, used_cols].toarray()
            sc = _sibling_ctfidf(dense) if len(group) > 1 else dense / max(dense.sum(), 1)
            sc = sc * idf_level[used_cols]
            for r, nd in enumerate(group.node.to_numpy()):
                o = np.argsort(-sc[r], kind="stable")
                o = o[dense[r, o] > 0]  # every word of the node, best first (the tail serves clashes)
                # a keyword is used by at least 1% of the node's texts (and twice), when the node has such words:
                # the corpus idf would otherwise lift one-off slang and typos
                floor = max(2.0, 0.01 * float(group["size"].iloc[r]))
                o = np.r_[o[dense[r, o] >= floor], o[dense[r, o] < floor]]
                # the keywords after the first: the best words that also share the node's texts
                head = o[: candidate_pool(top_n)]
                if len(head) > 1:
                    b = pos[int(labs[r])]
                    members = order[starts[b] : ends[b]]
                    picked = coherent_order(dtm[members][:, used_cols[head]].toarray() > 0, sc[r, head], top_n)
                    o = np.r_[head[picked], np.delete(head, picked), o[len(head) :]]
                ranked[int(nd)] = ([str(w) for w in words[used_cols[o[:top_n]]]], sc[r, o].tolist(), used_cols[o])
        # first keywords distinct among siblings; down to the default level, across the whole level
        # (those levels are read as one flat list on the map and in the report)
        if lv <= default_level:
            groups = [t_lv.sort_values(["size", "label"], ascending=[False, True], kind="stable")]
        for group in groups:
            firsts: set = set()
            for nd in group.node.to_numpy():  # biggest first
                keys, scs, allw = ranked[int(nd)]
                if keys and keys[0] in firsts:
                    j = next((j for j in range(len(allw)) if str(words[allw[j]]) not in firsts), None)
                    if j is not None:
                        w = str(words[allw[j]])
                        keep = [(k, sv) for k, sv in zip(keys, scs) if k != w]
                        keys = [w] + [k for k, _ in keep]
                        scs = [scs[j]] + [sv for _, sv in keep]
                if keys:
                    firsts.add(keys[0])
                info[int(nd)] = (keys[:top_n], scs[:top_n])
        scores = t_lv.stability if "stability" in t_lv else [float("nan")] * len(t_lv)
        for nd, b, par, size, stab in zip(t_lv.node, t_lv.label, t_lv.parent, t_lv["size"], scores):
            keys, scs = info[int(nd)]
            kws = [display_form(k, spelling) for k in keys]
            members = order[starts[pos[int(b)]] : ends[pos[int(b)]]]
            rep = _representatives(members, texts, X, Z, docs, keys, n_representative)
            if namer is not None:
                name = str(namer(list(kws), list(rep)))
            else:
                name = short_name(kws, name_words) if kws else f"theme {int(b)}"
            out_rows.append(
                {
                    "node": int(nd),
                    "level": lv,
                    "label": int(b),
                    "parent": int(par),
                    "size": int(size),
                    "name": name,
                    "stability": round(float(stab), 3),
                    "keywords": kws,
                    "scores": [round(s, 5) for s in scs],
                    "representative": rep,
                }
            )
    _distinct_sibling_names(out_rows)
    table = pd.DataFrame(
        out_rows,
        columns=[
            "node",
            "level",
            "label",
            "parent",
            "size",
            "name",
            "stability",
            "keywords",
            "scores",
            "representative",
        ],
    )
    result.names = {int(nd): nm for nd, nm in zip(table.node, table.name)}
    result.tree = tree_from_levels(levels, tree, result.names)
    return table
