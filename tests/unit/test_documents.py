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


def test_map_edits_reach_the_report_documents_save_load_and_assign(tree_map, tmp_path):
    tm = tree_map
    before = tm.table.copy()
    renamed = tm.rename({0: "배송 지연 <문의>"})
    merged = renamed.merge([1, 2], name="합친 테마")
    split = merged.split(int(merged.table.sort_values("size").cluster.iloc[-1]), n=2)
    assert tm.table.equals(before)  # every edit gives a new map
    for edited, name, code in ((renamed, "배송 지연 <문의>", 0), (merged, "합친 테마", 1)):
        assert edited.table.set_index("cluster").loc[code, "name"] == name
        docs = edited.documents()
        assert (docs.loc[docs.theme == code, "name"] == name).all()
        assert (docs["theme"].to_numpy() == edited.clusters.levels[edited.level]).all()
    assert merged.clusters.n_clusters == tm.clusters.n_clusters - 1
    assert split.clusters.n_clusters == merged.clusters.n_clusters + 1
    assert split.table["name"].is_unique and split.table["size"].sum() == len(tm.texts)
    page = kv.write_report(merged, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "합친 테마" in page and "배송 지연 &lt;문의&gt;" in page
    loaded = kv.load_map(merged.save(tmp_path / "map"))
    assert (loaded.clusters.labels == merged.clusters.labels).all()
    assert loaded.table.set_index("cluster").loc[1, "name"] == "합친 테마"
    member = tm.texts[int(np.flatnonzero(merged.clusters.labels == 1)[0])]
    a = loaded.assign([member], show_progress_bar=False)
    assert a.labels[0] == 1 and a.names[0] == "합친 테마"  # a text of the merged theme is placed into it


def test_to_excel_has_one_row_per_text_and_a_sheet_per_level(tree_map, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    tm = tree_map.rename({0: "배송 지연"})
    path = tm.to_excel(tmp_path / "themes.xlsx")
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["texts", "themes"] + [f"level_{i}" for i in range(len(tm.clusters.levels))]
    rows = list(wb["texts"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == len(tm.texts) and [r[0] for r in body] == list(tm.texts)
    names = [r[header.index("name")] for r in body]
    assert names.count("배송 지연") == int((tm.clusters.levels[tm.level] == 0).sum())
    with pytest.raises(ValueError, match=r"\.xlsx"):
        tm.to_excel(tmp_path / "themes.csv")


def test_an_assignment_table_has_the_documents_columns(tree_map, offline_encoder):
    tm = tree_map
    a = tm.assign(list(tm.texts[:5]), model=offline_encoder, show_progress_bar=False)
    table, docs = a.table(), tm.documents().head(5)
    core = ["text", "theme", "name", "x", "y"]
    levels = [c for c in docs.columns if c.startswith(("theme_level", "name_level"))]
    assert table.columns[:5].tolist() == core and set(levels) <= set(table.columns)
    # a text of the map placed again lands in its own theme, under the same names at every level
    assert table[["theme", "name", *levels]].equals(docs[["theme", "name", *levels]].reset_index(drop=True))


def test_to_excel_keeps_formula_like_texts_as_text(tree_map, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    import dataclasses

    texts = list(tree_map.texts)
    texts[0] = '=HYPERLINK("http://example.invalid","열기")'
    path = dataclasses.replace(tree_map, texts=texts).to_excel(tmp_path / "t.xlsx")
    cell = openpyxl.load_workbook(path)["texts"]["A2"]
    assert cell.data_type == "s" and cell.value == "'" + texts[0]
