"""``kv.explore()``: a JupyterLab explorer whose selections come back to Python.

>>> ex = kv.explore(tm)                       # a TextMap from kv.map_texts
>>> ex                                        # the map (WebGL), search box, filters, the texts beside it
>>> ex.selected                               # a live DataFrame: index, text, theme, metadata
>>> ex.search("환불")                          # substring (NFC): 환불 finds 환불이; semantic=True uses kv.search
>>> ex.filter(themes=[tm.table.name[0]])      # by theme name (or label); categories={"column": [...]}
>>> ex.filter()                               # no arguments: every point again
>>> ex.select([3, 14, 15])                    # by position (or a mask, or a DataFrame with ``index``)
>>> ex.make_theme("환불 문의")                  # the selection becomes a theme in tm (and the next report)

The map is jupyter-scatter (an anywidget over regl-scatterplot: plain WebGL, no WebGPU),
which stays smooth to millions of points. Only coordinates and one colour value per point go
to the browser (16 bytes a point); a text travels only when its tooltip is shown. Lasso: the
lasso button in the map's toolbar, then drag (or press and hold, then drag); the selection comes
back to Python as ``ex.selected``. (Shift + drag is JupyterLab's own cell selection, so the map
does not use it.)
Needs the ``explore`` extra: ``pip install "kosbert_viz[explore]"`` (jupyter-scatter, ipywidgets).
"""
from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from kosbert_viz._util.columns import (
    category_codes,
    category_columns,
    category_label,
    category_values,
)
from kosbert_viz._util.validation import check_labels, check_texts, normalize_text
from kosbert_viz.themes.stability import UNSTABLE_BELOW
from kosbert_viz.viz.scatter import cluster_colors

__all__ = ["explore", "Explorer"]

_EXTRA_HINT = 'the explorer needs jupyter-scatter and ipywidgets: pip install "kosbert_viz[explore]"'
NOISE_HEX = "#969696"
TABLE_ROWS = 300  # rows drawn in the side panel's table (the DataFrame holds all of them)
TABLE_CSS = ("<style>" + (resources.files("kosbert_viz.explorer") / "static" / "selection.css")
             .read_text(encoding="utf-8") + "</style>")  # the side panel table's style
KEYWORD_WARM_UP = 20_000  # best-ranked texts analysed in the background once the widget is built
KEYWORD_SAMPLE = 1500  # texts per side (selection / rest) tokenised for the selection's keywords
TOKEN_CACHE_MAX = 200_000  # texts whose content words the explorer keeps
_NONE = object()  # "no such column" (a column may be named None)
DENSE_MAP = 100_000  # from this many points: a thin selection outline (selected points are dense)
LARGE_MAP = 500_000  # from this many points: regl-scatterplot's performanceMode, no tooltip histogram
LASSO_MIN_DIST = 8  # screen pixels between the lasso's vertices (jupyter-scatter's default is 3): fewer
# vertices to test each point against; the page's lasso handling at 1M points went from 0.59 s to 0.42-0.48 s


def _renderer_options(n: int) -> dict:
    """regl-scatterplot options for a map of ``n`` points.

    * ``syncEvents``: regl-scatterplot publishes its events from a ``setTimeout`` by default, which runs
      after the next frame, so a lasso's selection waited for a full redraw (about 1 s at 1M points in
      software WebGL) before it was sent to Python. Published synchronously, it is sent from the
      mouse-up handler itself.
    * From ``DENSE_MAP`` points: selected points keep their size and get a 1 px outline (default: 2 px
      larger and a 2 px outline), since a wide outline around thousands of dense points merges into one
      blob; it also draws a third of the selection passes' pixels.
    * From ``LARGE_MAP`` points: ``performanceMode`` (square points, no alpha blending): the map's 0.8
      opacity is traded for speed where points overlap by the thousand.

    Measured at 1M points with 348k selected (headless Chromium, software WebGL; ``bench_explore.py --part
    frames``, medians of 3): the frame after a selection took 2.29 s with the defaults, 1.97 s with the thin
    outline, 1.90 s with performanceMode and 1.67 s with both (a frame without a selection: 0.80-0.85 s).

    >>> _renderer_options(1_000)
    {'syncEvents': True}
    >>> sorted(_renderer_options(1_000_000))
    ['performanceMode', 'pointOutlineWidth', 'pointSizeSelected', 'syncEvents']
    """
    opts: dict = {"syncEvents": True}
    if n >= DENSE_MAP:
        opts.update(pointSizeSelected=0, pointOutlineWidth=1)
    if n >= LARGE_MAP:
        opts["performanceMode"] = True
    return opts


def _imports():
    try:
        import ipywidgets
        import jscatter
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT) from exc
    return jscatter, ipywidgets


@dataclass
class _Level:
    codes: np.ndarray  # int64 per point, -1 = noise
    names: dict  # code -> display name
    stability: dict = field(default_factory=dict)  # code -> how reliably the theme re-appears in re-fits (0-1)


def _unique_names(codes: np.ndarray, names: dict) -> dict:
    """One distinct display name per code (noise is "noise"); repeated names get their code."""
    out, seen = {}, {}
    for c in sorted(int(c) for c in np.unique(codes) if c >= 0):
        name = str(names.get(c, f"theme {c}"))
        if name in seen or name == "noise":
            name = f"{name} ({c})"
        seen[name] = c
        out[c] = name
    return out


