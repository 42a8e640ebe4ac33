"""Standalone, offline HTML reports: the map, a cluster table and a manifest.

>>> tm = kv.map_texts(texts)
>>> kv.write_report(tm, "report.html")     # one file, plotly.js embedded: works offline

The file makes no network request: plotly.js, the figure, the texts and the per-point data are
embedded gzip-compressed (base85 text in ``<script>`` data blocks, opened by the browser's own
``DecompressionStream``; see :mod:`kosbert_viz.report.ui`), and a Content-Security-Policy forbids
fetching anything. 100k reviews with plotly.js: about 6.6 MB. Every user text (map hover,
cluster names, keywords, representative texts) is HTML-escaped.

The page is ``static/report.html`` filled by ``string.Template.substitute`` with HTML-escaped fragments,
its scripts and style sheet the files of ``static/``, inlined as they are. Its CSP: no network at all;
inline scripts and styles only; ``'unsafe-eval'`` because plotly.js's WebGL layer (regl) compiles shader
wrappers with ``new Function()`` and plotly.js itself arrives compressed and runs through an indirect eval
(``static/loader.js``); ``worker-src blob:`` for the data Worker. Escaping, not the CSP, is what keeps user
text from becoming markup; the CSP is the guarantee that the report never phones home.
"""

from __future__ import annotations

import html
import json
import math
import warnings
from pathlib import Path

from kosbert_viz._util.atomic import write_atomic
from kosbert_viz._util.extras import package_version
from kosbert_viz._util.validation import SURROGATE, normalize_text
from kosbert_viz.maps.trends import TopicsOverTime, TopicsPerClass
from kosbert_viz.report.labels import LABELS, check_language, report_language
from kosbert_viz.report.summary import written_summary
from kosbert_viz.report.ui import (
    config_island,
    json_island,
    page_template,
    plotly_block,
    report_payload,
    static_text,
)
from kosbert_viz.themes.stability import UNSTABLE_BELOW
from kosbert_viz.viz.charts import hierarchy_chart
from kosbert_viz.viz.labels import label_script
from kosbert_viz.viz.scatter import cluster_colors, figure_json, figure_title

__all__ = ["write_report", "write_html", "figure_json", "report_html"]


def _e(value) -> str:
    return html.escape(normalize_text(str(value)), quote=True)


def _stability_note(L: dict) -> str:
    return f"<p class='stability-note'><small>{L['stability_note']}</small></p>"


