"""Map size and speed at 10k / 100k / 1M points, kosbert_viz against plain Plotly, in one run.

For each size it reports, as JSON on stdout:

* ``html``: bytes per point of a standalone HTML map beyond the texts (counted at their UTF-8
  size) and plotly.js, for kosbert_viz (``kv.write_report``'s page: compact UTF-8 figure JSON,
  float32 base64 coordinates, point budget) and for the reference (``fig.write_html`` of a plain
  ``go.Scattergl`` with the same texts: Plotly's JSON writes each Hangul syllable as \\uXXXX);
* ``render_s``: time from navigation to the drawn figure in headless Chromium (Debian's
  chromium, SwiftShader WebGL, no GPU), for both;
* ``notebook``: .ipynb bytes after executing a notebook that shows the map, with
  ``kv.use_notebook_renderer()`` and with Plotly's ``plotly_mimetype+notebook``.

Targets: 100k points render in <= 3 s, <= 30 bytes per point of overhead, 1M points does not
freeze (the point budget takes over). Run: ``python benchmarks/bench_plot.py [--sizes 10000,100000]``.
"""

from __future__ import annotations

import argparse
import html
import inspect
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kosbert_viz as kv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def make_data(n, k=25, seed=0):
    """``n`` points in ``k`` blobs (5% noise, label -1) with the sample corpus's texts, numbered."""
    rng = np.random.default_rng(seed)
    base = kv.datasets.load_sample().text.tolist()
    labels = rng.integers(0, k, n)
    xy = rng.normal(scale=12, size=(k, 2))[labels] + rng.normal(size=(n, 2))
    labels[rng.random(n) < 0.05] = -1
    texts = [f"{base[i % len(base)]} #{i}" for i in range(n)]
    return xy, labels, texts


# the same synthetic corpus inside the notebook kernel: make_data's own source, with its imports
DATA_CODE = "import numpy as np, kosbert_viz as kv\n" + inspect.getsource(make_data)


def _ours_html(xy, labels, texts, path):
    import kosbert_viz as kv
    from kosbert_viz.report.html import report_html

    fig = kv.cluster_map(xy, labels=labels, texts=texts, names={c: f"군집 {c}" for c in range(25)})
    path.write_text(report_html(fig, title="bench"), encoding="utf-8")
    meta = fig.layout.meta["kosbert_viz"]
    drawn_texts = [t for tr in fig.data if getattr(tr, "text", None) is not None for t in tr.text]
    return meta, drawn_texts


def _reference_html(xy, labels, texts, path):
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scattergl(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers",
            text=texts,
            marker=dict(color=labels, colorscale="Turbo", size=3),
            hovertemplate="%{text}<extra></extra>",
        )
    )
    fig.write_html(path, include_plotlyjs=True)


