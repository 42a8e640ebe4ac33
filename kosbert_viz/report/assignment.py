"""The HTML report of a batch of new texts placed into a saved map (``kosbert-viz assign``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.maps.assignment import Assignment
from kosbert_viz.maps.levels import map_levels_of, theme_names
from kosbert_viz.report.html import report_html, write_html
from kosbert_viz.report.labels import check_language, report_language
from kosbert_viz.viz.scatter import cluster_map

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["write_assignment_report"]


def write_assignment_report(
    tm, a: Assignment, path, *, title: str | None = None, top_new: int = 30, trends=None, language: str = "auto"
) -> Path:
    """An offline HTML report of a batch placed into a map: new-theme candidates first, then the map
    with the batch highlighted, then the batch's themes (counts, share in the map, the batch's most
    typical texts). Every text is HTML-escaped. ``trends``: results of ``kv.topics_over_time`` /
    ``kv.topics_per_class`` (of :func:`batch_map`), one section each. ``language``: as for ``write_report``.

    >>> a = tm.assign(df["review"][:30])
    >>> path = write_assignment_report(tm, a, "batch.html")
    """
    import html as _html
    from pathlib import Path

    import pandas as pd

    if a.texts is None:
        raise ValueError("the assignment has no texts (use tm.assign(texts), not assign_vectors)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    language = report_language(a.texts) if check_language(language) == "auto" else language
    ko = language == "ko"
    n_map, n_new = len(tm.texts), len(a)
    coords = np.concatenate([np.asarray(tm.coords, np.float64)[:, :2], a.coords[:, :2]])
    labels = np.concatenate([np.asarray(map_levels_of(tm)[0][a.default_level]), a.labels])
    names = theme_names(tm)
    fig = cluster_map(
        coords,
        labels=labels,
        texts=list(tm.texts) + list(a.texts),
        names=names or None,
        highlight=np.arange(n_map, n_map + n_new),
        highlight_name="new batch",
        title=title or "new batch placed into the map",
    )
    order = np.argsort(-a.novelty, kind="stable")
    cand = [i for i in order if a.is_new[i]][:top_new]
    nearest = "가장 가까운 테마" if ko else "nearest theme"
    rows = "".join(
        f"<li><b>{a.novelty[i]:.3f}</b> · {nearest}: {_html.escape(a.names[i])} · {_html.escape(a.texts[i][:200])}</li>"
        for i in cand
    )
    model = _html.escape(str(((tm.manifest or {}).get("model") or {}).get("name")))
    n_cand, threshold = int(a.is_new.sum()), a.info.get("new_threshold", 0.99)
    if ko:
        summary = (
            f"<p>새 문장 <b>{n_new:,}</b>개를 문장 {n_map:,}개의 지도에 놓았습니다(모델 <b>{model}</b>). "
            f"<b>{n_cand:,}</b>개는 새 테마 후보입니다(새로움 ≥ {threshold}: 지도의 문장 99%가 가장 가까운 이웃과 "
            f"떨어진 것보다 지도에서 더 멀리 있음).</p><h2 id='new-candidates'>새 테마 후보 (새로운 순)</h2>"
            f"<ol id='candidates'>{rows or '<li>없음</li>'}</ol>"
        )
    else:
        summary = (
            f"<p>{n_new:,} new texts placed into a map of {n_map:,} texts (model <b>{model}</b>). <b>{n_cand:,}</b> "
            f"are candidates for a new theme (novelty ≥ {threshold}: farther from the map than 99% of its own texts "
            f"from their nearest neighbour).</p><h2 id='new-candidates'>New-theme candidates (most novel first)</h2>"
            f"<ol id='candidates'>{rows or '<li>none</li>'}</ol>"
        )
    base = tm.table if tm.table is not None else pd.DataFrame({"cluster": [], "keywords": []})
    kw = {int(c): k for c, k in zip(base.get("cluster", []), base.get("keywords", []))}
    map_levels, shown = map_levels_of(tm)
    map_share = pd.Series(np.asarray(map_levels[shown])).value_counts(normalize=True)
    recs = []
    for c, idx in pd.Series(np.arange(n_new)).groupby(a.labels):
        idx = idx.to_numpy()
        best = idx[np.argsort(-a.similarity[idx], kind="stable")[:3]]
        recs.append(
            {
                "cluster": int(c),
                "size": len(idx),
                "name": f"{names.get(int(c), 'noise' if c < 0 else str(c))} "
                + (
                    f"(지도 {100 * map_share.get(c, 0):.1f}% → 새 문장 {100 * len(idx) / n_new:.1f}%)"
                    if ko
                    else f"(map {100 * map_share.get(c, 0):.1f}% → batch {100 * len(idx) / n_new:.1f}%)"
                ),
                "keywords": list(kw.get(int(c), [])),
                "representative": [a.texts[i] for i in best],
            }
        )
    table = pd.DataFrame(recs, columns=["cluster", "size", "name", "keywords", "representative"])
    table = table.sort_values("size", ascending=False, ignore_index=True)
    manifest = dict(tm.manifest or {})
    manifest["assignment"] = dict(a.info, n_new=n_new, n_candidates=int(a.is_new.sum()))
    return write_html(
        path,
        report_html(
            fig,
            title=title or "kosbert_viz: new batch",
            table=table,
            manifest=manifest,
            summary=summary,
            trends=trends,
            language=language,
        ),
    )
