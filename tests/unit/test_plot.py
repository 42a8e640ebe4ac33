"""Figure structure (via fig.to_dict()), escaping, the point budget, compact JSON, the notebook
renderer, the companion charts, and (slow) a static PNG whose Hangul glyphs are not boxes."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import textwrap
import unicodedata

import numpy as np
import pytest

import kosbert_viz as kv
from kosbert_viz.viz import charts, renderers
from kosbert_viz.viz import scatter as plot

HANGUL_ESCAPE = re.compile(r"\\u(?:a[c-f]|b[0-9a-f]|c[0-9a-f]|d[0-7])[0-9a-f]{2}", re.I)
INJECTION = "<img src=x onerror=alert(1)>"


def _blobs(n=600, k=4, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    xy = rng.normal(scale=6, size=(k, 2))[labels] + rng.normal(size=(n, 2))
    labels[rng.random(n) < noise] = -1
    texts = [f"배송이 늦어서 환불을 요청했어요 {i}번" for i in range(n)]
    return xy, labels, texts


def _width(s):
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in s)


def test_cluster_map_traces_noise_names_fonts():
    xy, labels, texts = _blobs()
    names = {0: "배송 · 택배", 1: "환불", 2: "맛집", 3: "날씨"}
    d = kv.cluster_map(xy, labels=labels, texts=texts, names=names, title="지도").to_dict()
    data = d["data"]
    assert [t["type"] for t in data] == ["scattergl"] * 5
    noise = data[0]
    assert noise["meta"]["cluster"] == -1 and noise["marker"]["color"] == plot.NOISE_COLOR
    assert noise["name"] == f"noise ({int((labels < 0).sum()):,})"
    colors = [t["marker"]["color"] for t in data[1:]]
    assert colors == plot.cluster_colors(4)
    assert data[1]["name"] == f"배송 · 택배 ({int((labels == 0).sum()):,})"
    # every point is drawn exactly once, in its own cluster's trace
    assert sum(len(t["text"]) for t in data) == len(xy)
    anns = {a["text"]: a for a in d["layout"]["annotations"]}
    for c, name in names.items():
        med = np.median(xy[labels == c], axis=0)
        assert anns[name]["x"] == pytest.approx(med[0]) and anns[name]["y"] == pytest.approx(med[1])
        assert anns[name]["font"]["family"] == plot.HANGUL_FONT
    lay = d["layout"]
    assert lay["font"]["family"] == lay["hoverlabel"]["font"]["family"] == plot.HANGUL_FONT
    assert "Noto Sans CJK KR" in plot.HANGUL_FONT and "Malgun Gothic" in plot.HANGUL_FONT
    assert lay["title"]["text"] == "지도"
    assert lay["meta"]["kosbert_viz"]["sampled"] is False
    assert lay["yaxis"]["scaleanchor"] == "x"


def test_hover_text_wraps_korean_by_display_width_and_escapes():
    long = (
        "주문한 지 일주일이 넘었는데 아직도 배송 준비중이에요. " * 4
        + "띄어쓰기없이아주긴문장이계속이어지는경우에도잘려야합니다"
    )
    out = plot.hover_text(long, width=30)
    lines = out.split("<br>")
    assert len(lines) > 4
    assert all(_width(html.unescape(line)) <= 30 for line in lines)
    assert "".join(html.unescape(out).replace("<br>", " ").split()) == "".join(long.split())
    assert plot.hover_text(INJECTION) == "&lt;img src=x onerror=alert(1)&gt;"
    assert plot.hover_text("가" * 500, max_chars=10) == "가" * 10 + "…"


def test_hover_and_hover_data_are_escaped_in_the_figure_data():
    xy, labels, texts = _blobs(50, k=2, noise=0)
    texts[7] = INJECTION
    hostile_name = "<b>%{x}</b>"
    d = kv.cluster_map(
        xy,
        labels=labels,
        texts=texts,
        names={0: hostile_name, 1: "b"},
        hover_data={"topic": ["<i>주제</i>"] * 50, "점수": list(range(50))},
    ).to_dict()
    blob = json.dumps(d, ensure_ascii=False)
    assert INJECTION not in blob and "&lt;img src=x onerror=alert(1)&gt;" in blob
    assert "<i>주제</i>" not in blob and "&lt;i&gt;주제&lt;/i&gt;" in blob
    tr = next(t for t in d["data"] if t["meta"]["cluster"] == labels[0])
    assert tr["hovertemplate"] == (
        "%{text}<br><b>topic</b>: %{customdata[0]}<br><b>점수</b>: %{customdata[1]}<extra>%{fullData.name}</extra>"
    )
    assert len(tr["customdata"][0]) == 2
    # a cluster name can neither inject markup nor a template field
    names = [t["name"] for t in d["data"]]
    assert any(n.startswith("&lt;b&gt;%&#123;x}") for n in names), names
    with pytest.raises(ValueError, match="hover_data"):
        kv.cluster_map(xy, labels=labels, hover_data={"x": [1, 2]})


def test_highlight_and_query_point():
    xy, labels, texts = _blobs(300)
    sel = [3, 10, 42]
    d = kv.cluster_map(
        xy, labels=labels, texts=texts, highlight=sel, highlight_name="검색 결과", query_point=(0.0, 0.0)
    ).to_dict()
    hl, q = d["data"][-2], d["data"][-1]
    assert hl["meta"] == {"highlight": True, "size": 3} and hl["name"] == "검색 결과 (3)"
    assert np.allclose(_arr(hl["x"]), xy[sel, 0].astype(np.float32))
    assert hl["text"] == [plot.hover_text(texts[i]) for i in sel]
    assert q["name"] == "query" and q["marker"]["symbol"] == "star"
    assert all(t["marker"]["opacity"] < 0.3 for t in d["data"][:-2])  # the rest is dimmed
    mask = np.zeros(len(xy), bool)
    mask[sel] = True
    d2 = kv.cluster_map(xy, labels=labels, highlight=mask).to_dict()
    assert d2["data"][-1]["meta"]["size"] == 3
    with pytest.raises(ValueError, match="highlight"):
        kv.cluster_map(xy, labels=labels, highlight=[len(xy)])


def test_three_d_map():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(200, 3))
    labels = rng.integers(0, 3, 200)
    d = kv.cluster_map(xyz, labels=labels, texts=[f"문장 {i}" for i in range(200)], names=["가", "나", "다"]).to_dict()
    assert {t["type"] for t in d["data"]} == {"scatter3d"}
    assert len(d["layout"]["scene"]["annotations"]) == 3
    assert "z" in d["layout"]["scene"]["annotations"][0]
    with pytest.raises(ValueError, match="shape"):
        kv.cluster_map(rng.normal(size=(10, 4)))


def test_palette_distinct_past_20_and_never_grey():
    for n in (5, 20, 40):
        cols = plot.cluster_colors(n)
        assert len(set(cols)) == n
    lab = plot._srgb_to_lab(plot._hex_to_rgb(plot.cluster_colors(40)))
    dist = np.linalg.norm(lab[:, None] - lab[None], axis=-1) + np.eye(40) * 1e9
    assert dist.min() > 20, dist.min()  # CIE76 delta E: clearly different colours
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    assert chroma.min() > 20  # nothing looks like the grey of noise
    assert plot.cluster_colors(25)[:20] == plot.cluster_colors(20)


def _arr(v):
    """Decode plotly's base64 typed-array spec (or a plain list)."""
    import base64

    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def test_point_budget_density_and_stratified_sample():
    rng = np.random.default_rng(0)
    n = 250_000
    labels = rng.integers(0, 10, n)
    labels[:30] = 10  # a tiny cluster must survive the sampling
    labels[30:5030] = -1
    xy = rng.normal(size=(n, 2)) + labels[:, None]
    fig = kv.cluster_map(xy, labels=labels, texts=None, highlight=[100, 200], sample_size=20_000)
    d = fig.to_dict()
    assert d["data"][0]["type"] == "heatmap" and d["data"][0]["meta"]["density"]
    assert _arr(d["data"][0]["z"]).size == 256 * 256
    counts = np.histogram2d(xy[:, 0], xy[:, 1], bins=256)[0]
    z = _arr(d["data"][0]["z"])
    assert np.nansum(np.expm1(z.astype(np.float64))) == pytest.approx(n, rel=1e-3)  # density of ALL points
    assert counts.sum() == n
    meta = d["layout"]["meta"]["kosbert_viz"]
    assert meta["sampled"] and meta["n_points"] == n and 20_000 <= meta["n_drawn"] <= 21_000
    clusters = [t for t in d["data"] if t["type"] == "scattergl" and "cluster" in t.get("meta", {})]
    drawn = {t["meta"]["cluster"]: t["meta"]["drawn"] for t in clusters}
    full = {t["meta"]["cluster"]: t["meta"]["size"] for t in clusters}
    assert drawn[10] == 30 and full[10] == 30  # small cluster kept whole
    for c in range(10):
        assert drawn[c] / meta["n_drawn"] == pytest.approx(full[c] / n, rel=0.05)
    assert full[-1] == 5000 and clusters[0]["name"] == "noise (5,000)"
    notes = [a["text"] for a in d["layout"]["annotations"] if "stratified sample" in a["text"]]
    assert notes and "250,000" in notes[0]
    assert d["data"][-1]["meta"] == {"highlight": True, "size": 2}
    # below the budget nothing is sampled
    small = kv.cluster_map(xy[:1000], labels=labels[:1000]).to_dict()
    assert small["layout"]["meta"]["kosbert_viz"]["sampled"] is False
    assert all(t["type"] == "scattergl" for t in small["data"])


