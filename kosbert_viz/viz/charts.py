"""Companion charts for a text map: cluster sizes, keywords, silhouette / k sweeps, similarity.

Every function takes data first, keyword options after, returns a ``go.Figure`` and never
calls ``show()``. Colours follow :func:`kosbert_viz.viz.scatter.cluster_colors`, so a cluster has
the same colour here as on the map; all text is HTML-escaped and set in the Hangul font stack.

>>> res = kv.cluster(emb, n_clusters=6)
>>> table = kv.keywords(texts, res.labels)
>>> figs = [kv.cluster_sizes(table), kv.keyword_chart(table), kv.silhouette_chart(emb, res.labels),
...         kv.similarity_heatmap(emb[:20], texts[:20], labels=res.labels[:20])]
>>> [type(f).__name__ for f in figs]
['Figure', 'Figure', 'Figure', 'Figure']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.viz.scatter import (
    HANGUL_FONT,
    NOISE_COLOR,
    cluster_colors,
    display_names,
    hover_text,
    plain_label,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "cluster_sizes",
    "keyword_chart",
    "k_sweep_chart",
    "silhouette_chart",
    "similarity_heatmap",
    "hierarchy_chart",
]


def _layout(fig, title, height, **kw):
    fig.update_layout(
        title=dict(text=plain_label(title)) if title else None,
        template="plotly_white",
        height=height,
        font=dict(family=HANGUL_FONT),
        hoverlabel=dict(font=dict(family=HANGUL_FONT), align="left"),
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        **kw,
    )
    return fig


def _short(text, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _labels_of(data):
    """Labels from a ClusterResult, a keywords() table or an array."""
    if hasattr(data, "labels"):
        return np.asarray(data.labels)
    return np.asarray(data)


def cluster_sizes(
    data, *, names=None, title: str | None = "Cluster sizes", height: int | None = None, sort: bool = True
) -> go.Figure:
    """Horizontal bars of points per cluster (noise in grey, last).

    ``data`` is a :class:`~kosbert_viz.ClusterResult`, an array of labels, or the table from
    :func:`kosbert_viz.keywords` (its ``name`` and ``size`` columns are used).

    >>> fig = kv.cluster_sizes(res.labels)              # or the keywords table, for names
    >>> len(fig.data[0].y)                              # one bar per cluster
    6
    """
    import plotly.graph_objects as go

    if hasattr(data, "columns"):
        sizes = {int(c): int(s) for c, s in zip(data["cluster"], data["size"])}
        if names is None and "name" in data.columns:
            names = dict(zip(data["cluster"], data["name"]))
    else:
        labels = _labels_of(data).astype(np.int64)
        uniq, counts = np.unique(np.where(labels < 0, -1, labels), return_counts=True)
        sizes = {int(c): int(k) for c, k in zip(uniq, counts)}
    name_of = display_names(names)
    clusters = sorted(c for c in sizes if c >= 0)
    palette = dict(zip(clusters, cluster_colors(len(clusters))))
    order = sorted(clusters, key=lambda c: -sizes[c]) if sort else clusters
    if -1 in sizes:
        order.append(-1)
    ticks = [plain_label(_short(name_of.get(c, f"cluster {c}") if c >= 0 else "noise", 28)) for c in order]
    total = sum(sizes.values())
    fig = go.Figure(
        go.Bar(
            y=list(range(len(order))),
            x=[sizes[c] for c in order],
            orientation="h",
            marker=dict(color=[palette.get(c, NOISE_COLOR) for c in order]),
            text=[f"{sizes[c]:,} ({100 * sizes[c] / max(total, 1):.1f}%)" for c in order],
            textposition="auto",
            customdata=[[t] for t in ticks],
            hovertemplate="%{customdata[0]}: %{x:,}<extra></extra>",
            meta={"clusters": order},
        )
    )
    _layout(fig, title, height or max(220, 26 * len(order) + 80))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(order))), ticktext=ticks, autorange="reversed")
    fig.update_xaxes(title="texts")
    return fig


def keyword_chart(
    table,
    *,
    clusters=None,
    top_n: int = 8,
    cols: int = 3,
    title: str | None = "Keywords per cluster",
    height: int | None = None,
) -> go.Figure:
    """One small bar panel per cluster: its top keywords by class-based TF-IDF.

    ``table`` is the DataFrame from :func:`kosbert_viz.keywords` (``cluster``, ``name``,
    ``keywords``, ``scores``); ``clusters`` limits the panels to these labels.

    >>> fig = kv.keyword_chart(table, clusters=[0, 1], top_n=5)   # table = kv.keywords(texts, labels)
    >>> len(fig.data)                                   # one panel per cluster
    2
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows_df = table if clusters is None else table[table["cluster"].isin(list(clusters))]
    all_clusters = sorted(int(c) for c in table["cluster"])
    palette = dict(zip(all_clusters, cluster_colors(len(all_clusters))))
    items = list(rows_df.itertuples(index=False))
    if not items:
        raise ValueError("keyword_chart: the table has no clusters to show")
    cols = max(1, min(cols, len(items)))
    nrows = -(-len(items) // cols)
    fig = make_subplots(
        rows=nrows,
        cols=cols,
        horizontal_spacing=0.12,
        vertical_spacing=min(0.12, 0.5 / nrows),
        subplot_titles=[plain_label(_short(f"[{r.cluster}] {r.name}", 32)) for r in items],
    )
    for k, r in enumerate(items):
        words = list(r.keywords)[:top_n]
        scores = list(getattr(r, "scores", [1.0] * len(words)))[:top_n]
        fig.add_trace(
            go.Bar(
                x=scores[::-1],
                y=[plain_label(w) for w in words[::-1]],
                orientation="h",
                marker_color=palette[int(r.cluster)],
                showlegend=False,
                hovertemplate="%{y}: %{x:.4f}<extra></extra>",
                name=plain_label(r.name),
                meta={"cluster": int(r.cluster)},
            ),
            row=k // cols + 1,
            col=k % cols + 1,
        )
    _layout(fig, title, height or 60 + 230 * nrows)
    fig.update_xaxes(showticklabels=False)
    fig.update_annotations(font=dict(family=HANGUL_FONT, size=13))
    return fig


def k_sweep_chart(
    scores, *, best=None, metric="silhouette", title: str | None = "Choosing k", height: int = 360
) -> go.Figure:
    """Scores per number of clusters (or HDBSCAN min_cluster_size), with the chosen value marked.

    ``scores`` is one of:

    * a :class:`~kosbert_viz.themes.cluster.Sweep` from :func:`kosbert_viz.sweep` (``metric`` may be a list,
      e.g. ``["silhouette", "nmi"]``, for one line each);
    * a :class:`~kosbert_viz.ClusterResult` from automatic k (its silhouette per k);
    * a ``{k: score}`` dict or a pandas Series indexed by k.

    >>> fig = kv.k_sweep_chart({4: 0.05, 5: 0.08, 6: 0.07}, best=5)
    >>> fig = kv.k_sweep_chart(kv.sweep(emb, "kmeans", values=range(4, 8), truth=df.topic),
    ...                        metric=["silhouette", "nmi"])
    """
    import plotly.graph_objects as go

    x_title = "k (number of clusters)"
    series: dict[str, list[tuple[float, float]]] = {}
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if hasattr(scores, "table") and hasattr(scores, "param"):  # a Sweep
        table = scores.table
        x_title = "k (number of clusters)" if scores.param == "n_clusters" else str(scores.param)
        for m in metrics:
            if m not in table.columns:
                raise ValueError(f"the sweep has no {m!r} column; it has {list(table.columns)}")
            t = table.dropna(subset=[m])
            series[m] = [(float(a), float(b)) for a, b in zip(t[scores.param], t[m])]
        if best is None and hasattr(scores, "best"):
            best = scores.best(metrics[0])
    elif hasattr(scores, "labels"):  # a ClusterResult
        table = getattr(scores, "silhouette_by_k", None) or (scores.scores or {}).get("silhouette_by_k")
        if not table:
            raise ValueError("this ClusterResult has no k sweep (pass n_clusters=None to kv.cluster for one)")
        best = best if best is not None else scores.params.get("n_clusters")
        series[metrics[0]] = sorted((float(k), float(v)) for k, v in dict(table).items())
    else:
        series[metrics[0]] = sorted((float(k), float(v)) for k, v in dict(scores).items())
    if not any(series.values()):
        raise ValueError("k_sweep_chart needs at least one (k, score) pair")
    palette = cluster_colors(len(series))
    fig = go.Figure()
    for color, (m, items) in zip(palette, series.items()):
        ks, vals = zip(*items)
        fig.add_trace(
            go.Scatter(
                x=list(ks),
                y=list(vals),
                mode="lines+markers",
                name=plain_label(m),
                line=dict(color=color),
                hovertemplate="%{x}: %{y:.4f}<extra>%{fullData.name}</extra>",
            )
        )
    first_ks, first_vals = zip(*next(iter(series.values())))
    if best is None:
        best = first_ks[int(np.argmax(first_vals))]
    if float(best) in first_ks:
        y = first_vals[first_ks.index(float(best))]
        fig.add_trace(
            go.Scatter(
                x=[best],
                y=[y],
                mode="markers",
                name=f"chosen {best:g}",
                marker=dict(size=14, color="#d62728", symbol="star"),
                hovertemplate="chosen %{x}: %{y:.4f}<extra></extra>",
            )
        )
    _layout(fig, title, height, showlegend=True)
    fig.update_xaxes(title=x_title, dtick=1 if len(first_ks) <= 30 else None)
    fig.update_yaxes(title=plain_label(", ".join(series)))
    return fig


def silhouette_chart(
    X,
    labels,
    *,
    metric: str = "cosine",
    names=None,
    sample_size: int = 5000,
    random_state: int = 0,
    title: str | None = "Silhouette per cluster",
    height: int = 480,
) -> go.Figure:
    """The classic silhouette plot: each point's silhouette value, sorted within its cluster.

    Noise (``-1``) is left out. Above ``sample_size`` points a random sample is scored.
    The dashed line is the mean silhouette.

    >>> fig = kv.silhouette_chart(emb, res.labels)
    """
    import plotly.graph_objects as go
    from sklearn.metrics import silhouette_samples

    X = np.asarray(X)
    labels = np.asarray(labels).astype(np.int64)
    keep = np.flatnonzero(labels >= 0)
    if len(keep) > sample_size:
        keep = np.sort(np.random.default_rng(random_state).choice(keep, sample_size, replace=False))
    lab = labels[keep]
    if len(np.unique(lab)) < 2:
        raise ValueError("silhouette_chart needs at least two clusters")
    s = silhouette_samples(X[keep], lab, metric=metric)
    name_of = display_names(names)
    clusters = sorted(int(c) for c in np.unique(labels[labels >= 0]))
    palette = dict(zip(clusters, cluster_colors(len(clusters))))
    fig = go.Figure()
    y0 = 0
    for c in clusters:
        vals = np.sort(s[lab == c])[::-1]
        if not len(vals):
            continue
        y = np.arange(y0, y0 + len(vals))
        label = plain_label(name_of.get(c, f"cluster {c}"))
        fig.add_trace(
            go.Bar(
                x=vals.astype(np.float32),
                y=y,
                orientation="h",
                marker=dict(color=palette[c], line=dict(width=0)),
                width=1.0,
                name=f"{label} ({vals.mean():.2f})",
                hovertemplate="%{x:.3f}<extra>%{fullData.name}</extra>",
                meta={"cluster": c},
            )
        )
        y0 += len(vals) + max(2, len(s) // 100)
    mean = float(s.mean())
    fig.add_vline(x=mean, line=dict(dash="dash", color="#444"), annotation_text=f"mean {mean:.3f}")
    _layout(fig, title, height, bargap=0, showlegend=True)
    fig.update_yaxes(visible=False)
    fig.update_xaxes(title=f"silhouette ({plain_label(metric)})", range=[min(-0.1, float(s.min())), 1])
    fig.update_layout(meta={"mean_silhouette": mean})
    return fig


def similarity_heatmap(
    embeddings,
    texts=None,
    *,
    labels=None,
    max_items: int = 80,
    label_chars: int = 14,
    title: str | None = "Cosine similarity",
    height: int | None = None,
) -> go.Figure:
    """Pairwise cosine similarity of a small selection (at most ``max_items`` texts).

    Axis labels are the texts shortened to ``label_chars`` characters (escaped); hovering a
    cell shows both texts in full. Rows are ordered by ``labels`` when given.

    >>> fig = kv.similarity_heatmap(emb[:30], texts[:30], labels=res.labels[:30])
    >>> fig.data[0].z.shape
    (30, 30)
    """
    import plotly.graph_objects as go

    X = np.asarray(embeddings, dtype=np.float64)
    n = len(X)
    if n > max_items:
        raise ValueError(
            f"similarity_heatmap is for a small selection: got {n} texts, max_items={max_items} "
            "(pick texts first, e.g. a cluster's representatives or search hits)"
        )
    texts = [f"#{i}" for i in range(n)] if texts is None else [str(t) for t in texts]
    if len(texts) != n:
        raise ValueError(f"texts has {len(texts)} entries, expected {n}")
    order = np.arange(n) if labels is None else np.argsort(np.asarray(labels), kind="stable")
    X = X[order] / np.maximum(np.linalg.norm(X[order], axis=1, keepdims=True), 1e-12)
    sim = (X @ X.T).astype(np.float32)
    t = [texts[i] for i in order]
    ticks = [plain_label(f"{k}. {_short(x, label_chars)}") for k, x in enumerate(t)]
    wrapped = [hover_text(x, width=40, max_chars=160) for x in t]
    hover = [[f"{wrapped[i]}<br>↔<br>{wrapped[j]}" for j in range(n)] for i in range(n)]
    fig = go.Figure(
        go.Heatmap(
            z=sim,
            x=list(range(n)),
            y=list(range(n)),
            zmin=-1 if sim.min() < 0 else 0,
            zmax=1,
            colorscale="Viridis",
            text=hover,
            colorbar=dict(title="cos"),
            hovertemplate="%{text}<br>cos = %{z:.3f}<extra></extra>",
            meta={"order": order.tolist()},
        )
    )
    side = height or max(360, min(900, 16 * n + 160))
    _layout(fig, title, side)
    axis = dict(tickmode="array", tickvals=list(range(n)), ticktext=ticks, tickfont=dict(size=10))
    fig.update_xaxes(**axis, tickangle=-60)
    fig.update_yaxes(**axis, autorange="reversed", scaleanchor="x")
    return fig


def hierarchy_chart(
    data,
    *,
    kind: str = "sunburst",
    max_depth: int | None = None,
    title: str | None = "Themes",
    height: int | None = 600,
) -> go.Figure:
    """The theme tree as a sunburst, treemap or icicle: names and sizes at every level, drill down by click.

    ``data`` is a hierarchy :class:`~kosbert_viz.ClusterResult` (its ``tree`` and ``names``) or the table
    from :func:`kosbert_viz.hierarchy_names` (node, parent, size, name[, keywords]). Top-level themes
    take the map's colours (:func:`kosbert_viz.viz.scatter.cluster_colors` by label); sub-themes their parent's.

    >>> h = kv.cluster(emb, method="hierarchy")
    >>> fig = kv.hierarchy_chart(h)                       # names "theme 0", ... until named:
    >>> fig = kv.hierarchy_chart(kv.hierarchy_names(texts, h), kind="treemap")
    >>> fig.data[0].type
    'treemap'
    """
    import plotly.graph_objects as go

    if kind not in ("sunburst", "treemap", "icicle"):
        raise ValueError(f"kind must be 'sunburst', 'treemap' or 'icicle', got {kind!r}")
    table = data.tree if hasattr(data, "tree") else data
    if table is None or not hasattr(table, "columns") or not {"node", "parent", "size"} <= set(table.columns):
        raise ValueError(
            "hierarchy_chart needs a hierarchy result (kv.cluster(X, method='hierarchy')) or the "
            f"table of kv.hierarchy_names, got {type(data).__name__}"
        )
    names = getattr(data, "names", None) or {}
    level = table["level"] if "level" in table.columns else None
    label = table["label"] if "label" in table.columns else table["node"]
    top = table[table["parent"] < 0]
    palette = dict(
        zip(sorted(int(b) for b in (top["label"] if "label" in top.columns else top["node"])), cluster_colors(len(top)))
    )
    colour = {}
    ids, parents, labels, values, colours, hovers = [], [], [], [], [], []
    for i, row in enumerate(table.itertuples(index=False)):
        nd, par = int(row.node), int(row.parent)
        b = int(label.iloc[i])
        nm = names.get(nd) if names else None
        if nm is None and "name" in table.columns and isinstance(row.name, str):
            nm = row.name
        nm = nm or f"theme {b}"
        colour[nd] = palette.get(b, "#888") if par < 0 else colour.get(par, "#888")
        ids.append(str(nd))
        parents.append("" if par < 0 else str(par))
        labels.append(plain_label(_short(nm, 24)))
        values.append(int(row.size))
        colours.append(colour[nd])
        kw = ", ".join(getattr(row, "keywords", None) or []) if "keywords" in table.columns else ""
        lv = f"level {int(level.iloc[i])} · " if level is not None else ""
        hovers.append("<br>".join(plain_label(x) for x in (nm, f"{lv}{int(row.size):,} texts", kw) if x))
    trace = {"sunburst": go.Sunburst, "treemap": go.Treemap, "icicle": go.Icicle}[kind](
        ids=ids,
        parents=parents,
        labels=labels,
        values=values,
        branchvalues="total",
        marker=dict(colors=colours),
        hovertext=hovers,
        hoverinfo="text",
        maxdepth=max_depth or -1,
    )
    fig = go.Figure(trace)
    return _layout(fig, title, height)
