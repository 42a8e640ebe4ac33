"""The documentation site (mkdocs.yml, docs/) builds with ``mkdocs build --strict``.

Strict: a broken link or anchor, a page missing from the nav, or a docstring the API reference
cannot lay out fails the build. The notebooks are rendered as stored, never executed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _mkdocs():
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]' (python3 dev.py docs)")
    for plugin in ("material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        pytest.importorskip(plugin, reason=f"{plugin} is not installed: pip install -e '.[docs]'")
    return [sys.executable, "-m", "mkdocs"]


@pytest.mark.slow
def test_docs_site_builds_strict(tmp_path):
    cmd = _mkdocs() + [
        "build",
        "--strict",
        "--config-file",
        str(ROOT / "mkdocs.yml"),
        "--site-dir",
        str(tmp_path / "site"),
    ]
    run = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    site = tmp_path / "site"
    assert (site / "index.html").exists()
    api = (site / "api" / "maps" / "index.html").read_text(encoding="utf-8")
    assert "map_texts" in api
    assert "read_table" in (site / "api" / "io" / "index.html").read_text(encoding="utf-8")
    nb = site / "notebooks" / "01_quickstart" / "index.html"
    assert nb.exists() and "map_texts" in nb.read_text(encoding="utf-8")  # rendered, not executed
    for page in ("getting-started", "concepts", "cli", "benchmarks", "architecture"):
        assert (site / page / "index.html").exists(), page
    assert not (site / "hooks").exists()  # the build's own hooks are not published
