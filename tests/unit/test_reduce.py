"""reduce(), nearest_neighbors() and layout(): shapes, the shared graph, the disk cache, determinism, bad inputs."""

from __future__ import annotations

import importlib
import re

import numpy as np
import pytest
from conftest import make_blobs

R = importlib.import_module("kosbert_viz.geometry.reduce")
L = importlib.import_module("kosbert_viz.geometry.layout")


def blobs(n=600, d=64, k=6, seed=0, spread=0.6):
    return make_blobs(n, d, k, seed=seed, spread=spread)


@pytest.fixture(autouse=True)
def _fresh_memo():
    R._MEMO.clear()
    yield
    R._MEMO.clear()


def test_pca_umap_and_fit_transform_object(tmp_path):
    X, _ = blobs(300)
    assert R.reduce(X, "pca", n_components=3).shape == (300, 3)
    Y = R.reduce(X, n_components=2, cache=tmp_path, n_epochs=50)
    assert Y.shape == (300, 2) and Y.dtype == np.float32 and np.isfinite(Y).all()

    class Half:
        def fit_transform(self, A):
            return A[:, :2] * 0.5

    np.testing.assert_allclose(R.reduce(X, Half()), X[:, :2] * 0.5)


def test_umap_keeps_clusters_apart():
    X, lab = blobs(600, spread=0.5)
    Y = R.reduce(X, n_components=2, cache=None, n_epochs=100)
    from sklearn.metrics import silhouette_score

    assert silhouette_score(Y, lab) > 0.5


def test_projection_keeps_dot_products_and_is_stable():
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(500, 8)) @ rng.normal(size=(8, 200)) + 0.01 * rng.normal(size=(500, 200))).astype(np.float32)
    Y1 = R._project(X, pca_components=20, metric="cosine", random_state=0)
    Y2 = R._project(X.copy(), pca_components=20, metric="cosine", random_state=0)
    assert Y1.shape == (500, 20)
    np.testing.assert_array_equal(Y1, Y2)
    U = R.unit_rows(X)
    np.testing.assert_allclose(Y1[:50] @ Y1[:50].T, U[:50] @ U[:50].T, atol=2e-3)


def test_exact_knn_is_exact_with_self_first():
    X, _ = blobs(400)
    g = R.nearest_neighbors(X, n_neighbors=10, cache=None)
    assert g.exact and g.indices.shape == (400, 10)
    np.testing.assert_array_equal(g.indices[:, 0], np.arange(400))
    U = R.unit_rows(X)
    D = 1 - U @ U.T
    np.fill_diagonal(D, -1)
    ref = np.argsort(D, axis=1, kind="stable")[:, :10]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(g.indices, ref)]) > 0.99
    assert (np.diff(g.distances, axis=1) >= -1e-6).all()


def test_approximate_knn_recall_after_rerank(monkeypatch):
    monkeypatch.setattr(R, "_EXACT_KNN_BELOW", 1000)
    # sentence vectors have most of their variance in a few dozen directions
    rng = np.random.default_rng(3)
    Z, _ = blobs(3000, d=24, k=20, spread=1.0)
    X = (Z @ rng.normal(size=(24, 128)) + 0.3 * rng.normal(size=(3000, 128))).astype(np.float32)
    g = R.nearest_neighbors(X, n_neighbors=10, pca_components=32, cache=None, mode="fast")
    assert not g.exact and g.indices.shape == (3000, 10)
    exact = R._exact_knn(R.unit_rows(X), 10, "cosine")[0]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(g.indices, exact)])
    assert recall > 0.9, recall
    np.testing.assert_array_equal(g.indices[:, 0], np.arange(3000))


def test_approximate_knn_on_full_vectors_by_default(monkeypatch):
    monkeypatch.setattr(R, "_EXACT_KNN_BELOW", 1000)
    rng = np.random.default_rng(4)
    Z, _ = blobs(3000, d=24, k=20, spread=1.0)
    X = (Z @ rng.normal(size=(24, 128)) + 0.3 * rng.normal(size=(3000, 128))).astype(np.float32)

    def no_rerank(*a, **k):
        raise AssertionError("re-ranked although there is no PCA pre-step")

    monkeypatch.setattr(R, "_rerank", no_rerank)
    g = R.nearest_neighbors(X, n_neighbors=10, cache=None)  # deterministic, no PCA pre-step
    assert not g.exact and g.indices.shape == (3000, 10) and g.data.shape == (3000, 128)
    np.testing.assert_array_equal(g.indices[:, 0], np.arange(3000))
    assert (g.distances[:, 0] == 0).all() and (np.diff(g.distances, axis=1) >= -1e-6).all()
    U = R.unit_rows(X)
    exact_idx, exact_dist = R._exact_knn(U, 10, "cosine")
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(g.indices, exact_idx)])
    assert recall > 0.9, recall
    # the distances are cosine distances on the full vectors
    i = g.indices[:, 1]
    np.testing.assert_allclose(g.distances[:, 1], 1 - np.einsum("ij,ij->i", U, U[i]), atol=1e-4)


