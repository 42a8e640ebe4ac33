"""The architecture contract (docs/architecture.md): stages import downward only, no cycle, no private
name crosses a module, ruff is clean. ``lint-imports`` (import-linter) reads the layers from pyproject.toml."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "kosbert_viz"
LINT = shutil.which(
    "lint-imports", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
)


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(LINT is None, reason="import-linter is not installed (pip install -e .[test])")
def test_the_layers_contract_is_kept():
    r = _lint(ROOT)
    assert r.returncode == 0 and "0 broken" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif(LINT is None, reason="import-linter is not installed (pip install -e .[test])")
def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(PKG, tmp_path / "kosbert_viz", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    cache = tmp_path / "kosbert_viz" / "embed" / "cache.py"
    cache.write_text(
        cache.read_text(encoding="utf-8") + "\nfrom kosbert_viz.report import html  # upward\n", encoding="utf-8"
    )
    r = _lint(tmp_path)
    assert r.returncode != 0 and "BROKEN" in r.stdout, r.stdout + r.stderr
    assert "kosbert_viz.embed.cache -> kosbert_viz.report.html" in r.stdout, r.stdout


def _private_imports_across_modules():
    found = []
    for path in PKG.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kosbert_viz"):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and node.module != module:
                        found.append(f"{module} imports {node.module}.{alias.name}")
    return found


def test_no_private_name_crosses_a_module():
    """Stricter than the contract (no private name crosses a subpackage): not even across one's modules."""
    assert _private_imports_across_modules() == []


def test_the_private_name_check_sees_one(tmp_path, monkeypatch):
    fake = tmp_path / "kosbert_viz" / "viz"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from kosbert_viz.themes.tree import _private_helper\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "PKG", tmp_path / "kosbert_viz")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _private_imports_across_modules() == ["kosbert_viz.viz.bad imports kosbert_viz.themes.tree._private_helper"]


RUFF = shutil.which("ruff", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    """ruff (configured in pyproject.toml) finds nothing: lint rules, import order, return annotations of
    the package's public functions, and the formatting."""
    assert RUFF is not None, "ruff is not installed: pip install -e .[test]"
    r = subprocess.run([RUFF, *command, "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed (Debian: apt install nodejs)")
def test_browser_code_is_valid_javascript():
    """The report's JavaScript lives in real files under static/, and each one parses (node --check)."""
    files = sorted(PKG.glob("*/static/*.js"))
    assert files, "no JavaScript under kosbert_viz/*/static/"
    for path in files:
        r = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{path.relative_to(ROOT)}: {r.stderr}"
