"""Drive Debian's headless Chromium with playwright (no downloaded browsers) for the browser tests
and ``benchmarks/bench_plot.py``.

Chromium comes from ``.ci/install_browser.sh`` (apt-get install chromium fonts-noto-cjk);
``KOSBERT_VIZ_CHROMIUM`` points at another binary.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    # no GPU: WebGL through SwiftShader (software), so Scattergl really gets a WebGL canvas
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def chromium_path() -> str | None:
    if os.environ.get("KOSBERT_VIZ_CHROMIUM"):
        return os.environ["KOSBERT_VIZ_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def launch(playwright):
    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium found: run .ci/install_browser.sh (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)


@dataclass
class PageLog:
    console_errors: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)
    external_requests: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)


def open_page(browser, url: str, *, stub_external: bool = False, viewport=(1400, 1000), timeout_ms: int = 60_000):
    """Open ``url`` and record console errors, page errors, dialogs and requests that leave the machine.

    With ``stub_external`` every non-local request is answered locally with an empty body
    (and still recorded), so a page that references a CDN it does not need (nbconvert's
    require.js / MathJax) neither reaches the network nor logs a load error.
    """
    log = PageLog()
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log.page_errors.append(str(e)))

    def _dialog(d):
        log.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", _dialog)

    def _route(route):
        req = route.request
        if req.url.startswith(LOCAL_SCHEMES):
            return route.continue_()
        log.external_requests.append(req.url)
        if stub_external:
            ctype = "text/javascript" if ".js" in req.url else "text/plain"
            return route.fulfill(status=200, body="", content_type=ctype)
        return route.abort()

    page.route("**/*", _route)
    page.on("request", lambda r: None)
    page.goto(url, wait_until="load", timeout=timeout_ms)
    return page, log


WAIT_PLOTS_JS = """(n) => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  if (plots.length < n) return false;
  return plots.every(gd => gd._fullLayout && gd._fullData && !gd._transitioning
                        && gd.querySelector('.main-svg'));
}"""


def wait_for_plots(page, n: int = 1, timeout_ms: int = 60_000) -> float:
    """Wait until at least ``n`` plotly figures are drawn; returns the seconds waited."""
    t = time.perf_counter()
    page.wait_for_function(WAIT_PLOTS_JS, arg=n, timeout=timeout_ms, polling=50)
    return time.perf_counter() - t


def plot_summary(page) -> list[dict]:
    """Per figure on the page: trace types, whether a WebGL context exists, points drawn."""
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
      const canv = [...gd.querySelectorAll('canvas')];
      const gl = canv.some(c => { try { return !!(c.getContext('webgl') || c.getContext('webgl2')
                                         || c.getContext('experimental-webgl')); } catch (e) { return false; } });
      return {types: gd._fullData.map(t => t.type), canvases: canv.length, webgl: gl,
              points: gd._fullData.reduce((s, t) => s + ((t._length) || 0), 0)};
    })""")


FIND_POINT_JS = r"""([plotIndex, needle, avoidLabels]) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')][plotIndex];
  gd.scrollIntoView({block: 'center'});
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  const rect = gd.getBoundingClientRect();
  const anns = [...gd.querySelectorAll('.annotation, .legend')].map(a => a.getBoundingClientRect());
  const pts = [];
  gd._fullData.forEach((t, ti) => {
    if (t.type !== 'scattergl' || !t.visible || t.visible === 'legendonly' || !t.text || !t.text.length) return;
    for (let i = 0; i < t._length; i++) {
      pts.push({t: ti, i, px: rect.left + xa._offset + xa.l2p(t.x[i]), py: rect.top + ya._offset + ya.l2p(t.y[i]),
                text: String(t.text[i])});
    }
  });
  const hangul = /[\uac00-\ud7a3]/;
  let best = null, bestD = -1;
  for (const p of pts) {
    if (needle ? !p.text.includes(needle) : !hangul.test(p.text)) continue;
    if (p.px < rect.left + xa._offset + 5 || p.px > rect.left + xa._offset + xa._length - 5) continue;
    if (p.py < rect.top + ya._offset + 5 || p.py > rect.top + ya._offset + ya._length - 5) continue;
    if (avoidLabels && anns.some(r => p.px > r.left - 4 && p.px < r.right + 4 && p.py > r.top - 4 && p.py < r.bottom + 4)) continue;
    let d = Infinity;
    for (const q of pts) { if (q !== p) d = Math.min(d, Math.hypot(q.px - p.px, q.py - p.py)); }
    if (d > bestD) { bestD = d; best = p; }
    if (bestD > 25) break;
  }
  if (best) best.gap = bestD;
  return best;
}"""