def test_stratified_sample_keeps_always():
    labels = np.repeat([0, 1, 2], [1000, 100, 5])
    idx = plot.stratified_sample(labels, 110, min_per_cluster=5, always=[999])
    assert 999 in idx and len(np.unique(idx)) == len(idx)
    assert set(np.flatnonzero(labels == 2)) <= set(idx)


def test_figure_json_is_utf8_compact_and_script_safe():
    n = 10_000
    rng = np.random.default_rng(0)
    texts = [f"배송이 정말 빨라요 {i}번 리뷰" for i in range(n)]
    texts[5] = "</script><script>alert(1)</script>"
    fig = kv.cluster_map(rng.normal(size=(n, 2)), labels=rng.integers(0, 8, n), texts=texts)
    js = plot.figure_json(fig)
    assert "배송이 정말 빨라요 17번 리뷰" in js and not HANGUL_ESCAPE.search(js)
    assert "</script" not in js.lower() and "<" not in js
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    overhead = (len(js.encode("utf-8")) - text_bytes) / n
    assert overhead <= 30, f"{overhead:.1f} bytes per point beyond the texts"
    # plotly's own JSON writes each syllable as a 6-byte escape (the problem this avoids)
    assert len(fig.to_json().encode()) > len(js.encode()) * 1.3


