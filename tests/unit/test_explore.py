"""kv.explore on the Python side: the selection DataFrame, select(), NFC search, filters, colours, the side
panel, and "make this a theme" / rename reflected in the TextMap and the next report. (The browser side,
lasso included, is tests/browser/test_explore_browser.py.)"""

from __future__ import annotations

import dataclasses
import unicodedata

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("jscatter", reason='the explorer needs the explore extra: pip install "kosbert_viz[explore]"')

import kosbert_viz as kv  # noqa: E402
from kosbert_viz.maps.textmap import TextMap  # noqa: E402
from kosbert_viz.themes.result import ClusterResult  # noqa: E402

BASE = ["배송이 너무 늦어요", "환불이 안 돼요", "맛있어요 최고"]
INJECTION = "<img src=x onerror=alert(1)>"


def _corpus(n=300, seed=0):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 3, n)
    lab[:10] = -1
    xy = rng.normal(scale=6, size=(3, 2))[lab] + rng.normal(size=(n, 2))
    texts = [BASE[max(int(l), 0)] + f" {i}번" for i, l in enumerate(lab)]
    texts[3] = unicodedata.normalize("NFD", "환불이 늦어요 (macOS)")  # decomposed Hangul
    texts[4] = INJECTION
    data = pd.DataFrame(
        {
            "product": np.where(np.arange(n) % 2 == 0, "앱", "웹"),
            "date": pd.date_range("2024-01-01", periods=n, freq="D"),
            "stars": rng.integers(1, 6, n),
        }
    )
    return xy, lab, texts, data


def _textmap(n=300):
    xy, lab, texts, data = _corpus(n)
    texts = [unicodedata.normalize("NFC", t) for t in texts]
    table = kv.keywords(texts, lab, top_n=4)
    fig = kv.cluster_map(xy, labels=lab, texts=texts, names=dict(zip(table.cluster, table.name)), title="리뷰")
    emb = np.random.default_rng(1).normal(size=(n, 8)).astype(np.float32)
    res = ClusterResult(
        lab.copy(), "kmeans", {"n_clusters": 3}, centroids=np.zeros((3, 8), np.float32), cluster_ids=np.arange(3)
    )
    return TextMap(texts, emb, xy, res, table, fig, {"model": {"name": None}}), data


def test_selection_dataframe_and_select_from_python():
    xy, lab, texts, data = _corpus()
    ex = kv.explore(coords=xy, labels=lab, texts=texts, data=data, names={0: "배송", 1: "환불", 2: "맛"})
    assert ex.selected.empty and list(ex.selected.columns)[:3] == ["index", "text", "theme"]
    ex.select([12, 5, 5, 40])
    sel = ex.selected
    assert sel["index"].tolist() == [5, 12, 40]
    assert sel["text"].tolist() == [texts[5], texts[12], texts[40]]
    names = {-1: "noise", 0: "배송", 1: "환불", 2: "맛"}
    assert sel["theme"].tolist() == [names[int(lab[i])] for i in (5, 12, 40)]
    assert sel["product"].tolist() == data["product"].iloc[[5, 12, 40]].tolist()
    assert sel["stars"].tolist() == data["stars"].iloc[[5, 12, 40]].tolist()
    # the selection lives on the widget (what a lasso in the browser sets) and is read from it live
    ex.scatter.widget.selection = np.array([7, 8], dtype=np.uint32)
    assert ex.selected["index"].tolist() == [7, 8]
    mask = np.zeros(len(texts), bool)
    mask[[1, 2]] = True
    assert ex.select(mask).selected["index"].tolist() == [1, 2]
    assert ex.select(ex.selected.iloc[:1]).selected["index"].tolist() == [1]
    ex.select(None)
    assert ex.selected.empty
    with pytest.raises(ValueError, match=r"indices must be in \[0, 300\), got 0..300"):
        ex.select([0, 300])
    with pytest.raises(TypeError, match="integer point positions"):
        ex.select([0.5])
    # clicking a theme selects all of it
    ex.select_theme("환불")
    assert ex.selected["index"].tolist() == np.flatnonzero(lab == 1).tolist()


