"""Themes over time and by category, for a map's texts.

>>> dates = pd.date_range("2024-01-01", periods=len(tm.texts), freq="D")   # one per text
>>> tot = kv.topics_over_time(tm, dates, freq="M")
>>> tot.table              # period, theme, name, count, share, period_total, example
>>> tot.ranking.head()     # emerging themes first, fading last
>>> tot.figure()           # stacked area of shares, Korean names, hover with counts and an example
>>> pc = kv.topics_per_class(tm, df["topic"])
>>> pc.distinctive         # the themes most over-represented in each class, with a significance test
>>> pc.figure()

**Growth measure** (``ranking.growth``). The periods are split in two halves in time order (the middle
period of an odd number is left out). In each half a theme's share is smoothed towards its overall
share with a prior worth ``prior`` texts: ``(count + prior * overall_share) / (texts + prior)``.
``growth`` is the natural log of the late smoothed share over the early one (0 = unchanged,
+0.69 = doubled, -0.69 = halved); the prior keeps a theme going from 1 to 3 texts from topping the
list. ``p_value`` is Fisher's exact test (two-sided) of the 2x2 table theme/other x early/late;
``q_value`` is the Benjamini-Hochberg adjustment over all themes; ``trend`` is ``emerging`` or
``fading`` when ``q_value < alpha``, else ``stable``.

**Distinctive themes per class** (``topics_per_class``): ``lift`` = a theme's share in the class /
its share overall. ``p_value`` is the one-sided Fisher exact test (hypergeometric upper tail: at
least this many texts of the theme in a class of this size, drawn at random from the corpus), and
``q_value`` the Benjamini-Hochberg adjustment over every (class, theme) cell, since many cells are
tested at once.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.columns import category_label, category_order
from kosbert_viz.exceptions import LevelError
from kosbert_viz.io.dates import parse_dates
from kosbert_viz.maps.levels import map_levels_of, theme_names
from kosbert_viz.viz.scatter import HANGUL_FONT, NOISE_COLOR, cluster_colors

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

__all__ = ["topics_over_time", "TopicsOverTime", "topics_per_class", "TopicsPerClass"]

_FREQS = {"D": "D", "W": "W", "M": "M", "Q": "Q", "Y": "Y", "A": "Y"}


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same order as ``p``."""
    p = np.asarray(p, np.float64)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def _level_labels(tm, level):
    levels, default = map_levels_of(tm)
    if level is None:
        level = default
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not -len(levels) <= level < len(levels):
        raise LevelError(f"level must be an integer between 0 and {len(levels) - 1} (coarsest first), got {level!r}")
    return np.asarray(levels[level]), int(level) % len(levels), default


def _names(tm, labels, level: int, default: int) -> dict:
    res = tm.clusters
    if level == default:
        names = theme_names(tm)
    else:
        names = {}
        names_at = getattr(res, "names_at", None)
        if callable(names_at):
            try:
                names = {int(k): str(v) for k, v in dict(names_at(level)).items()}
            except Exception:  # noqa: BLE001 - names are a nicety
                names = {}
    return {int(c): names.get(int(c), "noise" if c < 0 else f"theme {int(c)}") for c in np.unique(labels)}


def _examples(tm, labels: np.ndarray, groups: np.ndarray) -> dict:
    """(group, label) -> the text closest to its theme's mean vector, for every group present."""
    import pandas as pd

    X = tm.embeddings
    uniq, inv = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(uniq), X.shape[1]), np.float64)
    score = np.empty(len(labels), np.float32)
    step = 65_536
    for s in range(0, len(labels), step):
        B = np.asarray(X[s : s + step], np.float32)
        B = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
        np.add.at(sums, inv[s : s + step], B)
    C = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    for s in range(0, len(labels), step):
        B = np.asarray(X[s : s + step], np.float32)
        B = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
        score[s : s + step] = np.einsum("ij,ij->i", B, C[inv[s : s + step]].astype(np.float32))
    df = pd.DataFrame({"g": groups, "t": labels, "s": score})
    best = df.sort_values("s", ascending=False, kind="stable").drop_duplicates(["g", "t"])
    return {(g, int(t)): tm.texts[i] for g, t, i in zip(best["g"], best["t"], best.index)}


