"""The README's, the documentation's (docs/*.md) and the docstrings' examples run (on the tiny test
model, offline).

Examples use a few names that a reader has from the surrounding text: ``kv``, ``np``, ``pd``, ``df``
(the bundled corpus with ``review`` and ``topic`` columns), ``texts``, ``emb``, ``res``, ``labels``,
``table`` and ``tm``. They are provided here, and the README's and docs' examples run in a folder
that holds ``reviews.csv`` (that corpus, as Excel writes UTF-8 CSV: with a BOM), the file their
examples start from. An example with an expected output must print exactly that; one without must
run without an error. A docstring example that needs what a test machine lacks (a Ray cluster, a
GPU) says so with ``# doctest: +SKIP``; a ```` ```python ```` block in a Markdown file says so with
a first line ``# not run in tests: <why>``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import kosbert_viz as kv

ROOT = Path(__file__).resolve().parents[2]


class _RunsOrMatches(doctest.OutputChecker):
    """No expected output: the example only has to run. Otherwise the usual comparison."""

    def check_output(self, want, got, optionflags):
        return not want.strip() or super().check_output(want, got, optionflags)


@pytest.fixture(scope="module")
def namespace(tiny_model_path, tmp_path_factory):
    import numpy as np
    import pandas as pd

    mp = pytest.MonkeyPatch()
    mp.setenv("KOSBERT_VIZ_MODEL", tiny_model_path)
    mp.setenv("KOSBERT_VIZ_CACHE", str(tmp_path_factory.mktemp("doc-cache")))
    mp.chdir(tmp_path_factory.mktemp("doc-cwd"))
    df = kv.datasets.load_sample().rename(columns={"text": "review"})
    texts = df["review"]
    emb = kv.encode(texts, show_progress_bar=False)
    res = kv.cluster(emb, "kmeans", n_clusters=6)
    tm = kv.map_texts(texts, show_progress_bar=False)
    ns = dict(
        kv=kv,
        np=np,
        pd=pd,
        df=df,
        texts=texts,
        emb=emb,
        res=res,
        labels=res.labels,
        table=kv.keywords(texts, res.labels),
        tm=tm,
    )
    yield ns
    mp.undo()


def _modules():
    names = [m.name for m in pkgutil.walk_packages(kv.__path__, "kosbert_viz.") if not m.name.endswith("__main__")]
    return ["kosbert_viz"] + sorted(names)  # the package's own docstring too


@pytest.mark.slow
@pytest.mark.parametrize("module", _modules())
def test_docstring_examples_run(module, namespace):
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        checker=_RunsOrMatches(), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    tests = [t for t in finder.find(mod, module, globs={}) if t.examples]
    failures = []
    for t in tests:
        t.globs = {**vars(mod), **namespace}
        out = []
        result = runner.run(t, out=out.append, clear_globs=False)
        if result.failed:
            failures.append("".join(out))
    assert not failures, "\n".join(failures)


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)


def _readme_blocks():
    return _python_blocks(ROOT / "README.md")


def _docs_blocks():
    """(page, index of the block on that page) for every ```python block under docs/."""
    return [
        (str(md.relative_to(ROOT)), i)
        for md in sorted((ROOT / "docs").rglob("*.md"))
        for i in range(len(_python_blocks(md)))
    ]


def _run_block(block, where, namespace, tmp_path, monkeypatch):
    if "# not run in tests" in block:
        pytest.skip(f"{where}: needs what a test machine lacks (marked in the example)")
    import plotly.io as pio

    monkeypatch.chdir(tmp_path)  # its own folder: the docstrings' examples wrote files in the shared one
    namespace["df"].to_csv(tmp_path / "reviews.csv", index=False, encoding="utf-8-sig")  # "your own file"
    renderer = pio.renderers.default
    try:
        exec(compile(block, where, "exec"), dict(namespace))
    finally:
        pio.renderers.default = renderer  # kv.use_notebook_renderer() must not leak into other tests


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(_readme_blocks())))
def test_readme_python_examples_run(i, namespace, tmp_path, monkeypatch):
    _run_block(_readme_blocks()[i], f"README.md python block {i}", namespace, tmp_path, monkeypatch)


def test_docs_have_python_examples():
    """The docs' examples are collected at all (a changed fence or folder would skip them silently)."""
    assert len(_docs_blocks()) >= 3, _docs_blocks()


@pytest.mark.slow
@pytest.mark.parametrize("page,i", _docs_blocks(), ids=[f"{p}-{i}" for p, i in _docs_blocks()])
def test_docs_python_examples_run(page, i, namespace, tmp_path, monkeypatch):
    block = _python_blocks(ROOT / page)[i]
    _run_block(block, f"{page} python block {i}", namespace, tmp_path, monkeypatch)


def test_readme_is_short_and_has_the_two_commands():
    """The README is a newcomer's page (details live in docs/); CI runs `python3 dev.py test`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    assert "python3 dev.py demo" in text and "python3 dev.py test" in text
    for link in re.findall(r"\]\((docs/[^)#]+)", text):  # its links into docs/ point at real files
        assert (ROOT / link).exists(), link
