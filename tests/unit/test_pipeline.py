"""map_texts(): the one-call job clusters and lays out from one shared neighbour graph."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import kosbert_viz as kv


def test_map_texts_hdbscan_clusters_on_the_shared_layout(tiny_model_path, sample):
    from kosbert_viz.geometry.reduce import _MEMO

    _MEMO.clear()  # an earlier test may hold these layouts in memory; this one checks the disk copy
    texts = list(sample.text)
    tm = kv.map_texts(texts, tiny_model_path, method="hdbscan", min_cluster_size=10, show_progress_bar=False)
    params = tm.clusters.params
    assert params["embedding"] == "given" and params["layout"]["cluster_dims"] == 5
    assert tm.coords.shape == (len(texts), 2) and np.isfinite(tm.coords).all()
    assert "cluster_and_layout" in tm.manifest["timings_s"]
    # the same as calling the stage itself (deterministic mode), now read back from the disk cache
    res, xy = kv.cluster_layout(tm.embeddings, "hdbscan", min_cluster_size=10)
    np.testing.assert_array_equal(tm.clusters.labels, res.labels)
    np.testing.assert_array_equal(tm.coords, xy)
    assert any((Path(os.environ["KOSBERT_VIZ_CACHE"]) / "reduce").iterdir())


def test_map_texts_without_a_cache_writes_nothing(tiny_model_path, sample):
    root = Path(os.environ["KOSBERT_VIZ_CACHE"])
    tm = kv.map_texts(list(sample.text)[:120], tiny_model_path, n_clusters=4, cache=None, show_progress_bar=False)
    assert tm.clusters.n_clusters == 4 and tm.coords.shape == (120, 2)
    assert not root.exists() or not any(root.rglob("*")), sorted(root.rglob("*"))


def test_map_texts_needs_four_texts(tiny_model_path):
    import pytest

    for texts in ([], ["하나"], ["하나", "둘"], ["하나", "둘", "셋"]):
        with pytest.raises(ValueError, match=f"at least 4 texts .*got {len(texts)}"):
            kv.map_texts(texts, tiny_model_path, cache=None)
    for method in ("kmeans", "hdbscan"):  # too few points for a 5-D clustering embedding: HDBSCAN on the vectors
        tm = kv.map_texts(
            ["하나", "둘", "셋", "넷"], tiny_model_path, method=method, cache=None, show_progress_bar=False
        )
        assert tm.coords.shape == (4, 2) and np.isfinite(tm.coords).all()
    assert tm.clusters.params["embedding"] == "none"
