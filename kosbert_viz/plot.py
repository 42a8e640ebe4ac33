"""Plotly figures for Korean text maps. Each returns a ``go.Figure`` and never calls ``show()``.

>>> fig = kv.cluster_map(xy, labels=res.labels, texts=texts, names=table.set_index("cluster").name)
>>> fig.write_html("map.html")      # standalone, plotly.js embedded
"""
from __future__ import annotations

import colorsys
import html
import textwrap

import numpy as np

__all__ = ["cluster_map", "HANGUL_FONT", "cluster_colors", "hover_text"]

HANGUL_FONT = "Noto Sans KR, Malgun Gothic, Apple SD Gothic Neo, NanumGothic, sans-serif"
NOISE_COLOR = "rgba(160,160,160,0.45)"
_BASE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
         "#bcbd22", "#7f7f7f", "#393b79", "#e6550d", "#31a354", "#843c39", "#7b4173", "#3182bd",
         "#fd8d3c", "#74c476", "#ad494a", "#a55194"]


def cluster_colors(n: int) -> list[str]:
    """``n`` distinct colours: 20 hand-picked, then golden-angle hues (readable past 20)."""
    colors = list(_BASE[:n])
    for i in range(len(colors), n):
        h = (i * 0.618033988749895) % 1.0
        light = 0.38 + 0.14 * ((i // 3) % 2)
        r, g, b = colorsys.hls_to_rgb(h, light, 0.65)
        colors.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return colors


def hover_text(text: str, *, width: int = 40, max_chars: int = 300) -> str:
    """HTML-escaped, wrapped text for a Plotly hover (user text is data, never markup)."""
    text = " ".join(str(text).split())
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    lines = textwrap.wrap(text, width=width, break_long_words=True, break_on_hyphens=False) or [""]
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def cluster_map(coords, *, labels=None, texts=None, names=None, hover_data=None, title: str | None = None,
                point_size: float | None = None, wrap: int = 40, height: int = 650, width: int | None = None,
                show_names: bool = True):
    """An interactive scatter map of texts, coloured by cluster.

    Parameters
    ----------
    coords : array (n, 2)
        From :func:`kosbert_viz.reduce`.
    labels : array of int, optional
        Cluster labels; ``-1`` is noise (grey, drawn behind).
    texts : sequence of str, optional
        Shown on hover, wrapped every ``wrap`` characters and HTML-escaped.
    names : mapping or sequence, optional
        Cluster names (label -> name), placed at the cluster centres and in the legend.
    hover_data : pandas DataFrame or dict of columns, optional
        Extra columns shown on hover.

    Returns a ``plotly.graph_objects.Figure`` (Scattergl traces, one per cluster).
    """
    import plotly.graph_objects as go

    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {xy.shape}")
    n = len(xy)
    labels = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels).astype(np.int64)
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries, expected {n} (one per point)")
    if texts is not None:
        texts = list(texts)
        if len(texts) != n:
            raise ValueError(f"texts has {len(texts)} entries, expected {n} (one per point)")
    name_of = _names(names)
    extra = _hover_columns(hover_data, n)
    clusters = sorted(int(c) for c in np.unique(labels) if c >= 0)
    palette = dict(zip(clusters, cluster_colors(len(clusters))))
    size = point_size or (7 if n <= 2_000 else 5 if n <= 20_000 else 3)

    fig = go.Figure()
    order = ([-1] if (labels < 0).any() else []) + clusters  # noise first, so drawn behind
    for c in order:
        idx = np.flatnonzero(labels == c) if c >= 0 else np.flatnonzero(labels < 0)
        label = "noise" if c < 0 else name_of.get(c, f"cluster {c}")
        custom = [[hover_text(texts[i], width=wrap) if texts is not None else ""] +
                  [html.escape(str(col[i]), quote=False) for _, col in extra] for i in idx]
        template = "%{customdata[0]}"
        for j, (col_name, _) in enumerate(extra, start=1):
            template += f"<br><b>{html.escape(str(col_name))}</b>: %{{customdata[{j}]}}"
        fig.add_trace(go.Scattergl(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers",
            name=f"{label} ({len(idx)})" if c >= 0 else f"noise ({len(idx)})",
            marker=dict(size=size, color=NOISE_COLOR if c < 0 else palette[c], opacity=0.85 if c >= 0 else 0.5,
                        line=dict(width=0)),
            customdata=custom, hovertemplate=template + f"<extra>{html.escape(label)}</extra>",
            legendgroup=str(c), meta={"cluster": c, "indices": idx.tolist()},
        ))
    if show_names:
        for c in clusters:
            pts = xy[labels == c]
            cx, cy = np.median(pts, axis=0)
            fig.add_annotation(x=float(cx), y=float(cy), text=html.escape(name_of.get(c, f"cluster {c}")),
                               showarrow=False, font=dict(size=13, color="#222", family=HANGUL_FONT),
                               bgcolor="rgba(255,255,255,0.75)", borderpad=2)
    fig.update_layout(
        title=title, height=height, width=width, template="plotly_white", hovermode="closest",
        font=dict(family=HANGUL_FONT), hoverlabel=dict(font=dict(family=HANGUL_FONT), align="left"),
        legend=dict(itemsizing="constant", title="clusters"), margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x", scaleratio=1),
    )
    return fig


def _names(names) -> dict[int, str]:
    if names is None:
        return {}
    if hasattr(names, "items"):
        return {int(k): str(v) for k, v in names.items()}
    return {i: str(v) for i, v in enumerate(names)}


def _hover_columns(hover_data, n):
    if hover_data is None:
        return []
    items = hover_data.items() if hasattr(hover_data, "items") else []
    cols = []
    for name, col in items:
        col = list(col)
        if len(col) != n:
            raise ValueError(f"hover_data[{name!r}] has {len(col)} entries, expected {n}")
        cols.append((name, col))
    return cols
