"""The in-memory index of one cache namespace: every stored key, sorted, and where its vector is.

Built from the keys of a namespace's segments (:mod:`kosbert_viz.embed.cache_format`); a key stored
in several segments resolves to the oldest one. Look-ups are vectorised binary searches.

>>> keys = np.array([b"b" * 16, b"a" * 16], dtype="S16")
>>> index = NamespaceIndex(["segment 0"], [keys])
>>> pos, found = index.lookup(np.array([b"a" * 16, b"c" * 16], dtype="S16"))
>>> found.tolist(), int(index.seg[pos[0]]), int(index.row[pos[0]])
([True, False], 0, 1)
"""

from __future__ import annotations

import numpy as np

__all__ = ["NamespaceIndex", "split_keys"]


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 128-bit keys as two arrays of 64-bit words (first, second)."""
    words = np.frombuffer(np.ascontiguousarray(keys).tobytes(), dtype="<u8").reshape(-1, 2)
    return words[:, 0], words[:, 1]


class NamespaceIndex:
    """Sorted keys of every segment of one namespace, for bulk look-ups.

    ``segments[seg[i]]`` holds the ``i``-th key (``hi[i]``, ``lo[i]``) in its row ``row[i]``.
    """

    def __init__(self, segments: list, keys: list[np.ndarray]):
        self.segments = segments
        counts = [len(k) for k in keys]
        all_keys = np.concatenate(keys) if keys else np.empty(0, "S16")
        seg = np.repeat(np.arange(len(keys), dtype=np.int32), counts)
        row = np.concatenate([np.arange(c, dtype=np.int64) for c in counts]) if keys else np.empty(0, np.int64)
        hi, lo = split_keys(all_keys)
        order = np.lexsort((lo, hi))  # stable: older segments first among equal keys
        hi, lo, seg, row = hi[order], lo[order], seg[order], row[order]
        keep = np.ones(len(hi), dtype=bool)
        keep[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
        self.hi, self.lo, self.seg, self.row = hi[keep], lo[keep], seg[keep], row[keep]

    def __len__(self) -> int:
        return len(self.hi)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions into the index for ``keys`` and a found mask."""
        q_hi, q_lo = split_keys(keys)
        n = len(self.hi)
        if n == 0:
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
        pos = np.searchsorted(self.hi, q_hi, side="left")
        pos_c = np.minimum(pos, n - 1)
        found = (self.hi[pos_c] == q_hi) & (self.lo[pos_c] == q_lo)
        # Two different keys sharing their first 64 bits: search the run (practically never).
        clash = np.flatnonzero(~found & (self.hi[pos_c] == q_hi))
        for i in clash:
            j = pos[i]
            while j < n and self.hi[j] == q_hi[i]:
                if self.lo[j] == q_lo[i]:
                    pos_c[i], found[i] = j, True
                    break
                j += 1
        return pos_c, found
