"""The report's size and first render with its data compressed, against the previous uncompressed report,
in one run (headless Debian Chromium, SwiftShader WebGL, no GPU).

For each size (real NSMC reviews from ../shared/data/nsmc, synthetic 2-D layout with 25 themes):

* ``bytes``: the report file, plotly.js included; ``text_bytes``: the texts' UTF-8 size;
* ``page_drawn_s``: navigation to the drawn figure (the page's ``kosbert-viz:drawn`` mark) and
  ``ready_s`` to the search/lasso layer being ready (new report only);
* the reference is the previous report format (plain UTF-8 figure JSON with per-point hover texts),
  rebuilt from ``git show <REFERENCE_COMMIT>:kosbert_viz/report.py``.

Target (issue 15): <= 7 MB at 100k reviews with plotly.js, first render the same or better.
The widget half of issue 15's benchmark (jupyter-scatter in JupyterLab: first paint, lasso to
Python, bytes per point) is not written yet.

Run: ``python benchmarks/bench_explore.py [--sizes 100000]``; JSON to benchmarks/results/bench_explore.json.
"""
from __future__ import annotations

import argparse
import gzip
import json
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
    src = subprocess.run(["git", "show", f"{REFERENCE_COMMIT}:kosbert_viz/report.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    src = src.replace("from .plot import", "from kosbert_viz.plot import")
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
        out["console_errors"] = len(log.console_errors) + len(log.page_errors)
        return out
    finally:
        page.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_explore.json"))
    args = ap.parse_args(argv)
    import kosbert_viz as kv
    from kosbert_viz.report import report_html

    old = _old_report_module()
    results = {"reference": f"report.py at {REFERENCE_COMMIT} (uncompressed)", "sizes": {}}
    from playwright.sync_api import sync_playwright

    from browser_helpers import launch

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
            # render alternately, twice each, keep the faster (the machine is shared)
            for name in ("old", "new", "old", "new"):
                r = _render(browser, Path(tmp) / f"{name}-{n}.html", ready=name == "new")
                best = row.get(f"{name}_render")
                if best is None or r.get("page_drawn_s", 1e9) < best.get("page_drawn_s", 1e9):
                    row[f"{name}_render"] = r
            row["size_ratio_new_over_old"] = round(row["new_bytes"] / row["old_bytes"], 3)
            results["sizes"][str(n)] = row
            print(json.dumps({n: row}, ensure_ascii=False), file=sys.stderr)
        browser.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