def _short(text: str, n: int = 80) -> str:
    text = " ".join(str(text).split())
    return html.escape(text if len(text) <= n else text[:n] + "…")


def _check_alpha(alpha) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a q-value threshold between 0 and 1 (e.g. 0.05), got {alpha!r}")


@dataclass
class TopicsOverTime:
    """Themes per period (see :func:`topics_over_time`). ``table`` is long: one row per period and theme."""

    table: object
    ranking: object
    freq: str
    level: int
    info: dict = field(default_factory=dict)

    def emerging(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` fastest-growing themes (largest ``growth``)."""
        return self.ranking.head(n)

    def fading(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` fastest-fading themes (smallest ``growth``), fastest first."""
        return self.ranking.tail(n).iloc[::-1]

    def figure(self, *, kind: str = "area", top: int | None = None, title: str | None = None) -> go.Figure:
        """Share of each theme per period: stacked area (``kind="area"``) or lines (``"lines"``).

        ``top`` keeps the ``top`` largest themes and stacks the rest as "other". Hover: name,
        period, count, share and the period's most typical text of the theme.
        """
        import plotly.graph_objects as go

        if kind not in ("area", "lines"):
            raise ValueError(f"kind must be 'area' or 'lines', got {kind!r}")
        t = self.table
        themes = list(t.groupby("theme", sort=False)["count"].sum().sort_values(ascending=False).index)
        keep = themes if top is None else themes[: int(top)]
        colors = dict(zip(sorted(c for c in themes if c >= 0), cluster_colors(sum(c >= 0 for c in themes))))
        fig = go.Figure()
        for theme in keep:
            d = t[t.theme == theme]
            name = str(d.name.iloc[0])
            custom = np.stack(
                [
                    d["count"].to_numpy(),
                    d["period_total"].to_numpy(),
                    [_short(x) if isinstance(x, str) else "" for x in d["example"]],
                ],
                axis=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=d["period"].astype(str),
                    y=100 * d["share"],
                    name=html.escape(name),
                    customdata=custom,
                    mode="lines",
                    stackgroup="one" if kind == "area" else None,
                    line=dict(color=NOISE_COLOR if theme < 0 else colors[theme], width=1.5 if kind == "lines" else 0.5),
                    hovertemplate=(
                        f"<b>{html.escape(name)}</b><br>%{{x}}: %{{customdata[0]}} of %{{customdata[1]}} texts "
                        "(%{y:.1f}%)<br>%{customdata[2]}<extra></extra>"
                    ),
                )
            )
        if top is not None and len(themes) > len(keep):
            d = (
                t[~t.theme.isin(keep)]
                .groupby("period", sort=True)
                .agg(count=("count", "sum"), period_total=("period_total", "first"))
            )
            share = np.where(d.period_total > 0, d["count"] / np.maximum(d.period_total, 1), 0.0)
            fig.add_trace(
                go.Scatter(
                    x=d.index.astype(str),
                    y=100 * share,
                    name="other",
                    mode="lines",
                    stackgroup="one" if kind == "area" else None,
                    line=dict(color="#bbbbbb"),
                    customdata=d["count"].to_numpy(),
                    hovertemplate="other<br>%{x}: %{customdata} texts (%{y:.1f}%)<extra></extra>",
                )
            )
        fig.update_layout(
            title=html.escape(title or f"Themes over time ({self.freq})"),
            font=dict(family=HANGUL_FONT),
            yaxis=dict(title="share of texts (%)", range=[0, 100] if kind == "area" else None),
            xaxis=dict(title="period"),
            hovermode="closest",
            template="plotly_white",
            height=520,
        )
        return fig


def topics_over_time(
    tm,
    timestamps,
    freq: str = "M",
    level: int | None = None,
    *,
    prior: float = 20.0,
    alpha: float = 0.05,
    date_format: str | None = None,
    tz=None,
) -> TopicsOverTime:
    """Counts and shares of each theme per period, and which themes emerge or fade.

    Parameters
    ----------
    tm : TextMap
    timestamps : one date per text: datetimes, or strings in one format for all of them (read by
        :func:`kosbert_viz.io.dates.parse_dates`: ``2024-05-31``, ``2024/05/31``, NSMC's ``24.05.31``, ISO
        8601 with a time, ...; a cell no format reads raises :class:`~kosbert_viz.exceptions.DateError`
        naming its row). Empty cells are left out, counted in ``info["n_missing"]``, with a warning
    freq : "D", "W", "M", "Q" or "Y"
    level : theme level (0 = coarsest); default the level the map shows (``tm.level``)
    prior : strength, in texts, of the smoothing of shares towards the overall share (growth measure)
    alpha : q-value below which a theme is called emerging or fading
    date_format : strptime format of string dates for formats not detected (e.g. ``"%d/%m/%Y"``)
    tz : IANA zone name (e.g. ``"Asia/Seoul"``): dates with a zone are converted to it, dates without one are
        taken to be in it, and periods follow its clock. Default: dates as written, in one zone (several
        zones: UTC; some dates with a zone and some without: a ``DateError``), see :mod:`kosbert_viz.io.dates`

    Returns a :class:`TopicsOverTime`; the growth measure is documented in :mod:`kosbert_viz.maps.trends`.

    >>> tot = kv.topics_over_time(tm, pd.date_range("2023-01-01", periods=len(tm.texts), freq="D"), freq="Q")
    >>> tot.emerging(5)[["name", "growth", "q_value"]]
    """
    import pandas as pd
    from scipy.stats import fisher_exact

    f = _FREQS.get(str(freq).upper())
    if f is None:
        raise ValueError(f"freq must be one of 'D', 'W', 'M', 'Q', 'Y', got {freq!r}")
    _check_alpha(alpha)
    if isinstance(prior, bool) or not isinstance(prior, (int, float, np.number)) or not 0 <= prior < float("inf"):
        raise ValueError(f"prior must be a number of texts >= 0, got {prior!r}")
    labels, level, default = _level_labels(tm, level)
    n = len(labels)
    if isinstance(timestamps, str) or np.ndim(timestamps) != 1 or len(timestamps) != n:
        raise ValueError(
            f"timestamps must hold one date per text ({n}), got "
            f"{'a str' if isinstance(timestamps, str) else f'{len(timestamps)} values'}"
        )
    ts = parse_dates(timestamps, date_format=date_format, tz=tz, name="timestamps")
    if ts.dt.tz is not None:
        ts = ts.dt.tz_localize(None)  # periods by the clock of the one zone the dates are in
    ok = ts.notna().to_numpy()
    if not ok.all():
        warnings.warn(
            f"{int((~ok).sum()):,} of {n:,} texts have no date (empty cells) and are left out of the themes over time",
            UserWarning,
            stacklevel=2,
        )
    period = ts.dt.to_period(f)
    names = _names(tm, labels, level, default)
    lab, per = labels[ok], period[ok].to_numpy()
    periods = pd.period_range(period[ok].min(), period[ok].max(), freq=f)
    themes = sorted(names)
    counts = pd.crosstab(pd.Categorical(per, categories=periods), pd.Categorical(lab, categories=themes), dropna=False)
    counts = counts.reindex(index=periods, columns=themes, fill_value=0)
    totals = counts.sum(axis=1)
    share = counts.div(totals.replace(0, np.nan), axis=0).fillna(0.0)
    examples = _examples(tm, labels, np.where(ok, period.astype(str).to_numpy(), ""))
    long = pd.DataFrame(
        {
            "period": np.repeat(periods, len(themes)),
            "theme": np.tile(np.asarray(themes, np.int64), len(periods)),
            "count": counts.to_numpy().ravel().astype(np.int64),
            "share": share.to_numpy().ravel(),
            "period_total": np.repeat(totals.to_numpy(), len(themes)).astype(np.int64),
        }
    )
    long.insert(2, "name", [names[t] for t in long.theme])
    long["example"] = [examples.get((str(p), int(t))) for p, t in zip(long.period, long.theme)]

    # growth: late half vs early half, smoothed towards the overall share
    m = len(periods)
    half = m // 2
    early = counts.iloc[:half].sum(axis=0).to_numpy().astype(np.float64)
    late = counts.iloc[m - half :].sum(axis=0).to_numpy().astype(np.float64)
    n_e, n_l = early.sum(), late.sum()
    overall = counts.sum(axis=0).to_numpy() / max(counts.to_numpy().sum(), 1)
    se = (early + prior * overall) / (n_e + prior)
    sl = (late + prior * overall) / (n_l + prior)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where((se > 0) & (sl > 0), np.log(sl / se), 0.0)
    pvals = np.array(
        [
            fisher_exact([[int(late[j]), int(n_l - late[j])], [int(early[j]), int(n_e - early[j])]])[1] if half else 1.0
            for j in range(len(themes))
        ]
    )
    q = _bh(pvals)
    ranking = pd.DataFrame(
        {
            "theme": np.asarray(themes, np.int64),
            "name": [names[t] for t in themes],
            "count": counts.sum(axis=0).to_numpy().astype(np.int64),
            "early_share": early / max(n_e, 1),
            "late_share": late / max(n_l, 1),
            "growth": growth,
            "p_value": pvals,
            "q_value": q,
        }
    )
    ranking["trend"] = np.where(q < alpha, np.where(growth > 0, "emerging", "fading"), "stable")
    ranking = ranking.sort_values(["growth", "theme"], ascending=[False, True], ignore_index=True)
    info = {
        "n_texts": n,
        "n_dated": int(ok.sum()),
        "n_missing": int((~ok).sum()),
        "n_periods": m,
        "early_periods": [str(p) for p in periods[:half]],
        "late_periods": [str(p) for p in periods[m - half :]],
        "prior": prior,
        "alpha": alpha,
    }
    return TopicsOverTime(long, ranking, f, level, info)


@dataclass
class TopicsPerClass:
    """Themes per class (see :func:`topics_per_class`)."""

    table: object
    distinctive: object
    level: int
    info: dict = field(default_factory=dict)

    def figure(self, *, title: str | None = None, top: int | None = 30) -> go.Figure:
        """Heatmap: classes x themes, colour = log2 lift, hover with share, count and q-value."""
        import plotly.graph_objects as go

        t = self.table
        themes = list(t.groupby("theme")["count"].sum().sort_values(ascending=False).index)
        if top is not None:
            themes = themes[: int(top)]
        t = t[t.theme.isin(themes)]
        classes = list(dict.fromkeys(t["class"]))
        piv = {
            c: t.pivot_table(index="class", columns="theme", values=c, aggfunc="first", sort=False).reindex(
                index=classes, columns=themes
            )
            for c in ("lift", "share", "count", "q_value")
        }
        name_of = dict(zip(t.theme, t.name))
        z = np.log2(np.clip(piv["lift"].to_numpy(np.float64), 1 / 16, 16))
        custom = np.stack(
            [
                100 * piv["share"].to_numpy(np.float64),
                piv["count"].to_numpy(np.float64),
                piv["q_value"].to_numpy(np.float64),
                piv["lift"].to_numpy(np.float64),
            ],
            axis=-1,
        )
        fig = go.Figure(
            go.Heatmap(
                z=z,
                x=[html.escape(name_of[th]) for th in themes],
                y=[html.escape(str(c)) for c in classes],
                customdata=custom,
                colorscale="RdBu_r",
                zmid=0,
                colorbar=dict(title="log2 lift"),
                hovertemplate="%{y} · <b>%{x}</b><br>share %{customdata[0]:.1f}% (%{customdata[1]:.0f} texts)<br>"
                "lift %{customdata[3]:.2f}, q %{customdata[2]:.2g}<extra></extra>",
            )
        )
        fig.update_layout(
            title=html.escape(title or "Themes per class (lift over the overall share)"),
            font=dict(family=HANGUL_FONT),
            template="plotly_white",
            height=max(320, 40 * len(classes) + 200),
            xaxis=dict(tickangle=-35),
        )
        return fig


def topics_per_class(
    tm, classes, level: int | None = None, *, alpha: float = 0.05, top_themes: int = 5
) -> TopicsPerClass:
    """Share of each theme per class and the themes most distinctive of each class.

    ``classes``: one value per text (product, channel, rating ...), each read as the report shows it
    (1, 1.0 and "1" are one class, as in an Excel column mixing numbers and text); missing and empty
    cells are left out and counted in ``info["n_missing"]``.
    ``distinctive`` keeps, per class, the ``top_themes`` themes with lift > 1 and q-value < ``alpha``
    (one-sided Fisher exact test, Benjamini-Hochberg over all cells; see :mod:`kosbert_viz.maps.trends`).

    >>> pc = kv.topics_per_class(tm, df["topic"])
    >>> pc.distinctive[["class", "name", "share", "lift", "q_value"]]
    """
    import pandas as pd
    from scipy.stats import hypergeom

    labels, level, default = _level_labels(tm, level)
    n = len(labels)
    _check_alpha(alpha)
    if isinstance(classes, str):
        raise TypeError(
            f"classes must hold one value per text ({n}), got a single str {classes[:40]!r}: pass the column"
        )
    if np.ndim(classes) != 1 or len(classes) != n:
        got = f"{len(classes)} values" if np.ndim(classes) == 1 else f"shape {np.shape(classes)}"
        raise ValueError(f"classes must hold one value per text ({n}), got {got}")
    # each class as the report writes it (1, 1.0 and "1" are one class, as in an Excel column mixing them);
    # missing and empty cells are left out (counted in info["n_missing"])
    cls = pd.Series([category_label(v).strip() for v in np.asarray(classes, dtype=object)], dtype=object)
    ok = (cls != "").to_numpy()
    if not ok.any():
        raise ValueError(f"classes has no value (all {n} cells are empty or missing)")
    names = _names(tm, labels, level, default)
    themes = sorted(names)
    order = [c for c in category_order(cls[ok].tolist()) if c != ""]
    counts = pd.crosstab(
        pd.Categorical(cls[ok].to_numpy(), categories=order),
        pd.Categorical(labels[ok], categories=themes),
        dropna=False,
    )
    counts = counts.reindex(columns=themes, fill_value=0)
    C = counts.to_numpy().astype(np.int64)
    N = int(C.sum())
    class_tot = C.sum(1)
    theme_tot = C.sum(0)
    share = C / np.maximum(class_tot[:, None], 1)
    overall = theme_tot / max(N, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(overall > 0, share / overall, np.nan)
    p = hypergeom.sf(C - 1, N, theme_tot[None, :], class_tot[:, None])
    p = np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)
    q = _bh(p.ravel()).reshape(p.shape)
    k = len(themes)
    long = pd.DataFrame(
        {
            "class": np.repeat(counts.index.to_numpy(), k),
            "theme": np.tile(np.asarray(themes, np.int64), len(C)),
            "count": C.ravel(),
            "class_total": np.repeat(class_tot, k),
            "share": share.ravel(),
            "overall_share": np.tile(overall, len(C)),
            "lift": lift.ravel(),
            "p_value": p.ravel(),
            "q_value": q.ravel(),
        }
    )
    long.insert(2, "name", [names[t] for t in long.theme])
    dist = long[(long.lift > 1) & (long.q_value < alpha)]
    dist = (
        dist.sort_values(["class", "lift"], ascending=[True, False], kind="stable")
        .groupby("class", sort=False)
        .head(top_themes)
        .reset_index(drop=True)
    )
    info = {
        "n_texts": n,
        "n_classified": int(ok.sum()),
        "n_missing": int((~ok).sum()),
        "alpha": alpha,
        "tests": int(p.size),
    }
    return TopicsPerClass(long, dist, level, info)