def test_figure_json_stays_utf8_when_base64_contains_nan():
    """plotly's encoder falls back to ASCII escapes when "NaN" appears anywhere, even in base64."""
    import base64

    x = np.zeros(8, dtype=np.float32)
    x[0] = np.frombuffer(base64.b64decode("NaNAAAAA")[:4], dtype=np.float32)[0]
    fig = kv.cluster_map(np.c_[x, x], texts=["배송"] * 8)
    js = plot.figure_json(fig)
    assert "NaN" in js and "배송" in js and not HANGUL_ESCAPE.search(js)
    nan_fig = {"data": [{"type": "scatter", "x": [1.0, float("nan")], "text": ["배송", "환불"]}]}
    assert plot.figure_json(nan_fig) == '{"data":[{"type":"scatter","x":[1.0,null],"text":["배송","환불"]}]}'


def test_notebook_renderer_bundle():
    xy, labels, texts = _blobs(200)
    fig = kv.cluster_map(xy, labels=labels, texts=texts)
    r = renderers.NotebookHTMLRenderer()
    bundle = r.to_mimebundle(fig.to_dict())
    out = bundle["text/html"]
    assert 'class="kosbert-viz-figure"' in out and "Plotly.newPlot" in out
    assert "배송이 늦어서 환불을 요청했어요 3번" in out and not HANGUL_ESCAPE.search(out)
    assert "plotly.js v" not in out  # plotly.js comes once, from use_notebook_renderer()
    assert renderers.PLOTLY_MIMETYPE in bundle  # small figure: JupyterLab can draw it untrusted
    big = renderers.NotebookHTMLRenderer(lab_json_limit=1000).to_mimebundle(fig.to_dict())
    assert set(big) == {"text/html"}
    assert "window.PlotlyConfig" in renderers.plotlyjs_html("offline")
    assert "cdn.plot.ly" in renderers.plotlyjs_html("connected")
    with pytest.raises(ValueError, match="mode"):
        renderers.plotlyjs_html("nope")


