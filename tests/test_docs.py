"""The README's and the docstrings' examples run (on the tiny test model, offline).

Examples use a few names that a reader has from the surrounding text: ``kv``, ``np``, ``pd``, ``df``
(the bundled corpus with ``review`` and ``topic`` columns), ``texts``, ``emb``, ``res``, ``labels``,
``table`` and ``tm``. They are provided here. An example with an expected output must print exactly
that; one without must run without an error. An example that needs what a test machine lacks (a Ray
cluster, a GPU) says so with ``# doctest: +SKIP``.
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import kosbert_viz as kv

ROOT = Path(__file__).resolve().parents[1]


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
    ns = dict(kv=kv, np=np, pd=pd, df=df, texts=texts, emb=emb, res=res, labels=res.labels,
              table=kv.keywords(texts, res.labels), tm=tm)
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
    runner = doctest.DocTestRunner(checker=_RunsOrMatches(), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(mod, module, globs={}) if t.examples]
    failures = []
    for t in tests:
        t.globs = {**vars(mod), **namespace}
        out = []
        result = runner.run(t, out=out.append, clear_globs=False)
        if result.failed:
            failures.append("".join(out))
    assert not failures, "\n".join(failures)


def _readme_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)]


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(_readme_blocks())))
def test_readme_python_examples_run(i, namespace, tmp_path, monkeypatch):
    block = _readme_blocks()[i]
    if "# not run in tests" in block:
        pytest.skip("needs what a test machine lacks (marked in the README)")
    import plotly.io as pio

    monkeypatch.chdir(tmp_path)  # its own folder: the docstrings' examples wrote files in the shared one
    renderer = pio.renderers.default
    try:
        exec(compile(block, f"README.md python block {i}", "exec"), dict(namespace))
    finally:
        pio.renderers.default = renderer  # kv.use_notebook_renderer() must not leak into other tests
