"""``kv.explore()``: a JupyterLab explorer whose selections come back to Python.

>>> ex = kv.explore(tm)                       # a TextMap from kv.map_texts
>>> ex                                        # the map (WebGL), search box, filters, the texts beside it
>>> ex.selected                               # a live DataFrame: index, text, theme, metadata
>>> ex.search("환불")                          # substring (NFC): 환불 finds 환불이; semantic=True uses kv.search
>>> ex.filter(themes=[tm.table.name[0]])      # by theme name (or label); categories={"column": [...]}
>>> ex.filter()                               # no arguments: every point again
>>> ex.select([3, 14, 15])                    # by position (or a mask, or a DataFrame with ``index``)
>>> ex.make_theme("환불 문의")                  # the selection becomes a theme: ex.textmap has it

The map is jupyter-scatter (an anywidget over regl-scatterplot: plain WebGL, no WebGPU),
which stays smooth to millions of points. Only coordinates and one colour value per point go
to the browser (16 bytes a point); a text travels only when its tooltip is shown. Lasso: the
lasso button in the map's toolbar, then drag (or press and hold, then drag); the selection comes
back to Python as ``ex.selected``. (Shift + drag is JupyterLab's own cell selection, so the map
does not use it.) The map names its themes as the report does, and shows sub-theme names as you zoom
in (:mod:`kosbert_viz.explorer.names`).
Needs the ``explore`` extra: ``pip install "kosbert_viz[explore]"`` (jupyter-scatter, ipywidgets).
"""

from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.columns import (
    category_codes,
    category_columns,
)
from kosbert_viz._util.validation import normalize_text
from kosbert_viz.exceptions import LevelError
from kosbert_viz.explorer.edits import edited_map, name_new_themes
from kosbert_viz.explorer.keywords import SelectionKeywords
from kosbert_viz.explorer.levels import (
    ThemeLevel,
    textmap_levels,
    theme_categorical,
    theme_colors,
    theme_options,
    unique_names,
)
from kosbert_viz.explorer.names import map_names, name_candidates
from kosbert_viz.explorer.scatter import is_number_column, make_scatter, widget_modules
from kosbert_viz.explorer.selection import checked_indices, filter_mask
from kosbert_viz.explorer.table import EMPTY_TABLE, TABLE_ROWS, legend_html, table_html, table_order
from kosbert_viz.maps.levels import theme_names
from kosbert_viz.viz.scatter import cluster_colors

if TYPE_CHECKING:
    import ipywidgets
    import jscatter
    import pandas as pd

    from kosbert_viz.maps.textmap import TextMap

__all__ = ["Explorer"]