def test_use_notebook_renderer_is_explicit_not_at_import():
    code = textwrap.dedent("""
        import plotly.io as pio
        before = pio.renderers.default
        import kosbert_viz as kv
        kv.cluster_map  # loads plot.py
        import kosbert_viz.viz.renderers
        assert pio.renderers.default == before, "importing changed the renderer"
        assert kv.use_notebook_renderer(display=False) is None
        assert pio.renderers.default == "kosbert_viz"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def _table():
    import pandas as pd

    return pd.DataFrame(
        {
            "cluster": [0, 1, 2],
            "size": [50, 30, 5],
            "name": ["배송 · 택배", "<b>환불</b>", "맛"],
            "keywords": [["배송", "택배"], ["환불", "<script>"], ["맛"]],
            "scores": [[0.3, 0.2], [0.4, 0.1], [0.5]],
            "representative": [["배송이 빨라요"], ["환불해 주세요"], ["맛있어요"]],
        }
    )


def test_cluster_sizes_chart():
    d = charts.cluster_sizes(_table()).to_dict()
    bar = d["data"][0]
    assert list(_arr(bar["x"])) == [50, 30, 5] and bar["marker"]["color"] == plot.cluster_colors(3)
    assert d["layout"]["yaxis"]["ticktext"][1] == "&lt;b&gt;환불&lt;/b&gt;"
    labels = np.array([0, 0, 1, -1, -1, -1])
    d2 = charts.cluster_sizes(labels).to_dict()
    assert d2["data"][0]["meta"]["clusters"] == [0, 1, -1]
    assert d2["data"][0]["marker"]["color"][-1] == plot.NOISE_COLOR
    assert d2["layout"]["font"]["family"] == plot.HANGUL_FONT


def test_keyword_chart():
    d = charts.keyword_chart(_table(), top_n=2).to_dict()
    bars = [t for t in d["data"] if t["type"] == "bar"]
    assert len(bars) == 3
    assert list(bars[1]["y"]) == ["&lt;script&gt;", "환불"]
    assert bars[1]["marker"]["color"] == plot.cluster_colors(3)[1]
    titles = [a["text"] for a in d["layout"]["annotations"]]
    assert "[1] &lt;b&gt;환불&lt;/b&gt;" in titles


def test_k_sweep_and_silhouette_charts():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(scale=0.3, size=(60, 5)) + 4 * np.eye(5)[c] for c in range(3)])  # 3 directions
    res = kv.cluster(X, method="kmeans", k_range=(2, 6))
    d = charts.k_sweep_chart(res).to_dict()
    assert list(d["data"][0]["x"]) == [2, 3, 4, 5, 6]
    assert list(d["data"][1]["x"]) == [res.params["n_clusters"]] == [3]
    import importlib

    cluster_module = importlib.import_module("kosbert_viz.themes.cluster")
    if hasattr(cluster_module, "sweep"):
        sw = cluster_module.sweep(X, "kmeans", values=[2, 3, 4])
        d3 = charts.k_sweep_chart(sw, metric=["silhouette"]).to_dict()
        assert list(d3["data"][0]["x"]) == [2, 3, 4] and list(d3["data"][-1]["x"]) == [3]
    s = charts.silhouette_chart(X, res.labels).to_dict()
    assert len([t for t in s["data"] if t["type"] == "bar"]) == 3
    assert s["layout"]["meta"]["mean_silhouette"] > 0.7
    with pytest.raises(ValueError, match="no k sweep"):
        charts.k_sweep_chart(kv.cluster(X, method="kmeans", n_clusters=3))


def test_similarity_heatmap():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(6, 16))
    texts = ["배송이 빨라요", "배송이 느려요", "<img src=x onerror=alert(1)>", "맛있어요", "맛없어요", "환불"]
    d = charts.similarity_heatmap(E, texts).to_dict()
    z = _arr(d["data"][0]["z"]).reshape(6, 6)
    assert np.allclose(np.diag(z), 1, atol=1e-5) and np.allclose(z, z.T, atol=1e-6)
    blob = json.dumps(d, ensure_ascii=False)
    assert "<img" not in blob and "&lt;img" in blob
    with pytest.raises(ValueError, match="small selection"):
        charts.similarity_heatmap(rng.normal(size=(100, 4)))


# --- static export -------------------------------------------------------------------------------

_FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{dir}</dir><cachedir>{cache}</cachedir></fontconfig>
"""
_LABEL_FIG = """
import sys, plotly.graph_objects as go, kosbert_viz as kv
fig = go.Figure()
fig.add_annotation(text="한국어 지도", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                   font=dict(size=72, color="black"))
fig.update_layout(width=600, height=200, margin=dict(l=0, r=0, t=0, b=0), xaxis_visible=False,
                  yaxis_visible=False, plot_bgcolor="white", paper_bgcolor="white")
kw = dict(font_family="DejaVu Sans", require_hangul_font=False) if sys.argv[2] == "ref" else {}
kv.save_image(fig, sys.argv[1], scale=1, **kw)
"""


def _glyphs(path):
    """Ink of each glyph (columns split at blank gaps), cropped to its bounding box."""
    from PIL import Image

    ink = np.asarray(Image.open(path).convert("L")) < 128
    cols = np.concatenate([ink.any(axis=0), [False]])
    out, start = [], None
    for i, c in enumerate(cols):
        if c and start is None:
            start = i
        elif not c and start is not None:
            sub = ink[:, start:i]
            rows = np.flatnonzero(sub.any(axis=1))
            out.append(sub[rows[0] : rows[-1] + 1])
            start = None
    return ink, out


def _boxness(glyph, edge=3):
    """~1 for a hollow rectangle (tofu), low for a real glyph."""
    if min(glyph.shape) < 2 * edge + 2:
        return 0.0
    border = np.ones_like(glyph, dtype=bool)
    border[edge:-edge, edge:-edge] = False
    return float(glyph[border].mean() * (1 - glyph[edge:-edge, edge:-edge].mean()))


@pytest.mark.slow
def test_png_export_hangul_is_not_boxes(tmp_path):
    pytest.importorskip("kaleido", reason='pip install "kosbert_viz[export]"')
    pytest.importorskip("PIL", reason="pip install pillow")
    from kosbert_viz.viz import export

    if not export.hangul_fonts():
        pytest.skip("no Korean font installed: run .ci/install_browser.sh (fonts-noto-cjk)")
    import glob
    import os

    dejavu = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    if not dejavu:
        pytest.skip("DejaVu Sans (the reference font without Hangul) is not installed")
    (tmp_path / "fc").mkdir()
    (tmp_path / "fc" / "fonts.conf").write_text(
        _FONTS_CONF.format(dir=os.path.dirname(dejavu[0]), cache=tmp_path / "fc" / "cache")
    )
    script = tmp_path / "label.py"
    script.write_text(_LABEL_FIG, encoding="utf-8")
    ours, ref = tmp_path / "ours.png", tmp_path / "ref.png"
    subprocess.run([sys.executable, str(script), str(ours), "ours"], check=True, timeout=180)
    # the same label in a browser whose only font (DejaVu Sans) lacks Hangul: boxes
    env = dict(os.environ, FONTCONFIG_FILE=str(tmp_path / "fc" / "fonts.conf"))
    subprocess.run([sys.executable, str(script), str(ref), "ref"], check=True, timeout=180, env=env)

    ref_ink, ref_glyphs = _glyphs(ref)
    our_ink, our_glyphs = _glyphs(ours)
    assert len(ref_glyphs) == 5 and all(_boxness(g) > 0.7 for g in ref_glyphs), (
        "the reference should show 5 tofu boxes (is FONTCONFIG_FILE honoured?)"
    )
    assert our_ink.sum() > 1000 and our_glyphs
    assert max(_boxness(g) for g in our_glyphs) < 0.6, [round(_boxness(g), 2) for g in our_glyphs]
    differ = (our_ink ^ ref_ink).sum() / max((our_ink | ref_ink).sum(), 1)
    assert differ > 0.5, differ

    # and a real map with Hangul names, legend and title exports too
    xy, labels, texts = _blobs(300)
    fig = kv.cluster_map(
        xy,
        labels=labels,
        texts=texts,
        names={0: "배송 · 택배", 1: "환불 · 반품", 2: "맛집", 3: "날씨"},
        title="한국어 리뷰 지도",
    )
    png = kv.save_image(fig, tmp_path / "map.png", width=800, height=560, scale=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
