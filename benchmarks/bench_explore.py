"""The report's size and first render with its data compressed, against the previous uncompressed report,
in one run (headless Debian Chromium, SwiftShader WebGL, no GPU).

The new report: plotly.js, the figure, the meta JSON, the texts (a character-dictionary stream) and the
per-point arrays (byte planes, delta-coded indices) as gzip + base85 blocks opened by the page.

For each size (real NSMC reviews from ../shared/data/nsmc, synthetic 2-D layout with 25 themes):

* ``bytes``: the report file, plotly.js included; ``text_bytes``: the texts' UTF-8 size;
* ``page_drawn_s``: navigation to the drawn figure (the page's ``kosbert-viz:drawn`` mark) and
  ``ready_s`` to the search/lasso layer being ready (new report only); ``marks_s``: the page's own marks
  (``loader``, ``plotly-unpacked``/``plotly``: plotly.js's run began/ended, ``start``: page script (data blocks parsed),
  ``worker``: the Worker has the blocks, ``opened``/``texts``/``hover``: blocks gunzipped, texts decoded, hover strings
  built, in the Worker from 20k points (``plotly-from-worker``: it unpacked plotly.js), ``prepared``/``unpacked``:
  the results back on the page);
* ``steps``: what each step of the format saves (gzip bytes per block, texts as JSON vs the dictionary stream,
  the binary block plain vs byte planes + deltas, all blocks as base64 vs base85);
* the reference is the previous report format (plain UTF-8 figure JSON with per-point hover texts),
  rebuilt from ``git show <REFERENCE_COMMIT>:kosbert_viz/report.py``.

Target (issue 15): <= 7 MB at 100k reviews with plotly.js, first render the same or better.
The widget half (``--part widget``): ``kv.explore(coords=, labels=, texts=)`` (jupyter-scatter) in a real
``jupyter lab --no-browser`` (temporary root and settings, a token, a free port) driven by playwright, at 100k and 1M
synthetic points, one run per size:

* ``first_paint_s``: from executing the cell to the map's canvas holding coloured points (polled every 50 ms);
* ``lasso_to_python_s``: from the mouse-up of a real lasso drag (toolbar lasso button) to a polling cell seeing
  ``len(ex.selected) > 0``, less a no-op cell's round trip (``noop_cell_s``); a wide lasso over the middle
  (``lasso_n_selected`` points) and, after ``ex.select([])``, a small one (``small_lasso_*``). The polling cell is
  sent by the same page, so it also waits for the page's next frame to end;
* ``lasso_pointerup_to_kernel_s``: from the release as the page saw it (the pointerup event's time stamp) to the
  kernel's selection observer starting, i.e. ``ex.selected`` filled (``lasso_kernel_received_after_s``: the same end,
  from playwright's ``mouse.up()`` returning, which is after the lasso's own handler ran in the page;
  ``lasso_kernel_panel_update_s``: the panel's update after it);
* ``bytes_per_point``: websocket frames received by the page while the cell ran, over n (the texts are not
  sent up front; the widget's JS bundle travels in the same frames, a fixed cost that dominates at small n);
  ``marginal``: bytes per extra point between the two sizes, the fixed cost cancelled;
* reference: the same points as a plain plotly Scattergl figure's first paint in the same browser.

Targets (issue 15): 1M painted <= 10 s, lasso to Python <= 2 s, <= 24 bytes per point beyond the texts.

``--part frames`` (not in ``all``): the page's longest frame after ``ex.select`` of a third of a 1M map, and
after clearing it, for regl-scatterplot's option sets (``FRAME_CONFIGS``: jupyter-scatter's defaults, a thin
selection outline, ``performanceMode``, both), alternating in one page; the explorer's choice rests on it.

``medium_lasso_*``: a lasso over about half the wide one's width (75k of 1M points; its 300 KB selection message
also waits for the frame that draws the selection, see the README). ``lasso_repeats_*`` (1M only, ``--lasso-repeats``, default 5): the same wide lasso again, each after clearing the
selection, read from the kernel's time stamp 5 s later with no cell polling in between: its spread (the 1 MB
selection message either leaves the page before the frame that draws the selection or waits for it).

``--part build`` (in ``all``): the kernel's share of the first paint, ``kv.explore(...).widget`` built in a fresh
Python (imports included) against a hand-written jupyter-scatter plot of the same points, alternating.

Run: ``python benchmarks/bench_explore.py [--part report|widget|frames|build|all] [--sizes 100000] [--widget-sizes 100000,1000000]``;
JSON to benchmarks/results/bench_explore.json (a part not run keeps its previous numbers there).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
REFERENCE_COMMIT = "fcd87a0"  # the last commit with the uncompressed report
NSMC = ROOT.parent / "shared" / "data" / "nsmc" / "raw_reviews.tsv.gz"


def _texts(n: int) -> list[str]:
    out = []
    with gzip.open(NSMC, "rt", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            review = line.rstrip("\n").split("\t", 4)[-1].strip()
            if review:
                out.append(review)
            if len(out) >= n:
                break
    return out


def _old_report_module():
    src = subprocess.run(
        ["git", "show", f"{REFERENCE_COMMIT}:kosbert_viz/report.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    src = src.replace("from .plot import", "from kosbert_viz.viz.scatter import")
    mod = types.ModuleType("kosbert_viz_old_report")
    exec(compile(src, "old_report.py", "exec"), mod.__dict__)
    return mod


def _render(browser, path: Path, ready: bool, timeout_s: float = 120) -> dict:
    from browser_helpers import open_page, wait_for_plots

    t = time.perf_counter()
    page, log = open_page(browser, path.as_uri(), timeout_ms=int(timeout_s * 1000))
    try:
        wait_for_plots(page, 1, timeout_ms=int(timeout_s * 1000))
        out = {"wall_s": round(time.perf_counter() - t, 3)}
        if ready:
            page.wait_for_function("() => window.__kvReady === true", timeout=timeout_s * 1000)
            out["ready_wall_s"] = round(time.perf_counter() - t, 3)
        marks = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
                                   .map(m => [m.name, m.startTime]))""")
        if "kosbert-viz:drawn" in marks:
            out["page_drawn_s"] = round(marks["kosbert-viz:drawn"] / 1000, 3)
        # where the new page spends its time: data opened (plotly.js run), texts decoded, hover strings built
        out["marks_s"] = {
            k.split(":", 1)[1]: round(v / 1000, 3) for k, v in marks.items() if k.startswith("kosbert-viz:")
        }
        out["console_errors"] = len(log.console_errors) + len(log.page_errors)
        return out
    finally:
        page.close()