def _stability_cell(value, L: dict) -> str:
    """A table cell with a theme's stability (0-1); below UNSTABLE_BELOW it is marked unstable, never hidden."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v):
        return "<td class='num stability' data-stability=''>&ndash;</td>"
    if v < UNSTABLE_BELOW:
        return (
            f"<td class='num stability unstable' data-stability='{v:.3f}' title='{_e(L['unstable_title'])}'>"
            f"{v:.2f}<br><small>{_e(L['unstable'])}</small></td>"
        )
    return f"<td class='num stability' data-stability='{v:.3f}'>{v:.2f}</td>"


def _table_html(table, L: dict) -> str:
    if table is None or len(table) == 0:
        return f"<p>{_e(L['no_themes'])}</p>"
    clusters = sorted(int(c) for c in table["cluster"])
    palette = dict(zip(clusters, cluster_colors(len(clusters))))
    total = int(sum(int(s) for s in table["size"])) or 1
    has_stability = "stability" in table
    rows = []
    for r in table.itertuples(index=False):
        reps = "".join(f"<li>{_e(t)}</li>" for t in r.representative)
        kws = ", ".join(map(str, r.keywords))
        rows.append(
            f"<tr data-cluster='{int(r.cluster)}'><td><span class='sw' style='background:{palette[int(r.cluster)]}'>"
            f"</span>{int(r.cluster)}</td><td class='name'>{_e(r.name)}</td>"
            f"<td class='num'>{int(r.size):,}<br><small>{100 * int(r.size) / total:.1f}%</small></td>"
            + (_stability_cell(r.stability, L) if has_stability else "")
            + f"<td class='kw'>{_e(kws)}</td><td><ul>{reps}</ul></td></tr>"
        )
    return (
        f"<table class='clusters' id='cluster-table'><thead><tr><th>#</th><th>{L['h_name']}</th><th>{L['h_size']}</th>"
        + (f"<th>{L['h_stability']}</th>" if has_stability else "")
        + f"<th>{L['h_keywords']}</th><th>{L['h_representative']}</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + (_stability_note(L) if has_stability else "")
    )


def report_html(
    figure,
    *,
    title: str,
    table=None,
    manifest: dict | None = None,
    summary: str = "",
    notice: str | None = None,
    texts=None,
    coords=None,
    labels=None,
    names=None,
    data=None,
    themes=None,
    tree_figure=None,
    level: int | None = None,
    trends=None,
    language: str = "en",
) -> str:
    """The report as one HTML string (see :func:`write_report`). ``summary`` is trusted HTML.

    With ``texts`` and ``coords`` (one per point, all points, also past the point budget) the page
    gets a search box, theme and category filters (``data``: metadata columns), a lasso/box
    selection that fills a table of texts, and a CSV download of it. plotly.js, the figure and the texts
    are embedded gzip + base85 and opened by the browser's ``DecompressionStream``. ``trends``: results of
    :func:`~kosbert_viz.topics_over_time` / :func:`~kosbert_viz.topics_per_class`, one section each.
    """
    L = LABELS[language]
    manifest = manifest or {}
    meta = figure.layout.meta if hasattr(figure, "layout") else None
    meta = (meta.get("kosbert_viz") or {}) if isinstance(meta, dict) else {}
    notes = []
    if notice:
        notes.append(f"<div class='notice' id='notice'>{_e(notice)}</div>")
    if meta.get("sampled"):
        budget = L["budget"].format(
            n_drawn=meta["n_drawn"], n_points=meta["n_points"], point_budget=meta["point_budget"]
        )
        notes.append(f"<p class='budget' id='budget-note'>{budget}</p>")
    height = int(getattr(figure.layout, "height", None) or 680)
    payload = report_payload(figure, texts=texts, coords=coords, labels=labels, names=names, data=data)
    sections = [_trend_section(t, i, L) for i, t in enumerate(trends or [])]
    points = len(texts) if texts is not None and coords is not None else 0
    manifest_text = json.dumps(manifest, ensure_ascii=False, indent=2, default=str)
    plots = [spec for _, spec in sections]  # the JSON blocks of the tree and trend charts (static/figures.js)
    if tree_figure is not None:
        plots.insert(0, _figure_island(tree_figure, "kv-tree"))
    return page_template().substitute(
        version=_e(package_version("kosbert_viz") or ""),
        title=_e(title),
        css=static_text("report.css"),
        plotly=plotly_block(),
        config=config_island(),
        points=points,
        loader_js=static_text("loader.js"),
        figures_js=static_text("figures.js"),
        notes="".join(notes),
        summary=summary,
        height=height,
        clusters=_table_html(table, L),
        tree=_tree_html(themes, tree_figure, level, L),
        trends="\n".join(h for h, _ in sections),
        manifest=_e(manifest_text),
        data="\n".join(payload[k] for k in ("figure", "meta", "texts", "binary")),
        report_js=static_text("report.js"),
        labels_js=label_script(),
        plots="\n".join(plots),
        lang=language,
        labels=json_island(
            "kv-labels", json.dumps({k: v for k, v in L.items() if k.startswith("js_")}, ensure_ascii=False)
        ),
        **{f"l_{k}": _e(L[k]) for k in _PAGE_WORDS},
    )


_PAGE_WORDS = (
    "search",
    "search_placeholder",
    "theme_filter",
    "clear",
    "csv",
    "lasso_hint",
    "loading",
    "themes",
    "manifest",
    "manifest_note",
)  # the template's $l_* slots


def _tree_html(themes, tree_figure, level, L: dict) -> str:
    """The theme tree: a sunburst (drill down by click) and a table, one row per theme of the shown
    level and the level below it (sub-themes indented under their theme)."""
    if themes is None or len(themes) == 0:
        return ""
    level = 0 if level is None else int(level)
    shown = themes[themes.level <= level + 1]
    children: dict = {}
    for r in shown.itertuples(index=False):
        children.setdefault(int(r.parent), []).append(r)
    rows = []

    def add(r, depth):
        kws = ", ".join(map(str, list(r.keywords)[:6]))
        rows.append(
            f"<tr class='lv{int(r.level)}' data-node='{int(r.node)}' data-level='{int(r.level)}'>"
            f"<td style='padding-left:{6 + 18 * depth}px' class='name'>{_e(r.name)}</td>"
            f"<td class='num'>{int(r.level)}</td><td class='num'>{int(r.size):,}</td>"
            + _stability_cell(getattr(r, "stability", None), L)
            + f"<td class='kw'>{_e(kws)}</td></tr>"
        )
        for c in sorted(children.get(int(r.node), []), key=lambda c: -int(c.size)):
            add(c, depth + 1)

    for r in sorted(children.get(-1, []), key=lambda r: -int(r.size)):
        add(r, 0)
    chart = (
        "<div id='tree-chart' data-kv-plot='kv-tree' style='width:100%;height:560px;'></div>"
        if tree_figure is not None
        else ""
    )
    return (
        f"<h2 id='theme-tree'>{L['tree']}</h2><p>{L['tree_intro'].format(level=level)}</p>{chart}"
        f"<table class='clusters' id='tree-table'><thead><tr><th>{L['h_theme']}</th><th>{L['h_level']}</th>"
        f"<th>{L['h_size']}</th><th>{L['h_stability']}</th><th>{L['h_keywords']}</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + _stability_note(L)
    )


def _figure_island(figure, json_id: str) -> str:
    """A plotly figure as a JSON block; ``static/figures.js`` draws it into the element with
    ``data-kv-plot="json_id"`` once plotly.js is loaded."""
    return json_island(
        json_id, json.dumps(figure.to_plotly_json(), cls=_PlotlyJSON, ensure_ascii=False, separators=(",", ":"))
    )


def _num(x, fmt: str) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if x != x else format(x, fmt)


def _trend_section(trend, i: int, L: dict) -> tuple[str, str]:
    """(HTML, JSON block of its figure) of one trends result: 'Themes over time' or 'Themes by class'."""
    if isinstance(trend, TopicsOverTime):
        return _over_time_html(trend, i, L), _figure_island(trend.figure(top=12), f"kv-trend-{i}")
    if isinstance(trend, TopicsPerClass):
        return _per_class_html(trend, i, L), _figure_island(trend.figure(), f"kv-trend-{i}")
    raise TypeError(f"trends must hold TopicsOverTime or TopicsPerClass results, got {type(trend).__name__}")


def _over_time_html(tot, i: int, L: dict, n: int = 10) -> str:
    r = tot.ranking
    rows = []
    picked = list(r[r.growth > 0].head(n).itertuples(index=False)) + list(
        r[r.growth < 0].iloc[::-1].head(n).itertuples(index=False)
    )
    for row in picked:
        rows.append(
            f"<tr class='{_e(row.trend)}'><td class='name'>{_e(row.name)}</td>"
            f"<td class='num'>{int(row.count):,}</td><td class='num'>{_num(100 * row.early_share, '.1f')}%</td>"
            f"<td class='num'>{_num(100 * row.late_share, '.1f')}%</td><td class='num'>{_num(row.growth, '+.2f')}</td>"
            f"<td class='num'>{_num(row.q_value, '.2g')}</td><td>{_e(L.get('trend_' + str(row.trend), row.trend))}</td></tr>"
        )
    info = tot.info
    early, late = info.get("early_periods") or [], info.get("late_periods") or []
    halves = (
        L["halves"].format(e0=_e(early[0]), e1=_e(early[-1]), l0=_e(late[0]), l1=_e(late[-1]))
        if early and late
        else L["one_period"]
    )
    return (
        f"<h2 id='themes-over-time'>{L['over_time']}</h2><p>"
        + L["over_time_intro"].format(
            freq=_e(tot.freq), n_dated=info.get("n_dated", 0), n_periods=info.get("n_periods", 0), halves=halves
        )
        + "</p>"
        f"<div id='trend-chart-{i}' data-kv-plot='kv-trend-{i}' "
        "style='width:100%;height:520px;'></div>"
        f"<table class='clusters trends' id='trend-table-{i}'><thead><tr><th>{L['h_theme']}</th><th>{L['h_texts']}</th>"
        f"<th>{L['h_early']}</th><th>{L['h_late']}</th><th>{L['h_growth']}</th><th>{L['h_q']}</th><th>{L['h_trend']}</th>"
        "</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>"
    )


def _per_class_html(pc, i: int, L: dict) -> str:
    rows = [
        f"<tr><td>{_e(row[0])}</td><td class='name'>{_e(row.name)}</td>"
        f"<td class='num'>{int(row.count):,} / {int(row.class_total):,}</td>"
        f"<td class='num'>{_num(100 * row.share, '.1f')}%</td><td class='num'>{_num(100 * row.overall_share, '.1f')}%</td>"
        f"<td class='num'>{_num(row.lift, '.2f')}</td><td class='num'>{_num(row.q_value, '.2g')}</td></tr>"
        for row in pc.distinctive.itertuples(index=False)
    ]  # row[0]: "class" (a keyword, renamed _0)
    body = (
        "".join(rows)
        if rows
        else f"<tr><td colspan='7'>No theme is over-represented in any class at q &lt; {_e(pc.info.get('alpha'))}.</td></tr>"
    )
    return (
        f"<h2 id='themes-by-class'>{L['by_class']}</h2><p>"
        + L["by_class_intro"].format(alpha=_e(pc.info.get("alpha")), tests=pc.info.get("tests", 0))
        + "</p>"
        f"<div id='trend-chart-{i}' data-kv-plot='kv-trend-{i}' "
        f"style='width:100%;height:{max(320, 40 * pc.table['class'].nunique() + 200)}px;'></div>"
        f"<table class='clusters trends' id='class-table-{i}'><thead><tr><th>{L['h_class']}</th><th>{L['h_theme']}</th>"
        f"<th>{L['h_texts']}</th><th>{L['h_share_class']}</th><th>{L['h_share_all']}</th><th>{L['h_lift']}</th>"
        f"<th>{L['h_q']}</th></tr></thead><tbody>" + body + "</tbody></table>"
    )


class _PlotlyJSON(json.JSONEncoder):
    def default(self, o):
        import numpy as np

        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        return super().default(o)


def _points_of(result) -> dict:
    """The per-point data of a TextMap for the report's search, filters and selection table."""
    table = result.table
    names = dict(zip(table["cluster"], table["name"])) if table is not None and len(table) else {}
    names = {k: _clean(v) for k, v in names.items()}
    data = getattr(result, "metadata", None)
    if data is None:
        data = getattr(result, "data", None)  # set by hand on older maps
    if data is not None and hasattr(data, "columns"):  # lone surrogates in a metadata column: U+FFFD, as in texts
        text_cols = [c for c in data.columns if data[c].dtype == object]
        if text_cols:
            data = data.copy()
            for c in text_cols:
                data[c] = data[c].map(_clean)
    levels = getattr(result.clusters, "levels", None) or []
    shown = getattr(result, "level", None)
    labels = levels[shown] if levels and isinstance(shown, int) and 0 <= shown < len(levels) else result.clusters.labels
    return {"texts": result.texts, "coords": result.coords, "labels": labels, "names": names, "data": data}