def _levels_of(labels, names_by_level) -> list[_Level]:
    levels = []
    for i, lab in enumerate(labels):
        codes, values = check_labels(lab, name=f"labels[{i}]" if len(labels) > 1 else "labels")
        given = names_by_level[i] if i < len(names_by_level) and names_by_level[i] is not None else None
        if given is None:  # string/categorical labels name themselves
            given = {c: values[c] for c in range(len(values))} if codes.size and values.dtype == object else {}
        elif not hasattr(given, "items"):
            given = dict(enumerate(given))
        levels.append(_Level(codes, _unique_names(codes, {int(k): v for k, v in given.items()})))
    return levels


def _is_number(s) -> bool:
    from pandas.api import types

    return types.is_numeric_dtype(s.dtype) and not types.is_bool_dtype(s.dtype)


class Explorer:
    """The explorer widget and its state. Build it with :func:`explore`; display it in a cell.

    Attributes: ``selected`` (live DataFrame), ``hits`` (the last search), ``widget`` (the
    ipywidgets box), ``scatter`` (the ``jscatter.Scatter``).
    """

    def __init__(self, coords, levels: list[_Level], texts: list[str], *, data=None, embeddings=None, model=None,
                 textmap=None, primary: int = 0, time_column: str | None = None, height: int = 560,
                 random_state: int = 0):
        import pandas as pd

        self._n = len(texts)
        self._xy = np.ascontiguousarray(np.asarray(coords, dtype=np.float32)[:, :2])
        self._texts = texts
        self._levels = levels
        self._level = primary
        self._primary = primary
        self._emb = embeddings
        self._model = model
        self._encoder = None
        self._tm = textmap
        self._rng = np.random.default_rng(random_state)
        self._random_state = random_state
        if data is not None and not all(isinstance(c, str) for c in data.columns):
            data = data.rename(columns=str)  # one name everywhere: widgets, filters, ex.selected
        self._data = pd.DataFrame(index=pd.RangeIndex(self._n)) if data is None else data
        self._categories = {}  # category column (the report's rule) -> its labels as a Categorical, made once
        for c in category_columns(self._data):
            labels, codes = category_codes(self._data[c])
            self._categories[str(c)] = pd.Categorical.from_codes(codes, categories=labels)
        self._cat_cols = list(self._categories)
        self._time_col = None if time_column is None else str(time_column)
        self._filter: np.ndarray | None = None
        self._sort = ("index", True)
        self.hits = None
        self._keywords: list[str] = []
        self._tokens: dict = {}  # point -> its content words (see _morphemes)
        self._ranked = None  # a fixed random rank per point: the keyword samples (see _ranks)
        self._tokens_lock = threading.Lock()
        self._warmed = False
        self._height = height
        self._theme_cats: dict = {}  # level -> Categorical of every point's theme (cleared when themes change)
        frame = pd.DataFrame({"x": self._xy[:, 0], "y": self._xy[:, 1]})
        frame["theme"] = self._theme_cat(self._level)
        text_col = np.empty(self._n, dtype=object)  # object, not pandas' str: its Arrow copy cost 0.6 s at 1M
        text_col[:] = texts
        frame["text"] = pd.Series(text_col, dtype=object, copy=False)
        for c, cat in self._categories.items():
            if c not in frame:
                frame[c] = cat
        self._frame = frame
        self._color = "theme"
        self._scatter = None
        self._widgets = None
        self._box = None

    # ------------------------------------------------------------------ building blocks
    def _theme_column(self, level: int):
        import pandas as pd

        lv = self._levels[level]
        order = sorted(lv.names)
        cats = (["noise"] if (lv.codes < 0).any() else []) + [lv.names[c] for c in order]
        lookup = {c: i + (1 if cats and cats[0] == "noise" else 0) for i, c in enumerate(order)}
        pos = np.full(int(lv.codes.max(initial=-1)) + 2, 0, np.int64)  # code + 1 -> category position
        for c, p in lookup.items():
            pos[c + 1] = p
        return pd.Categorical.from_codes(pos[lv.codes + 1], categories=cats)

    def _theme_colors(self, level: int) -> dict:
        lv = self._levels[level]
        order = sorted(lv.names)
        out = dict(zip((lv.names[c] for c in order), cluster_colors(len(order))))
        if (lv.codes < 0).any():
            out["noise"] = NOISE_HEX
        return out

    def _make_scatter(self):
        jscatter, _ = _imports()
        sc = jscatter.Scatter(data=self._frame, x="x", y="y", color_by="theme",
                              color_map=self._theme_colors(self._level), tooltip=True,
                              tooltip_properties=["theme", "text"], tooltip_preview="text",
                              tooltip_preview_text_lines=6, tooltip_histograms=self._n < LARGE_MAP,
                              height=self._height, legend=True,
                              legend_position="top-right", axes=False, opacity=0.8,
                              lasso_min_dist=LASSO_MIN_DIST, options=_renderer_options(self._n))
        sc.widget.observe(self._on_selection, names="selection")
        return sc

    @property
    def scatter(self):
        """The ``jscatter.Scatter`` drawing the map (built on first use)."""
        if self._scatter is None:
            self._scatter = self._make_scatter()
        return self._scatter

    # ------------------------------------------------------------------ selection
    def _selection_indices(self) -> np.ndarray:
        sel = self.scatter.widget.selection
        if sel is None:
            return np.zeros(0, np.int64)
        sel = np.asarray(sel, dtype=np.int64)
        if len(sel) > self._n // 64:  # sorted and de-duplicated through a mask: O(n), no sort
            mask = np.zeros(self._n, bool)
            mask[sel] = True
            return np.flatnonzero(mask)
        return np.unique(sel)

    @property
    def selected(self):
        """The selected texts as a DataFrame (index, text, theme names, metadata), read live from the map."""
        return self.frame(self._selection_indices())

    def frame(self, indices=None):
        """A DataFrame of the given points (all when None): index, text, theme per level, metadata."""
        import pandas as pd

        idx = np.arange(self._n) if indices is None else np.asarray(indices, dtype=np.int64)
        out = pd.DataFrame({"index": idx, "text": [self._texts[i] for i in idx]})
        for i in range(len(self._levels)):
            col = "theme" if i == self._primary else f"theme_level{i}"
            out[col] = self._theme_values(i, idx)
        meta = self._data.iloc[idx].reset_index(drop=True)
        for c in meta.columns:
            name = str(c) if str(c) not in out else f"data_{c}"
            out[name] = meta[c].to_numpy()
        return out

    def _theme_values(self, level: int, idx: np.ndarray) -> np.ndarray:
        """Theme names (object array) of the points ``idx`` at ``level``: only those points are touched."""
        cat = self._theme_cat(level)
        return np.asarray(cat.categories, dtype=object)[cat.codes[idx]]

    def _theme_cat(self, level: int):
        """Every point's theme at ``level`` as a Categorical (kept until the themes change)."""
        cat = self._theme_cats.get(level)
        if cat is None:
            cat = self._theme_cats[level] = self._theme_column(level)
        return cat

    def _check_indices(self, indices) -> np.ndarray:
        if hasattr(indices, "columns"):
            if "index" not in indices.columns:
                raise ValueError("a DataFrame of points needs an 'index' column (as ex.selected or ex.hits has)")
            indices = indices["index"]
        arr = np.asarray(indices)
        if arr.dtype == bool:
            if len(arr) != self._n:
                raise ValueError(f"a boolean mask needs {self._n} entries, got {len(arr)}")
            return np.flatnonzero(arr)
        if arr.size == 0:
            return np.zeros(0, np.int64)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"indices must be integer point positions, got dtype {arr.dtype}")
        arr = arr.astype(np.int64).ravel()
        if len(arr) > 1 and not (arr[1:] > arr[:-1]).all():  # already sorted and unique: nothing to do
            arr = np.unique(arr)
        if arr[0] < 0 or arr[-1] >= self._n:
            raise ValueError(f"indices must be in [0, {self._n}), got {arr[0]}..{arr[-1]}")
        return arr

    def select(self, indices):
        """Select points from Python (positions, a boolean mask, or a DataFrame with ``index``); None clears."""
        idx = np.zeros(0, np.int64) if indices is None else self._check_indices(indices)
        self.scatter.selection(idx.astype(np.uint32) if len(idx) else None)  # the observer refreshes the panel
        return self

    def theme_indices(self, theme, *, level: int | None = None) -> np.ndarray:
        """Positions of one theme (its code or its name) at ``level`` (default: the level shown)."""
        level = self._level if level is None else level
        code = self._code_of(theme, level)
        return np.flatnonzero(self._levels[level].codes == code)

    def select_theme(self, theme, *, level: int | None = None):
        """Select every text of a theme (as clicking it in the theme list does)."""
        return self.select(self.theme_indices(theme, level=level))

    def _code_of(self, theme, level: int) -> int:
        lv = self._levels[level]
        if isinstance(theme, (int, np.integer)) and not isinstance(theme, bool):
            if int(theme) not in lv.names and int(theme) != -1:
                raise KeyError(f"no theme {int(theme)} at level {level}; themes are {sorted(lv.names)}")
            return int(theme)
        if theme == "noise":
            return -1
        for c, name in lv.names.items():
            if name == theme:
                return c
        raise KeyError(f"no theme named {theme!r} at level {level}; got names {list(lv.names.values())[:10]}")

    # ------------------------------------------------------------------ search and filters
    def search(self, query: str, *, semantic: bool = False, top_k: int = 200, select: bool = True):
        """Find texts: substring (NFC, case-insensitive: 환불 finds 환불이) or ``semantic`` via :func:`kv.search`.

        The hits (a DataFrame: index, text, theme, metadata, and ``score`` for semantic search)
        are stored in ``ex.hits``, highlighted on the map (selected) and listed in the table.
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        q = normalize_text(query).strip()
        if not q:
            self.hits = self.frame(np.zeros(0, np.int64))
            if select:
                self.select(None)
            return self.hits
        if semantic:
            if self._emb is None:
                raise ValueError("semantic search needs the map's embeddings: explore(tm) or explore(..., embeddings=)")
            from kosbert_viz.geometry.search import search as kv_search

            res = kv_search([q], self._emb, top_k=min(int(top_k), self._n), model=self._get_encoder(), cache=None)
            idx = res["index"].to_numpy(np.int64)
            hits = self.frame(idx)
            hits.insert(2, "score", res["score"].to_numpy())
        else:
            needle = q.casefold()
            idx = np.fromiter((i for i, t in enumerate(self._texts) if needle in t.casefold()), np.int64)
            hits = self.frame(idx)
        hits.attrs["query"] = q
        self.hits = hits
        if self._widgets is not None:
            self._widgets["hits"].value = f"{len(hits):,} hits"
        if select:
            self.select(hits["index"].to_numpy())
        return hits

    def _get_encoder(self):
        if self._encoder is None:
            if self._model is None and self._tm is not None:  # the map's own model (the offline one too)
                from kosbert_viz.maps.placement import map_encoder

                self._encoder = map_encoder(self._tm)
            else:
                from kosbert_viz.embed.models import load_encoder

                self._encoder = load_encoder(self._model)
        return self._encoder

    def filter(self, *, themes=None, categories: dict | None = None, date_range=None):
        """Show only the points matching every filter (no arguments: show all). Returns their positions.

        ``themes``: names or codes at the level shown (one name or a list); ``categories``: {column: [values]};
        ``date_range``: (start, end), inclusive, on the time column.
        """
        import pandas as pd

        keep = np.ones(self._n, bool)
        active = False
        if isinstance(themes, (str, int, np.integer)):  # one theme, not its characters
            themes = [themes]
        if themes:
            codes = [self._code_of(t, self._level) for t in themes]
            keep &= np.isin(self._levels[self._level].codes, codes)
            active = True
        for col, values in (categories or {}).items():
            col = str(col)
            if col not in self._data.columns:
                raise KeyError(f"no metadata column {col!r}; got {list(self._data.columns)}")
            if values:
                # each value as the column writes it (5, 5.0 and "5" are one rating) and as plain str
                wanted = {category_label(v) for v in values} | {str(v) for v in values}
                labels = self._categories.get(col)
                if labels is None:  # any other column: labelled now
                    labels = category_values(self._data[col])
                keep &= np.asarray(labels.isin(wanted))
                active = True
        if date_range is not None and any(v is not None for v in date_range):
            if self._time_col is None:
                raise ValueError("date_range needs a time column: explore(..., time_column='date')")
            t = pd.to_datetime(self._data[self._time_col])
            lo, hi = date_range
            if lo is not None:
                keep &= (t >= pd.Timestamp(lo)).to_numpy()
            if hi is not None:
                hi = pd.Timestamp(hi)
                if hi == hi.normalize():  # a day: the whole day
                    hi = hi + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
                keep &= (t <= hi).to_numpy()
            active = True
        idx = np.flatnonzero(keep)
        self._filter = idx if active else None
        self.scatter.filter(idx.astype(np.uint32) if active else None)
        if active:  # the selection keeps only what is still shown
            sel = self._selection_indices()
            if len(sel):
                self.select(np.intersect1d(sel, idx))
        return idx

    @property
    def visible(self) -> np.ndarray:
        """Positions of the points the filters leave on the map."""
        return np.arange(self._n) if self._filter is None else self._filter

    # ------------------------------------------------------------------ colour
    def color_by(self, what="theme", *, level: int | None = None):
        """Colour by theme (at ``level``) or by a metadata column."""
        if what == "theme":
            level = self._level if level is None else int(level)
            if not 0 <= level < len(self._levels):
                raise ValueError(f"level must be in [0, {len(self._levels)}), got {level}")
            self._level = level
            self._frame["theme"] = self._theme_cat(level)
            self.scatter.color(by="theme", map=self._theme_colors(level))
            if self._widgets is not None:
                self._widgets["themes"].options = self._theme_options()
        elif what in self._cat_cols:
            cats = list(self._categories[what].categories)
            self.scatter.color(by=what, map=dict(zip(cats, cluster_colors(len(cats)))))
        elif what in self._data.columns and _is_number(self._data[what]):
            if what not in self._frame:
                self._frame[what] = self._data[what].to_numpy(np.float64)
            self.scatter.color(by=what, map="viridis")
        else:
            raise ValueError(f"color_by takes 'theme' or a metadata column {self._cat_cols}, got {what!r}")
        self._color = what
        return self

    # ------------------------------------------------------------------ keywords of a selection
    def selection_keywords(self, indices=None, *, top_n: int = 8) -> list[str]:
        """Top keywords of a selection against the rest (class-based TF-IDF on a sample of each side).

        Every point has a fixed random rank (seeded by ``random_state``). The selection side is the
        selection's ``KEYWORD_SAMPLE`` best-ranked texts, the rest side the best-ranked texts outside it:
        both random samples, the same for the same selection, and mostly the same texts for overlapping
        selections. Each text's morphemes are analysed once and kept (the best-ranked texts of the whole
        map are analysed in the background once the widget is built), so a selection's keywords mostly
        cost no analysis at all.
        """
        from kosbert_viz._util.validation import check_positive_int
        from kosbert_viz.naming.keywords import ctfidf_table

        top_n = check_positive_int(top_n, "top_n")
        idx = self._selection_indices() if indices is None else self._check_indices(indices)
        if len(idx) == 0:
            return []
        order, rank = self._ranks()
        inside = np.zeros(self._n, bool)
        inside[idx] = True
        if len(idx) > KEYWORD_SAMPLE:
            idx = np.sort(idx[np.argpartition(rank[idx], KEYWORD_SAMPLE)[:KEYWORD_SAMPLE]])
        rest = np.zeros(0, np.int64)
        scan = min(self._n, 4 * KEYWORD_SAMPLE)
        while True:  # the best-ranked texts outside the selection
            cand = order[:scan]
            rest = cand[~inside[cand]][:KEYWORD_SAMPLE]
            if len(rest) >= KEYWORD_SAMPLE or scan >= self._n:
                break
            scan = min(self._n, scan * 4)
        rest = np.sort(rest)
        both = np.concatenate([idx, rest])
        lab = np.r_[np.ones(len(idx), np.int64), np.zeros(len(rest), np.int64)]
        pairs = self._morphemes(both)
        texts = [self._texts[i] for i in both]
        table = ctfidf_table(texts, lab, pairs, top_n, None, 1, 3)
        row = [r for r in table if r["cluster"] == 1]
        return list(row[0]["keywords"]) if row else []

    def _ranks(self):
        """(points in rank order, each point's rank): a fixed random order of the map's points."""
        ranked = self._ranked
        if ranked is None:
            order = np.random.default_rng(self._random_state).permutation(self._n)
            rank = np.empty(self._n, np.int64)
            rank[order] = np.arange(self._n)
            ranked = self._ranked = (order, rank)  # one assignment: another thread sees both or neither
        return ranked

    def _morphemes(self, indices, *, on_this_thread: bool = False) -> list:
        """(key, form) content words of the texts at ``indices``, analysed once per text and kept
        (at most ``TOKEN_CACHE_MAX`` texts; past that the kept ones are dropped and analysed again when needed)."""
        from kosbert_viz.naming.keywords import naming_inputs, tokenize

        wanted = [int(i) for i in indices]
        with self._tokens_lock:  # the warm-up thread and the kernel's thread share the store
            have = {i: self._tokens[i] for i in wanted if i in self._tokens}
        todo = list(dict.fromkeys(i for i in wanted if i not in have))
        if todo:  # analysed outside the store's lock (the analyser has its own)
            texts, _, stop, _ = naming_inputs([self._texts[i] for i in todo], 1, (), None, None)
            new = dict(zip(todo, tokenize(texts, False, stop, False, on_this_thread=on_this_thread)))
            with self._tokens_lock:
                if len(self._tokens) + len(new) > TOKEN_CACHE_MAX:
                    self._tokens.clear()
                self._tokens.update(new)
            have.update(new)
        return [have[i] for i in wanted]

    # ------------------------------------------------------------------ acting on a selection
    def make_theme(self, name: str, indices=None) -> int:
        """Turn the selection (or ``indices``) into a new theme named ``name``; returns its code.

        Acts on the map's own level (``tm.clusters.labels``): the TextMap's labels, table and
        figure are updated, so the next :func:`kv.write_report` shows the new theme.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a theme needs a non-empty name, got {name!r}")
        idx = self._selection_indices() if indices is None else self._check_indices(indices)
        if len(idx) == 0:
            raise ValueError("make_theme needs a selection: got 0 points (lasso some, or pass indices=)")
        lv = self._levels[self._primary]
        codes = lv.codes.copy()
        new = int(codes.max(initial=-1)) + 1
        codes[idx] = new
        names = {c: n for c, n in lv.names.items() if (codes == c).any()}
        names[new] = name.strip()
        touched = set(np.unique(lv.codes[idx]).tolist())  # themes that lost texts: their scores no longer hold
        stability = {c: v for c, v in lv.stability.items() if c not in touched}
        self._levels[self._primary] = _Level(codes, _unique_names(codes, names), stability)
        self._after_theme_change(new_theme=new)
        return new

    def rename(self, theme, name: str):
        """Rename a theme (code or current name) at the map's own level; the TextMap follows."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a theme needs a non-empty name, got {name!r}")
        lv = self._levels[self._primary]
        code = self._code_of(theme, self._primary)
        if code < 0:
            raise ValueError("noise cannot be renamed; make it a theme first")
        names = dict(lv.names)
        names[code] = name.strip()
        self._levels[self._primary] = _Level(lv.codes, _unique_names(lv.codes, names), dict(lv.stability))
        self._after_theme_change()
        return self

    def _after_theme_change(self, new_theme: int | None = None):
        self._theme_cats.clear()
        if self._level == self._primary:
            self._frame["theme"] = self._theme_cat(self._level)
            if self._scatter is not None and self._color == "theme":
                self._scatter.color(by="theme", map=self._theme_colors(self._level))
        if self._widgets is not None:
            self._widgets["themes"].options = self._theme_options()
            self._widgets["theme_filter"].options = self._theme_names()
        if self._tm is not None:
            self._update_textmap(new_theme)

    def _update_textmap(self, new_theme):
        import pandas as pd

        from kosbert_viz.viz.scatter import cluster_map

        tm = self._tm
        lv = self._levels[self._primary]
        res = tm.clusters
        levels = getattr(res, "levels", None)
        if levels:
            for i, arr in enumerate(levels):
                if arr is res.labels:
                    levels[i] = lv.codes
        res.labels = lv.codes
        if hasattr(res, "names") and isinstance(getattr(res, "names"), dict):
            res.names = dict(lv.names)
        if self._emb is not None and getattr(res, "centroids", None) is not None:
            from kosbert_viz.themes.tree import cluster_centroids

            res.centroids, res.cluster_ids = cluster_centroids(np.asarray(self._emb, np.float32), lv.codes)
        sizes = dict(zip(*np.unique(lv.codes[lv.codes >= 0], return_counts=True)))
        rows = []
        old = tm.table if tm.table is not None else pd.DataFrame(
            columns=["cluster", "size", "name", "keywords", "scores", "representative"])
        for r in old.to_dict("records"):
            c = int(r["cluster"])
            if c in sizes and c != new_theme:
                rows.append({**r, "size": int(sizes[c]), "name": lv.names[c]})
                if "stability" in r:  # a theme whose texts changed was not re-fitted: no score
                    rows[-1]["stability"] = lv.stability.get(c, float("nan"))
        if new_theme is not None:
            members = np.flatnonzero(lv.codes == new_theme)
            kws = self.selection_keywords(members)
            rep = self._representative(members)
            rows.append({"cluster": new_theme, "size": int(len(members)), "name": lv.names[new_theme],
                         "stability": float("nan"), "keywords": kws, "scores": [], "representative": rep})
        known = {r["cluster"] for r in rows}
        for c in sizes:  # themes the table never had (e.g. explore() given labels without a table)
            if c not in known:
                rows.append({"cluster": int(c), "size": int(sizes[c]), "name": lv.names[c],
                             "stability": lv.stability.get(c, float("nan")), "keywords": [], "scores": [],
                             "representative": self._representative(np.flatnonzero(lv.codes == c))})
        tm.table = pd.DataFrame(sorted(rows, key=lambda r: r["cluster"]), columns=list(old.columns))
        title = None
        fig = tm.figure
        if fig is not None and getattr(fig.layout, "title", None) is not None and fig.layout.title.text:
            title = html.unescape(fig.layout.title.text)
        tm.figure = cluster_map(tm.coords, labels=lv.codes, texts=tm.texts, names=lv.names, title=title)

    def _representative(self, members, k: int = 3) -> list[str]:
        if len(members) == 0:
            return []
        if self._emb is not None:
            X = np.asarray(self._emb[members], np.float32)
            X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
            order = members[np.argsort(-(X @ X.mean(axis=0)), kind="stable")]
        else:
            order = members
        out = []
        for i in order:
            if self._texts[i] not in out:
                out.append(self._texts[i])
            if len(out) >= k:
                break
        return out

    # ------------------------------------------------------------------ the widget
    def _theme_names(self) -> list[str]:
        lv = self._levels[self._level]
        return [lv.names[c] for c in sorted(lv.names)]

    def _theme_options(self):
        """The theme list: name (texts · stability; unstable themes marked, never hidden)."""
        lv = self._levels[self._level]
        sizes = dict(zip(*np.unique(lv.codes, return_counts=True)))

        def label(c):
            v = lv.stability.get(c)
            stab = "" if v is None or not np.isfinite(v) else (
                f" · {v:.2f}" + (" unstable" if v < UNSTABLE_BELOW else ""))
            return f"{lv.names[c]} ({int(sizes.get(c, 0)):,}{stab})"

        opts = [(label(c), c) for c in sorted(lv.names)]
        if -1 in sizes:
            opts.append((f"noise ({int(sizes[-1]):,})", -1))
        return opts

    def _build(self):
        _, w = _imports()
        import pandas as pd

        W = {}
        W["search"] = w.Text(placeholder="찾기 / search: 환불, 배송 …", continuous_update=False,
                             layout=w.Layout(width="260px"), description="search")
        W["semantic"] = w.Checkbox(value=False, description="semantic", indent=False,
                                   disabled=self._emb is None, layout=w.Layout(width="90px"))
        W["hits"] = w.Label("")
        color_opts = [(f"theme (level {i})" if len(self._levels) > 1 else "theme", ("theme", i))
                      for i in range(len(self._levels))]
        color_opts += [(c, (c, None)) for c in self._cat_cols]
        color_opts += [(str(c), (str(c), None)) for c in self._data.columns
                       if _is_number(self._data[c]) and str(c) not in self._cat_cols]
        W["color"] = w.Dropdown(options=color_opts, value=("theme", self._level), description="colour",
                                layout=w.Layout(width="260px"))
        W["theme_filter"] = w.SelectMultiple(options=self._theme_names(), rows=6, description="themes",
                                             layout=w.Layout(width="260px"))
        W["cat_filters"] = {c: w.SelectMultiple(options=[(str(v) or "(missing)", str(v))
                                                         for v in self._categories[c].categories], rows=4,
                                                description=c[:12], layout=w.Layout(width="260px"))
                            for c in self._cat_cols}
        date_box = []
        if self._time_col is not None:
            t = pd.to_datetime(self._data[self._time_col])
            W["date_from"] = w.DatePicker(description="from", value=t.min().date())
            W["date_to"] = w.DatePicker(description="to", value=t.max().date())
            date_box = [W["date_from"], W["date_to"]]
        W["themes"] = w.Select(options=self._theme_options(), value=None, rows=8, description="select",
                               layout=w.Layout(width="260px"))
        W["name"] = w.Text(placeholder="name", layout=w.Layout(width="150px"))
        W["make"] = w.Button(description="make this a theme", layout=w.Layout(width="150px"))
        W["rename"] = w.Button(description="rename theme", layout=w.Layout(width="110px"))
        W["message"] = w.Label("")
        W["count"] = w.HTML("<b>0</b> selected")
        W["keywords"] = w.HTML("")
        sort_opts = ["index", "theme", "length"] + self._cat_cols
        W["sort"] = w.Dropdown(options=sort_opts, value="index", description="sort", layout=w.Layout(width="200px"))
        W["ascending"] = w.ToggleButton(value=True, description="ascending", layout=w.Layout(width="90px"))
        W["table"] = w.HTML("", layout=w.Layout(max_height=f"{max(self._height - 120, 200)}px", overflow="auto"))
        self._widgets = W

        W["search"].observe(lambda ch: self._safe(self.search, ch["new"], semantic=W["semantic"].value), "value")
        W["color"].observe(lambda ch: self._safe(self.color_by, ch["new"][0], level=ch["new"][1])
                           if ch["new"][0] == "theme" else self._safe(self.color_by, ch["new"][0]), "value")
        W["themes"].observe(lambda ch: ch["new"] is not None and self._safe(self.select_theme, ch["new"]), "value")

        def apply_filters(_=None):
            dr = None
            if self._time_col is not None:
                dr = (W["date_from"].value, W["date_to"].value)
            self._safe(self.filter, themes=list(W["theme_filter"].value),
                       categories={c: list(s.value) for c, s in W["cat_filters"].items()}, date_range=dr)

        for s in [W["theme_filter"], *W["cat_filters"].values(), *date_box]:
            s.observe(apply_filters, "value")
        W["make"].on_click(lambda _: self._safe(self.make_theme, W["name"].value))
        W["rename"].on_click(lambda _: W["themes"].value is not None and self._safe(self.rename, W["themes"].value,
                                                                                  W["name"].value))
        W["sort"].observe(lambda ch: self._refresh_panel(), "value")
        W["ascending"].observe(lambda ch: self._refresh_panel(), "value")

        top = w.HBox([W["search"], W["semantic"], W["hits"]])
        left = w.VBox([top, self.scatter.show()], layout=w.Layout(flex="3 1 0%", min_width="420px"))
        controls = w.VBox([W["color"], W["themes"], w.HBox([W["name"]]), w.HBox([W["make"], W["rename"]]),
                           W["message"], w.HTML("<b>filters</b>"), W["theme_filter"],
                           *W["cat_filters"].values(), *date_box], layout=w.Layout(width="280px"))
        right = w.VBox([W["count"], W["keywords"], w.HBox([W["sort"], W["ascending"]]), W["table"]],
                       layout=w.Layout(flex="2 1 0%", min_width="320px"))
        box = w.HBox([left, controls, right], layout=w.Layout(width="100%"))
        box.add_class("kosbert-viz-explorer")
        self._box = box
        self._refresh_panel()
        self._warm_up()
        return box

    def _warm_up(self):
        """Once the widget is built: analyse the map's best-ranked texts (``KEYWORD_WARM_UP``; see
        :meth:`selection_keywords`) on a background thread at the lowest CPU priority (Linux: nice 19 for
        that thread; the texts are analysed on it, one by one), so a selection's keywords rarely wait."""
        if self._warmed:
            return
        self._warmed = True

        def warm():
            try:
                from kosbert_viz.naming.keywords import korean_analyser

                korean_analyser()  # built at normal priority: Kiwi's own worker threads must not inherit nice 19
                try:
                    import os

                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only
                except (AttributeError, OSError):
                    pass
                order, _ = self._ranks()
                head = order[:min(self._n, KEYWORD_WARM_UP)]
                for s in range(0, len(head), 50):  # small pieces: a selection's own analysis goes between them
                    self._morphemes(head[s:s + 50], on_this_thread=True)
            except Exception:  # noqa: BLE001 - only a warm-up: the real call reports its own errors
                pass

        threading.Thread(target=warm, name="kosbert_viz-keywords-warm-up", daemon=True).start()

    def _safe(self, fn, *args, **kwargs):
        """Run a UI action; show its error in the panel instead of a traceback in the log."""
        try:
            out = fn(*args, **kwargs)
            if self._widgets is not None:
                self._widgets["message"].value = ""
            return out
        except (ValueError, KeyError, TypeError) as exc:
            if self._widgets is not None:
                self._widgets["message"].value = f"error: {exc}"
            return None

    @property
    def widget(self):
        """The ipywidgets box: map, controls and the selection panel."""
        if self._box is None:
            self._build()
        return self._box

    def _on_selection(self, change):
        if self._widgets is not None:
            self._refresh_panel()

    def _refresh_panel(self):
        W = self._widgets
        idx = self._selection_indices()
        W["count"].value = f"<b>{len(idx):,}</b> selected of {self._n:,}"
        kws = self.selection_keywords(idx) if len(idx) else []
        self._keywords = kws
        W["keywords"].value = ("keywords: " + ", ".join(f"<b>{html.escape(k)}</b>" for k in kws)) if kws else ""
        W["table"].value = self._table_html(idx)

    def _table_html(self, idx) -> str:
        if not len(idx):
            return ("<p style='color:#777'>Lasso some points (the lasso button left of the map, then drag; "
                    "or press and hold, then drag) or search, to list their texts here.</p>")
        key, asc = self._widgets["sort"].value, self._widgets["ascending"].value
        n_sel = len(idx)
        order = self._table_order(idx, key, asc)
        shown = self.frame(idx[order[:TABLE_ROWS]])  # only the rows drawn: cheap at any selection size
        cols = ["index", "theme", "text"] + [c for c in self._cat_cols if c in shown.columns]
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in shown[cols].itertuples(index=False))
        more = (f"<p>showing {TABLE_ROWS:,} of {n_sel:,} (all are in <code>ex.selected</code>)</p>"
                if n_sel > TABLE_ROWS else "")
        return (f"{TABLE_CSS}<table class='kv-selection' style='border-collapse:collapse;font-size:12px'>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}")

    def _table_order(self, idx: np.ndarray, key: str, ascending: bool) -> np.ndarray:
        """Positions into ``idx`` in the table's order (stable; ties keep index order)."""
        import pandas as pd

        if key == "length":
            values = np.fromiter((len(self._texts[i]) for i in idx), np.int64, len(idx))
        elif key == "theme":  # by name, as the table shows it: rank the categories, then sort the ranks
            cat = self._theme_cat(self._primary)
            rank = pd.Series(np.asarray(cat.categories, dtype=object)).rank(method="dense").to_numpy(np.int64)
            values = rank[cat.codes[idx]]
        elif (col := next((c for c in self._data.columns if str(c) == key), _NONE)) is not _NONE:
            values = self._data[col].iloc[idx].reset_index(drop=True)
            return values.sort_values(ascending=ascending, kind="stable").index.to_numpy()
        else:  # "index": idx is sorted already
            return np.arange(len(idx)) if ascending else np.arange(len(idx))[::-1]
        return np.argsort(values if ascending else -values, kind="stable")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return (f"Explorer(n={self._n:,}, themes={len(self._levels[self._level].names)}, "
                f"levels={len(self._levels)}, selected={len(self._selection_indices()):,})")