def _render(browser, path: Path, timeout_s: float) -> dict | None:
    from browser_helpers import open_page, plot_summary, wait_for_plots

    t = time.perf_counter()
    try:
        page, log = open_page(browser, path.as_uri(), timeout_ms=int(timeout_s * 1000))
        wait_for_plots(page, 1, timeout_ms=int(timeout_s * 1000))
        elapsed = time.perf_counter() - t
        ok = plot_summary(page)[0]["webgl"] and page.evaluate("() => 1") == 1
        marks = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
                                   .map(m => [m.name, m.startTime]))""")
        page.close()
        if not ok:
            return None
        out = {"wall_s": round(elapsed, 3)}
        if "kosbert-viz:drawn" in marks:  # page clock, from navigation start
            out["page_drawn_s"] = round(marks["kosbert-viz:drawn"] / 1000, 3)
            out["figure_only_s"] = round((marks["kosbert-viz:drawn"] - marks["kosbert-viz:start"]) / 1000, 3)
        return out
    except Exception as exc:  # a frozen page is a result, not a crash
        print(f"  render of {path.name} failed after {time.perf_counter() - t:.1f}s: {exc!s:.200}", file=sys.stderr)
        return None


def _notebook_bytes(n: int, renderer: str, workdir: Path, timeout_s: int) -> int | None:
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    if renderer == "kosbert_viz":
        setup = "kv.use_notebook_renderer()"
        show = "fig = kv.cluster_map(xy, labels=labels, texts=texts)\nfig"
    else:
        setup = f"import plotly.io as pio\npio.renderers.default = {renderer!r}"
        show = (
            "import plotly.graph_objects as go\nfig = go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], "
            "mode='markers', text=texts, marker=dict(color=labels, size=3)))\nfig"
        )
    nb = new_notebook(
        cells=[
            new_code_cell(DATA_CODE + setup),
            new_code_cell(f"xy, labels, texts = make_data({n})"),
            new_code_cell(show),
        ]
    )
    try:
        NotebookClient(
            nb, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
        ).execute()
    except Exception as exc:
        print(f"  notebook {renderer} n={n} failed: {exc!s:.200}", file=sys.stderr)
        return None
    out = workdir / f"nb-{renderer.replace('+', '_')}-{n}.ipynb"
    nbformat.write(nb, out)
    return out.stat().st_size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-notebook", action="store_true")
    ap.add_argument(
        "--reference-max", type=int, default=1_000_000, help="skip the plain-Plotly reference above this many points"
    )
    ap.add_argument("--render-timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    from plotly.offline import get_plotlyjs

    plotlyjs = len(get_plotlyjs().encode("utf-8"))
    work = Path(tempfile.mkdtemp(prefix="kv-bench-plot-"))
    results = {"plotly_js_bytes": plotlyjs, "sizes": []}
    browser = pw = None
    if not args.no_browser:
        from browser_helpers import chromium_path, launch
        from playwright.sync_api import sync_playwright

        if chromium_path():
            pw = sync_playwright().start()
            browser = launch(pw)
    try:
        if browser is not None:
            xy, labels, texts = make_data(10)
            _ours_html(xy, labels, texts, work / "baseline.html")
            _render(browser, work / "baseline.html", args.render_timeout)  # warm the disk cache
            results["baseline_10_points_render_s"] = _render(browser, work / "baseline.html", args.render_timeout)
            try:
                results["load_average"] = os.getloadavg()
            except OSError:
                pass
        for n in [int(s) for s in args.sizes.split(",")]:
            print(f"n={n:,}", file=sys.stderr)
            xy, labels, texts = make_data(n)
            row = {"n": n}
            t = time.perf_counter()
            ours = work / f"ours-{n}.html"
            meta, drawn_texts = _ours_html(xy, labels, texts, ours)
            build_s = time.perf_counter() - t
            # the hover texts are escaped and wrapped with <br>: count the drawn texts as written by
            # the user (unescaped, without the <br>), so escaping and wrapping count as overhead
            text_bytes = sum(len(html.unescape(x.replace("<br>", " ")).encode("utf-8")) for x in drawn_texts)
            size = ours.stat().st_size
            drawn = meta["n_drawn"]
            ours_row = {
                "html_bytes": size,
                "n_drawn": drawn,
                "sampled": meta["sampled"],
                "overhead_bytes_per_point": round((size - plotlyjs - text_bytes) / drawn, 2),
                "build_s": round(build_s, 3),
            }
            row["kosbert_viz"] = ours_row
            if n <= args.reference_max:
                ref = work / f"ref-{n}.html"
                _reference_html(xy, labels, texts, ref)
                rsize = ref.stat().st_size
                row["reference"] = {
                    "html_bytes": rsize,
                    "n_drawn": n,
                    "overhead_bytes_per_point": round(
                        (rsize - plotlyjs - sum(len(x.encode("utf-8")) for x in texts)) / n, 2
                    ),
                }
                row["html_size_ratio_ref_over_ours"] = round(rsize / size, 2)
            if browser is not None:
                ours_row["render_s"] = _render(browser, ours, args.render_timeout)
                if "reference" in row:
                    row["reference"]["render_s"] = _render(browser, work / f"ref-{n}.html", args.render_timeout)
            if not args.no_notebook:
                ours_row["notebook_bytes"] = _notebook_bytes(n, "kosbert_viz", work, 900)
                if "reference" in row:
                    row["reference"]["notebook_bytes"] = _notebook_bytes(n, "plotly_mimetype+notebook", work, 900)
                    if ours_row["notebook_bytes"] and row["reference"]["notebook_bytes"]:
                        row["notebook_ratio_ref_over_ours"] = round(
                            row["reference"]["notebook_bytes"] / ours_row["notebook_bytes"], 2
                        )
            results["sizes"].append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        if browser is not None:
            browser.close()
            pw.stop()
    by_n = {r["n"]: r for r in results["sizes"]}
    targets = {}
    if 100_000 in by_n and by_n[100_000]["kosbert_viz"].get("render_s") is not None:
        targets["render_100k_le_3s"] = by_n[100_000]["kosbert_viz"]["render_s"]["wall_s"] <= 3.0
    targets["overhead_le_30_bytes_per_point"] = all(
        r["kosbert_viz"]["overhead_bytes_per_point"] <= 30 for r in results["sizes"]
    )
    if 1_000_000 in by_n:
        r = by_n[1_000_000]["kosbert_viz"]
        targets["1M_point_budget_took_over"] = bool(r["sampled"])
        if "render_s" in r:
            targets["1M_renders"] = r["render_s"] is not None
    results["targets"] = targets
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
