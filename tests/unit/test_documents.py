"""tm.documents(): one row per text, in input order, with its theme at every level (issue: from a CSV to
a table an analyst can save)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kosbert_viz as kv
from kosbert_viz.maps.documents import NOISE_NAME


@pytest.fixture(scope="module")
def tree_map(sample, sample_offline_embeddings, offline_encoder):
    tm = kv.map_texts(sample["text"], offline_encoder, cache=None, show_progress_bar=False)
    tm.metadata = sample[["topic"]].rename(columns={"topic": "name"})  # a metadata column named like ours
    return tm


def test_one_row_per_text_in_input_order_with_every_level(tree_map, sample):
    tm = tree_map
    docs = tm.documents()
    assert len(docs) == len(sample) and docs["text"].tolist() == sample["text"].tolist()
    assert (docs["theme"].to_numpy() == tm.clusters.levels[tm.level]).all()
    names = dict(zip(tm.table["cluster"], tm.table["name"]))
    assert docs["name"].tolist() == [names[c] for c in docs["theme"]]
    np.testing.assert_array_equal(docs[["x", "y"]].to_numpy(), tm.coords[:, :2])
    for i, lv in enumerate(tm.clusters.levels):
        assert (docs[f"theme_level{i}"].to_numpy() == lv).all()
        tree = tm.clusters.names_at(i)
        if i != tm.level:
            assert docs[f"name_level{i}"].tolist() == [tree[c] for c in lv.tolist()]
    assert docs[f"name_level{tm.level}"].tolist() == docs["name"].tolist()
    assert docs["is_outlier"].dtype == bool and docs["outlier_score"].notna().all()
    score = dict(zip(tm.table["cluster"], tm.table["stability"]))
    assert np.allclose(docs["stability"], [score[c] for c in docs["theme"]], equal_nan=True)
    assert docs["data_name"].tolist() == sample["topic"].tolist()  # metadata kept, its clash renamed


def test_noise_is_named_and_a_flat_map_has_no_level_columns(sample, offline_encoder):
    texts = sample["text"].head(240)
    tm = kv.map_texts(texts, offline_encoder, method="hdbscan", cache=None, show_progress_bar=False)
    docs = tm.documents()
    assert not any(c.startswith("theme_level") for c in docs.columns)
    noise = docs["theme"] == -1
    assert (docs.loc[noise, "name"] == NOISE_NAME).all()
    assert isinstance(docs, pd.DataFrame) and len(docs) == 240


def test_an_edited_result_shows_in_the_documents(tree_map):
    import dataclasses

    tm = tree_map
    edited = tm.clusters.new_theme([0, 1, 2], "직접 만든 테마", level=tm.level)
    table = pd.concat(
        [tm.table, pd.DataFrame({"cluster": [int(edited.labels[0])], "name": ["직접 만든 테마"]})], ignore_index=True
    )
    docs = dataclasses.replace(tm, clusters=edited, table=table).documents()
    assert docs["name"].head(3).tolist() == ["직접 만든 테마"] * 3
