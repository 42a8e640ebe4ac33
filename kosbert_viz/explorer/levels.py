"""The explorer's theme levels: every point's theme code and one display name per theme, per level.

>>> lv = levels_from_labels([np.array([0, 0, 1, -1])], [{0: "배송", 1: "배송"}])[0]
>>> lv.names, theme_colors(lv)["noise"]
({0: '배송', 1: '배송 (1)'}, '#969696')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.validation import check_labels
from kosbert_viz.maps.levels import level_names, map_levels_of
from kosbert_viz.themes.stability import UNSTABLE_BELOW
from kosbert_viz.viz.scatter import cluster_colors

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NOISE_HEX",
    "ThemeLevel",
    "unique_names",
    "levels_from_labels",
    "textmap_levels",
    "theme_categorical",
    "theme_colors",
    "theme_options",
]

NOISE_HEX = "#969696"


@dataclass
class ThemeLevel:
    """One level of themes as the explorer shows it."""

    codes: np.ndarray  # int64 per point, -1 = noise
    names: dict  # code -> display name (distinct)
    stability: dict = field(default_factory=dict)  # code -> how reliably the theme re-appears in re-fits (0-1)


def unique_names(codes: np.ndarray, names: dict) -> dict:
    """One distinct display name per code (noise is "noise"); repeated names get their code."""
    out, seen = {}, {}
    for c in sorted(int(c) for c in np.unique(codes) if c >= 0):
        base = name = str(names.get(c, f"theme {c}"))
        k = 0
        while name in seen or name == "noise":  # "a (2)" may itself be a given name: count until free
            name = f"{base} ({c})" if k == 0 else f"{base} ({c}.{k})"
            k += 1
        seen[name] = c
        out[c] = name
    return out


def levels_from_labels(labels: list, names_by_level: list) -> list[ThemeLevel]:
    """Levels from label arrays (ints, or strings that name themselves) and optional {label: name} per level."""
    levels = []
    for i, lab in enumerate(labels):
        codes, values = check_labels(lab, name=f"labels[{i}]" if len(labels) > 1 else "labels")
        given = names_by_level[i] if i < len(names_by_level) and names_by_level[i] is not None else None
        if given is None:  # string/categorical labels name themselves
            given = {c: values[c] for c in range(len(values))} if codes.size and values.dtype == object else {}
        elif not hasattr(given, "items"):
            given = dict(enumerate(given))
        levels.append(ThemeLevel(codes, unique_names(codes, {int(k): v for k, v in given.items()})))
    return levels


def textmap_levels(tm, names: dict | None = None) -> tuple[list[ThemeLevel], int]:
    """(every level of a TextMap's themes, coarsest first; the level the map shows).

    Names: the map's table at the level it shows (``names`` overrides them), the theme tree's names at the
    others; stability from the theme tree where it has one."""
    arrays, shown = map_levels_of(tm)
    res = tm.clusters
    names_by_level = level_names(tm)
    if names is not None:
        names_by_level[shown] = names
    levels = levels_from_labels(arrays, names_by_level)
    tree = res.tree
    if tree is not None and "stability" in tree and len(arrays) == int(tree.level.max()) + 1:
        for lv, part in zip(levels, (tree[tree.level == i] for i in range(len(levels)))):
            lv.stability = {int(b): float(v) for b, v in zip(part.label, part.stability) if np.isfinite(v)}
    return levels, shown


def theme_categorical(level: ThemeLevel) -> pd.Categorical:
    """Every point's theme name as a Categorical (noise first, then the themes by code)."""
    import pandas as pd

    order = sorted(level.names)
    cats = (["noise"] if (level.codes < 0).any() else []) + [level.names[c] for c in order]
    lookup = {c: i + (1 if cats and cats[0] == "noise" else 0) for i, c in enumerate(order)}
    pos = np.full(int(level.codes.max(initial=-1)) + 2, 0, np.int64)  # code + 1 -> category position
    for c, p in lookup.items():
        pos[c + 1] = p
    return pd.Categorical.from_codes(pos[level.codes + 1], categories=cats)


def theme_colors(level: ThemeLevel) -> dict:
    """{theme name: colour}, in the colours of the report's map; noise grey."""
    order = sorted(level.names)
    out = dict(zip((level.names[c] for c in order), cluster_colors(len(order))))
    if (level.codes < 0).any():
        out["noise"] = NOISE_HEX
    return out


def theme_options(level: ThemeLevel) -> list[tuple[str, int]]:
    """The theme list: (name (texts · stability; unstable themes marked, never hidden), code)."""
    sizes = dict(zip(*np.unique(level.codes, return_counts=True)))

    def label(c: int) -> str:
        v = level.stability.get(c)
        stab = "" if v is None or not np.isfinite(v) else (f" · {v:.2f}" + (" unstable" if v < UNSTABLE_BELOW else ""))
        return f"{level.names[c]} ({int(sizes.get(c, 0)):,}{stab})"

    opts = [(label(c), c) for c in sorted(level.names)]
    if -1 in sizes:
        opts.append((f"noise ({int(sizes[-1]):,})", -1))
    return opts