HOVER_LISTENER_JS = r"""(plotIndex) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')][plotIndex];
  window.__kvHovered = null;
  if (!gd.__kvListening) {
    gd.on('plotly_hover', e => {
      const p = e.points[0], t = gd._fullData[p.curveNumber], fl = gd._fullLayout;
      const rect = gd.getBoundingClientRect();
      window.__kvHovered = {t: p.curveNumber, i: p.pointNumber, text: String(t.text[p.pointNumber]),
                            px: rect.left + fl.xaxis._offset + fl.xaxis.l2p(t.x[p.pointNumber]),
                            py: rect.top + fl.yaxis._offset + fl.yaxis.l2p(t.y[p.pointNumber])};
    });
    gd.__kvListening = true;
  }
}"""


def hover_known_point(
    page, plot_index: int = 0, needle: str | None = None, timeout_ms: int = 10_000
) -> tuple[dict, str]:
    """Move the real mouse onto a well separated point with Korean text; return (point, hover text).

    The point is chosen from the figure's own data: the Korean-text point farthest from its
    neighbours, or with ``needle`` the most isolated point whose hover text contains it. In a
    dense map plotly.js may pick a neighbour a few pixels away, so the returned point is the
    one plotly.js reports in its ``plotly_hover`` event (its ``text`` is what the label must
    show), with ``chosen`` the point aimed at.
    """
    page.mouse.move(1, 1)
    page.wait_for_timeout(50)
    page.evaluate(HOVER_LISTENER_JS, plot_index)
    point = page.evaluate(FIND_POINT_JS, [plot_index, needle, True])
    if point is None:  # e.g. a tight cluster under its own name label: annotations do not block hover
        point = page.evaluate(FIND_POINT_JS, [plot_index, needle, False])
    if point is None:
        raise AssertionError("no hoverable point with Korean text found in the figure")
    page.mouse.move(point["px"] - 30, point["py"] - 30)
    page.mouse.move(point["px"], point["py"], steps=4)
    page.wait_for_selector(".hoverlayer .hovertext", timeout=timeout_ms)
    text = page.evaluate(
        "() => [...document.querySelectorAll('.hoverlayer .hovertext')].map(h => h.textContent).join('\\n')"
    )
    page.wait_for_function("() => window.__kvHovered !== null", timeout=timeout_ms)
    page.wait_for_timeout(100)  # the label and the event of the last mouse step
    text = page.evaluate(
        "() => [...document.querySelectorAll('.hoverlayer .hovertext')].map(h => h.textContent).join('\\n')"
    )
    hovered = page.evaluate("() => window.__kvHovered")
    gap = ((hovered["px"] - point["px"]) ** 2 + (hovered["py"] - point["py"]) ** 2) ** 0.5
    assert gap <= 20, f"plotly.js hovered a point {gap:.0f} px from the mouse: {hovered} vs {point}"
    hovered["chosen"] = point
    return hovered, text


def decode_pseudo_html(text: str) -> str:
    """What plotly.js displays for a hover string: <br> are line breaks (no text), entities decoded."""
    import html
    import re

    return html.unescape(re.sub(r"<br\s*/?>", "", text))


def squash(text: str) -> str:
    return "".join(text.split())


