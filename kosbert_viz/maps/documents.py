"""One row per text of a map, in input order: what an analyst saves to CSV or Excel.

>>> docs = documents_table(tm)
>>> docs.columns[:4].tolist(), len(docs) == len(tm.texts)
(['text', 'theme', 'name', 'x'], True)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.maps.levels import level_names, map_levels_of

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NOISE_NAME", "named", "documents_table", "write_excel"]

NOISE_NAME = "noise"  # the name of label -1 (HDBSCAN's texts in no theme)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes Excel read a cell as a formula


def named(labels: np.ndarray, names: dict) -> list:
    """Each label's name: ``names[label]``, NOISE_NAME for -1, "theme N" for a theme without one."""
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
    names_by_level = level_names(tm)
    names = names_by_level[shown]
    coords = np.asarray(tm.coords)
    out = pd.DataFrame(
        {"text": list(tm.texts), "theme": codes, "name": named(codes, names), "x": coords[:, 0], "y": coords[:, 1]}
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
        for i, lab in enumerate(levels):
            lab = np.asarray(lab)
            out[f"theme_level{i}"] = lab
            out[f"name_level{i}"] = named(lab, names_by_level[i])
    meta = getattr(tm, "metadata", None)
    if meta is not None:
        meta = pd.DataFrame(meta).reset_index(drop=True)
        if len(meta) == len(out):
            for c in meta.columns:
                out[str(c) if str(c) not in out else f"data_{c}"] = meta[c].to_numpy()
    return out


def write_excel(tm, path) -> Path:
    """``tm.to_excel``: an .xlsx workbook: sheet "texts" (:func:`documents_table`), sheet "themes" (the
    shown level's table), and for a theme tree one sheet per level, "level_0" (coarsest) and on, each
    theme with its parent, size, name, stability, keywords and representative texts. Written atomically
    (missing parent folders are made, as ``write_report`` makes them); needs the ``excel`` extra (openpyxl)."""
    import io

    import pandas as pd

    from kosbert_viz._util.atomic import write_atomic
    from kosbert_viz._util.extras import require

    require("openpyxl", extra="excel", feature="tm.to_excel")
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"to_excel writes an .xlsx workbook, got {path.name!r}; name the file ....xlsx")

    def cells(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        for c in df.columns:  # lists (keywords, representative texts) as one cell of text
            if df[c].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
                df[c] = df[c].map(lambda v: " · ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else v)
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):  # "=..." would be a live formula
                df[c] = df[c].map(lambda v: "'" + v if isinstance(v, str) and v[:1] in FORMULA_START else v)
        return df

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as xl:
        cells(documents_table(tm)).to_excel(xl, sheet_name="texts", index=False)
        if tm.table is not None:
            cells(tm.table.drop(columns=["scores"], errors="ignore")).to_excel(xl, sheet_name="themes", index=False)
        themes = getattr(tm, "themes", None)
        if themes is not None and len(tm.clusters.levels) > 1:
            keep = [
                c for c in ("label", "parent", "size", "name", "stability", "keywords", "representative") if c in themes
            ]
            for lv in sorted(set(themes.level.tolist())):
                part = themes[themes.level == lv][keep].rename(columns={"label": "theme"})
                cells(part).to_excel(xl, sheet_name=f"level_{lv}", index=False)
    return write_atomic(path, buffer.getvalue())
