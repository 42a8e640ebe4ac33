"""Training pairs from an analysis: near-duplicate groups and labelled themes, ready for :func:`kv.finetune`.

>>> groups = kv.duplicates(emb, texts)
>>> pairs = kv.pairs_from_duplicates(groups, texts)              # (anchor, positive)
>>> triplets = kv.pairs_from_labels(texts, labels, embeddings=emb)  # (anchor, positive, hard negative)
>>> triplets.columns.tolist()
['anchor', 'positive', 'negative']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.validation import (
    check_embeddings,
    check_labels,
    check_positive_int,
    check_texts,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["pairs_from_duplicates", "pairs_from_labels"]


def pairs_from_duplicates(groups, texts=None, *, max_pairs_per_group: int = 50) -> pd.DataFrame:
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


def pairs_from_labels(
    texts, labels, *, embeddings=None, max_pairs: int = 10_000, random_state: int = 42
) -> pd.DataFrame:
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
        X = check_embeddings(embeddings, n=len(texts))
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(random_state)
    themes = {}
    for i, c in enumerate(codes):
        if c >= 0:
            themes.setdefault(int(c), []).append(i)
    usable = {c: rows for c, rows in themes.items() if len(set(texts[i] for i in rows)) >= 2}
    if len(usable) < 1 or len(themes) < 2:
        raise ValueError(
            f"need at least 2 labelled themes, one of them with 2 different texts; got {len(themes)} "
            f"themes ({len(usable)} with 2+ different texts)"
        )
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