class Explorer:
    """The explorer widget and its state. Build it with :func:`explore`; display it in a cell.

    Attributes: ``selected`` (live DataFrame), ``hits`` (the last search), ``widget`` (the
    ipywidgets box), ``scatter`` (the ``jscatter.Scatter``).
    """

    def __init__(
        self,
        coords,
        levels: list[ThemeLevel],
        texts: list[str],
        *,
        data=None,
        embeddings=None,
        model=None,
        textmap=None,
        primary: int = 0,
        time_column: str | None = None,
        height: int = 560,
        random_state: int = 0,
    ):
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
        self._kw = SelectionKeywords(texts, random_state)
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
        self._names = None  # the map's names layer (explorer.names), made with the widget
        self._widgets = None
        self._box = None

    # ------------------------------------------------------------------ building blocks
    def _make_scatter(self):
        sc = make_scatter(self._frame, theme_colors(self._levels[self._level]), height=self._height)
        sc.widget.observe(self._on_selection, names="selection")
        return sc

    @property
    def map_labels(self) -> list[dict]:
        """The names the map may show: every theme of the level shown (largest first), then the next level's;
        each with x, y (the median of its points), text, level (0 or 1), share of the texts and font size."""
        return name_candidates(self._xy, self._levels, self._level)

    @property
    def scatter(self) -> jscatter.Scatter:
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
    def selected(self) -> pd.DataFrame:
        """The selected texts as a DataFrame (index, text, theme names, metadata), read live from the map."""
        return self.frame(self._selection_indices())

    def frame(self, indices=None) -> pd.DataFrame:
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
            cat = self._theme_cats[level] = theme_categorical(self._levels[level])
        return cat

    def _check_indices(self, indices) -> np.ndarray:
        return checked_indices(indices, self._n)

    def select(self, indices) -> Explorer:
        """Select points from Python (positions, a boolean mask, or a DataFrame with ``index``); None clears."""
        idx = np.zeros(0, np.int64) if indices is None else self._check_indices(indices)
        self.scatter.selection(idx.astype(np.uint32) if len(idx) else None)  # the observer refreshes the panel
        return self

    def theme_indices(self, theme, *, level: int | None = None) -> np.ndarray:
        """Positions of one theme (its code or its name) at ``level`` (default: the level shown)."""
        level = self._level if level is None else level
        code = self._code_of(theme, level)
        return np.flatnonzero(self._levels[level].codes == code)

    def select_theme(self, theme, *, level: int | None = None) -> Explorer:
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
    def search(self, query: str, *, semantic: bool = False, top_k: int = 200, select: bool = True) -> pd.DataFrame:
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

    def filter(self, *, themes=None, categories: dict | None = None, date_range=None) -> np.ndarray:
        """Show only the points matching every filter (no arguments: show all). Returns their positions.

        ``themes``: names or codes at the level shown (one name or a list); ``categories``: {column: [values]};
        ``date_range``: (start, end), inclusive, on the time column.
        """
        if isinstance(themes, (str, int, np.integer)):  # one theme, not its characters
            themes = [themes]
        codes = [self._code_of(t, self._level) for t in themes] if themes else None
        for col in categories or {}:
            if str(col) not in self._data.columns:
                raise KeyError(f"no metadata column {str(col)!r}; got {list(self._data.columns)}")
        if date_range is not None and any(v is not None for v in date_range) and self._time_col is None:
            raise ValueError("date_range needs a time column: explore(..., time_column='date')")
        keep, active = filter_mask(
            self._levels[self._level].codes,
            codes,
            self._data,
            {str(c): v for c, v in (categories or {}).items()},
            self._categories,
            None if self._time_col is None else self._data[self._time_col],
            date_range,
        )
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
    def color_by(self, what="theme", *, level: int | None = None) -> Explorer:
        """Colour by theme (at ``level``) or by a metadata column."""
        if what == "theme":
            level = self._level if level is None else int(level)
            if not 0 <= level < len(self._levels):
                raise LevelError(f"level must be in [0, {len(self._levels)}), got {level}")
            self._level = level
            self._frame["theme"] = self._theme_cat(level)
            self.scatter.color(by="theme", map=theme_colors(self._levels[level]))
            self._update_names()
            self._show_legend(theme_colors(self._levels[level]))
            if self._widgets is not None:
                self._widgets["themes"].options = self._theme_options()
        elif what in self._cat_cols:
            cats = list(self._categories[what].categories)
            self.scatter.color(by=what, map=dict(zip(cats, cluster_colors(len(cats)))))
            self._show_legend(dict(zip(map(str, cats), cluster_colors(len(cats)))))
        elif what in self._data.columns and is_number_column(self._data[what]):
            if what not in self._frame:
                self._frame[what] = self._data[what].to_numpy(np.float64)
            self.scatter.color(by=what, map="viridis")
            self._show_legend({})
        else:
            raise ValueError(f"color_by takes 'theme' or a metadata column {self._cat_cols}, got {what!r}")
        self._color = what
        return self

    # ------------------------------------------------------------------ keywords of a selection
    def selection_keywords(self, indices=None, *, top_n: int = 8) -> list[str]:
        """Top keywords of a selection (default: the current one) against the rest: class-based TF-IDF on
        a fixed random sample of each side (see :mod:`kosbert_viz.explorer.keywords`)."""
        idx = self._selection_indices() if indices is None else self._check_indices(indices)
        return self._kw.keywords(idx, top_n=top_n)

    # ------------------------------------------------------------------ acting on a selection
    @property
    def textmap(self) -> TextMap | None:
        """The map with this explorer's edits: a new TextMap after each :meth:`make_theme` or :meth:`rename`
        (the one given to :func:`explore` is not changed), so ``kv.write_report(ex.textmap, path)`` shows
        them. None for an explorer built from ``coords=`` and ``labels=``."""
        return self._tm

    def make_theme(self, name: str, indices=None) -> int:
        """Turn the selection (or ``indices``) into a new theme named ``name`` at the level the explorer shows
        (its colour level); returns its code.

        Built from a TextMap, this is the result edit :meth:`ClusterResult.new_theme
        <kosbert_viz.themes.result.ClusterResult.new_theme>` (every level stays nested), and
        ``ex.textmap`` becomes a new map with it: labels, table (with the theme's keywords) and figure.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a theme needs a non-empty name, got {name!r}")
        name = name.strip()
        idx = self._selection_indices() if indices is None else self._check_indices(indices)
        if len(idx) == 0:
            raise ValueError("make_theme needs a selection: got 0 points (lasso some, or pass indices=)")
        if self._tm is not None:
            res = self._tm.clusters
            edited = res.new_theme(idx, name, level=self._level if res.levels else None, X=self._emb)
            new = int(edited.params["edits"][-1]["new_theme"])
            self._apply(edited, {new: name}, new_theme=new)
        else:
            lv = self._levels[self._level]
            codes = lv.codes.copy()
            new = int(codes.max(initial=-1)) + 1
            codes[idx] = new
            names = {c: n for c, n in lv.names.items() if (codes == c).any()}
            names[new] = name
            touched = set(np.unique(lv.codes[idx]).tolist())  # themes that lost texts: their scores no longer hold
            stability = {c: v for c, v in lv.stability.items() if c not in touched}
            self._levels[self._level] = ThemeLevel(codes, unique_names(codes, names), stability)
        self._after_theme_change()
        return new

    def rename(self, theme, name: str) -> Explorer:
        """Rename a theme (code or current name) at the level the explorer shows (:meth:`ClusterResult.rename
        <kosbert_viz.themes.result.ClusterResult.rename>` for a TextMap; ``ex.textmap`` follows)."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a theme needs a non-empty name, got {name!r}")
        name = name.strip()
        code = self._code_of(theme, self._level)
        if code < 0:
            raise ValueError("noise cannot be renamed; make it a theme first")
        if self._tm is not None:
            res = self._tm.clusters
            self._apply(res.rename({code: name}, level=self._level if res.levels else None), {code: name})
        else:
            lv = self._levels[self._level]
            names = {**lv.names, code: name}
            self._levels[self._level] = ThemeLevel(lv.codes, unique_names(lv.codes, names), dict(lv.stability))
        self._after_theme_change()
        return self

    def _apply(self, clusters, changed: dict, new_theme: int | None = None) -> None:
        """``ex.textmap`` becomes the map of the edited result ``clusters``; ``changed``: {code: its new name}
        at the level edited (the level shown in the explorer)."""
        shown = self._level == self._primary  # the map's table holds the names of its own level only
        clusters = name_new_themes(clusters, self._kw.keywords)
        probe = dataclasses.replace(self._tm, clusters=clusters)
        levels, _ = textmap_levels(probe, names={**theme_names(self._tm), **changed} if shown else None)
        primary = levels[self._primary]
        self._tm = edited_map(
            self._tm,
            clusters,
            primary.names,
            stability=primary.stability,
            new_theme=new_theme if shown else None,
            keywords_of=self._kw.keywords,
        )
        self._levels = levels

    def _update_names(self) -> None:
        if self._names is not None:
            self._names.labels = self.map_labels

    def _after_theme_change(self) -> None:
        self._theme_cats.clear()
        self._update_names()
        if self._level == self._primary or self._tm is not None:
            self._frame["theme"] = self._theme_cat(self._level)
            if self._scatter is not None and self._color == "theme":
                self._scatter.color(by="theme", map=theme_colors(self._levels[self._level]))
        if self._widgets is not None:
            self._widgets["themes"].options = self._theme_options()
            self._widgets["theme_filter"].options = self._theme_names()
            if self._color == "theme":
                self._show_legend(theme_colors(self._levels[self._level]))

    # ------------------------------------------------------------------ the widget
    def _theme_names(self) -> list[str]:
        lv = self._levels[self._level]
        return [lv.names[c] for c in sorted(lv.names)]

    def _theme_options(self) -> list:
        return theme_options(self._levels[self._level])

    def _build(self):
        _, w = widget_modules()
        import pandas as pd

        W = {}
        W["search"] = w.Text(
            placeholder="찾기 / search: 환불, 배송 …",
            continuous_update=False,
            layout=w.Layout(width="260px"),
            description="search",
        )
        W["semantic"] = w.Checkbox(
            value=False, description="semantic", indent=False, disabled=self._emb is None, layout=w.Layout(width="90px")
        )
        W["hits"] = w.Label("")
        color_opts = [
            (f"theme (level {i})" if len(self._levels) > 1 else "theme", ("theme", i)) for i in range(len(self._levels))
        ]
        color_opts += [(c, (c, None)) for c in self._cat_cols]
        color_opts += [
            (str(c), (str(c), None))
            for c in self._data.columns
            if is_number_column(self._data[c]) and str(c) not in self._cat_cols
        ]
        W["color"] = w.Dropdown(
            options=color_opts, value=("theme", self._level), description="colour", layout=w.Layout(width="98%")
        )
        W["theme_filter"] = w.SelectMultiple(options=self._theme_names(), rows=6, layout=w.Layout(width="98%"))
        W["cat_filters"] = {
            c: w.SelectMultiple(
                options=[(str(v) or "(missing)", str(v)) for v in self._categories[c].categories],
                rows=4,
                layout=w.Layout(width="98%"),
            )
            for c in self._cat_cols
        }
        date_box = []
        if self._time_col is not None:
            t = pd.to_datetime(self._data[self._time_col])
            W["date_from"] = w.DatePicker(description="from", value=t.min().date())
            W["date_to"] = w.DatePicker(description="to", value=t.max().date())
            date_box = [W["date_from"], W["date_to"]]
        W["themes"] = w.Select(options=self._theme_options(), value=None, rows=8, layout=w.Layout(width="98%"))
        W["name"] = w.Text(placeholder="name", layout=w.Layout(width="98%"))
        W["make"] = w.Button(description="make this a theme", layout=w.Layout(width="auto"))
        W["rename"] = w.Button(description="rename theme", layout=w.Layout(width="auto"))
        W["legend"] = w.HTML(legend_html(theme_colors(self._levels[self._level])))
        W["message"] = w.Label("")
        W["count"] = w.HTML("<b>0</b> selected")
        W["keywords"] = w.HTML("")
        sort_opts = ["index", "theme", "length"] + self._cat_cols
        W["sort"] = w.Dropdown(options=sort_opts, value="index", description="sort", layout=w.Layout(width="200px"))
        W["ascending"] = w.ToggleButton(value=True, description="ascending", layout=w.Layout(width="90px"))
        W["table"] = w.HTML("", layout=w.Layout(max_height=f"{max(self._height - 120, 200)}px", overflow="auto"))
        self._widgets = W

        W["search"].observe(lambda ch: self._safe(self.search, ch["new"], semantic=W["semantic"].value), "value")
        W["color"].observe(
            lambda ch: (
                self._safe(self.color_by, ch["new"][0], level=ch["new"][1])
                if ch["new"][0] == "theme"
                else self._safe(self.color_by, ch["new"][0])
            ),
            "value",
        )
        W["themes"].observe(lambda ch: ch["new"] is not None and self._safe(self.select_theme, ch["new"]), "value")

        def apply_filters(_=None):
            dr = None
            if self._time_col is not None:
                dr = (W["date_from"].value, W["date_to"].value)
            self._safe(
                self.filter,
                themes=list(W["theme_filter"].value),
                categories={c: list(s.value) for c, s in W["cat_filters"].items()},
                date_range=dr,
            )

        for s in [W["theme_filter"], *W["cat_filters"].values(), *date_box]:
            s.observe(apply_filters, "value")
        W["make"].on_click(lambda _: self._safe(self.make_theme, W["name"].value))
        W["rename"].on_click(
            lambda _: W["themes"].value is not None and self._safe(self.rename, W["themes"].value, W["name"].value)
        )
        W["sort"].observe(lambda ch: self._refresh_panel(), "value")
        W["ascending"].observe(lambda ch: self._refresh_panel(), "value")

        top = w.HBox([W["search"], W["semantic"], W["hits"]])
        # the map and the legend beside it (never over the points); the panels wrap below on a narrow page
        self._names = map_names(self.scatter, self.map_labels)
        left = w.VBox([top, self.scatter.show(), self._names], layout=w.Layout(flex="3 1 440px", min_width="360px"))
        controls = w.VBox(
            [
                W["color"],
                W["legend"],
                w.HTML("<b>themes</b> (click one to select it)"),
                W["themes"],
                W["name"],
                w.HBox([W["make"], W["rename"]], layout=w.Layout(flex_flow="row wrap")),
                W["message"],
                w.HTML("<b>filters</b>: themes"),
                W["theme_filter"],
                *[x for c, f in W["cat_filters"].items() for x in (w.HTML(f"<b>{html.escape(c)}</b>"), f)],
                *date_box,
            ],
            layout=w.Layout(flex="0 0 340px", width="340px"),
        )
        right = w.VBox(
            [W["count"], W["keywords"], w.HBox([W["sort"], W["ascending"]]), W["table"]],
            layout=w.Layout(flex="2 1 320px", min_width="300px"),
        )
        box = w.HBox([left, controls, right], layout=w.Layout(width="100%", flex_flow="row wrap"))
        box.add_class("kosbert-viz-explorer")
        self._box = box
        self._refresh_panel()
        self._kw.warm_up()
        return box

    def _show_legend(self, colors: dict) -> None:
        if self._widgets is not None:
            self._widgets["legend"].value = legend_html(colors)

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
    def widget(self) -> ipywidgets.HBox:
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
            return EMPTY_TABLE
        key, asc = self._widgets["sort"].value, self._widgets["ascending"].value
        order = table_order(idx, key, asc, texts=self._texts, theme=self._theme_cat(self._primary), data=self._data)
        shown = self.frame(idx[order[:TABLE_ROWS]])  # only the rows drawn: cheap at any selection size
        return table_html(shown, len(idx), self._cat_cols)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return (
            f"Explorer(n={self._n:,}, themes={len(self._levels[self._level].names)}, "
            f"levels={len(self._levels)}, selected={len(self._selection_indices()):,})"
        )
