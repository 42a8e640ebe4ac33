"""Show figures in JupyterLab *and* keep them in ``jupyter nbconvert --to html``.

Why this exists (checked against plotly 6.x/7.x and nbconvert 7.x):

* In a Jupyter kernel Plotly >= 6 picks the ``plotly_mimetype`` renderer. Its output
  (``application/vnd.plotly.v1+json``) is drawn by JupyterLab's plotly extension, but
  nbconvert's HTML exporter has no way to represent it and silently drops the figure
  ("Your element with mimetype(s) ... is not able to be represented"; plotly.py #5365,
  nbconvert #2235).
* ``plotly_mimetype+notebook`` keeps both, but stores every figure twice, the HTML copy with
  each Hangul syllable as a 6-byte ``\\uXXXX`` escape (plus an escaped backslash in the
  .ipynb), and embeds plotly.js.

:func:`use_notebook_renderer` registers one renderer, ``"kosbert_viz"``, that writes each
figure as a small ``text/html`` output: a ``<div>`` and a script holding the figure as compact
UTF-8 JSON (numbers as base64 typed arrays). JupyterLab, Jupyter Notebook 7, VS Code and the
HTML that nbconvert produces all run it. plotly.js itself is emitted **once**, by the cell that
calls the helper (``mode="offline"``: embedded, ~4.8 MB, works without network;
``mode="connected"``: a ``<script src>`` to the plotly CDN, ~0.1 kB, needs network when viewed).
Small figures (under ``lab_json_limit`` bytes) also carry the plotly mimetype, so JupyterLab
draws them even in an untrusted notebook (where scripts in HTML outputs are not run).

Nothing happens at import; call the helper at the top of a notebook::

    import kosbert_viz as kv
    kv.use_notebook_renderer()      # once per notebook, re-run after a kernel restart
"""

from __future__ import annotations

import html
import json
import uuid

from kosbert_viz.viz.labels import figure_labels, label_script
from kosbert_viz.viz.scatter import figure_json

__all__ = ["use_notebook_renderer", "NotebookHTMLRenderer", "figure_html", "plotlyjs_html", "RENDERER_NAME"]

RENDERER_NAME = "kosbert_viz"
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
_CONFIG = {"responsive": True, "displaylogo": False}


def plotlyjs_html(mode: str = "offline") -> str:
    """The ``<script>`` that defines ``window.Plotly``: embedded (offline) or from the CDN (connected).

    >>> plotlyjs_html("connected")
    '<!-- kosbert_viz: plotly.js ... (connected) --><script src="https://cdn.plot.ly/plotly-....min.js" charset="utf-8"></script>'
    >>> len(plotlyjs_html("offline")) > 1_000_000      # plotly.js itself, embedded
    True
    """
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    marker = f"<!-- kosbert_viz: plotly.js {get_plotlyjs_version()} ({mode}) -->"
    if mode == "offline":
        # get_plotlyjs() contains no "</script" (it is made for inline embedding), checked below anyway
        js = get_plotlyjs()
        if "</script" in js.lower():  # pragma: no cover - would be a plotly packaging bug
            raise RuntimeError("plotly.js bundle contains '</script'; cannot inline it")
        return (
            f"{marker}<script type=\"text/javascript\">window.PlotlyConfig = {{MathJaxConfig: 'local'}};\n{js}</script>"
        )
    if mode == "connected":
        from plotly.offline import get_plotlyjs_version as _v

        src = f"https://cdn.plot.ly/plotly-{_v()}.min.js"
        return f'{marker}<script src="{src}" charset="utf-8"></script>'
    raise ValueError(f"mode must be 'offline' or 'connected', got {mode!r}")


