"""Synthetic clustered sentence vectors for the placement and maps-of-millions benchmarks.

>>> draw = clustered_sampler(768, 40, np.random.default_rng(0))
>>> X, theme, sub = draw(1000)        # float32 (1000, 768), theme 0..39, sub-theme 0..319
"""

from __future__ import annotations

import numpy as np


def clustered_sampler(dim: int, n_themes: int, rng: np.random.Generator, subs_per_theme: int = 8):
    """A ``draw(n)`` of vectors around ``n_themes`` centres, each with ``subs_per_theme`` sub-centres
    (spread 0.5) and Gaussian noise (0.9) per vector: returns (vectors, theme, sub-theme)."""
    centres = rng.normal(size=(n_themes, dim)).astype(np.float32)
    subs = (np.repeat(centres, subs_per_theme, 0) + 0.5 * rng.normal(size=(n_themes * subs_per_theme, dim))).astype(
        np.float32
    )

    def draw(n: int):
        sub = rng.integers(0, len(subs), n)
        X = np.empty((n, dim), np.float32)
        for s in range(0, n, 20_000):
            j = sub[s : s + 20_000]
            X[s : s + len(j)] = subs[j] + 0.9 * rng.standard_normal((len(j), dim), dtype=np.float32)
        return X, sub // subs_per_theme, sub

    return draw
