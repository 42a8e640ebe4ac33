"""The CLI report in a real headless Chromium: the map draws with WebGL, hovering shows Korean text,
user text that looks like HTML stays text (hover and table) and runs nothing, the console is clean,
and no request leaves the machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
from browser_helpers import decode_pseudo_html, hover_known_point, open_page, plot_summary, squash, wait_for_plots

pytestmark = pytest.mark.slow

INJECTION = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>window.__pwned = 1; alert(2)</script> 환불해 주세요"


@pytest.fixture(scope="module")
def cli_report(tmp_path_factory, tiny_model_path):
    """`kosbert-viz map FILE.csv --text-col text --label-col topic -o report.html` on the sample corpus
    plus hostile rows: 40 copies of an <img onerror> text, so k-means (asked for: the theme tree has
    its own browser test in test_themes_pipeline.py) gives them a cluster of their own
    and the text is its representative (with 15 copies that held for most k-means seeds, not all)."""
    import pandas as pd

    import kosbert_viz as kv

    tmp = tmp_path_factory.mktemp("cli-report")
    df = kv.datasets.load_sample()
    hostile = pd.DataFrame({"text": [INJECTION] * 40 + [SCRIPT], "topic": ["<b>주입</b>"] * 40 + ["환불"]})
    pd.concat([df, hostile], ignore_index=True).to_csv(tmp / "reviews.csv", index=False)
    out = tmp / "report.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kosbert_viz",
            "map",
            str(tmp / "reviews.csv"),
            "--text-col",
            "text",
            "--label-col",
            "topic",
            "--model",
            tiny_model_path,
            "--method",
            "kmeans",
            "--k",
            "7",
            "--cache-dir",
            str(tmp / "cache"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_report_renders_offline_in_chromium(cli_report, browser):
    page, log = open_page(browser, cli_report.as_uri())
    try:
        wait_for_plots(page, 1)
        (summary,) = plot_summary(page)
        assert set(summary["types"]) == {"scattergl"} and summary["webgl"], summary
        assert summary["points"] == 480 + 41
        point, hover = hover_known_point(page, 0)
        assert squash(decode_pseudo_html(point["text"])) in squash(hover), (point, hover)
        assert any("\uac00" <= ch <= "\ud7a3" for ch in hover)
        page.wait_for_timeout(300)
        assert log.external_requests == [], f"the offline report made network requests: {log.external_requests}"
        assert not log.console_errors, log.console_errors
        assert not log.page_errors, log.page_errors
    finally:
        page.close()


def test_injection_shows_literally_and_runs_nothing(cli_report, browser):
    page, log = open_page(browser, cli_report.as_uri())
    try:
        wait_for_plots(page, 1)
        # the hover shows the tag as text ...
        point, hover = hover_known_point(page, 0, needle="&lt;img")
        assert INJECTION in hover, hover
        assert "<b>주입</b>" in hover, "hover_data must be escaped too"
        hover_dom = page.evaluate("() => document.querySelector('.hoverlayer').innerHTML")
        assert "<img" not in hover_dom and "&lt;img" in hover_dom
        # ... the cluster table too ...
        table_text = page.inner_text("#cluster-table")
        assert INJECTION in table_text, "the hostile text should be a representative text in the table"
        # ... and nothing ran or was fetched
        page.wait_for_timeout(500)
        state = page.evaluate("""() => ({pwned: window.__pwned === 1,
            imgs: document.querySelectorAll('img').length,
            // executable scripts holding the hostile text (the figure's JSON data block is not one)
            scriptsInBody: [...document.querySelectorAll('body script')].filter(s =>
                ['', 'text/javascript', 'module'].includes(s.type) && s.textContent.includes('__pwned')).length})""")
        assert state == {"pwned": False, "imgs": 0, "scriptsInBody": 0}, state
        assert log.dialogs == [], f"a script ran: {log.dialogs}"
        assert log.external_requests == [], log.external_requests
        assert not log.console_errors and not log.page_errors, (log.console_errors, log.page_errors)
    finally:
        page.close()


def test_large_map_point_budget_renders(tmp_path, browser):
    """1M points: the point budget takes over, the page draws quickly and stays responsive."""
    import time

    import numpy as np

    import kosbert_viz as kv
    from kosbert_viz.report.html import report_html

    rng = np.random.default_rng(0)
    n = 1_000_000
    labels = rng.integers(0, 30, n)
    xy = rng.normal(scale=10, size=(30, 2))[labels] + rng.normal(size=(n, 2))
    texts = [f"문서 {i}" for i in range(n)]
    fig = kv.cluster_map(xy, labels=labels, texts=texts, title="백만 개")
    out = tmp_path / "big.html"
    out.write_text(report_html(fig, title="1M"), encoding="utf-8")
    assert out.stat().st_size < 10e6
    t = time.perf_counter()
    page, log = open_page(browser, out.as_uri())
    try:
        wait_for_plots(page, 1)
        elapsed = time.perf_counter() - t
        (summary,) = plot_summary(page)
        assert summary["webgl"] and "heatmap" in summary["types"]
        assert summary["points"] <= 70_000 + 256 * 256
        assert "stratified sample" in page.inner_text(".js-plotly-plot")
        assert page.evaluate("() => 1 + 1") == 2  # the page still answers
        assert elapsed < 30, f"first render took {elapsed:.1f}s"
        assert not log.console_errors and not log.page_errors, (log.console_errors, log.page_errors)
    finally:
        page.close()


@pytest.fixture(scope="module")
def sample_map():
    """The bundled sample mapped with the offline encoder, once for the tests of its report and image."""
    import kosbert_viz as kv

    return kv.map_texts(kv.datasets.load_sample()["text"], "offline", cache=None, show_progress_bar=False)


def test_the_korean_report_opens_with_its_summary_above_the_map(browser, tmp_path, sample_map):
    """The report a manager opens: Korean words, the written summary on top, the map under it, the
    manifest folded. ``KOSBERT_VIZ_REPORT_SHOT=docs/report.png`` also writes the screenshot the README shows."""
    import os
    import shutil

    import kosbert_viz as kv

    tm = sample_map
    path = kv.write_report(tm, tmp_path / "보고서.html", title="리뷰 테마 보고서")
    page, log = open_page(browser, path.as_uri())
    wait_for_plots(page)
    page.wait_for_function("() => window.__kvReady === true", timeout=60_000)
    summary = page.locator("#summary")
    assert summary.inner_text().startswith(f"문장 {len(tm.texts)}개에서 테마")
    assert page.locator("#kv-clear").inner_text() == "선택 지우기"
    assert page.locator("#kv-count").inner_text().startswith("지도에서 영역을")
    top = summary.bounding_box()["y"]
    assert top < page.locator("#map").bounding_box()["y"] < 1000  # the summary, then the map, in the first screen
    assert not page.locator("#manifest").is_visible()  # folded under 재현 정보
    assert not log.page_errors and not log.console_errors and not log.external_requests
    shot = os.environ.get("KOSBERT_VIZ_REPORT_SHOT")
    if shot:
        page.screenshot(path=str(tmp_path / "report.png"), clip={"x": 0, "y": 0, "width": 1400, "height": 1000})
        shutil.copy(tmp_path / "report.png", shot)
    page.close()


@pytest.mark.parametrize("viewport", [(1400, 1000), (900, 650)], ids=["1400x1000", "900x650"])
def test_report_map_names_never_overlap_or_get_cut_also_after_zooming(browser, tmp_path, viewport, sample_map):
    """Every theme of >= 2% of the texts is named at the first view; no name covers another or crosses the
    plot's edge, at the first view and after zooming twice into the densest region."""
    from browser_helpers import drawn_names, name_problems, zoom_densest

    import kosbert_viz as kv
    from kosbert_viz.viz.labels import MIN_FONT_PX

    tm = sample_map
    path = kv.write_report(tm, tmp_path / "r.html")
    page, log = open_page(browser, path.as_uri(), viewport=viewport)
    wait_for_plots(page)
    page.wait_for_function("() => window.__kvReady === true", timeout=60_000)
    page.wait_for_timeout(400)
    first = drawn_names(page)
    shares = dict(zip(tm.table["name"], tm.table["size"] / len(tm.texts)))
    shown = {n["text"] for n in first["names"]}
    assert all(name in shown for name, share in shares.items() if share >= 0.02), (shown, shares)
    assert all(n["size"] >= MIN_FONT_PX for n in first["names"])
    views = [first]
    for _ in range(2):
        zoom_densest(page)
        views.append(drawn_names(page))
    for i, view in enumerate(views):
        problems = name_problems(view)
        assert problems == {"overlapping": [], "cut": []}, (i, problems)
    assert not log.page_errors and not log.console_errors
    page.close()