def _size_steps(doc: str, texts, xy, labels) -> dict:
    """What each step of the format saves, in bytes (gzip sizes; the page stores them base85)."""
    import re

    from kosbert_viz.report.ui import encode_texts

    def gz(raw: bytes, level: int = 6) -> int:
        return len(gzip.compress(raw, compresslevel=level, mtime=0))

    blocks = {
        m.group(1): {"chars": len(m.group(3)), "gzip_bytes": int(m.group(2))}
        for m in re.finditer(r'id="kv-([a-z]+)" data-encoding="gzip\+base85" data-length="(\d+)">([^<]*)</script>', doc)
    }
    packed = sum(b["gzip_bytes"] for b in blocks.values())
    n = len(texts)
    xy32 = np.asarray(xy, np.float32)
    idx = [np.flatnonzero(labels == c).astype(np.int32) for c in np.unique(labels)]
    plain = (
        xy32[:, 0].tobytes()
        + xy32[:, 1].tobytes()
        + labels.astype(np.int32).tobytes()
        + b"".join(i.tobytes() for i in idx)
    )
    return {
        "blocks": blocks,
        "plotly_js": {"raw": len(get_plotlyjs_bytes()), "gzip9": blocks["plotly"]["gzip_bytes"]},
        "texts": {
            "json_gzip": gz(json.dumps(list(texts), ensure_ascii=False, separators=(",", ":")).encode()),
            "dictionary_stream_gzip": blocks["texts"]["gzip_bytes"],
            "dictionary_stream_raw": len(encode_texts(texts)[1]),
        },
        "binary": {"plain_int32_gzip": gz(plain), "planes_and_delta_gzip": blocks["binary"]["gzip_bytes"]},
        "all_blocks_as_base64": sum(4 * -(-b["gzip_bytes"] // 3) for b in blocks.values()),
        "all_blocks_as_base85": sum(b["chars"] for b in blocks.values()),
        "gzip_bytes": packed,
        "n": n,
    }


def get_plotlyjs_bytes() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


def report_main(args) -> dict:
    import kosbert_viz as kv
    from kosbert_viz.report.html import report_html

    old = _old_report_module()
    results = {
        "reference": f"report.py at {REFERENCE_COMMIT} (uncompressed)",
        "target": {"bytes": 7_000_000, "page_drawn": "<= old"},
        "format": "plotly.js, figure, meta, texts (character dictionary), binary "
        "(byte planes, delta indices): gzip + base85 blocks",
        "sizes": {},
    }
    from browser_helpers import launch
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = launch(pw)
        for n in [int(s) for s in args.sizes.split(",")]:
            texts = _texts(n)
            n = len(texts)
            rng = np.random.default_rng(0)
            labels = rng.integers(0, 25, n)
            xy = rng.normal(scale=12, size=(25, 2))[labels] + rng.normal(size=(n, 2))
            names = {c: f"주제 {c}" for c in range(25)}
            fig = kv.cluster_map(xy, labels=labels, texts=texts, names=names)
            row = {"text_bytes": sum(len(t.encode()) for t in texts)}
            t = time.perf_counter()
            new_html = report_html(fig, title="bench", texts=texts, coords=xy, labels=labels, names=names)
            row["new_build_s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            old_html = old.report_html(fig, title="bench")
            row["old_build_s"] = round(time.perf_counter() - t, 3)
            for name, doc in (("new", new_html), ("old", old_html)):
                p = Path(tmp) / f"{name}-{n}.html"
                p.write_text(doc, encoding="utf-8")
                row[f"{name}_bytes"] = p.stat().st_size
            # render alternately, five times each, keep the fastest and the median (the machine is shared)
            drawn = {"old": [], "new": []}
            for name in ("old", "new") * 5:
                r = _render(browser, Path(tmp) / f"{name}-{n}.html", ready=name == "new")
                drawn[name].append(r.get("page_drawn_s", float("nan")))
                best = row.get(f"{name}_render")
                if best is None or r.get("page_drawn_s", 1e9) < best.get("page_drawn_s", 1e9):
                    row[f"{name}_render"] = r
            for name, runs in drawn.items():
                row[f"{name}_render"]["page_drawn_runs_s"] = runs
                row[f"{name}_render"]["page_drawn_median_s"] = float(np.median(runs))
            row["size_ratio_new_over_old"] = round(row["new_bytes"] / row["old_bytes"], 3)
            row["render_ratio_new_over_old"] = round(
                row["new_render"]["page_drawn_s"] / row["old_render"]["page_drawn_s"], 3
            )
            row["median_render_ratio_new_over_old"] = round(
                row["new_render"]["page_drawn_median_s"] / row["old_render"]["page_drawn_median_s"], 3
            )
            row["steps"] = _size_steps(new_html, texts, xy, labels)
            results["sizes"][str(n)] = row
            print(json.dumps({n: row}, ensure_ascii=False), file=sys.stderr)
        browser.close()
    return results


# ---------------------------------------------------------------------------------------------- widget half
# kv.explore in a real ``jupyter lab --no-browser`` (temporary root/config/settings, token, free port), driven
# by playwright in Debian's headless Chromium (SwiftShader). Synthetic data: 25 Gaussian themes, short texts.

PAINT_JS = """() => { const boxes = document.querySelectorAll('.kosbert-viz-explorer');
  if (!boxes.length) return null; const box = boxes[boxes.length - 1];
  const cs = [...box.querySelectorAll('canvas')].filter(c => c.width > 100 && c.height > 100)
             .sort((a, b) => b.width * b.height - a.width * a.height);
  if (!cs.length) return null;
  const c = cs[0]; let ctx = null;
  try { ctx = c.getContext('2d'); } catch (e) { ctx = null; }
  if (!ctx) return {kind: 'webgl', colored: -1};
  const d = ctx.getImageData(0, 0, c.width, c.height).data; let colored = 0;
  for (let i = 0; i < d.length; i += 4 * 7) {   // sampled: pixels whose colour is not grey/white/transparent
    if (d[i + 3] > 0 && (Math.abs(d[i] - d[i + 1]) > 12 || Math.abs(d[i + 1] - d[i + 2]) > 12)) colored++;
  }
  return {kind: '2d', colored}; }"""
LAST_CANVAS_JS = """() => { const boxes = document.querySelectorAll('.kosbert-viz-explorer'); const box = boxes[boxes.length - 1];
  const cs = [...box.querySelectorAll('canvas')].map(c => c.getBoundingClientRect())
             .filter(r => r.width > 100 && r.height > 100).sort((a, b) => b.width * b.height - a.width * a.height);
  return cs.length ? {x: cs[0].x, y: cs[0].y, width: cs[0].width, height: cs[0].height} : null; }"""

# the synthetic map of every widget measurement (``.format(n=...)``; numpy imported as np)
DATA_CODE = """_rng = np.random.default_rng(0)
labels = _rng.integers(0, 25, {n})
coords = (_rng.normal(scale=12, size=(25, 2))[labels] + _rng.normal(size=({n}, 2))).astype(np.float32)
texts = [f"리뷰 {{i}}: 배송이 빨라요 {{i % 97}}" for i in range({n})]
"""
SETUP_CELL = (
    "import time, json, numpy as np, kosbert_viz as kv\n"
    + DATA_CODE
    + """print(json.dumps({{"text_bytes": sum(len(t.encode()) for t in texts)}}))"""
)
SELECTION_PROBE_CELL = """import json, time as _time
_sel_seen = []
_refresh = ex._refresh_panel
def _timed_refresh():  # runs from the selection trait's observer: ex.selected is filled when it starts
    _t0 = _time.time()
    _refresh()
    _sel_seen.append((_t0, _time.time()))
ex._refresh_panel = _timed_refresh
print("probe ready")"""
# the page notes when each real mouse button release happened (epoch ms, the event's own time stamp)
POINTERUP_PROBE_JS = """() => { window.__kvUps = [];
  window.addEventListener('pointerup', (e) => window.__kvUps.push(performance.timeOrigin + e.timeStamp), true); }"""

EXPLORE_CELL = """_t = time.perf_counter()
ex = kv.explore(coords=coords, labels=labels, texts=texts)
_w = ex.widget
_build_s = time.perf_counter() - _t
ex"""


PAINTED_JS = f"() => {{ const p = ({PAINT_JS})(); return p && (p.colored > 50 || p.colored < 0); }}"
# a new cell below the last one, holding ``code``, run (the cell is kept as window.__kvCell)
RUN_IN_NEW_CELL_JS = """(code) => { const app = window.jupyterapp, nb = app.shell.currentWidget.content;
  nb.activeCellIndex = nb.widgets.length - 1;
  return app.commands.execute('notebook:insert-cell-below').then(() => {
    const cell = nb.activeCell; cell.model.sharedModel.setSource(code); window.__kvCell = cell;
    return app.commands.execute('notebook:run-cell'); }); }"""


def _open_notebook(page, lab: dict, name: str) -> None:
    """Write an empty notebook ``name`` into the server's root, open it in ``page``, wait for its kernel,
    and hide the left area (room for the map)."""
    from test_explore_lab import KERNEL_READY_JS

    (lab["root"] / name).write_text(
        json.dumps(
            {
                "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ""}],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    page.goto(f"{lab['url']}/lab/tree/{name}?token={lab['token']}", wait_until="load")
    page.wait_for_function(KERNEL_READY_JS, timeout=120_000, polling=200)
    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")


@contextlib.contextmanager
def _lab_server():
    """``jupyter lab --no-browser`` on a free port with a token, everything in a temporary folder
    (``tests/browser_helpers.jupyter_lab``, the server the JupyterLab test uses)."""
    from browser_helpers import jupyter_lab

    with tempfile.TemporaryDirectory() as tmp, jupyter_lab(tmp) as server:
        yield server


def _map_box(page, explorer) -> dict:
    """The map canvas's box, after scrolling the explorer back into view (new cells scroll the notebook)."""
    explorer.scroll_into_view_if_needed()
    page.mouse.move(1, 1)
    page.wait_for_timeout(500)
    return page.evaluate(LAST_CANVAS_JS)


def _widget_size(browser, lab: dict, n: int, timeout_s: float, lasso_repeats: int = 0) -> dict:
    from test_explore_lab import _lasso, _run_cell

    frames = {"received": 0, "sent": 0}

    def _size(payload) -> int:
        return len(payload.encode("utf-8")) if isinstance(payload, str) else len(payload)

    def _ws(ws):
        ws.on("framereceived", lambda p: frames.__setitem__("received", frames["received"] + _size(p)))
        ws.on("framesent", lambda p: frames.__setitem__("sent", frames["sent"] + _size(p)))

    console, page_errors = [], []
    page = browser.new_page(viewport={"width": 1700, "height": 1000})
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    page.on("websocket", _ws)
    row: dict = {"n": n}
    try:
        _open_notebook(page, lab, f"bench_{n}.ipynb")
        setup = json.loads(_run_cell(page, SETUP_CELL.format(n=n), timeout_ms=int(timeout_s * 1000)))
        row["text_bytes"] = setup["text_bytes"]
        # polling overhead: a no-op cell's round trip (median of 5)
        noop = []
        for _ in range(5):
            t = time.perf_counter()
            _run_cell(page, "print(0)")
            noop.append(time.perf_counter() - t)
        row["noop_cell_s"] = round(float(np.median(noop)), 3)

        # (1) execute the cell -> the map's canvas has coloured points
        before = dict(frames)
        t0 = time.perf_counter()
        page.evaluate(RUN_IN_NEW_CELL_JS, EXPLORE_CELL)
        page.wait_for_function(PAINTED_JS, timeout=timeout_s * 1000, polling=50)
        row["first_paint_s"] = round(time.perf_counter() - t0, 3)
        row["paint_probe"] = page.evaluate(PAINT_JS)
        page.wait_for_function(
            """() => { const c = window.__kvCell;
            const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            return !!(c.model.executionCount && k.status === 'idle'); }""",
            timeout=timeout_s * 1000,
            polling=100,
        )
        page.wait_for_timeout(500)  # late widget messages
        row["cell_idle_s"] = round(time.perf_counter() - t0, 3)
        got = {k: frames[k] - before[k] for k in frames}
        row["ws_bytes_to_browser"] = got["received"]
        row["ws_bytes_from_browser"] = got["sent"]
        row["bytes_per_point"] = round(got["received"] / n, 2)
        # fewer bytes than the texts alone: the texts are not sent up front (tooltips fetch them)
        row["all_texts_could_be_in_frames"] = got["received"] >= row["text_bytes"]
        row["kernel_build_s"] = round(float(_run_cell(page, "print(_build_s)")), 3)

        # (2) lasso -> the kernel sees len(ex.selected) > 0
        # the kernel notes when each selection reaches it and how long the panel update takes
        _run_cell(page, SELECTION_PROBE_CELL, timeout_ms=int(timeout_s * 1000))
        explorer = page.locator(".kosbert-viz-explorer").last
        explorer.scroll_into_view_if_needed()
        explorer.locator("button[title='Activate lasso selection']").click()
        page.mouse.move(1, 1)
        box = page.evaluate(LAST_CANVAS_JS)
        page.evaluate(POINTERUP_PROBE_JS)
        before = dict(frames)
        # a wide lasso over the middle of the map, then (selection cleared) a medium and a small one
        for name, frac in (("lasso", (0.35, 0.65)), ("medium_lasso", (0.42, 0.58)), ("small_lasso", (0.47, 0.53))):
            if name != "lasso":
                box = _map_box(page, explorer)
            _lasso(page, box, fx=frac, fy=frac)
            t_up = time.perf_counter()
            t_up_epoch = time.time()
            polls = 0
            while True:
                polls += 1
                # one cell: the count, and the kernel's probe notes (a second cell would scroll the map away)
                out = _run_cell(
                    page, "print(len(ex.selected), json.dumps(_sel_seen))", timeout_ms=int(timeout_s * 1000)
                )
                count, _, notes = out.strip().partition(" ")
                if int(count or 0) > 0:
                    break
                if name == "small_lasso" and time.perf_counter() - t_up > 30:
                    break  # a lasso over an empty spot selects nothing and sends nothing: not a failure
                if time.perf_counter() - t_up > timeout_s:
                    raise TimeoutError(f"the kernel never saw the {name}'s selection")
            if int(count or 0) == 0:
                row[f"{name}_n_selected"] = 0
                row[f"{name}_note"] = "no point under this lasso (nothing reached the kernel in 30 s)"
                continue
            raw = time.perf_counter() - t_up
            row[f"{name}_n_selected"] = int(count)
            row[f"{name}_polls"] = polls
            row[f"{name}_to_python_raw_s"] = round(raw, 3)
            row[f"{name}_to_python_s"] = round(max(raw - row["noop_cell_s"], 0.0), 3)
            seen = json.loads(notes or "[]")
            if seen:  # (epoch when the selection reached the kernel, epoch when the panel was updated)
                row[f"{name}_kernel_received_after_s"] = round(seen[-1][0] - t_up_epoch, 3)
                row[f"{name}_kernel_panel_update_s"] = round(seen[-1][1] - seen[-1][0], 3)
                ups = page.evaluate("() => window.__kvUps")
                if ups:  # the release in the page: mouse.up() returns only after the lasso's own handler ran
                    row[f"{name}_pointerup_before_mouse_up_return_s"] = round(t_up_epoch - ups[-1] / 1000, 3)
                    row[f"{name}_pointerup_to_kernel_s"] = round(seen[-1][0] - ups[-1] / 1000, 3)
            if name == "lasso":
                row["lasso_ws_bytes_from_browser"] = frames["sent"] - before["sent"]
            if name != "small_lasso":
                _run_cell(
                    page, "ex.select([]); _sel_seen.clear(); print(len(ex.selected))", timeout_ms=int(timeout_s * 1000)
                )
                page.wait_for_timeout(1000)
        # (3) the same wide lasso again, each after clearing the selection; nothing polls while it travels (a cell
        # would leave the same page), the kernel's time stamp is read 5 s later
        if lasso_repeats:
            row["lasso_repeats_pointerup_to_kernel_s"] = []
        for _ in range(lasso_repeats):
            _run_cell(page, "ex.select([]); print(len(ex.selected))", timeout_ms=int(timeout_s * 1000))
            page.wait_for_timeout(2000)  # the page echoes the cleared selection back
            _run_cell(page, "_sel_seen.clear(); print(0)", timeout_ms=int(timeout_s * 1000))
            _lasso(page, _map_box(page, explorer), fx=(0.35, 0.65), fy=(0.35, 0.65))
            page.wait_for_timeout(5000)
            seen = json.loads(_run_cell(page, "print(json.dumps(_sel_seen))", timeout_ms=int(timeout_s * 1000)))
            up = page.evaluate("() => window.__kvUps")[-1] / 1000
            after = [t0 for t0, _ in seen if t0 > up]
            row["lasso_repeats_pointerup_to_kernel_s"].append(round(after[0] - up, 3) if after else None)
        if lasso_repeats:
            vals = [v for v in row["lasso_repeats_pointerup_to_kernel_s"] if v is not None]
            row["lasso_repeats_median_s"] = round(float(np.median(vals)), 3) if vals else None
            row["lasso_repeats_within_2s"] = f"{sum(v <= 2 for v in vals)} of {len(vals)}"
        row["console_errors"] = len(console) + len(page_errors)
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    finally:
        page.close()
    return row


def _plotly_reference(browser, n: int, tmp: Path, timeout_s: float) -> dict:
    """The same synthetic n drawn as a plain plotly Scattergl figure (plotly.js inline), first paint in Chromium."""
    import plotly.graph_objects as go
    from browser_helpers import open_page, wait_for_plots

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 25, n)
    xy = (rng.normal(scale=12, size=(25, 2))[labels] + rng.normal(size=(n, 2))).astype(np.float32)
    fig = go.Figure(
        go.Scattergl(
            x=xy[:, 0], y=xy[:, 1], mode="markers", marker=dict(color=labels, colorscale="Turbo", size=3, opacity=0.8)
        )
    )
    path = tmp / f"plotly-{n}.html"
    fig.write_html(path, include_plotlyjs=True)
    t = time.perf_counter()
    page, log = open_page(browser, path.as_uri(), timeout_ms=int(timeout_s * 1000))
    try:
        wait_for_plots(page, 1, timeout_ms=int(timeout_s * 1000))
        return {
            "first_paint_s": round(time.perf_counter() - t, 3),
            "html_bytes": path.stat().st_size,
            "console_errors": len(log.console_errors) + len(log.page_errors),
        }
    finally:
        page.close()


def widget_main(sizes: list[int], timeout_s: float, lasso_repeats: int = 0) -> dict:
    from browser_helpers import launch
    from playwright.sync_api import sync_playwright

    out = {
        "setup": "kv.explore(coords=, labels=, texts=) in jupyter lab --no-browser, headless Debian Chromium "
        "(SwiftShader WebGL), synthetic 25 themes; one run per size",
        "reference": "the same points as a plotly Scattergl figure (write_html, plotly.js inline), same browser",
        "targets": {"first_paint_1M_s": 10, "lasso_to_python_s": 2, "bytes_per_point_beyond_texts": 24},
        "sizes": {},
    }
    with sync_playwright() as pw, _lab_server() as lab, tempfile.TemporaryDirectory() as tmp:
        browser = launch(pw)
        for n in sizes:
            row = {}
            try:
                row["explore"] = _widget_size(browser, lab, n, timeout_s, lasso_repeats if n >= 1_000_000 else 0)
            except Exception as exc:  # report what failed (e.g. a timeout at 1M) instead of losing the other size
                import traceback

                row["explore"] = {
                    "n": n,
                    "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                    "where": [
                        f"{f.name}:{f.lineno} {f.line}"
                        for f in traceback.extract_tb(exc.__traceback__)
                        if "playwright" not in f.filename
                    ],
                }
            try:
                row["plotly_scattergl"] = _plotly_reference(browser, n, Path(tmp), timeout_s)
            except Exception as exc:
                row["plotly_scattergl"] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            out["sizes"][str(n)] = row
            print(json.dumps({n: row}, ensure_ascii=False), file=sys.stderr)
        browser.close()
    out["marginal"] = marginal_bytes(out["sizes"])
    return out


FRAME_CONFIGS = {  # regl-scatterplot options compared by --part frames (kosbert_viz.explorer.scatter.renderer_options)
    "jupyter-scatter defaults": {},
    "thin selection outline": {"pointSizeSelected": 0, "pointOutlineWidth": 1},
    "performanceMode": {"performanceMode": True},
    "both (what the explorer uses from 500k points)": {
        "pointSizeSelected": 0,
        "pointOutlineWidth": 1,
        "performanceMode": True,
    },
}
FRAME_LOOP_JS = """() => { window.__kvFrames = []; const now = () => performance.timeOrigin + performance.now();
  const loop = () => { window.__kvFrames.push(now()); requestAnimationFrame(loop); }; requestAnimationFrame(loop); }"""


def frames_main(n: int, reps: int, timeout_s: float) -> dict:
    """The page's longest frame after a selection made from Python (``ex.select``: the points of a central
    square, about a third of the map) and after clearing it, for each option set in ``FRAME_CONFIGS``,
    alternating, in one JupyterLab page. The frame after a lasso is the same draw: the selected points get
    three extra passes (outline, inner border, body)."""
    from browser_helpers import launch
    from playwright.sync_api import sync_playwright
    from test_explore_lab import _run_cell

    out = {
        "setup": f"kv.explore(coords=, labels=, texts=) of {n:,} synthetic points in jupyter lab, headless Chromium "
        "(SwiftShader WebGL); each option set alternately, the longest gap between animation frames "
        "within 3.5 s of ex.select(points) / ex.select([])",
        "n": n,
        "configs": {},
    }
    ms = int(timeout_s * 1000)
    with sync_playwright() as pw, _lab_server() as lab:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1700, "height": 1000})
        _open_notebook(page, lab, "frames.ipynb")
        _run_cell(page, SETUP_CELL.format(n=n), timeout_ms=ms)
        out["n_selected"] = int(
            _run_cell(
                page,
                "import kosbert_viz.explorer.scatter as _E\n"
                "sel = np.flatnonzero((np.abs(coords - coords.mean(0)) < 9).all(1)); "
                "print(len(sel))",
                timeout_ms=ms,
            )
        )
        page.evaluate(FRAME_LOOP_JS)
        for name, cfg in FRAME_CONFIGS.items():
            out["configs"][name] = {"options": cfg, "selected_frame_s": [], "cleared_frame_s": []}
        for _ in range(reps):
            for name, cfg in FRAME_CONFIGS.items():
                row = out["configs"][name]
                _run_cell(page, f"_E.renderer_options = lambda n, _o={json.dumps(cfg)!r}: json.loads(_o); print(1)")
                page.evaluate(RUN_IN_NEW_CELL_JS, EXPLORE_CELL)
                page.wait_for_function(PAINTED_JS, timeout=ms, polling=50)
                page.wait_for_timeout(4000)
                page.locator(".kosbert-viz-explorer").last.scroll_into_view_if_needed()
                for key, code in (
                    ("selected_frame_s", "ex.select(sel); print(1)"),
                    ("cleared_frame_s", "ex.select([]); print(1)"),
                ):
                    t = time.time() * 1000
                    _run_cell(page, code, timeout_ms=ms)
                    page.wait_for_timeout(3500)
                    fr = page.evaluate(f"() => window.__kvFrames.filter(f => f > {t})")
                    gaps = [b - a for a, b in zip(fr, fr[1:])]
                    row[key].append(round(max(gaps) / 1000, 3) if gaps else None)
                print(name, row, file=sys.stderr)
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
                _run_cell(page, "del ex, _w; import gc; gc.collect(); print(1)", timeout_ms=ms)
                page.wait_for_timeout(2000)
        browser.close()
    for row in out["configs"].values():
        for key in ("selected_frame_s", "cleared_frame_s"):
            vals = [v for v in row[key] if v is not None]
            row["median_" + key] = round(float(np.median(vals)), 3) if vals else None
    return out


BUILD_SCRIPT = """import json, sys, time
import numpy as np
mode = sys.argv[1]
{data}t0 = time.perf_counter()
if mode == "explore":
    import kosbert_viz as kv

    widget = kv.explore(coords=coords, labels=labels, texts=texts).widget
else:  # what an analyst writes by hand with jupyter-scatter: a DataFrame, colour by theme, texts in the tooltip
    import jscatter
    import pandas as pd

    df = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "theme": pd.Categorical(labels.astype(str)),
                       "text": texts})
    widget = jscatter.Scatter(data=df, x="x", y="y", color_by="theme", tooltip=True,
                              tooltip_properties=["theme", "text"]).show()
print(json.dumps({"build_s": round(time.perf_counter() - t0, 3)}))
"""


def build_main(n: int, reps: int) -> dict:
    """The kernel's part of the first paint: building the widget in a fresh Python (imports included, data made
    before the clock starts), ``kv.explore`` against a hand-written jupyter-scatter plot of the same points (colour
    by theme, theme and text in the tooltip), alternating, each in its own process."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = {
        "setup": f"{n:,} synthetic points, 25 themes; a fresh python per build, imports timed, data made before "
        "the clock starts; the two alternate",
        "n": n,
        "explore_s": [],
        "hand_written_jscatter_s": [],
    }
    script = BUILD_SCRIPT.replace("{data}", DATA_CODE.format(n=n))
    for _ in range(reps):
        for mode, key in (("explore", "explore_s"), ("jscatter", "hand_written_jscatter_s")):
            run = subprocess.run(
                [sys.executable, "-c", script, mode], capture_output=True, text=True, env=env, timeout=900
            )
            if run.returncode != 0:
                raise RuntimeError(f"{mode} build failed: {run.stderr[-2000:]}")
            out[key].append(json.loads(run.stdout.strip().splitlines()[-1])["build_s"])
            print(mode, out[key][-1], file=sys.stderr)
    for key in ("explore_s", "hand_written_jscatter_s"):
        out["median_" + key] = round(float(np.median(out[key])), 3)
    out["ratio"] = round(out["median_explore_s"] / out["median_hand_written_jscatter_s"], 3)
    return out


def marginal_bytes(sizes: dict) -> dict | None:
    """Bytes per extra point between the smallest and largest size: the fixed cost (the widget's JS bundle,
    the panel, the kernel messages) cancels out. Texts travel only partly (tooltips ask for them), so this
    is the number to hold against the 24-byte target."""
    ok = sorted(
        (int(n), r["explore"]["ws_bytes_to_browser"])
        for n, r in sizes.items()
        if "ws_bytes_to_browser" in r.get("explore", {})
    )
    if len(ok) < 2:
        return None
    (n0, b0), (n1, b1) = ok[0], ok[-1]
    return {
        "from_n": n0,
        "to_n": n1,
        "bytes_per_point": round((b1 - b0) / (n1 - n0), 2),
        "fixed_bytes_estimate": int(b0 - (b1 - b0) / (n1 - n0) * n0),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["report", "widget", "frames", "build", "all"], default="all")
    ap.add_argument("--sizes", default="100000", help="report sizes")
    ap.add_argument("--widget-sizes", default="100000,1000000")
    ap.add_argument("--frames-n", type=int, default=1_000_000, help="points for --part frames")
    ap.add_argument("--frames-reps", type=int, default=3)
    ap.add_argument("--lasso-repeats", type=int, default=5, help="extra wide lassos at 1M points (--part widget)")
    ap.add_argument("--build-n", type=int, default=1_000_000, help="points for --part build")
    ap.add_argument("--build-reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600, help="seconds per step of the widget half")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_explore.json"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    if args.part in ("report", "all"):
        kept = {k: results[k] for k in ("widget", "frames", "build") if k in results}
        results = report_main(args)
        results.update(kept)
    if args.part in ("widget", "all"):
        results["widget"] = widget_main(
            [int(s) for s in args.widget_sizes.split(",")], args.timeout, args.lasso_repeats
        )
    if args.part in ("build", "all"):
        results["build"] = build_main(args.build_n, args.build_reps)
    if args.part == "frames":  # not in "all": a diagnosis of the renderer options, not a target
        results["frames"] = frames_main(args.frames_n, args.frames_reps, args.timeout)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