def test_pca_init_is_deterministic_and_follows_the_data():
    X, lab = blobs(800, k=4, spread=0.4)
    g = R.nearest_neighbors(X, cache=None)
    G = R._fuzzy_graph(g, 15)
    a, b = R._pca_init(g, G, 5, 0), R._pca_init(g, G, 5, 0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (800, 5) and a.dtype == np.float32 and np.abs(a).max() <= 10.01
    from sklearn.metrics import silhouette_score

    assert silhouette_score(a, lab) > 0.5  # the start already separates well-separated groups
    Y = R.reduce(X, n_components=5, min_dist=0.0, init="pca", n_epochs=30, cache=None, knn=g)
    assert Y.shape == (800, 5) and silhouette_score(Y, lab) > 0.5


def test_layout_builds_one_graph_for_both_embeddings(monkeypatch, tmp_path):
    calls = []
    real = R._exact_knn

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(R, "_exact_knn", counting)
    X, _ = blobs(500)
    lay = L.layout(X, cluster_dims=5, map_dims=2, cache=tmp_path, cluster_epochs=50, map_epochs=30)
    assert lay.cluster_coords.shape == (500, 5) and lay.map_coords.shape == (500, 2)
    assert len(calls) == 1
    # a later plain reduce() of the same vectors reuses the stored graph (memo cleared: from disk)
    R._MEMO.clear()
    R.reduce(X, n_components=3, cache=tmp_path, n_epochs=20)
    assert len(calls) == 1


def test_disk_cache_reuses_and_survives_corruption(monkeypatch, tmp_path):
    X, _ = blobs(400)
    Y = R.reduce(X, n_components=2, cache=tmp_path, n_epochs=40)
    bins = sorted((tmp_path / "reduce").glob("umap*.bin"))  # cache=<folder>: layouts under <folder>/reduce
    assert len(bins) == 1 and bins[0].with_suffix(".json").exists()
    assert not list(tmp_path.glob("*.npy")) and not list(tmp_path.glob("*.pkl"))
    R._MEMO.clear()

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(R, "_umap", boom)
    np.testing.assert_array_equal(R.reduce(X, n_components=2, cache=tmp_path, n_epochs=40), Y)
    # other parameters are another entry
    with pytest.raises(AssertionError, match="recomputed"):
        R.reduce(X, n_components=2, cache=tmp_path, n_epochs=40, min_dist=0.3)
    # a damaged entry is a miss, never returned
    raw = bytearray(bins[0].read_bytes())
    raw[10] ^= 0xFF
    bins[0].write_bytes(bytes(raw))
    R._MEMO.clear()
    with pytest.raises(AssertionError, match="recomputed"):
        R.reduce(X, n_components=2, cache=tmp_path, n_epochs=40)


def test_deterministic_mode_repeats_exactly():
    X, _ = blobs(500)
    a = L.layout(X, cache=None, cluster_epochs=60, map_epochs=40)
    R._MEMO.clear()
    b = L.layout(X, cache=None, cluster_epochs=60, map_epochs=40)
    np.testing.assert_array_equal(a.cluster_coords, b.cluster_coords)
    np.testing.assert_array_equal(a.map_coords, b.map_coords)


@pytest.mark.slow
def test_deterministic_mode_repeats_exactly_on_the_nn_descent_path(monkeypatch):
    monkeypatch.setattr(R, "_EXACT_KNN_BELOW", 1000)
    X, _ = blobs(2500, d=96, k=10)
    for pca in (None, 32):  # NN-descent on the full vectors (default) and on a PCA pre-step
        runs = []
        for _ in range(2):
            R._MEMO.clear()
            g = R.nearest_neighbors(X, cache=None, pca_components=pca)
            runs.append(
                (
                    g.indices.copy(),
                    R.reduce(X, n_components=2, cache=None, knn=g, n_epochs=40),
                    R.reduce(X, n_components=5, min_dist=0.0, init="pca", cache=None, knn=g, n_epochs=20),
                )
            )
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "bad, err",
    [
        (np.zeros(10), ValueError),
        (np.full((10, 3), np.nan), ValueError),
        (np.array([["a", "b"], ["c", "d"]]), TypeError),
        (np.zeros((2, 5)), ValueError),
    ],
)
def test_bad_matrices(bad, err):
    with pytest.raises(err):
        R.reduce(bad, cache=None)


