"""cluster(), sweep() and cluster_layout(): methods, scores, quality on real text, determinism, bad inputs."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from conftest import make_blobs, shared_file

C = importlib.import_module("kosbert_viz.themes.cluster")
R = importlib.import_module("kosbert_viz.geometry.reduce")
CL = importlib.import_module("kosbert_viz.themes.cluster_layout")


def blobs(n=400, d=32, k=4, seed=0, spread=0.4):
    return make_blobs(n, d, k, seed=seed, spread=spread)


def test_kmeans_given_k_result_fields():
    X, lab = blobs()
    res = C.cluster(X, "kmeans", n_clusters=4, truth=lab)
    assert res.labels.shape == (400,) and res.n_clusters == 4 and res.noise_fraction == 0.0
    assert res.sizes.sum() == 400 and res.params["estimator"] == "KMeans"
    assert res.centroids.shape == (4, 32)
    np.testing.assert_allclose(res.centroids[0], X[res.labels == res.cluster_ids[0]].mean(0), rtol=1e-4, atol=1e-5)
    for key in ("silhouette", "davies_bouldin", "calinski_harabasz", "ari", "nmi", "v_measure"):
        assert key in res.scores
    assert res.scores["ari"] > 0.95 and res.scores["silhouette"] > 0.5


def test_auto_k_by_silhouette_on_a_sample():
    X, lab = blobs(k=5, spread=0.3)
    res = C.cluster(X, "kmeans", k_range=(2, 8), sample_size=200)
    assert res.params["auto_k"] and res.n_clusters == 5
    assert set(res.silhouette_by_k) == set(range(2, 9))


def test_minibatch_above_threshold(monkeypatch):
    monkeypatch.setattr(C, "_MINIBATCH_ABOVE", 100)
    X, lab = blobs()
    res = C.cluster(X, "kmeans", n_clusters=4, truth=lab)
    assert res.params["estimator"] == "MiniBatchKMeans" and res.scores["ari"] > 0.9


def test_agglomerative_small_only(monkeypatch):
    X, lab = blobs()
    res = C.cluster(X, "agglomerative", n_clusters=4, truth=lab)
    assert res.method == "agglomerative" and res.scores["ari"] > 0.95
    monkeypatch.setattr(C, "_AGGLOMERATIVE_MAX", 100)
    with pytest.raises(ValueError, match="agglomerative"):
        C.cluster(X, "agglomerative", n_clusters=4)


def test_any_fit_predict_estimator():
    from sklearn.cluster import DBSCAN

    X, _ = blobs(spread=0.1)
    res = C.cluster(X, DBSCAN(eps=2.0, min_samples=5))
    assert res.method == "DBSCAN" and res.n_clusters == 4


def test_hdbscan_on_low_dim_embedding_with_noise(tmp_path):
    X, lab = blobs(600, d=64, k=5)
    res = C.cluster(X, "hdbscan", min_cluster_size=20, truth=lab, cache=tmp_path)
    assert res.embedding.shape == (600, 5) and res.params["reduce_to"] == 5
    expected = "fast_hdbscan" if importlib.util.find_spec("fast_hdbscan") else "sklearn.cluster.HDBSCAN"
    assert res.params["implementation"] == expected
    assert 0.0 <= res.noise_fraction < 0.5 and res.scores["nmi"] > 0.8
    assert res.centroids.shape == (res.n_clusters, 64)


def test_hdbscan_falls_back_to_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "fast_hdbscan", None)
    X, lab = blobs(300, d=4, k=3, spread=0.2)
    res = C.cluster(X, "hdbscan", min_cluster_size=15, truth=lab)
    assert res.params["implementation"] == "sklearn.cluster.HDBSCAN" and res.scores["ari"] > 0.9
    tiny = C.cluster(X[:4], "hdbscan", scores=False)  # min_cluster_size 5 > 4 points: all noise, no error
    assert tiny.labels.tolist() == [-1] * 4


def test_sweep_table_and_chart(tmp_path):
    X, lab = blobs(k=4)
    sw = C.sweep(X, "kmeans", values=[2, 3, 4, 5, 6], truth=lab)
    assert list(sw.table.n_clusters) == [2, 3, 4, 5, 6]
    assert {"silhouette", "nmi", "ari", "noise_fraction", "seconds"} <= set(sw.table.columns)
    assert set(sw.chart.columns) == {"n_clusters", "metric", "value"}
    assert len(sw.chart) == 5 * sw.chart.metric.nunique()
    assert sw.best("silhouette") == 4 and sw.best("nmi") == 4
    sh = C.sweep(X, "hdbscan", values=[5, 20, 50], truth=lab, cache=tmp_path)
    assert sh.param == "min_cluster_size" and len(sh.table) == 3
    assert sh.figure() is not None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "kmeans", "n_clusters": 0}, "n_clusters"),
        ({"method": "kmeans", "n_clusters": 1000}, "n_clusters"),
        ({"method": "kmeans", "n_clusters": 3, "truth": [0, 1]}, "truth"),
        ({"method": "spectral"}, "method"),
        ({"method": "hdbscan", "min_cluster_size": 1}, "min_cluster_size"),
        ({"method": "hdbscan", "embedding": np.zeros((5, 2))}, "embedding"),
        ({"method": "kmeans", "mode": "turbo"}, "mode"),
        ({"method": "kmeans", "k_range": (1, 5)}, "k_range"),
    ],
)
def test_bad_options(kwargs, match):
    X, _ = blobs(50)
    with pytest.raises(ValueError, match=match):
        C.cluster(X, **kwargs)


def test_bad_matrices():
    with pytest.raises(ValueError):
        C.cluster(np.zeros((1, 3)))
    with pytest.raises(ValueError):
        C.cluster(np.array([[0.0, np.inf], [1.0, 2.0]]))
    with pytest.raises(TypeError):
        C.cluster([["a", "b"], ["c", "d"]])


def test_kmeans_k10_on_sample_corpus_nmi(sample, sample_offline_embeddings):
    res = C.cluster(sample_offline_embeddings, "kmeans", n_clusters=10, truth=sample.topic)
    assert res.scores["nmi"] >= 0.6, res.scores


def test_cluster_layout_deterministic(sample_offline_embeddings):
    runs = []
    for _ in range(2):
        R._MEMO.clear()
        res, xy = CL.cluster_layout(sample_offline_embeddings, "hdbscan", min_cluster_size=8, cache=None)
        runs.append((res.labels, xy))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][1].shape == (len(sample_offline_embeddings), 2) and runs[0][0].max() >= 2


def test_ynat_2100_headlines_kmeans_k7_nmi(offline_encoder):
    import pandas as pd

    from kosbert_viz.embed.encode import encode

    df = pd.read_csv(shared_file("dacon_news_topic_ynat", "train_data.csv"))
    df = df.groupby("topic_idx").sample(300, random_state=0)
    assert len(df) == 2100
    X = encode(df.title.tolist(), offline_encoder, cache=None, show_progress_bar=False)
    res = C.cluster(X, "kmeans", n_clusters=7, truth=df.topic_idx.to_numpy())
    assert res.scores["nmi"] >= 0.18, res.scores
