"""The report's explorer moves in a real headless Chromium: search narrows the table, a real mouse lasso
fills it (all points in the region, also past the point budget), the CSV download holds exactly the
selected texts, hostile texts stay literal, and no request leaves the page."""

from __future__ import annotations

import csv
import io
import unicodedata

import numpy as np
import pandas as pd
import pytest
from browser_helpers import inside_polygon as _inside
from browser_helpers import open_page, wait_for_plots

pytestmark = pytest.mark.slow

INJECTION = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned = 2</script> 환불해 주세요"


def _report(tmp_path, n=3000, k=4, point_budget=200_000):
    import kosbert_viz as kv
    from kosbert_viz.maps.textmap import TextMap
    from kosbert_viz.themes.result import ClusterResult

    rng = np.random.default_rng(0)
    lab = rng.integers(0, k, n)
    xy = np.array([[0, 0], [12, 0], [0, 12], [12, 12]], float)[lab] + rng.normal(size=(n, 2))
    words = ["배송이 늦어요", "환불이 안 돼요", "맛있어요", "화면이 깨져요"]
    texts = [f"{words[c]} {i}번" for i, c in enumerate(lab)]
    texts[0], texts[1] = INJECTION, SCRIPT
    texts[2] = unicodedata.normalize("NFD", '환불이 늦어요, 쉼표와 "따옴표"')
    product = np.where(np.arange(n) % 3 == 0, "앱", "웹")
    names = {0: "배송", 1: "환불", 2: "맛", 3: "<b>화면</b>"}
    fig = kv.cluster_map(xy, labels=lab, texts=texts, names=names, point_budget=point_budget, sample_size=1000)
    table = pd.DataFrame(
        {
            "cluster": list(names),
            "size": [int((lab == c).sum()) for c in names],
            "name": list(names.values()),
            "keywords": [[]] * k,
            "scores": [[]] * k,
            "representative": [[]] * k,
        }
    )
    tm = TextMap(
        [unicodedata.normalize("NFC", t) for t in texts],
        np.zeros((n, 2), np.float32),
        xy,
        ClusterResult(lab, "kmeans"),
        table,
        fig,
        {},
    )
    tm.data = pd.DataFrame({"product": product})
    path = kv.write_report(tm, tmp_path / "report.html", title="탐색")
    return path, tm


def _lasso(page, centre, radius):
    """Drag a real mouse lasso (an octagon) around a data point; return the polygon in data coordinates."""
    geo = page.evaluate(
        """([cx, cy, r]) => {
      const gd = document.getElementById('map'); gd.scrollIntoView({block: 'center'});
      const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis, rect = gd.getBoundingClientRect();
      const pts = [];
      for (let k = 0; k <= 16; k++) {
        const a = 2 * Math.PI * (k % 16) / 16;
        pts.push([rect.left + xa._offset + xa.l2p(cx + r * Math.cos(a)), rect.top + ya._offset + ya.l2p(cy + r * Math.sin(a))]);
      }
      return {pts, ox: rect.left + xa._offset, oy: rect.top + ya._offset};
    }""",
        [centre[0], centre[1], radius],
    )
    pts = geo["pts"]
    page.mouse.move(*pts[0])
    page.mouse.down()
    for p in pts[1:]:
        page.mouse.move(*p, steps=3)
    page.mouse.up()
    page.wait_for_function("() => Array.isArray(window.__kvRows) && window.__kvSelection", timeout=15_000)
    # the polygon plotly.js drew, in data coordinates (what the page selected with)
    return page.evaluate(
        """(pts) => {
      const gd = document.getElementById('map'), fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
      const rect = gd.getBoundingClientRect();
      return pts.map(([px, py]) => [xa.p2l(px - rect.left - xa._offset), ya.p2l(py - rect.top - ya._offset)]);
    }""",
        pts,
    )


def _rows(page):
    return page.evaluate("() => window.__kvRows")