def test_bad_options():
    X, _ = blobs(50)
    with pytest.raises(ValueError, match="mode"):
        R.reduce(X, mode="quick")
    with pytest.raises(ValueError, match="method"):
        R.reduce(X, method="tsne")
    with pytest.raises(ValueError, match="n_components"):
        R.reduce(X, n_components=0)
    with pytest.raises(ValueError, match="init"):
        R.reduce(X, init=np.zeros((3, 2)), cache=None)
    with pytest.raises(ValueError, match="metric"):
        R.nearest_neighbors(X, metric="manhattan")
    with pytest.raises(ValueError, match="map_dims"):
        L.layout(X, map_dims=4)


def test_in_memory_results_are_bounded_in_bytes(monkeypatch):
    import importlib

    reduce_module = importlib.import_module("kosbert_viz.geometry.reduce")  # kv.reduce is the function

    monkeypatch.setattr(reduce_module, "_MEMO", type(reduce_module._MEMO)())
    monkeypatch.setattr(reduce_module, "_MEMO_BYTES", 1000)
    reduce_module._memo_put("a", np.zeros(100, np.float32))  # 400 bytes
    reduce_module._memo_put("b", np.zeros(100, np.float32))
    assert list(reduce_module._MEMO) == ["a", "b"]
    reduce_module._memo_put("c", np.zeros(200, np.float32))  # 800 bytes: only the newest fits
    assert list(reduce_module._MEMO) == ["c"]
    reduce_module._memo_put("d", np.zeros(1000, np.float32))  # the newest stays even when larger
    assert list(reduce_module._MEMO) == ["d"]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_own_nn_descent_recall_self_first_and_repeatable(metric):
    from kosbert_viz.geometry.nndescent import nn_descent

    rng = np.random.default_rng(5)
    Z, _ = blobs(2500, d=24, k=15, spread=1.0)
    X = (Z @ rng.normal(size=(24, 96)) + 0.3 * rng.normal(size=(2500, 96))).astype(np.float32)
    Y = R.unit_rows(X) if metric == "cosine" else X
    idx, dist = nn_descent(Y, 10, metric=metric, seed=7)
    exact_idx, exact_dist = R._exact_knn(Y, 10, metric)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, exact_idx)])
    assert recall > 0.9, recall
    np.testing.assert_array_equal(idx[:, 0], np.arange(len(Y)))
    assert (dist[:, 0] == 0).all() and (np.diff(dist, axis=1) >= 0).all()
    # distances are the true ones for the pairs found
    j = idx[:, 3]
    true = 1 - (Y * Y[j]).sum(1) if metric == "cosine" else np.linalg.norm(Y - Y[j], axis=1)
    np.testing.assert_allclose(dist[:, 3], true, atol=1e-4)
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)  # the same graph on one thread as on all of them
    try:
        again_idx, again_dist = nn_descent(Y, 10, metric=metric, seed=7)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(idx, again_idx)
    np.testing.assert_array_equal(dist, again_dist)


def test_own_nn_descent_rejects_bad_arguments():
    from kosbert_viz.geometry.nndescent import nn_descent

    Y = np.eye(5, dtype=np.float32)
    with pytest.raises(ValueError, match="metric must be"):
        nn_descent(Y, 3, metric="manhattan")
    with pytest.raises(ValueError, match="k must be between 2 and the number of rows"):
        nn_descent(Y, 9)