def _clean(value):
    return normalize_text(value) if isinstance(value, str) else value


def write_report(
    result, path, *, title: str | None = None, notice: str | None = None, trends=None, language: str = "auto"
) -> Path:
    """Write a standalone HTML report for a :class:`~kosbert_viz.TextMap` and return its path.

    The file embeds plotly.js compressed (no network needed), the map, the cluster table
    (names, sizes, keywords, representative texts) and the manifest (model + revision,
    package versions, seeds, hardware, timings). ``title`` defaults to the map's own (``map_texts(title=...)``).
    ``notice`` is shown in a red box at the top
    (e.g. "fell back to the offline model"). The file is written under a temporary name and renamed
    into place, so a failed write leaves an existing report untouched; lone surrogates (broken emoji)
    are written as U+FFFD.

    ``trends``: a list of :func:`~kosbert_viz.topics_over_time` and :func:`~kosbert_viz.topics_per_class`
    results; each adds a section (its figure and its table of emerging/fading or distinctive themes).

    ``language``: the page's words, ``"ko"`` or ``"en"``; ``"auto"`` (default) is Korean when at least half
    of the texts hold Hangul. At the top, a written summary: texts and themes, the largest themes with a
    representative text each, and with ``trends`` the themes growing and fading fastest. The manifest is
    folded away at the bottom ("재현 정보" / "Reproducibility").

    >>> dates = pd.Series(pd.date_range("2024-01-01", periods=len(tm.texts), freq="6h"))
    >>> trends = [kv.topics_over_time(tm, dates, freq="W"), kv.topics_per_class(tm, df["topic"])]
    >>> kv.write_report(tm, "voc.html", trends=trends).name
    'voc.html'

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    title = normalize_text(title or figure_title(getattr(result, "figure", None)) or "kosbert_viz report")
    manifest = result.manifest or {}
    language = report_language(result.texts) if check_language(language) == "auto" else language
    summary = written_summary(result, language, trends)
    agree = manifest.get("agreement_with_labels")
    if agree:
        what = "알려진 분류" if language == "ko" else "agreement with"
        summary += (
            f" <small>{what} <i>{_e(agree.get('column'))}</i>: ARI {_e(agree.get('ARI'))}, "
            f"NMI {_e(agree.get('NMI'))}</small>"
        )
    themes = getattr(result, "themes", None)
    tree_figure = None
    if themes is not None and len(themes):
        tree_figure = hierarchy_chart(themes, max_depth=3, title=None)
    body = report_html(
        result.figure,
        title=title,
        table=result.table,
        manifest=manifest,
        summary=summary,
        notice=notice,
        themes=themes,
        tree_figure=tree_figure,
        level=getattr(result, "level", None),
        trends=trends,
        language=language,
        **_points_of(result),
    )
    # lone surrogates (broken emoji from scraped chats) in a text, a name, a hover column: U+FFFD
    return write_html(path, body)


def write_html(path, body: str) -> Path:
    """Write an HTML page safely: lone surrogates as U+FFFD (one warning), temp file + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = body.encode("utf-8")
    except UnicodeEncodeError:
        count = len(SURROGATE.findall(body))
        warnings.warn(
            f"the report's text holds {count} lone surrogate(s) (broken emoji, common in scraped chat "
            "logs); they are written as U+FFFD",
            UserWarning,
            stacklevel=3,
        )
        data = SURROGATE.sub("\ufffd", body).encode("utf-8")
    write_atomic(path, data, keep_mode=True, tag="kv-report")
    return path
