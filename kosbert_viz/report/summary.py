"""The few sentences at the top of a report: how many texts and themes, the largest themes with a
representative text each, and, where dates were given, the themes growing and fading fastest.

>>> html = written_summary(tm, "ko")
>>> "테마" in html and str(len(tm.texts)) in html.replace(",", "")
True
"""

from __future__ import annotations

import html as _html

from kosbert_viz._util.validation import normalize_text

__all__ = ["written_summary"]

TOP_THEMES = 3  # themes the summary names
QUOTE_CHARS = 80  # characters of a representative text quoted


def _e(value) -> str:
    return _html.escape(normalize_text(str(value)), quote=True)


def _quote(text: str) -> str:
    text = " ".join(str(text).split())
    return _e(text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…")


def written_summary(tm, language: str, trends=None) -> str:
    """The summary as HTML (every user text escaped), in ``language`` ('ko' or 'en')."""
    ko = language == "ko"
    n, table = len(tm.texts), tm.table
    k = 0 if table is None else len(table)
    levels = tm.clusters.levels
    if ko:
        where = f" (테마 계층의 수준 {tm.level}, 0 = 가장 큰 묶음)" if len(levels) > 1 else ""
        parts = [f"문장 <b>{n:,}</b>개에서 테마 <b>{k:,}</b>개를 찾았습니다{where}."]
    else:
        where = f" (level {tm.level} of a {len(levels)}-level theme tree)" if len(levels) > 1 else ""
        parts = [f"<b>{n:,}</b> texts fall into <b>{k:,}</b> themes{where}."]
    if k:
        top = table.sort_values(["size", "cluster"], ascending=[False, True]).head(TOP_THEMES)
        items = []
        for r in top.itertuples(index=False):
            share = 100 * int(r.size) / max(n, 1)
            reps = list(getattr(r, "representative", []) or [])
            quote = f" &mdash; &ldquo;{_quote(reps[0])}&rdquo;" if reps else ""
            count = f"{int(r.size):,}개, {share:.0f}%" if ko else f"{int(r.size):,} texts, {share:.0f}%"
            items.append(f"<li><b>{_e(r.name)}</b> ({count}){quote}</li>")
        lead = "가장 큰 테마:" if ko else "The largest themes:"
        parts.append(f"{lead}<ul class='summary-themes'>{''.join(items)}</ul>")
    for trend in trends or []:
        ranking = getattr(trend, "ranking", None)
        if ranking is None or "trend" not in ranking:
            continue
        up = ranking[ranking.trend == "emerging"].head(2)
        down = ranking[ranking.trend == "fading"].iloc[::-1].head(2)
        if len(up):
            names = ", ".join(f"<b>{_e(x)}</b>" for x in up.name)
            parts.append(f"가장 빠르게 늘어난 테마: {names}." if ko else f"Growing fastest: {names}.")
        if len(down):
            names = ", ".join(f"<b>{_e(x)}</b>" for x in down.name)
            parts.append(f"가장 빠르게 줄어든 테마: {names}." if ko else f"Fading fastest: {names}.")
        if not len(up) and not len(down):
            parts.append(
                "기간 사이에 뚜렷하게 늘거나 준 테마는 없습니다."
                if ko
                else "No theme grew or faded clearly over the periods."
            )
    model = (tm.manifest or {}).get("model") or {}
    if model.get("name"):
        who = "모델" if ko else "Model"
        parts.append(f"<small>{who}: {_e(model.get('name'))}</small>")
    return " ".join(parts)