@pytest.mark.parametrize("budget", [200_000, 1_000], ids=["all-drawn", "past-the-point-budget"])
def test_report_search_lasso_table_csv(tmp_path, browser, budget):
    path, tm = _report(tmp_path, point_budget=budget)
    size = path.stat().st_size
    page, log = open_page(browser, path.as_uri())
    try:
        wait_for_plots(page, 1)
        page.wait_for_function("() => window.__kvReady === true", timeout=30_000)
        # search narrows the table: NFC-aware (the NFD text is found), case-insensitive
        page.fill("#kv-search", "환불")
        page.wait_for_function("() => Array.isArray(window.__kvRows)", timeout=10_000)
        page.wait_for_timeout(400)
        expected = [i for i, t in enumerate(tm.texts) if "환불" in t]
        assert sorted(_rows(page)) == expected and 2 in expected
        assert page.locator("#kv-table tbody tr").count() == min(len(expected), 1000)
        page.fill("#kv-search", "")
        page.wait_for_timeout(400)
        assert _rows(page) is None
        # a real lasso around the theme at (12, 12): every point in the region, also the ones not drawn
        poly = np.array(_lasso(page, (12, 12), 2.0))
        inside = np.flatnonzero(_inside(tm.coords[:, 0], tm.coords[:, 1], poly[:, 0], poly[:, 1]))
        got = sorted(_rows(page))
        assert len(inside) > 100
        assert abs(len(got) - len(inside)) <= max(2, 0.005 * len(inside)), (len(got), len(inside))
        assert len(set(got) ^ set(inside.tolist())) <= max(2, 0.005 * len(inside))
        # search inside the selection narrows it further
        page.fill("#kv-search", "화면")
        page.wait_for_timeout(400)
        narrowed = sorted(_rows(page))
        assert narrowed == [i for i in got if "화면" in tm.texts[i]] and 0 < len(narrowed) <= len(got)
        # the category filter narrows it too
        page.select_option("#kv-cat-filters select", label="앱")
        page.wait_for_timeout(600)
        assert sorted(_rows(page)) == [i for i in narrowed if i % 3 == 0]
        # CSV download: exactly the selected texts
        with page.expect_download() as dl:
            page.click("#kv-csv")
        raw = open(dl.value.path(), encoding="utf-8-sig").read()
        rows = list(csv.DictReader(io.StringIO(raw)))
        assert [int(r["index"]) for r in rows] == sorted(_rows(page))
        assert [r["text"] for r in rows] == [tm.texts[int(r["index"])] for r in rows]
        assert {r["product"] for r in rows} == {"앱"} and {r["theme"] for r in rows} == {"<b>화면</b>"}
        assert not log.console_errors and not log.page_errors, (log.console_errors, log.page_errors)
        assert log.external_requests == [], log.external_requests
    finally:
        page.close()
    assert size < 6_000_000  # plotly.js (4.6 MB) + 3,000 compressed points


def test_report_hostile_texts_stay_literal(tmp_path, browser):
    path, tm = _report(tmp_path, n=400)
    page, log = open_page(browser, path.as_uri())
    try:
        wait_for_plots(page, 1)
        page.wait_for_function("() => window.__kvReady === true", timeout=30_000)
        page.fill("#kv-search", "<")
        page.wait_for_timeout(400)
        assert sorted(_rows(page)) == [0, 1]
        cells = page.eval_on_selector_all("#kv-table tbody td:last-child", "tds => tds.map(t => t.textContent)")
        assert INJECTION in cells and SCRIPT in cells
        options = page.eval_on_selector_all("#kv-theme-filter option", "os => os.map(o => o.textContent)")
        assert "<b>화면</b>" in options
        # the CSV holds the hostile texts literally
        with page.expect_download() as dl:
            page.click("#kv-csv")
        rows = list(csv.DictReader(io.StringIO(open(dl.value.path(), encoding="utf-8-sig").read())))
        assert {r["text"] for r in rows} == {INJECTION, SCRIPT}
        page.wait_for_timeout(300)
        state = page.evaluate("""() => ({pwned: window.__pwned || 0, imgs: document.querySelectorAll('img').length,
            bold: document.querySelectorAll('#kv-tools b, #kv-table b').length})""")
        assert state == {"pwned": 0, "imgs": 0, "bold": 0}, state
        assert log.dialogs == [] and log.external_requests == []
        assert not log.console_errors and not log.page_errors, (log.console_errors, log.page_errors)
    finally:
        page.close()
