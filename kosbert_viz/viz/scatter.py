"""Plotly maps of Korean texts. Each function returns a ``go.Figure`` and never calls ``show()``.

>>> xy = kv.reduce(emb)
>>> fig = kv.cluster_map(xy, labels=res.labels, texts=texts, names=dict(zip(table.cluster, table.name)))
>>> len(fig.data)                         # one trace per cluster; in Jupyter `fig` shows it
6
>>> path = kv.write_report(tm, "report.html")   # standalone, plotly.js embedded

User text is data, never markup: every text, name and hover value is HTML-escaped before it
reaches plotly.js (which renders hover and legend text as pseudo-HTML).

Above ``point_budget`` points (default 200,000) the map draws a density layer of all
points plus a stratified sample per cluster, and says so on the figure.
"""

from __future__ import annotations

import colorsys
import html
import json
import unicodedata
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.validation import check_labels, check_texts
from kosbert_viz.viz.labels import (
    axis_ranges,
    figure_labels,
    fit_aspect,
    label_candidates,
    place_labels,
    text_width,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "figure_title",
    "cluster_map",
    "HANGUL_FONT",
    "cluster_colors",
    "hover_text",
    "wrap_text",
    "figure_json",
    "stratified_sample",
    "POINT_BUDGET",
    "NOISE_COLOR",
]

#: Font stack with Hangul first, for every text in every figure (browsers pick the first installed):
#: Noto Sans KR (web / Google Fonts), Noto Sans CJK KR (Debian/Ubuntu fonts-noto-cjk),
#: Malgun Gothic (Windows), Apple SD Gothic Neo (macOS), NanumGothic (many Linux desktops).
HANGUL_FONT = (
    "Noto Sans KR, Noto Sans CJK KR, Malgun Gothic, Apple SD Gothic Neo, NanumGothic, Noto Sans CJK JP, sans-serif"
)
NOISE_COLOR = "rgba(150,150,150,0.45)"
POINT_BUDGET = 200_000
SAMPLE_SIZE = 60_000
HIGHLIGHT_COLOR = "#ffd400"
# Plotly/D3 category10 without its grey (grey means noise); later colours are chosen greedily.
_BASE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of sRGB colours in [0, 1], shape (n, 3)."""
    lin = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def _hex_to_rgb(colors) -> np.ndarray:
    return np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in colors])


_PALETTE_CACHE: list[str] = []


def cluster_colors(n: int) -> list[str]:
    """``n`` distinct colours, readable on white, never grey (grey is noise).

    The first 9 are category10 (without grey); each further colour is the candidate (a grid of
    hues x lightness x saturation) farthest in CIE Lab from every colour already chosen, from
    white and from the noise grey, so clusters stay tellable apart well past 20.
    Deterministic: the same ``n`` always gives the same list, and a longer list extends a shorter one.

    >>> cluster_colors(3)
    ['#1f77b4', '#ff7f0e', '#2ca02c']
    """
    if n <= len(_PALETTE_CACHE):
        return list(_PALETTE_CACHE[:n])
    chosen = list(_BASE)
    hues = np.arange(0, 360, 7.5) / 360
    cands = []
    for light in (0.32, 0.45, 0.58, 0.70):
        for sat in (0.55, 0.85):
            for h in hues:
                cands.append(colorsys.hls_to_rgb(h, light, sat))
    cand_rgb = np.array(cands)
    cand_lab = _srgb_to_lab(cand_rgb)
    ref = _srgb_to_lab(_hex_to_rgb(chosen + ["#ffffff", "#969696"]))
    dmin = np.min(np.linalg.norm(cand_lab[:, None] - ref[None], axis=-1), axis=1)
    while len(chosen) < n:
        i = int(np.argmax(dmin))
        r, g, b = cand_rgb[i]
        chosen.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
        dmin = np.minimum(dmin, np.linalg.norm(cand_lab - cand_lab[i], axis=1))
        dmin[i] = -1
        if len(chosen) >= len(cands):  # pragma: no cover - absurd n: cycle what we have
            chosen += chosen[: n - len(chosen)]
    _PALETTE_CACHE[:] = chosen
    return list(chosen[:n])


def _char_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def wrap_text(text: str, width: int = 60) -> list[str]:
    """Wrap by *display* width: a Hangul syllable counts 2 columns, Latin 1.

    Breaks between words (eojeol) where possible; a run longer than ``width``
    (Korean often has long unspaced runs) is split at the column limit.

    >>> wrap_text("배송이 정말 빠르고 포장도 꼼꼼했어요", width=12)
    ['배송이 정말', '빠르고', '포장도', '꼼꼼했어요']
    """
    lines: list[str] = []
    cur, cur_w = "", 0
    for word in str(text).split():
        w = sum(_char_width(c) for c in word)
        if cur and cur_w + 1 + w <= width:
            cur, cur_w = f"{cur} {word}", cur_w + 1 + w
            continue
        if cur:
            lines.append(cur)
        cur, cur_w = "", 0
        while w > width:  # split an over-long word
            piece, pw = "", 0
            for i, c in enumerate(word):
                cw = _char_width(c)
                if pw + cw > width:
                    break
                piece, pw = piece + c, pw + cw
            lines.append(piece)
            word = word[len(piece) :]
            w -= pw
        cur, cur_w = word, w
    if cur:
        lines.append(cur)
    return lines or [""]


def hover_text(text: str, *, width: int = 60, max_chars: int = 300) -> str:
    """HTML-escaped text wrapped with ``<br>`` for a Plotly hover label.

    ``width`` is in display columns (a Hangul syllable is 2); texts longer than
    ``max_chars`` characters are cut with an ellipsis. ``<``, ``>`` and ``&`` become
    entities, which plotly.js shows literally - user text never becomes markup.

    >>> hover_text("<b>배송</b> & 포장")
    '&lt;b&gt;배송&lt;/b&gt; &amp; 포장'
    """
    text = " ".join(str(text).split())
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    return "<br>".join(html.escape(line, quote=False) for line in wrap_text(text, width))


def plain_label(text) -> str:
    """Escape a label for plotly's pseudo-HTML and hovertemplate syntax."""
    return html.escape(str(text), quote=False).replace("%{", "%&#123;")