@pytest.mark.parametrize("size", [(1400, 1000), (900, 650), (700, 500)], ids=["1400x1000", "900x650", "700x500"])
def test_exported_image_names_never_overlap(browser, tmp_path, size, sample_map):
    """save_image places a map's names again for the image's size: the exported SVG (what the PNG rasterises),
    measured in Chromium, has every theme named, none overlapping, none cut."""
    pytest.importorskip("kaleido", reason='pip install "kosbert_viz[export]"')
    from browser_helpers import name_problems

    from kosbert_viz.viz import export

    if not export.hangul_fonts():
        pytest.skip("no Korean font installed: run .ci/install_browser.sh (fonts-noto-cjk)")
    tm = sample_map
    svg = export.save_image(tm.figure, tmp_path / "map.svg", width=size[0], height=size[1], scale=1)
    page, _ = open_page(browser, svg.as_uri(), viewport=size)
    drawn = page.evaluate(r"""() => {
      // the plot area: the subplot's clip rectangle, where the plot group is translated to (the SVG is the page)
      const clip = [...document.querySelectorAll('clipPath')].find(c => /xyplot$/.test(c.id)).querySelector('rect');
      const move = /translate\(([-\d.]+)[ ,]+([-\d.]+)\)/.exec(document.querySelector('[clip-path*="xyplot"]').getAttribute('transform'));
      const x0 = +move[1] + (+clip.getAttribute('x') || 0), y0 = +move[2] + (+clip.getAttribute('y') || 0);
      const area = {left: x0, top: y0, right: x0 + +clip.getAttribute('width'), bottom: y0 + +clip.getAttribute('height')};
      const names = [...document.querySelectorAll('g.annotation-text-g text')].map(t => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent.trim(), x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};
      }).filter(n => n.text);
      return {area: {x0: area.left, y0: area.top, x1: area.right, y1: area.bottom}, names};
    }""")
    page.close()
    shown = {n["text"] for n in drawn["names"]}
    assert set(tm.table["name"]) <= shown, set(tm.table["name"]) - shown
    assert name_problems(drawn) == {"overlapping": [], "cut": []}