def test_search_is_nfc_aware_and_highlights():
    xy, lab, texts, data = _corpus()
    ex = kv.explore(coords=xy, labels=lab, texts=texts, data=data)
    hits = ex.search("환불")
    expected = [i for i, t in enumerate(texts) if "환불" in unicodedata.normalize("NFC", t)]
    assert 3 in expected and hits["index"].tolist() == expected  # the NFD text is found too
    assert all("환불" in t for t in hits["text"])  # and shown in NFC
    assert ex.selected["index"].tolist() == expected  # highlighted (selected) on the map
    nfd_query = ex.search(unicodedata.normalize("NFD", "환불이"))
    assert nfd_query["index"].tolist() == expected
    assert ex.search("<IMG SRC")["index"].tolist() == [4]  # case-insensitive, literal
    assert ex.search("  ").empty and ex.selected.empty
    with pytest.raises(ValueError, match="semantic search needs the map's embeddings"):
        ex.search("환불", semantic=True)


def test_filters_themes_categories_dates():
    xy, lab, texts, data = _corpus()
    ex = kv.explore(coords=xy, labels=lab, texts=texts, data=data, names={0: "배송", 1: "환불", 2: "맛"})
    assert ex._time_col == "date"
    kept = ex.filter(themes=["환불", 2])
    assert kept.tolist() == np.flatnonzero(np.isin(lab, [1, 2])).tolist()
    assert ex.scatter.widget.filter.tolist() == kept.tolist()
    assert ex.filter(themes="환불").tolist() == np.flatnonzero(lab == 1).tolist()  # one name, not its characters
    kept = ex.filter(categories={"product": ["앱"]}, date_range=("2024-01-11", "2024-01-21"))
    days = data["date"].dt.strftime("%Y-%m-%d")
    expected = np.flatnonzero((data["product"] == "앱") & (days >= "2024-01-11") & (days <= "2024-01-21"))
    assert kept.tolist() == expected.tolist() and len(kept) == 6
    ex.select(np.arange(0, 40))
    ex.filter(categories={"product": ["웹"]})  # the selection keeps only what is still shown
    assert ex.selected["index"].tolist() == list(range(1, 40, 2))
    assert len(ex.filter()) == len(texts) and ex.scatter.widget.filter is None
    with pytest.raises(KeyError, match="no theme named '없음'"):
        ex.filter(themes=["없음"])
    with pytest.raises(KeyError, match="no metadata column 'nope'"):
        ex.filter(categories={"nope": ["x"]})


def test_panel_lists_selected_texts_escaped_with_keywords():
    xy, lab, texts, data = _corpus()
    ex = kv.explore(coords=xy, labels=lab, texts=texts, data=data)
    w = ex.widget
    assert "kosbert-viz-explorer" in w._dom_classes
    ex.select_theme(1)
    panel = ex._widgets
    assert f"<b>{int((lab == 1).sum()):,}</b> selected" in panel["count"].value
    assert "환불" in ex._keywords and "<b>환불</b>" in panel["keywords"].value
    ex.select([4, 5])
    table = panel["table"].value
    assert INJECTION not in table and "&lt;img src=x onerror=alert(1)&gt;" in table
    # sortable: by length, descending
    ex.select([0, 1, 2, 4])
    panel["sort"].value = "length"
    panel["ascending"].value = False
    rows = [r.split("</td>")[0].removeprefix("<td>") for r in panel["table"].value.split("<tr>")[2:]]
    by_len = sorted([0, 1, 2, 4], key=lambda i: -len(unicodedata.normalize("NFC", texts[i])))
    assert rows == [str(i) for i in by_len]
    # the search box in the panel runs a search the kernel sees
    panel["search"].value = "환불"
    assert len(ex.hits) == sum("환불" in unicodedata.normalize("NFC", t) for t in texts)
    assert panel["hits"].value == f"{len(ex.hits):,} hits"


def _two_level_explorer():
    """(an explorer over the corpus with two levels: 배송 | 환불·맛 above 배송 | 환불 | 맛, its xy, the coarse labels)."""
    xy, lab, texts, data = _corpus()
    coarse = np.where(lab < 0, -1, (lab > 0).astype(int))
    ex = kv.explore(
        coords=xy,
        labels=[coarse, lab],
        texts=texts,
        data=data,
        names=[{0: "배송", 1: "환불·맛"}, {0: "배송", 1: "환불", 2: "맛"}],
    )
    return ex, xy, coarse


def test_colour_by_level_and_metadata():
    ex, *_ = _two_level_explorer()
    assert ex.selected.columns.tolist()[:4] == ["index", "text", "theme", "theme_level1"]
    assert ex.scatter.widget.color_by == "valueA"
    ex.color_by("theme", level=1)
    assert set(ex._frame["theme"].cat.categories) == {"noise", "배송", "환불", "맛"}
    ex.color_by("product")
    ex.color_by("stars")
    assert ex.scatter.widget.color_by == "valueA"
    with pytest.raises(ValueError, match="color_by takes"):
        ex.color_by("date")
    with pytest.raises(ValueError, match=r"level must be in \[0, 2\)"):
        ex.color_by("theme", level=2)