def figure_json(fig) -> str:
    """Compact figure JSON safe inside an HTML ``<script>``.

    Text stays UTF-8 (a Hangul syllable is 3 bytes, not a 6-byte ``\\uXXXX`` escape);
    numpy arrays are base64 typed arrays (Plotly >= 6); ``<`` and the JS line
    separators are escaped so no text can close the script element.

    >>> print(figure_json({"data": [{"text": ["</script>", "배송"]}]}))
    {"data":[{"text":["\\u003c/script>","배송"]}]}
    """
    from plotly.utils import PlotlyJSONEncoder

    data = fig if isinstance(fig, dict) else fig.to_plotly_json()
    default = PlotlyJSONEncoder().default
    # Not PlotlyJSONEncoder.encode: it re-dumps with ensure_ascii=True whenever the text "NaN" occurs
    # anywhere - including inside base64 typed arrays, which happens by chance on large maps.
    try:
        text = json.dumps(data, default=default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a real NaN/Infinity float: JSON has none, plotly.js reads null as a gap
        loose = json.dumps(data, default=default, ensure_ascii=False, separators=(",", ":"))
        text = json.dumps(json.loads(loose, parse_constant=lambda _: None), ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def stratified_sample(
    labels, size: int, *, min_per_cluster: int = 50, always=None, random_state: int = 0
) -> np.ndarray:
    """Sorted indices of a sample of about ``size`` points, stratified by label.

    Every label (noise included) keeps its share of ``size``, and at least
    ``min_per_cluster`` points (or all it has), so small clusters stay visible.
    Indices in ``always`` (e.g. a highlighted selection) are always kept.

    >>> labels = np.r_[np.zeros(900, int), np.ones(100, int)]
    >>> idx = stratified_sample(labels, 200, min_per_cluster=50)
    >>> int((labels[idx] == 0).sum()), int((labels[idx] == 1).sum())   # 180 by share; 50 at least
    (180, 50)
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(random_state)
    n = len(labels)
    uniq, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = np.minimum(counts, np.maximum(np.round(size * counts / max(n, 1)).astype(np.int64), min_per_cluster))
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picks = []
    for s, c, q in zip(starts, counts, quota):
        members = order[s : s + c]
        picks.append(members if q >= c else rng.choice(members, size=int(q), replace=False))
    keep = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    if always is not None and len(always):
        keep = np.union1d(keep, np.asarray(always, dtype=np.int64))
    return np.unique(keep)


def display_names(names, label_values=None) -> dict[int, str]:
    """Label code -> shown name: from ``names`` (keyed by the original labels), else the labels themselves
    when they were not integers (strings, categories)."""
    values = [] if label_values is None else list(label_values)
    code_of = {v: i for i, v in enumerate(values) if v is not None}
    out = {}
    if values and not all(isinstance(v, (int, np.integer)) for v in values if v is not None):
        out = {i: str(v) for i, v in enumerate(values)}
    if names is None:
        return out
    if hasattr(names, "items"):
        for k, v in names.items():
            if k in code_of:
                out[code_of[k]] = str(v)
            elif isinstance(k, (int, np.integer)):
                out[int(k)] = str(v)
        return out
    out.update({i: str(v) for i, v in enumerate(names)})
    return out


def _hover_columns(hover_data, n):
    if hover_data is None:
        return []
    if not hasattr(hover_data, "items"):
        raise TypeError("hover_data must be a pandas DataFrame or a dict of columns {name: values}")
    cols = []
    for name, col in hover_data.items():
        col = list(col)
        if len(col) != n:
            raise ValueError(f"hover_data[{name!r}] has {len(col)} entries, expected {n} (one per point)")
        cols.append((str(name), col))
    return cols


def _highlight_indices(highlight, n) -> np.ndarray:
    if highlight is None:
        return np.zeros(0, dtype=np.int64)
    if hasattr(highlight, "columns"):  # a DataFrame of search hits with an "index" column
        if "index" not in highlight.columns:
            raise ValueError("a highlight DataFrame needs an 'index' column of point positions")
        highlight = highlight["index"]
    arr = np.asarray(list(highlight) if not hasattr(highlight, "__array__") else highlight)
    if arr.dtype == bool:
        if len(arr) != n:
            raise ValueError(f"a boolean highlight mask needs {n} entries, got {len(arr)}")
        return np.flatnonzero(arr)
    idx = np.unique(arr.astype(np.int64))
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"highlight indices must be in [0, {n}), got {idx.min()}..{idx.max()}")
    return idx


def cluster_map(
    coords,
    *,
    labels=None,
    texts=None,
    names=None,
    hover_data=None,
    title: str | None = None,
    highlight=None,
    highlight_name: str = "selection",
    query_point=None,
    dim_others: bool | None = None,
    point_budget: int | None = POINT_BUDGET,
    sample_size: int = SAMPLE_SIZE,
    random_state: int = 0,
    point_size: float | None = None,
    wrap: int = 60,
    max_chars: int = 300,
    height: int = 650,
    width: int | None = None,
    show_names: bool = True,
    density_bins: int = 256,
    sublabels=None,
    subnames=None,
) -> go.Figure:
    """An interactive scatter map of texts, coloured by cluster.

    Parameters
    ----------
    coords : array (n, 2) or (n, 3)
        From :func:`kosbert_viz.reduce`. Three columns give a rotatable 3-D map (Scatter3d).
    labels : array of int, optional
        Cluster labels; ``-1`` is noise (grey, drawn behind the clusters).
    texts : sequence of str, optional
        Shown on hover, wrapped every ``wrap`` display columns (a Hangul syllable is 2)
        and HTML-escaped.
    names : mapping or sequence, optional
        Cluster names (label -> name), placed at the cluster medians and in the legend.
    hover_data : pandas DataFrame or dict of columns, optional
        Extra columns shown on hover (escaped too).
    title : str, optional
        Plain text (escaped).
    highlight : indices, boolean mask or DataFrame with an ``index`` column, optional
        Points to emphasise (a query's hits, a selection): drawn on top, ringed, and the
        other points are dimmed (``dim_others``, default True when highlighting).
    query_point : (x, y) or (x, y, z), optional
        Where the query itself lands (e.g. ``reduce``'s transform of the query vector),
        drawn as a star.
    point_budget : int or None
        Above this many points, draw a density layer of all points plus a stratified sample
        of ``sample_size`` per cluster, with a note on the figure. None disables it.
    random_state : int
        Seed of the sample.
    sublabels, subnames : a finer level of a theme hierarchy (one label per point) and its names
        (label -> name). Its names are drawn small wherever they fit without covering a theme's name;
        zooming in shows more of them (see :mod:`kosbert_viz.viz.labels`).

    Returns a ``plotly.graph_objects.Figure``: one Scattergl (or Scatter3d) trace per cluster,
    noise first; ``fig.layout.meta["kosbert_viz"]`` records the points drawn and sampled.
    """
    import plotly.graph_objects as go

    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] not in (2, 3):
        raise ValueError(f"coords must have shape (n, 2) or (n, 3), got {xy.shape}")
    three_d = xy.shape[1] == 3
    n = len(xy)

    if labels is None:
        labels, label_values = np.zeros(n, dtype=np.int64), np.zeros(1, dtype=object)
    else:
        labels, label_values = check_labels(labels, n=n)
    if texts is not None:
        texts = check_texts(texts, n=n)
    name_of = display_names(names, label_values)
    extra = _hover_columns(hover_data, n)
    hl = _highlight_indices(highlight, n)
    if dim_others is None:
        dim_others = len(hl) > 0 or query_point is not None
    clusters = sorted(int(c) for c in np.unique(labels) if c >= 0)
    palette = dict(zip(clusters, cluster_colors(len(clusters))))
    full_size = {c: int(s) for c, s in zip(*np.unique(np.where(labels < 0, -1, labels), return_counts=True))}

    sampled = point_budget is not None and n > point_budget
    drawn = (
        stratified_sample(np.where(labels < 0, -1, labels), sample_size, always=hl, random_state=random_state)
        if sampled
        else np.arange(n)
    )
    n_drawn = len(drawn)
    size = point_size or (7 if n_drawn <= 2_000 else 5 if n_drawn <= 20_000 else 3)
    if three_d:
        size = max(2, size - 2)

    template = "%{text}" if texts is not None else ""
    for j, (col_name, _) in enumerate(extra):
        template += f"<br><b>{plain_label(col_name)}</b>: %{{customdata[{j}]}}"
    template += "<extra>%{fullData.name}</extra>"

    def _trace(idx, name, marker, group, **kw):
        cols = dict(x=xy[idx, 0].astype(np.float32), y=xy[idx, 1].astype(np.float32))
        if three_d:
            cols["z"] = xy[idx, 2].astype(np.float32)
        if texts is not None:
            cols["text"] = [hover_text(texts[i], width=wrap, max_chars=max_chars) for i in idx]
        if extra:
            cols["customdata"] = [[plain_label(col[i]) for _, col in extra] for i in idx]
        cls = go.Scatter3d if three_d else go.Scattergl
        return cls(mode="markers", name=name, marker=marker, legendgroup=group, hovertemplate=template, **cols, **kw)

    fig = go.Figure()
    if sampled and not three_d:
        fig.add_trace(_density_layer(xy, density_bins))
    labels_drawn = labels[drawn]
    order = ([-1] if (labels < 0).any() else []) + clusters  # noise first, so it is drawn behind
    fade = 0.25 if dim_others else 1.0
    for c in order:
        idx = drawn[labels_drawn < 0] if c < 0 else drawn[labels_drawn == c]
        label = "noise" if c < 0 else name_of.get(c, f"cluster {c}")
        marker = dict(size=size, color=NOISE_COLOR if c < 0 else palette[c], opacity=(0.5 if c < 0 else 0.85) * fade)
        if not three_d:
            marker["line"] = dict(width=0)
        fig.add_trace(
            _trace(
                idx,
                f"{plain_label(label)} ({full_size.get(c, 0):,})",
                marker,
                str(c),
                meta={"cluster": c, "size": full_size.get(c, 0), "drawn": int(len(idx))},
            )
        )
        fig.data[-1]._kv_index = idx  # Python-side only (never serialised): which text each point is, for reports
    if len(hl):
        marker = dict(size=size + 5, color=HIGHLIGHT_COLOR, opacity=1.0)
        marker["line"] = dict(width=1.5, color="#111")
        fig.add_trace(
            _trace(
                hl,
                f"{plain_label(highlight_name)} ({len(hl):,})",
                marker,
                "highlight",
                meta={"highlight": True, "size": int(len(hl))},
            )
        )
        fig.data[-1]._kv_index = hl
    if query_point is not None:
        q = [float(v) for v in query_point]
        if len(q) != xy.shape[1]:
            raise ValueError(f"query_point needs {xy.shape[1]} coordinates, got {len(q)}")
        cls = go.Scatter3d if three_d else go.Scattergl
        kw = dict(z=[q[2]]) if three_d else {}
        fig.add_trace(
            cls(
                x=[q[0]],
                y=[q[1]],
                mode="markers",
                name="query",
                hovertemplate="query<extra></extra>",
                marker=dict(size=size + 12, symbol="diamond" if three_d else "star", color="#111"),
                **kw,
            )
        )

    annotations, candidates = [], []
    if show_names and three_d:
        annotations = _name_annotations(xy, labels, clusters, name_of, size=14, three_d=True)
    elif show_names:
        sub = sub_names = None
        if sublabels is not None:
            sub, sub_values = check_labels(sublabels, n=n, name="sublabels")
            sub_names = display_names(subnames, sub_values)
        candidates = label_candidates(xy, labels, name_of, sub, sub_names)
    notes = []
    if sampled:
        notes.append(
            f"Point budget: showing a stratified sample of {n_drawn:,} of {n:,} points "
            f"(each cluster in proportion, small ones kept)"
            + ("" if three_d else "; the grey layer is the density of all points")
            + "."
        )
    fig.update_layout(
        title=dict(text=plain_label(title)) if title else None,
        height=height,
        width=width,
        template="plotly_white",
        hovermode="closest",
        font=dict(family=HANGUL_FONT),
        hoverlabel=dict(font=dict(family=HANGUL_FONT), align="left"),
        legend=dict(itemsizing="constant", title=dict(text="themes"), font=dict(family=HANGUL_FONT)),
        margin=dict(l=10, r=10, t=(50 if title else 20) + (22 if notes else 0), b=10),
        meta={
            "kosbert_viz": {
                "n_points": n,
                "n_drawn": int(n_drawn),
                "sampled": bool(sampled),
                "point_budget": point_budget,
                "n_clusters": len(clusters),
                "highlighted": int(len(hl)),
                "wrap": wrap,
                "max_chars": max_chars,
                # every name the map may show, placed at the plot's real size by static/labels.js
                "labels": [{k: c[k] for k in ("x", "y", "text", "level", "font")} for c in candidates],
            }
        },
    )
    for note in notes:
        fig.add_annotation(
            text=plain_label(note),
            xref="paper",
            yref="paper",
            x=0,
            y=1.0,
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            font=dict(size=12, color="#8a4b00", family=HANGUL_FONT),
            name="point-budget-note",
        )
    if three_d:
        axis = dict(visible=False, showbackground=False)
        fig.update_layout(scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, annotations=annotations, aspectmode="data"))
    else:
        xr, yr = axis_ranges(xy)
        fig.update_layout(
            xaxis=dict(visible=False, range=list(xr)),
            yaxis=dict(visible=False, scaleanchor="x", scaleratio=1, range=list(yr)),
        )
        if candidates:
            place_names(fig, width=width or ASSUMED_WIDTH, height=height)
    return fig


def figure_title(fig) -> str | None:
    """The plain title of a figure drawn by ``cluster_map`` (its text is stored escaped), or None."""
    if fig is not None and getattr(fig.layout, "title", None) is not None and fig.layout.title.text:
        return html.unescape(fig.layout.title.text)
    return None


def place_names(fig: go.Figure, *, width: int, height: int) -> go.Figure:
    """Place a map's names (the candidates ``cluster_map`` stored in ``layout.meta``) for a figure drawn
    ``width`` x ``height`` px, replacing the names placed before; returns ``fig`` (changed in place).
    ``save_image`` calls it for the image's size; a page re-places them itself (``static/labels.js``)."""
    candidates = figure_labels(fig.layout.meta)
    xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
    if not candidates or xr is None or yr is None:
        return fig
    legend = [str(t.name) for t in fig.data if t.showlegend is not False and t.name]
    if fig.layout.showlegend is not False and legend:
        # a right margin wide enough for the legend, so plotly does not widen it: the plot area is then known
        legend_px = int(80 + 1.15 * max(text_width(nm, 12) for nm in legend))
        fig.update_layout(margin=dict(r=legend_px), legend=dict(x=1.01, xanchor="left"))
    margin = fig.layout.margin
    area_w = max(width - (margin.l or 0) - (margin.r or 0), 200)
    area_h = max(height - (margin.t or 0) - (margin.b or 0), 200)
    xr, yr = fit_aspect(tuple(xr), tuple(yr), area_w, area_h)
    keep = [a for a in fig.layout.annotations if a.name not in ("theme-name", "subtheme-name")]
    fig.layout.annotations = keep
    # the plot area's size is estimated (the legend's width): names keep EDGE_PX from its edges
    for pl in place_labels(candidates, xr, yr, width=area_w, height=area_h, inset=EDGE_PX):
        fig.add_annotation(**_name_annotation(pl))
    return fig


ASSUMED_WIDTH = 1000  # px: the stored figure's names are placed for this width; the page re-places them
EDGE_PX = 12  # px a stored figure's names keep from the estimated plot area's edges


def _name_annotation(pl: dict) -> dict:
    """A placed name (:func:`~kosbert_viz.viz.labels.place_labels`) as a plotly annotation: on a white halo,
    with a leader line to its theme's centre when it had to move."""
    ann = dict(
        x=pl["x"],
        y=pl["y"],
        text=plain_label(pl["text"]),
        font=dict(size=pl["font"], color="#1f1f1f" if pl["level"] == 0 else "#444", family=HANGUL_FONT),
        bgcolor="rgba(255,255,255,0.82)",
        borderpad=2,
        name="theme-name" if pl["level"] == 0 else "subtheme-name",
    )
    if pl["leader"]:
        ann.update(showarrow=True, ax=pl["ax"], ay=pl["ay"], axref="pixel", ayref="pixel", arrowhead=0, arrowwidth=1)
        ann.update(arrowcolor="#888", standoff=2)
    else:
        ann.update(showarrow=False, xshift=pl["ax"], yshift=-pl["ay"])
    return ann


def _name_annotations(xy, labels, ids, name_of, *, size: int, three_d: bool) -> list[dict]:
    """One name per cluster at the median of its points (large for themes, small for sub-themes)."""
    out = []
    for c in ids:
        med = np.median(xy[labels == c], axis=0)
        ann = dict(
            x=float(med[0]),
            y=float(med[1]),
            text=plain_label(name_of.get(c, f"cluster {c}")),
            showarrow=False,
            font=dict(size=size, color="#222" if size >= 12 else "#555", family=HANGUL_FONT),
            bgcolor="rgba(255,255,255,0.75)" if size >= 12 else "rgba(255,255,255,0.5)",
            borderpad=2,
            name="theme-name" if size >= 12 else "subtheme-name",
        )
        if three_d:
            ann["z"] = float(med[2])
        out.append(ann)
    return out


def _density_layer(xy, bins: int):
    """A heatmap of log point counts over the whole map (empty cells transparent)."""
    import plotly.graph_objects as go

    counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins)
    z = np.log1p(counts.T).astype(np.float32)
    z[counts.T == 0] = np.nan
    return go.Heatmap(
        x=((xe[:-1] + xe[1:]) / 2).astype(np.float32),
        y=((ye[:-1] + ye[1:]) / 2).astype(np.float32),
        z=z,
        colorscale=[[0, "rgba(200,200,210,0.35)"], [1, "rgba(40,40,70,0.85)"]],
        showscale=False,
        hoverinfo="skip",
        name="density (all points)",
        meta={"density": True, "n_points": int(len(xy))},
    )