def explore(textmap=None, *, coords=None, labels=None, texts=None, data=None, names=None, embeddings=None,
            model=None, level: int | None = None, time_column: str | None = None, height: int = 560,
            random_state: int = 0) -> Explorer:
    """An explorer widget for a map: lasso/box selection back to Python, search, filters, texts beside it.

    >>> ex = kv.explore(tm)                                   # a TextMap
    >>> ex = kv.explore(coords=tm.coords, labels=res.labels, texts=df.review, data=df[["topic"]])
    >>> ex.selected.head()

    ``labels`` may be one array or a list of arrays (theme levels, coarse to fine); ``names``
    maps label -> name (or a list of such mappings, one per level). ``data``: metadata columns
    (categories get filters and colours; ``time_column``, or the first datetime column, gets a
    date range). ``embeddings`` + ``model`` enable semantic search.
    """
    import pandas as pd

    _imports()
    primary = 0
    if textmap is not None:
        if coords is not None or labels is not None or texts is not None:
            raise TypeError("pass either a TextMap or coords=/labels=/texts=, not both")
        res = textmap.clusters
        lv_arrays = list(getattr(res, "levels", None) or [res.labels])
        primary = next((i for i, a in enumerate(lv_arrays) if a is res.labels), 0)
        table_names = ({int(c): n for c, n in zip(textmap.table["cluster"], textmap.table["name"])}
                       if textmap.table is not None and len(textmap.table) else {})
        res_names = getattr(res, "names", None)
        names_by_level = [None] * len(lv_arrays)
        if isinstance(res_names, (list, tuple)) and len(res_names) == len(lv_arrays):
            names_by_level = list(res_names)
        elif hasattr(res_names, "items"):
            names_by_level[primary] = res_names
        names_by_level[primary] = {**(names_by_level[primary] or {}), **table_names}
        if names is not None:
            names_by_level[primary] = names
        coords, texts = textmap.coords, textmap.texts
        embeddings = textmap.embeddings if embeddings is None else embeddings
        if data is None:  # the TextMap's metadata (kv.map_texts / load_map / extend keep it there)
            data = getattr(textmap, "metadata", None)
            data = getattr(textmap, "data", None) if data is None else data
    else:
        if coords is None or texts is None:
            raise TypeError("explore() needs a TextMap, or coords= and texts= (labels= optional)")
        lv_arrays = [np.zeros(len(coords), np.int64)] if labels is None else (
            list(labels) if isinstance(labels, (list, tuple)) and len(labels) and np.ndim(labels[0]) == 1
            else [labels])
        names_by_level = list(names) if isinstance(names, (list, tuple)) and names and hasattr(names[0], "items") \
            else [names] + [None] * (len(lv_arrays) - 1)
    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"coords must have shape (n, 2) or (n, 3), got {xy.shape}")
    n = len(xy)
    texts = check_texts(texts, n=n)
    if not np.isfinite(xy[:, :2]).all():
        raise ValueError("coords contain NaN or inf")
    levels = _levels_of(lv_arrays, names_by_level)
    tree = getattr(textmap.clusters, "tree", None) if textmap is not None else None
    if tree is not None and "stability" in tree and len(lv_arrays) == int(tree.level.max()) + 1:
        for lv, part in zip(levels, (tree[tree.level == i] for i in range(len(levels)))):
            lv.stability = {int(b): float(v) for b, v in zip(part.label, part.stability) if np.isfinite(v)}
    for i, lv in enumerate(levels):
        if len(lv.codes) != n:
            raise ValueError(f"labels{'[%d]' % i if len(levels) > 1 else ''} has {len(lv.codes)} entries, "
                             f"expected {n} (one per point)")
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            data = pd.DataFrame(data)
        if len(data) != n:
            raise ValueError(f"data has {len(data)} rows, expected {n} (one per text)")
        data = data.reset_index(drop=True)
        if time_column is None:
            time_column = next((str(c) for c in data.columns if pd.api.types.is_datetime64_any_dtype(data[c])), None)
        elif time_column not in data.columns:
            raise KeyError(f"time_column {time_column!r} is not a column of data; got {list(data.columns)}")
    elif time_column is not None:
        raise ValueError("time_column needs data= with that column")
    if embeddings is not None and len(embeddings) != n:
        raise ValueError(f"embeddings has {len(embeddings)} rows, expected {n} (one per text)")
    if level is not None:
        if not 0 <= int(level) < len(levels):
            raise ValueError(f"level must be in [0, {len(levels)}), got {level}")
    ex = Explorer(xy, levels, texts, data=data, embeddings=embeddings, model=model, textmap=textmap,
                  primary=primary, time_column=time_column, height=height, random_state=random_state)
    if level is not None and int(level) != primary:
        ex._level = int(level)
        ex._frame["theme"] = ex._theme_cat(ex._level)
    return ex