def test_make_theme_and_rename_give_a_new_textmap_and_reach_the_report(tmp_path):
    tm, data = _textmap()
    old_labels = tm.clusters.labels.copy()
    old_table = tm.table.copy()
    ex = kv.explore(tm, data=data)
    assert ex.textmap is tm and ex.selected.empty
    ex.search("환불")
    picked = ex.selected["index"].to_numpy()
    code = ex.make_theme("환불 문의")
    edited = ex.textmap
    assert code == 3 and edited is not tm
    # the map given to explore() is not changed: edits return new results, as ClusterResult's do
    assert (tm.clusters.labels == old_labels).all() and tm.table.equals(old_table)
    assert (edited.clusters.labels[picked] == 3).all()
    untouched = np.setdiff1d(np.arange(len(tm.texts)), picked)
    assert (edited.clusters.labels[untouched] == old_labels[untouched]).all()
    row = edited.table[edited.table.cluster == 3].iloc[0]
    assert row["name"] == "환불 문의" and row["size"] == len(picked) and "환불" in row["keywords"]
    assert edited.table["size"].sum() == int((edited.clusters.labels >= 0).sum())
    assert 1 not in edited.table.cluster.tolist()  # every 환불 text moved: the old theme is gone
    assert edited.clusters.centroids.shape == (3, 8)
    assert edited.clusters.names_at()[3] == "환불 문의"
    assert edited.clusters.params["edits"][-1]["new_theme"] == 3
    assert any(t.name.startswith("환불 문의") for t in edited.figure.data)
    ex.rename("환불 문의", "<b>환불</b> 요청")
    assert ex.textmap.table.set_index("cluster").loc[3, "name"] == "<b>환불</b> 요청"
    assert edited.table.set_index("cluster").loc[3, "name"] == "환불 문의"  # each edit a new map
    assert ex.selected["theme"].eq("<b>환불</b> 요청").all()
    doc = kv.write_report(ex.textmap, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;환불&lt;/b&gt; 요청" in doc and "<b>환불</b> 요청" not in doc
    with pytest.raises(ValueError, match="make_theme needs a selection: got 0 points"):
        ex.select(None).make_theme("빈")
    with pytest.raises(ValueError, match="non-empty name"):
        ex.make_theme(" ", [1])


def test_edits_on_a_theme_tree_keep_every_level_nested_and_the_shown_level(tmp_path):
    """A hierarchy map shown at a finer level than its default: the explorer edits the level it shows
    (found from tm.level, not by identity), and every level of the new result still nests."""
    from kosbert_viz.themes.tree import tree_from_levels

    df = kv.datasets.load_sample().head(240)
    tm = kv.map_texts(df.text, "offline", cache=None, show_progress_bar=False)
    assert len(tm.clusters.levels) >= 2
    shown = len(tm.clusters.levels) - 1
    fine = dataclasses.replace(tm, level=shown, table=None)
    ex = kv.explore(fine)
    assert ex._primary == shown
    code = ex.make_theme("직접 만든 테마", indices=np.arange(10))
    res = ex.textmap.clusters
    assert (res.levels[shown][:10] == code).all()
    tree_from_levels(res.levels)  # raises if the levels do not nest
    assert ex.textmap.level == shown and (tm.clusters.levels[shown] == fine.clusters.levels[shown]).all()
    ex.color_by("theme", level=0)  # the explorer now shows level 0: the list, and so rename, act there
    code0 = int(ex.textmap.clusters.levels[0][50])
    ex.rename(code0, "맨 위 테마")
    assert ex.textmap.clusters.names_at(0)[code0] == "맨 위 테마"
    assert ex.textmap.themes.query("level == 0 and label == @code0").name.iloc[0] == "맨 위 테마"
    assert kv.write_report(ex.textmap, tmp_path / "t.html").exists()


def test_explore_input_errors():
    xy, lab, texts, data = _corpus(40)
    with pytest.raises(ValueError, match="texts has 39 entries, expected 40"):
        kv.explore(coords=xy, texts=texts[:-1])
    with pytest.raises(ValueError, match="labels has 39 entries, expected 40"):
        kv.explore(coords=xy, labels=lab[:-1], texts=texts)
    with pytest.raises(ValueError, match="data has 39 rows, expected 40"):
        kv.explore(coords=xy, texts=texts, data=data.iloc[:-1])
    with pytest.raises(TypeError, match="needs a TextMap, or coords= and texts="):
        kv.explore(coords=xy)
    with pytest.raises(KeyError, match="time_column 'when'"):
        kv.explore(coords=xy, texts=texts, data=data, time_column="when")
    ex = kv.explore(coords=xy, texts=texts)  # no labels: one theme
    assert ex.selected.columns.tolist() == ["index", "text", "theme"]


@pytest.mark.slow
def test_semantic_search_through_the_maps_model(tiny_model_path):
    xy, lab, texts, _ = _corpus(120)
    texts = [unicodedata.normalize("NFC", t) for t in texts]
    emb = kv.encode(texts, tiny_model_path, cache=None, show_progress_bar=False)
    ex = kv.explore(coords=xy, labels=lab, texts=texts, embeddings=emb, model=tiny_model_path)
    hits = ex.search(texts[57], semantic=True, top_k=5)
    assert hits["index"].iloc[0] == 57 and hits["score"].iloc[0] > 0.999
    assert len(hits) == 5 and ex.selected["index"].tolist() == sorted(hits["index"].tolist())


def test_keyword_samples_and_the_token_store(monkeypatch):
    """Keywords come from the same texts for the same selection; a full token store is emptied and
    refilled without losing a text (a small cap here); many selections in a row keep working."""
    import kosbert_viz.explorer.keywords as explorer

    xy, lab, texts, data = _corpus(n=600)
    monkeypatch.setattr(explorer, "KEYWORD_SAMPLE", 50)
    monkeypatch.setattr(explorer, "TOKEN_CACHE_MAX", 120)
    ex = kv.explore(coords=xy, labels=lab, texts=texts, data=data)
    refund = np.flatnonzero(lab == 1)
    first = ex.selection_keywords(refund)
    assert "환불" in first and ex.selection_keywords(refund) == first  # deterministic
    for t in range(3):  # every selection adds texts past the cap: the store empties itself, nothing fails
        for part in np.array_split(np.flatnonzero(lab == t), 4):
            assert ex.selection_keywords(part) != [] or len(part) == 0
            assert len(ex._kw.tokens) <= 120
    assert ex.selection_keywords(refund) == first
    with pytest.raises(ValueError, match="top_n"):
        ex.selection_keywords(refund, top_n=0)


def test_table_sorted_by_theme_and_column_over_a_large_selection(monkeypatch):
    import kosbert_viz.explorer.table as table
    import kosbert_viz.explorer.widget as explorer

    monkeypatch.setattr(table, "TABLE_ROWS", 20)
    monkeypatch.setattr(explorer, "TABLE_ROWS", 20)
    xy, lab, texts, data = _corpus(n=300)
    ex = kv.explore(coords=xy, labels=lab, texts=texts, data=data)
    panel = ex.widget and ex._widgets
    ex.select(np.arange(0, 300, 2))
    full = ex.selected
    for key, col in (("theme", "theme"), ("product", "product")):
        for asc in (True, False):
            panel["ascending"].value = asc
            panel["sort"].value = key
            want = full.sort_values(col, ascending=asc, kind="stable")["index"].head(20).tolist()
            shown = [int(r.split("</td>")[0].removeprefix("<td>")) for r in panel["table"].value.split("<tr>")[2:]]
            assert shown == want, (key, asc)
    assert "showing 20 of 150" in panel["table"].value


def test_renderer_options_follow_the_map_size(monkeypatch):
    import kosbert_viz.explorer.scatter as E

    xy, lab, texts, _ = _corpus()
    widget = kv.explore(coords=xy, labels=lab, texts=texts).scatter.widget
    # events published synchronously: a lasso's selection is sent from the mouse-up handler, not after a frame
    assert widget.regl_scatterplot_options == {"syncEvents": True}
    assert widget.lasso_min_dist == E.LASSO_MIN_DIST
    monkeypatch.setattr(E, "DENSE_MAP", len(texts))
    assert kv.explore(coords=xy, labels=lab, texts=texts).scatter.widget.regl_scatterplot_options == {
        "syncEvents": True,
        "pointSizeSelected": 0,
        "pointOutlineWidth": 1,
    }
    monkeypatch.setattr(E, "LARGE_MAP", len(texts))
    assert kv.explore(coords=xy, labels=lab, texts=texts).scatter.widget.regl_scatterplot_options == {
        "syncEvents": True,
        "pointSizeSelected": 0,
        "pointOutlineWidth": 1,
        "performanceMode": True,
    }


def test_explorer_and_report_share_the_category_rule(tmp_path):
    from kosbert_viz.report.ui import read_report

    xy, lab, texts, data = _corpus()
    # whole numbers with gaps (pandas makes them float) are categories too; real numbers and dates are not
    data = data.assign(score=np.linspace(0, 1, len(data)), rating=data["stars"].where(data.index % 7 != 0))
    ex = kv.explore(coords=xy, labels=lab, texts=texts, data=data)
    assert ex._cat_cols == ["product", "stars", "rating"]
    for wanted in ([5], ["5"], [5.0], [5, 4.5]):  # one rating, however it is written
        assert ex.filter(categories={"rating": wanted}).tolist() == np.flatnonzero(data["rating"] == 5).tolist()
    assert list(ex._frame["rating"].cat.categories) == ["", "1", "2", "3", "4", "5"]
    assert ex.filter(categories={"rating": [""]}).tolist() == np.flatnonzero(data["rating"].isna()).tolist()
    # numbers in value order, not text order; a column named by an int; IDs past 2**53 stay exact
    more = pd.DataFrame(
        {7: np.arange(len(data)) % 11, "id": pd.Series(2**60 + np.arange(len(data)) % 3, dtype="Int64")}
    )
    ex2 = kv.explore(coords=xy, labels=lab, texts=texts, data=more)
    assert ex2._cat_cols == ["7", "id"] and list(ex2._frame["7"].cat.categories) == [str(i) for i in range(11)]
    assert list(ex2._frame["id"].cat.categories) == [str(2**60 + i) for i in range(3)]
    assert ex2.filter(categories={7: [10]}).tolist() == np.flatnonzero(more[7] == 10).tolist()
    tm, _ = _textmap()
    tm.metadata = data
    meta = read_report(kv.write_report(tm, tmp_path / "r.html").read_text(encoding="utf-8"))["meta"]
    assert meta["columns"] == {
        "product": ["앱", "웹"],
        "stars": ["1", "2", "3", "4", "5"],
        "rating": ["", "1", "2", "3", "4", "5"],
    }


def test_map_names_follow_the_level_shown_and_edits():
    ex, xy, coarse = _two_level_explorer()
    box = ex.widget  # builds the map and its names layer
    layer = next(w for w in box.children[0].children if type(w).__name__ == "MapNames")
    assert layer.view_sync and layer.view_sync == ex.scatter.widget.view_sync  # the map publishes its view to it
    resets = []
    ex.scatter.widget.reset_view = lambda *a, **k: resets.append(1)
    layer._handle_custom_msg({"event": "canvas"}, [])  # the page found the map: its view is published once
    assert resets == [1]
    assert [c["text"] for c in layer.labels if c["level"] == 0] == ["환불·맛", "배송"]  # largest first
    assert [c["level"] for c in layer.labels] == [0, 0, 1, 1]  # "배송" alone is its theme: not named twice
    assert {c["text"] for c in layer.labels if c["level"] == 1} == {"환불", "맛"}
    first = layer.labels[1]
    members = xy[coarse == 0]
    assert (first["x"], first["y"]) == pytest.approx(tuple(np.median(members, axis=0)))
    assert first["share"] == pytest.approx(len(members) / len(xy)) and first["font"] >= 11
    ex.color_by("theme", level=1)  # the finest level: no level below to name
    assert {c["text"] for c in layer.labels} == {"배송", "환불", "맛"} and {c["level"] for c in layer.labels} == {0}
    ex.rename("맛", "맛집")
    assert "맛집" in {c["text"] for c in layer.labels} and layer.labels == ex.map_labels


def test_a_theme_made_from_a_selection_names_its_sub_themes():
    import re

    df = kv.datasets.load_sample().head(240)
    tm = kv.map_texts(df.text, "offline", cache=None, show_progress_bar=False)
    ex = kv.explore(tm)
    assert ex._primary + 1 < len(tm.clusters.levels)  # a level below the one edited
    picked = ex.search("환불", select=False)["index"].to_numpy()
    ex.make_theme("환불 문의", indices=picked)
    res = ex.textmap.clusters
    for lv in range(len(res.levels)):
        names = res.names_at(lv)
        for b in np.unique(res.levels[lv][picked]):
            assert not re.fullmatch(r"theme \d+", names.get(int(b), f"theme {b}")), (lv, b, names.get(int(b)))
    assert not any(re.fullmatch(r"theme \d+", c["text"]) for c in ex.map_labels)