def inside_polygon(x, y, px, py):
    """Even-odd point in polygon, vectorised over the points: the rule of the report's lasso and of
    regl-scatterplot's (jupyter-scatter) lasso."""
    import numpy as np

    inside = np.zeros(len(x), bool)
    j = len(px) - 1
    for i in range(len(px)):
        cross = (py[i] > y) != (py[j] > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (px[j] - px[i]) * (y - py[i]) / (py[j] - py[i]) + px[i]
        inside ^= cross & (x < xint)
        j = i
    return inside


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(base, *, env: dict | None = None, start_timeout_s: float = 120):
    """``jupyter lab --no-browser`` on a free port with a token; root, config, settings, workspaces,
    runtime and the embedding cache all under ``base`` (no user settings). The extension manager is
    read-only and news/update checks are off, so the page never calls out. Yields url, token, root, log.
    """
    import json
    import secrets
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    base = Path(base)
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port, token = free_port(), secrets.token_hex(16)
    full_env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        HF_HUB_OFFLINE="1",
        KOSBERT_VIZ_CACHE=str(base / "cache"),
        PYTHONUNBUFFERED="1",
        **(env or {}),
    )
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [
        str(jupyter),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--allow-root",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.terminals_enabled=False",
    ]
    log_path = base / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(0.2)
        yield {"url": url, "token": token, "root": root, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


DRAWN_NAMES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
  const drag = gd.querySelector('.nsewdrag');
  const area = (drag || gd).getBoundingClientRect();
  const names = [];
  const anns = (gd.layout && gd.layout.annotations) || [];
  gd.querySelectorAll('g.annotation').forEach(g => {
    const a = anns[+g.getAttribute('data-index')];
    if (!a || (a.name !== 'theme-name' && a.name !== 'subtheme-name')) return;  // map names only, not notes
    const t = g.querySelector('g.annotation-text-g text');
    if (!t || !(t.textContent || '').trim()) return;
    const r = t.getBoundingClientRect();
    if (r.width > 0) names.push({text: t.textContent.trim(), x0: r.left, y0: r.top, x1: r.right, y1: r.bottom,
                                 size: parseFloat(getComputedStyle(t).fontSize)});
  });
  return {area: {x0: area.left, y0: area.top, x1: area.right, y1: area.bottom}, names};
})"""

ZOOM_DENSEST_JS = """(index) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[index];
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const xr = xa.range.slice(), yr = ya.range.slice(), counts = {};
  let best = null;
  for (const t of gd.data) {
    if (!t.x || !(t.type || '').startsWith('scatter')) continue;
    for (let i = 0; i < t.x.length; i++) {
      const cx = Math.floor((t.x[i] - xr[0]) / (xr[1] - xr[0]) * 8), cy = Math.floor((t.y[i] - yr[0]) / (yr[1] - yr[0]) * 8);
      if (cx < 0 || cx > 7 || cy < 0 || cy > 7) continue;
      const k = cx + ',' + cy;
      counts[k] = (counts[k] || 0) + 1;
      if (!best || counts[k] > counts[best]) best = k;
    }
  }
  const [bx, by] = best.split(',').map(Number);
  const mx = xr[0] + (bx + 0.5) * (xr[1] - xr[0]) / 8, my = yr[0] + (by + 0.5) * (yr[1] - yr[0]) / 8;
  const dx = (xr[1] - xr[0]) / 5, dy = (yr[1] - yr[0]) / 5;
  return Plotly.relayout(gd, {'xaxis.range': [mx - dx, mx + dx], 'yaxis.range': [my - dy, my + dy]});
}"""


def drawn_names(page, index: int = 0) -> dict:
    """The names drawn on figure ``index`` as the page shows them: text, box (px) and font size, plus the plot
    area; read from the page's own text boxes."""
    return page.evaluate(DRAWN_NAMES_JS)[index]


def name_problems(drawn: dict, slack: float = 1.0) -> dict:
    """{"overlapping": pairs of names whose boxes intersect, "cut": names crossing the plot area's edge}."""
    names, area = drawn["names"], drawn["area"]
    over = [
        (a["text"], b["text"])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if a["x0"] + slack < b["x1"]
        and b["x0"] + slack < a["x1"]
        and a["y0"] + slack < b["y1"]
        and b["y0"] + slack < a["y1"]
    ]
    cut = [
        n["text"]
        for n in names
        if n["x0"] < area["x0"] - slack
        or n["x1"] > area["x1"] + slack
        or n["y0"] < area["y0"] - slack
        or n["y1"] > area["y1"] + slack
    ]
    return {"overlapping": over, "cut": cut}


def zoom_densest(page, index: int = 0) -> None:
    """Zoom figure ``index`` into its densest region (an eighth of the view, 2/5 of the range wide) and wait
    for the names to settle."""
    page.evaluate(ZOOM_DENSEST_JS, index)
    page.wait_for_timeout(400)
