"""The report's words in Korean or English: headings, buttons, table headers, the written summary.

``language="auto"`` (the default) gives Korean when at least half of the texts hold Hangul, else English.

>>> report_language(["배송이 늦어요", "fast delivery", "환불 요청"])
'ko'
>>> LABELS["ko"]["manifest"], LABELS["en"]["manifest"]
('재현 정보', 'Reproducibility')
"""

from __future__ import annotations

import re

from kosbert_viz.themes.stability import UNSTABLE_BELOW

__all__ = ["LANGUAGES", "LABELS", "report_language", "check_language"]

LANGUAGES = ("ko", "en")
_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")

LABELS: dict[str, dict[str, str]] = {
    "ko": {
        "search": "찾기",
        "search_placeholder": "찾기: 환불, 배송 …",
        "theme_filter": "테마",
        "clear": "선택 지우기",
        "csv": "CSV 내려받기",
        "lasso_hint": "올가미: 지도 위에서 드래그 · 상자: 도구 막대의 상자 도구",
        "loading": "지도를 여는 중…",
        "themes": "테마",
        "manifest": "재현 정보",
        "manifest_note": "모델과 버전, 패키지 버전, 시드, 하드웨어, 단계별 소요 시간",
        "no_themes": "테마가 없습니다.",
        "h_name": "이름",
        "h_size": "크기",
        "h_stability": "안정성",
        "h_keywords": "핵심어",
        "h_representative": "대표 문장",
        "h_theme": "테마",
        "h_level": "수준",
        "unstable": "불안정",
        "unstable_title": "다시 맞춰 볼 때 잘 재현되지 않는 테마: 주의해서 읽으세요",
        "stability_note": (
            "안정성: 같은 수준을 다른 시드와 부분 표본으로 다시 맞췄을 때 이 테마가 다시 나타나는 정도"
            f"(가장 잘 맞는 테마와의 Jaccard 평균, 1 = 매번). {UNSTABLE_BELOW} 미만이면 불안정으로 표시합니다. "
            "&ndash; = 편집으로 바뀌어 다시 재지 않음."
        ),
        "tree": "테마 계층",
        "tree_intro": "계층의 모든 수준의 테마(가장 큰 묶음부터). 지도는 수준 {level}을 보여 줍니다. "
        "도표에서 테마를 누르면 하위 테마가 열립니다.",
        "over_time": "시간에 따른 테마",
        "over_time_intro": "기간({freq})마다 각 테마가 차지하는 비중입니다. 날짜가 있는 문장 {n_dated:,}개, {n_periods}개 기간, "
        "가장 큰 12개 테마(나머지는 '기타'). 증가는 뒤 절반 기간의 비중과 앞 절반의 비중의 로그 비율로, 전체 비중 쪽으로 "
        "보정했습니다({halves}). q 값은 피셔 정확 검정을 벤야미니-호흐베르크로 보정한 값입니다.",
        "halves": "앞 절반 {e0}–{e1}, 뒤 절반 {l0}–{l1}",
        "trend_emerging": "증가",
        "trend_fading": "감소",
        "trend_stable": "변화 없음",
        "one_period": "기간이 하나뿐이라 증가를 잴 수 없음",
        "by_class_intro": "색: 향상도의 log2, 곧 한 분류 안에서 테마의 비중을 전체 비중으로 나눈 값. 표는 분류마다 가장 "
        "두드러진 테마를 보여 줍니다(향상도 &gt; 1, q 값 &lt; {alpha}; 한쪽 피셔 정확 검정, 칸 {tests:,}개에 대해 "
        "벤야미니-호흐베르크 보정).",
        "by_class": "분류별 테마",
        "h_texts": "문장 수",
        "h_early": "앞 절반 비중",
        "h_late": "뒤 절반 비중",
        "h_growth": "증가",
        "h_q": "q 값",
        "h_trend": "추세",
        "h_class": "분류",
        "h_share_class": "분류 안 비중",
        "h_share_all": "전체 비중",
        "h_lift": "향상도",
        "budget": "지도는 {n_points:,}개 중 {n_drawn:,}개를 층화 표본으로 보여 줍니다(점 예산 {point_budget:,}). "
        "회색 층은 전체의 밀도입니다. 표는 모든 문장을 셉니다.",
        # the page script's words (static/report.js)
        "js_noise": "잡음",
        "js_theme_n": "테마 ",
        "js_col_index": "번호",
        "js_col_theme": "테마",
        "js_col_text": "문장",
        "js_empty": "지도에서 영역을 올가미로 고르거나 찾기를 하면 문장이 여기에 나옵니다.",
        "js_texts": "{n}개 문장",
        "js_matching": " (\u201c{q}\u201d 포함)",
        "js_in_selection": ", 선택 영역 안",
        "js_first": " (처음 {shown}개 표시, CSV에는 모두)",
    },
    "en": {
        "search": "search",
        "search_placeholder": "search: 환불, 배송 …",
        "theme_filter": "themes",
        "clear": "clear selection",
        "csv": "download CSV",
        "lasso_hint": "lasso: drag on the map · box: the toolbar's box tool",
        "loading": "Opening the map…",
        "themes": "Themes",
        "manifest": "Reproducibility",
        "manifest_note": "model and revision, package versions, seeds, hardware, timings",
        "no_themes": "No themes.",
        "h_name": "name",
        "h_size": "size",
        "h_stability": "stability",
        "h_keywords": "keywords",
        "h_representative": "representative texts",
        "h_theme": "theme",
        "h_level": "level",
        "unstable": "unstable",
        "unstable_title": "re-appears in few re-fits: read with care",
        "stability_note": (
            "stability: how reliably a theme re-appears when its level is re-fitted (k-means from other seeds on "
            f"subsamples; its best-match Jaccard, averaged; 1 = every time). Below {UNSTABLE_BELOW} a theme is "
            "marked unstable: read it with care. &ndash; = changed by an edit, not re-fitted."
        ),
        "tree": "Theme tree",
        "tree_intro": "Themes at every level of the hierarchy, coarsest first; the map shows level {level}. "
        "Click a theme in the chart to open its sub-themes.",
        "over_time": "Themes over time",
        "over_time_intro": "Share of each theme per period ({freq}; {n_dated:,} dated texts in {n_periods} periods; the 12 "
        "largest themes, the rest as 'other'). Growth is the log ratio of a theme's share in the late half of the "
        "periods over the early half ({halves}), smoothed towards its overall share; q is Fisher's exact test, "
        "Benjamini-Hochberg adjusted.",
        "halves": "early half {e0}–{e1}, late half {l0}–{l1}",
        "one_period": "a single period: no growth to measure",
        "by_class_intro": "Colour: log2 lift, a theme's share in a class over its share overall. The table lists, per "
        "class, the most distinctive themes (lift &gt; 1 and q-value &lt; {alpha}; one-sided Fisher exact test, "
        "Benjamini-Hochberg over {tests:,} cells).",
        "by_class": "Themes by class",
        "h_texts": "texts",
        "h_early": "early share",
        "h_late": "late share",
        "h_growth": "growth",
        "h_q": "q-value",
        "h_trend": "trend",
        "h_class": "class",
        "h_share_class": "share in class",
        "h_share_all": "share overall",
        "h_lift": "lift",
        "budget": "The map shows a stratified sample of {n_drawn:,} of {n_points:,} texts (point budget "
        "{point_budget:,}); the grey layer is the density of all of them. The table counts every text.",
        "js_noise": "noise",
        "js_theme_n": "theme ",
        "js_col_index": "index",
        "js_col_theme": "theme",
        "js_col_text": "text",
        "js_empty": "Lasso a region of the map or search to list texts here.",
        "js_texts": "{n} texts",
        "js_matching": " matching \u201c{q}\u201d",
        "js_in_selection": " in the selection",
        "js_first": " (first {shown} shown; the CSV has all)",
    },
}


def check_language(language: str) -> str:
    """``language`` if it is one the report speaks, else a ValueError naming them."""
    if language not in ("auto", *LANGUAGES):
        raise ValueError(f"language must be 'auto', 'ko' or 'en', got {language!r}")
    return language


def report_language(texts) -> str:
    """'ko' when at least half of ``texts`` hold a Hangul character, else 'en'."""
    texts = list(texts)
    if not texts:
        return "ko"
    korean = sum(1 for t in texts if isinstance(t, str) and _HANGUL.search(t))
    return "ko" if 2 * korean >= len(texts) else "en"
