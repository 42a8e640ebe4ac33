"""Keywords that belong together: re-rank a theme's best c-TF-IDF words by how often they co-occur.

c-TF-IDF ranks each word on its own, so a theme's top five can be five words that never share a
text (신간 · 여행 · 날씨 in news titles). A reader takes the keywords as one description, so the
keywords after the first are chosen greedily from the theme's ``pool`` best words, each maximising

    its score / the first word's score + COHERENCE_WEIGHT x its highest NPMI with a word already chosen

where NPMI (normalised pointwise mutual information, -1 to 1) is measured over the theme's own texts.
The first keyword stays the best-scoring word. Each keyword need only go with one keyword before it
(the highest NPMI, not the mean), so a theme of two strands (delivery and refunds in one cluster of
the bundled sample) keeps words of both; with the mean, the larger strand took all five. The weight
1.0 gives score and coherence the same scale.

``benchmarks/bench_names.py``, NPMI of the top 5 over the corpus, against BERTopic's c-TF-IDF on the
same themes and tokens (which our plain c-TF-IDF tied): ``kv.keywords`` YNAT 10k 0.119 vs -0.029,
NSMC 10k -0.136 vs -0.193, Chatbot questions -0.260 vs -0.590; the map's sibling-contrasted names
0.118, -0.169 and -0.404 (before: -0.047, -0.274, -0.641). Weight 0.5 also kept both ahead.

>>> import numpy as np
>>> D = np.array([[1, 1, 0, 1], [1, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 0]], bool)  # texts x candidate words
>>> coherent_order(D, np.array([1.0, 0.9, 0.85, 0.5]), 3)   # word 2 scores higher, but word 3 goes with 0 and 1
[0, 1, 3]
"""

from __future__ import annotations

import numpy as np

__all__ = ["coherent_order", "npmi_matrix", "COHERENCE_WEIGHT", "candidate_pool"]

COHERENCE_WEIGHT = 1.0


def candidate_pool(top_n: int) -> int:
    """How many of a theme's best words compete for its ``top_n`` keywords: twice as many, at least 10."""
    return max(2 * int(top_n), 10)


def npmi_matrix(D: np.ndarray) -> np.ndarray:
    """NPMI between the columns of ``D`` (texts x words, bool) over its rows: -1 never together, 1 always.

    >>> float(npmi_matrix(np.array([[1, 1], [0, 0]], bool))[0, 1])
    1.0
    """
    D = np.asarray(D, bool)
    m = max(len(D), 1)
    Df = D.astype(np.float64)
    p = Df.sum(axis=0) / m
    pab = (Df.T @ Df) / m
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(pab / np.outer(p, p)) / -np.log(pab)
    out[pab == 0] = -1.0
    out[pab >= 1] = 1.0
    return out


def coherent_order(D: np.ndarray, scores: np.ndarray, k: int, weight: float | None = None) -> list[int]:
    """``k`` column positions of ``D`` (texts x candidate words, best-scoring first), the first always 0.

    ``scores``: the candidates' c-TF-IDF scores, in the same order; ``weight``: of the coherence
    term (None: :data:`COHERENCE_WEIGHT`).
    """
    weight = COHERENCE_WEIGHT if weight is None else float(weight)
    scores = np.asarray(scores, np.float64)
    n = len(scores)
    if n == 0:
        return []
    rel = scores / max(float(scores[0]), 1e-12)
    pmi = npmi_matrix(D)
    chosen = [0]
    best = pmi[0].copy()  # each candidate's highest NPMI with a word already chosen
    free = np.ones(n, bool)
    free[0] = False
    while len(chosen) < min(int(k), n):
        value = np.where(free, rel + weight * best, -np.inf)
        j = int(np.argmax(value))  # ties: the better-scoring (earlier) word
        chosen.append(j)
        free[j] = False
        best = np.maximum(best, pmi[j])
    return chosen
