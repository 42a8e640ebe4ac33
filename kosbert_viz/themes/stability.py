"""How reliably themes re-appear when the fit is repeated.

A level of themes is *re-fitted* by k-means with the same number of themes, started from another
seed, on a random subsample of the clustering coordinates (``n_refits`` times). Two measures follow:

- a theme's **stability** (0-1): its best-match Jaccard against the themes of each re-fit,
  averaged over the re-fits (Hennig's cluster-wise stability, with re-fits in place of bootstrap
  resamples). Hennig's reading: 0.85 and above is a highly stable cluster; 0.6-0.75 shows a
  pattern but is doubtful; 0.5 or less has dissolved. Below :data:`UNSTABLE_BELOW` a theme is
  marked unstable (never hidden);
- a theme count's **agreement**: the mean best-match Jaccard of the themes of one re-fit in
  another, over every two re-fits; each theme counts once, as it does in the list a reader
  sees; the default level's theme count is chosen by it (:func:`choose_theme_count`).

Both measure robustness directly: they do not depend on a distance scale, on the shape of one
dendrogram, or on one corpus's numbers.

>>> rng = np.random.default_rng(0)
>>> Z = np.vstack([rng.normal(c, 0.3, size=(50, 2)) for c in ((0, 0), (6, 0), (0, 6))])
>>> table = refit_agreement(Z, [2, 3, 4, 5], random_state=0)
>>> choose_theme_count(table, (2, 5))            # three blobs
3
>>> labels = np.repeat([0, 1, 2], 50)
>>> [round(s, 2) for s in theme_stability(Z, labels, random_state=0).values()]
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "best_match_jaccard",
    "refit_agreement",
    "choose_theme_count",
    "theme_stability",
    "REPRODUCIBLE",
    "UNSTABLE_BELOW",
    "N_REFITS",
    "FINE_REFITS",
    "REFIT_SAMPLE",
    "HOW",
]

N_REFITS = 8  # re-fits per theme count
FINE_REFITS = 4  # re-fits per level below the default one (many small themes; each re-fit costs k x sample)
REFIT_SAMPLE = 4000  # points per re-fit (at least 8 per theme: more for fine levels)
_PER_THEME = 8  # a re-fit's subsample holds at least this many points per theme
REPRODUCIBLE = 0.85  # agreement from which a theme count counts as reproducible (Hennig: highly stable)
UNSTABLE_BELOW = 0.6  # a theme re-appearing less than this is marked unstable (Hennig: doubtful below 0.6-0.75)
HOW = (
    "k-means re-fits (one start each, other seeds) at the level's theme count on random subsamples of the "
    "clustering coordinates; stability = the theme's best-match Jaccard in each re-fit, averaged"
)


def best_match_jaccard(a, b) -> np.ndarray:
    """For each label of ``a`` (in ``np.unique(a)`` order): the best Jaccard index with a label of ``b``.

    >>> best_match_jaccard([0, 0, 1, 1], [5, 5, 5, 7]).round(3).tolist()
    [0.667, 0.5]
    """
    a = np.asarray(a)
    b = np.asarray(b)
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    C = np.zeros((len(ua), len(ub)))
    np.add.at(C, (ia.ravel(), ib.ravel()), 1.0)
    sa, sb = C.sum(1), C.sum(0)
    J = C / np.maximum(sa[:, None] + sb[None, :] - C, 1.0)
    return J.max(axis=1)


def _sample(n: int, k: int, sample_size: int, rng) -> np.ndarray:
    size = int(min(n, max(sample_size, _PER_THEME * k)))
    return np.arange(n) if size >= n else np.sort(rng.choice(n, size, replace=False))


def _stratified(labels, k: int, sample_size: int, rng) -> np.ndarray:
    """A random subsample with every theme in it: each theme gives its share, and at least 5 texts (or all)."""
    n = len(labels)
    size = int(min(n, max(sample_size, _PER_THEME * k)))
    if size >= n:
        return np.arange(n)
    keys = rng.random(n)
    order = np.lexsort((keys, labels))
    ids, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    take = np.maximum(np.minimum(counts, 5), np.ceil(counts * size / n).astype(np.int64))
    rank = np.arange(n) - np.repeat(starts, counts)
    return np.sort(order[rank < np.repeat(take, counts)])


def _kmeans(Z, k: int, rng):
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # the same result on any thread count
        km = KMeans(n_clusters=k, n_init=1, max_iter=50, random_state=int(rng.integers(2**31 - 1)))
        return km.fit_predict(Z)


def refit_agreement(
    Z, ks, *, random_state: int = 42, n_refits: int = N_REFITS, sample_size: int = REFIT_SAMPLE
) -> pd.DataFrame:
    """For each theme count in ``ks``: how much ``n_refits`` k-means re-fits agree with each other.

    All re-fits of one count run on one subsample. ``agreement`` is the mean best-match Jaccard of
    one re-fit's themes in another (each theme counts once), averaged over every ordered pair of
    re-fits; ``se`` is its standard error. Returns a
    pandas DataFrame: k, agreement, se, reproducible (agreement >= :data:`REPRODUCIBLE`).
    """
    import pandas as pd

    Z = np.ascontiguousarray(Z, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    rows = []
    for k in ks:
        k = int(k)
        if not 2 <= k < len(Z):
            continue
        sub = Z[_sample(len(Z), k, sample_size, rng)]
        fits = [_kmeans(sub, k, rng) for _ in range(n_refits)]
        vals = []
        for a, b in itertools.permutations(fits, 2):
            vals.append(float(best_match_jaccard(a, b).mean()))
        rows.append({"k": k, "agreement": float(np.mean(vals)), "se": float(np.std(vals) / np.sqrt(n_refits))})
    table = pd.DataFrame(rows, columns=["k", "agreement", "se"])
    table["reproducible"] = table.agreement >= REPRODUCIBLE
    return table


def choose_theme_count(table, k_range) -> int:
    """The default level's theme count from a :func:`refit_agreement` table.

    A count's evidence is the larger of two lower views of its agreement: its agreement less one
    standard error (a sharp, certain peak counts), and its agreement averaged with its neighbours'
    in the table (a plateau counts). A count whose re-fits merely happen to reach the bar once,
    among counts that do not, has neither. Among the counts in ``k_range`` whose evidence reaches
    :data:`REPRODUCIBLE`: the fewest within one standard error of the best (differences smaller than
    that are not told apart by the re-fits; fewer themes are easier to read). When none does, the
    data hold no structure that survives a re-fit in the range, and the fewest themes of the range
    are the answer that does not flip.
    """
    lo, hi = int(k_range[0]), int(k_range[1])
    table = table.sort_values("k").reset_index(drop=True)
    ks, a, se = table.k.to_numpy(), table.agreement.to_numpy(), table.se.to_numpy()
    plateau = np.array([a[max(0, i - 1) : i + 2].mean() for i in range(len(a))])
    evidence = np.maximum(a - se, plateau)
    inside = (ks >= lo) & (ks <= hi)
    good = inside & (evidence >= REPRODUCIBLE)
    if not good.any():
        return int(ks[inside].min()) if inside.any() else lo
    best = int(np.flatnonzero(good)[np.argmax(evidence[good])])
    return int(ks[good & (evidence >= evidence[best] - se[best])].min())


def theme_stability(
    Z, labels, *, random_state: int = 42, n_refits: int = N_REFITS, sample_size: int = REFIT_SAMPLE
) -> dict:
    """{label: stability} for one level: each theme's best-match Jaccard over k-means re-fits, averaged.

    Each re-fit has as many themes as ``labels`` and runs on its own random subsample (every theme
    in it, with at least 5 texts or all of its own); the Jaccard index is measured on that subsample.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    labels = np.asarray(labels)
    ids = np.unique(labels)
    k = len(ids)
    if k < 2:
        return {int(i): 1.0 for i in ids}
    rng = np.random.default_rng(random_state)
    total = np.zeros(k)
    for _ in range(n_refits):
        rows = _stratified(labels, k, sample_size, rng)
        total += best_match_jaccard(labels[rows], _kmeans(Z[rows], k, rng))
    return {int(i): float(total[j] / n_refits) for j, i in enumerate(ids)}