def test_own_nn_descent_with_many_duplicates():
    from kosbert_viz.geometry.nndescent import nn_descent

    rng = np.random.default_rng(0)
    base = R.unit_rows(rng.normal(size=(50, 16)).astype(np.float32))
    Y = np.repeat(base, 40, axis=0)  # 2,000 rows, each vector 40 times
    idx, dist = nn_descent(Y, 8, seed=0)
    np.testing.assert_array_equal(idx[:, 0], np.arange(len(Y)))
    assert (dist[:, 1:] < 1e-5).all()  # 39 exact copies are nearer than anything else
    assert ((idx // 40) == (np.arange(len(Y)) // 40)[:, None]).all()


def test_own_fuzzy_graph_equals_umap_learns():
    from umap.umap_ import fuzzy_simplicial_set

    from kosbert_viz.geometry.fuzzy import fuzzy_graph

    X, _ = blobs(700, d=16, k=5)
    X[5] = X[6]  # an exact copy: distance 0 to another point
    U = R.unit_rows(X)
    idx, dist = R._exact_knn(U, 12, "cosine")
    ours = fuzzy_graph(idx, dist)
    ref, _, _ = fuzzy_simplicial_set(U, 12, np.random.RandomState(0), "cosine", knn_indices=idx, knn_dists=dist)
    ref = ref.tocsr()
    assert ours.shape == ref.shape and ours.nnz == ref.nnz
    assert abs(ours - ref).max() < 1e-6
    with pytest.raises(ValueError, match="one shape"):
        fuzzy_graph(idx, dist[:, :5])


# -- cache= means the same for layouts as for vectors (issue 12) -------------------------------
def test_cache_argument_means_the_same_as_for_vectors(tmp_path):
    from pathlib import Path

    from kosbert_viz.embed.arraystore import default_reduce_dir, resolve_store
    from kosbert_viz.embed.cache import EmbeddingCache

    assert resolve_store(None) is None and resolve_store(False) is None
    assert resolve_store("auto").root == resolve_store(True).root == default_reduce_dir()
    assert (
        resolve_store(tmp_path / "proj").root
        == resolve_store(str(tmp_path / "proj")).root
        == tmp_path / "proj" / "reduce"
    )
    assert resolve_store(EmbeddingCache(tmp_path / "ec")).root == tmp_path / "ec" / "reduce"
    with pytest.raises(TypeError, match="cache must be"):
        resolve_store(3)

    X, _ = blobs(300)
    default = default_reduce_dir()

    def files(folder: Path):
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    for off in (None, False):  # nothing on disk, anywhere
        R._MEMO.clear()
        R.reduce(X, n_components=2, cache=off, n_epochs=20)
        assert files(default) == [] and files(tmp_path) == []
    R._MEMO.clear()
    Y = R.reduce(X, n_components=2, cache=tmp_path / "proj", n_epochs=20)
    stored = files(tmp_path / "proj" / "reduce")
    # the neighbour graph and the layout, a .bin and a .json each
    assert sorted(n.rsplit(".", 1)[1] for n in stored) == ["bin", "bin", "json", "json"]
    assert {n[:3] for n in stored} == {"knn", "uma"}
    assert files(default) == [] and files(tmp_path / "proj") == ["reduce"]
    R._MEMO.clear()
    np.testing.assert_array_equal(R.reduce(X, n_components=2, cache=EmbeddingCache(tmp_path / "ec"), n_epochs=20), Y)
    assert len(files(tmp_path / "ec" / "reduce")) == 4 and files(default) == []
    R._MEMO.clear()
    R.reduce(X, n_components=2, cache="auto", n_epochs=20)
    assert len(files(default)) == 4


@pytest.mark.parametrize("how", ["below a file", "chmod 0555"])
def test_unwritable_layout_cache_warns_once_and_computes(tmp_path, how):
    import os
    import sys
    import warnings

    X, _ = blobs(300)
    ref = L.layout(X, cache=None, cluster_epochs=30, map_epochs=20)
    if how == "below a file":  # a folder nobody can create, root included
        (tmp_path / "notes.txt").write_text("not a folder")
        where = tmp_path / "notes.txt" / "proj"
    else:
        if sys.platform == "win32":
            pytest.skip("POSIX permissions")
        where = tmp_path / "ro"
        (where / "reduce").mkdir(parents=True)
        os.chmod(where / "reduce", 0o555)
        try:
            (where / "reduce" / "probe").touch()
        except OSError:
            pass
        else:
            pytest.skip("this user writes into chmod 0555 folders (root): covered by 'below a file'")
    R._MEMO.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lay = L.layout(X, cache=where, cluster_epochs=30, map_epochs=20)  # a graph and two layouts: three misses
    msgs = [str(w.message) for w in caught if "not writable" in str(w.message)]
    assert len(msgs) == 1 and "computed but not cached" in msgs[0] and str(where) in msgs[0]
    np.testing.assert_array_equal(lay.map_coords, ref.map_coords)
    np.testing.assert_array_equal(lay.cluster_coords, ref.cluster_coords)


def test_layout_cache_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch):
    from kosbert_viz.embed.arraystore import ArrayStore

    X, _ = blobs(100)
    afile = tmp_path / "cache.txt"
    afile.write_text("a file")
    with pytest.raises(NotADirectoryError, match=re.escape(str(afile)) + ".*is a file, expected a folder"):
        R.reduce(X, n_components=2, cache=afile, n_epochs=10)
    with pytest.raises(NotADirectoryError, match="is a file"):
        ArrayStore(afile)
    monkeypatch.setenv("KOSBERT_VIZ_CACHE", str(afile))
    with pytest.raises(NotADirectoryError, match="KOSBERT_VIZ_CACHE"):
        L.layout(X, cache="auto", cluster_epochs=10, map_epochs=10)
