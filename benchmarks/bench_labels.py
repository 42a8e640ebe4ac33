"""Map-name placement time (kosbert_viz.viz.labels in Python, viz/static/labels.js in the page), against the
same greedy rule without the spatial grid (every placed name tested), in the same run.

    .venv/bin/python benchmarks/bench_labels.py            # 50, 500 and 5,000 names; medians of 5
    .venv/bin/python benchmarks/bench_labels.py --no-names # without the names' quality part

Then, unless ``--no-names``: NPMI and diversity of the top-5 keywords on YNAT 10k, NSMC 10k and Chatbot_data,
ours (the map's names and ``kv.keywords``) against BERTopic's c-TF-IDF on the same themes and tokens
(``bench_names.run``; needs ``pip install bertopic`` and the offline encoder).

Names: the level shown has min(m / 10, 30) themes, the rest are sub-themes (names of 2-3 Korean words), on
uniformly spread clusters in a 1,100 x 800 px plot area. The page's timing runs ``kvLabels.place`` in
headless Chromium (Debian's chromium) on the same candidates. Prints one JSON object and writes it to
benchmarks/results/bench_labels.json. Targets: <= 0.5 s for 500 names in Python, <= 30 ms per zoom for 500
in the page.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kosbert_viz.viz import labels as L  # noqa: E402

WIDTH, HEIGHT, REPS = 1100, 800, 5


def candidates(m: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, size=(m, 2))
    xy = np.repeat(centers, 20, axis=0) + rng.normal(scale=0.3, size=(m * 20, 2))
    fine = np.repeat(np.arange(m), 20)
    k = max(min(m // 10, 30), 2)
    coarse = np.argmin(((centers[:, None, :] - centers[None, :k, :]) ** 2).sum(-1), axis=1)[fine]
    words = ["배송", "환불", "국물", "택배", "기사", "요청", "앱", "로그인", "화면", "가격"]
    name = lambda i, n: " · ".join(words[(i + j) % len(words)] for j in range(n))  # noqa: E731
    coarse_names = {i: name(i, 3) for i in range(k)}
    fine_names = {i: name(i * 3, 2) for i in range(m)}
    return L.label_candidates(xy, coarse, coarse_names, fine, fine_names)


def without_grid(cands, xr, yr, width, height):
    """The reference: the same spots in the same order, each tested against every placed name."""
    x0, x1 = xr
    y0, y1 = yr
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    placed = []
    for c in cands:
        ax, ay = (c["x"] - x0) * sx, (y1 - c["y"]) * sy
        w, h = L.text_width(c["text"], c["font"]) + 2 * L.PAD_PX, c["font"] * 1.25 + 2 * L.PAD_PX
        for dx, dy in L._offsets(round(h, 1)):
            b = L._box(ax + dx, ay + dy, w, h)
            if b[0] < 0 or b[1] < 0 or b[2] > width or b[3] > height:
                continue
            if not any(L._hits(b, o) for o in placed):
                placed.append(b)
                break
    return placed


def median_time(fn, reps: int = REPS) -> float:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def page_times(sets: dict) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "no chromium"}
    js = L.label_script()
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content(f"<script>{js}</script>")
        for m, cands in sets.items():
            ms = page.evaluate(
                """([cands, w, h, reps]) => {
                  const toPx = (x, y) => [(x + 11) / 22 * w, (11 - y) / 22 * h], times = [];
                  for (let r = 0; r < reps; r++) { const t = performance.now(); window.kvLabels.place(cands, toPx, w, h);
                                                   times.push(performance.now() - t); }
                  times.sort((a, b) => a - b); return times[Math.floor(times.length / 2)];
                }""",
                [cands, WIDTH, HEIGHT, REPS],
            )
            out[str(m)] = round(ms, 2)
        browser.close()
    return out


def main() -> None:
    sets = {m: candidates(m) for m in (50, 500, 5000)}
    rows = {}
    for m, cands in sets.items():
        ours = median_time(lambda: L.place_labels(cands, (-11, 11), (-11, 11), width=WIDTH, height=HEIGHT))
        ref = median_time(lambda: without_grid(cands, (-11, 11), (-11, 11), WIDTH, HEIGHT), reps=1 if m > 500 else REPS)
        placed = L.place_labels(cands, (-11, 11), (-11, 11), width=WIDTH, height=HEIGHT)
        rows[str(m)] = {
            "candidates": len(cands),
            "themes": sum(c["level"] == 0 for c in cands),
            "placed": len(placed),
            "themes_placed": sum(p["level"] == 0 for p in placed),
            "overlapping_pairs": L.overlaps([p["box"] for p in placed]),
            "python_s": round(ours, 4),
            "reference_without_grid_s": round(ref, 4),
            "ratio": round(ours / ref, 3) if ref else None,
        }
    result = {"plot_px": [WIDTH, HEIGHT], "python": rows, "page_ms_median": page_times(sets), "reps": REPS}
    if "--no-names" not in sys.argv:  # the names' quality, ours against BERTopic's c-TF-IDF (bench_names.py)
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_names import DEFAULT_CACHE
        from bench_names import run as names_run

        result["names_top5_npmi_diversity"] = {
            c: names_run(c, DEFAULT_CACHE) for c in ("ynat10k", "nsmc10k", "chatbot")
        }
    print(json.dumps(result, indent=1))
    out = ROOT / "benchmarks" / "results" / "bench_labels.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