def figure_html(
    fig, *, div_id: str | None = None, config: dict | None = None, height: int | None = None, wait_ms: int = 15000
) -> str:
    """A ``<div>`` plus a script that draws ``fig`` with the page's ``window.Plotly``.

    If plotly.js is not there yet (a notebook opened without running the helper's cell), the
    script waits ``wait_ms`` and then says so in the div instead of failing silently.

    >>> out = figure_html({"data": [{"type": "bar", "y": [1, 2]}], "layout": {}}, div_id="fig1")
    >>> out[:64]
    '<div id="fig1" class="kosbert-viz-figure" style="width:100%;heig'
    """
    fig_dict = fig if isinstance(fig, dict) else fig.to_dict()
    div_id = div_id or f"kv-{uuid.uuid4().hex[:12]}"
    layout = fig_dict.get("layout", {}) or {}
    h = height or layout.get("height") or 525
    cfg = json.dumps({**_CONFIG, **(config or {})}, separators=(",", ":"))
    payload = figure_json(fig_dict)
    # a map's names are placed in the page at its real size and after each zoom (viz/static/labels.js)
    has_names = bool(figure_labels(layout.get("meta")))
    labels_js = f'<script type="text/javascript">{label_script()}</script>' if has_names else ""
    return (
        f'<div id="{div_id}" class="kosbert-viz-figure" style="width:100%;height:{int(h)}px;"></div>'
        f'<script type="application/json" id="{div_id}-data">{payload}</script>'
        f"{labels_js}"
        '<script type="text/javascript">(function(){'
        f"var id={json.dumps(div_id)},cfg={cfg},t0=Date.now();"
        "function draw(){var el=document.getElementById(id),src=document.getElementById(id+'-data');"
        "if(!el||!src)return;var fig=JSON.parse(src.textContent);"
        "window.Plotly.newPlot(el,fig.data,fig.layout,cfg).then(function(){"
        "if(window.kvLabels)window.kvLabels.attach(el);});}"
        "function wait(){if(window.Plotly&&window.Plotly.newPlot){draw();}"
        f"else if(Date.now()-t0<{int(wait_ms)}){{setTimeout(wait,50);}}"
        "else{var el=document.getElementById(id);if(el){el.style.height='auto';"
        "el.textContent='plotly.js is not loaded: run the cell with kosbert_viz.use_notebook_renderer() "
        "(or trust the notebook) to see this figure.';}}}"
        "wait();})();</script>"
    )


def _mimetype_base():
    from plotly.io.base_renderers import MimetypeRenderer

    return MimetypeRenderer


class NotebookHTMLRenderer(_mimetype_base()):
    """Plotly renderer: compact ``text/html`` (for nbconvert, Lab, Notebook 7, VS Code) plus,
    for figures under ``lab_json_limit`` bytes, the plotly mimetype (JupyterLab, untrusted)."""

    def __init__(self, *, lab_json_limit: int = 1_000_000, config: dict | None = None):
        self.lab_json_limit = lab_json_limit
        self.config = dict(config or {})

    def to_mimebundle(self, fig_dict) -> dict:
        out = figure_html(fig_dict, config=self.config)
        bundle = {"text/html": out}
        if self.lab_json_limit and len(out) <= self.lab_json_limit:
            from plotly.io import to_json

            bundle[PLOTLY_MIMETYPE] = json.loads(to_json(fig_dict, validate=False, remove_uids=False))
        return bundle


def use_notebook_renderer(
    mode: str = "offline", *, lab_json_limit: int = 1_000_000, config: dict | None = None, display: bool = True
) -> None:
    """Make figures show in JupyterLab and survive ``jupyter nbconvert --to html``.

    Registers and selects the ``"kosbert_viz"`` plotly renderer and displays plotly.js once, in
    this cell's output, so every later figure in the notebook (and in the HTML that nbconvert
    makes of it) finds it.

    Parameters
    ----------
    mode : "offline" or "connected"
        ``offline`` embeds plotly.js (~4.8 MB once per notebook; the HTML works without
        network). ``connected`` loads it from cdn.plot.ly (tiny notebooks, needs network).
    lab_json_limit : int
        Figures whose HTML is at most this many bytes also carry the plotly mimetype, so
        JupyterLab draws them even when the notebook is not trusted. 0 turns it off
        (smallest notebooks).
    config : dict, optional
        plotly.js config for every figure (e.g. ``{"scrollZoom": True}``).
    display : bool
        Display the plotly.js loader now (needs IPython). False only selects the renderer.

    ``plotly.io.renderers.default`` becomes ``"kosbert_viz"`` for this process; set it back with
    ``plotly.io.renderers.default = "plotly_mimetype"`` if you need to. Returns None (so the
    cell shows only the one-line confirmation).

    >>> import plotly.io as pio
    >>> before = pio.renderers.default
    >>> kv.use_notebook_renderer(display=False)   # in a notebook: kv.use_notebook_renderer()
    >>> pio.renderers.default
    'kosbert_viz'
    >>> pio.renderers.default = before
    """
    import plotly.io as pio

    loader = plotlyjs_html(mode)  # validates mode before anything changes
    pio.renderers[RENDERER_NAME] = NotebookHTMLRenderer(lab_json_limit=lab_json_limit, config=config)
    pio.renderers.default = RENDERER_NAME
    if display:
        try:
            from IPython.display import HTML
            from IPython.display import display as ipy_display
        except ImportError as exc:  # pragma: no cover - IPython comes with Jupyter
            raise ImportError("use_notebook_renderer(display=True) needs IPython (pip install ipython)") from exc
        ipy_display(
            HTML(
                loader + f'<small class="kosbert-viz-renderer">kosbert_viz: plotly renderer '
                f"{html.escape(RENDERER_NAME)} ({html.escape(mode)}) is on.</small>"
            )
        )
