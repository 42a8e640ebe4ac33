"""One row per text of a map, in input order: what an analyst saves to CSV or Excel.

>>> docs = documents_table(tm)
>>> docs.columns[:4].tolist(), len(docs) == len(tm.texts)
(['text', 'theme', 'name', 'x'], True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.maps.levels import map_levels_of, theme_names

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NOISE_NAME", "documents_table"]

NOISE_NAME = "noise"  # the name of label -1 (HDBSCAN's texts in no theme)


def _named(labels: np.ndarray, names: dict) -> list:
    return [NOISE_NAME if c < 0 else names.get(int(c), f"theme {int(c)}") for c in labels.tolist()]


def documents_table(tm) -> pd.DataFrame:
    """A DataFrame with one row per text of ``tm``, in input order.

    Columns: ``text``; ``theme`` and ``name`` at the level the map shows (its table's names); ``x``,
    ``y`` (map position); ``stability`` of the text's theme where the map scored it; ``outlier_score``
    and ``is_outlier`` where the themes have them; for a theme tree, ``theme_level{i}`` and
    ``name_level{i}`` at every level (0 = coarsest); then the map's metadata columns (a name already
    taken gets a ``data_`` prefix).
    """
    import pandas as pd

    levels, shown = map_levels_of(tm)
    codes = np.asarray(levels[shown])
    names = theme_names(tm)
    coords = np.asarray(tm.coords)
    out = pd.DataFrame(
        {"text": list(tm.texts), "theme": codes, "name": _named(codes, names), "x": coords[:, 0], "y": coords[:, 1]}
    )
    table = tm.table
    if table is not None and "stability" in getattr(table, "columns", ()):
        score = {int(c): float(v) for c, v in zip(table["cluster"], table["stability"])}
        out["stability"] = [score.get(int(c), float("nan")) for c in codes.tolist()]
    res = tm.clusters
    for col in ("outlier_score", "is_outlier"):
        values = getattr(res, col, None)
        if values is not None and len(values) == len(out):
            out[col] = np.asarray(values)
    if len(levels) > 1:
        tree_names = [
            res.names_at(i) if res.levels and len(res.levels) == len(levels) else {} for i in range(len(levels))
        ]
        for i, lab in enumerate(levels):
            lab = np.asarray(lab)
            out[f"theme_level{i}"] = lab
            out[f"name_level{i}"] = _named(lab, names if i == shown else tree_names[i])
    meta = getattr(tm, "metadata", None)
    if meta is not None:
        meta = pd.DataFrame(meta).reset_index(drop=True)
        if len(meta) == len(out):
            for c in meta.columns:
                out[str(c) if str(c) not in out else f"data_{c}"] = meta[c].to_numpy()
    return out
