"""Issue 13 end to end: map_texts makes a theme hierarchy by default; the map, the table and the report
show one level, name the level below small, and the report carries the whole tree (chart + table)."""

from __future__ import annotations

import numpy as np
import pytest

import kosbert_viz as kv


@pytest.fixture(scope="module")
def tm(sample, offline_encoder, tmp_path_factory):
    return kv.map_texts(
        sample.text,
        offline_encoder,
        cache=str(tmp_path_factory.mktemp("c")),
        show_progress_bar=False,
        hover_data={"topic": sample.topic},
    )


@pytest.mark.slow
def test_map_texts_default_is_the_hierarchy_with_every_text_placed(tm, sample):
    res = tm.clusters
    assert res.method == "hierarchy" and len(res.levels) >= 2
    assert all((lv >= 0).all() for lv in res.levels)  # every text placed, every level
    assert tm.level == res.default_level
    np.testing.assert_array_equal(res.labels, res.levels[tm.level])
    assert sorted(tm.table.cluster) == sorted(np.unique(res.labels))
    assert tm.table["size"].sum() == len(sample)
    # themes: every node named, children sum to their parent
    th = tm.themes
    assert th.name.map(bool).all()
    for node, size in zip(th.node, th["size"]):
        kids = th[th.parent == node]
        if len(kids):
            assert kids["size"].sum() == size
    # the bundled sample holds 10 topics: the default level reads them
    assert 6 <= res.n_clusters <= 20
    assert kv.cluster_metrics(sample.topic, res.labels)["ari"] > 0.4
    # printed (a notebook cell's last line): one line, not every text and vector
    assert repr(tm) == (
        f"TextMap(n={len(sample)}, themes={res.n_clusters}, level={tm.level} (of 0-{len(res.levels) - 1}), "
        f"method='hierarchy', model={tm.manifest['model']['name']!r})"
    )
    with pytest.raises(TypeError, match=r"kv.search\(queries, tm.embeddings, texts=tm.texts\)"):
        kv.search("배송", tm)  # a map is not a matrix: the error says what to pass


@pytest.mark.slow
def test_map_names_every_theme_and_subthemes_where_they_fit_without_a_switch(tm):
    from kosbert_viz.viz.labels import MIN_FONT_PX

    lay = tm.figure.to_dict()["layout"]
    big = [a for a in lay["annotations"] if a.get("name") == "theme-name"]
    assert len(big) == tm.clusters.n_clusters and all(a["font"]["size"] >= MIN_FONT_PX for a in big)
    sizes = dict(zip(tm.table.name, tm.table["size"]))
    by_size = sorted(big, key=lambda a: -sizes[a["text"]])
    assert by_size[0]["font"]["size"] >= by_size[-1]["font"]["size"]  # sized by theme size
    small = [a for a in lay["annotations"] if a.get("name") == "subtheme-name"]
    assert all(a["font"]["size"] >= MIN_FONT_PX for a in small)
    assert "updatemenus" not in lay or not lay["updatemenus"]  # names never need a switch to be readable
    cands = lay["meta"]["kosbert_viz"]["labels"]  # what the page places at its real size, and on zoom
    n_sub = len(np.unique(tm.clusters.levels[tm.level + 1]))
    assert sum(c["level"] == 0 for c in cands) == tm.clusters.n_clusters
    assert sum(c["level"] == 1 for c in cands) == n_sub


@pytest.mark.slow
def test_level_and_namer_options(sample, offline_encoder, tmp_path):
    seen = []

    def namer(keywords, representative):
        seen.append((keywords, representative))
        return "테마: " + keywords[0]

    tm0 = kv.map_texts(
        sample.text[:200], offline_encoder, level=0, namer=namer, cache=str(tmp_path), show_progress_bar=False
    )
    assert tm0.level == 0 and tm0.table.name.str.startswith("테마: ").all()
    assert seen and all(isinstance(k, list) and isinstance(r, list) and r for k, r in seen)
    with pytest.raises(kv.LevelError, match="level must be between 0 .* levels, got 99"):
        kv.map_texts(sample.text[:200], offline_encoder, level=99, cache=str(tmp_path), show_progress_bar=False)
    with pytest.raises(TypeError, match="level must be an integer"):  # before any text is encoded
        kv.map_texts(sample.text[:200], "no-such-model", level="2", cache=str(tmp_path))
    with pytest.raises(ValueError, match="needs method='hierarchy'"):
        kv.map_texts(
            sample.text[:200], offline_encoder, method="kmeans", level=1, cache=str(tmp_path), show_progress_bar=False
        )


@pytest.mark.slow
def test_report_has_the_theme_tree_chart_and_table(tm, tmp_path, browser):
    from browser_helpers import open_page, wait_for_plots

    path = kv.write_report(tm, tmp_path / "r.html")
    html = path.read_text(encoding="utf-8")
    assert "id='tree-table'" in html
    page, log = open_page(browser, path.as_uri())
    wait_for_plots(page, 2)
    kinds = page.evaluate("document.getElementById('tree-chart').data[0].type")
    assert kinds == "sunburst"
    rows = page.evaluate("[...document.querySelectorAll('#tree-table tbody tr')].map(r => r.dataset.level)")
    assert set(rows) >= {"0", "1"}
    assert not log.console_errors and not log.page_errors and not log.external_requests
    page.close()


@pytest.mark.slow
def test_report_of_another_level_joins_that_levels_labels_and_names(sample, offline_encoder, tmp_path):
    from kosbert_viz.report.ui import read_report

    tm0 = kv.map_texts(sample.text, offline_encoder, level=0, cache=str(tmp_path), show_progress_bar=False)
    doc = kv.write_report(tm0, tmp_path / "r0.html").read_text(encoding="utf-8")
    data = read_report(doc)
    shown = tm0.clusters.levels[0]
    np.testing.assert_array_equal(np.asarray(data["labels"]), shown)  # level 0's labels, not the default's
    want = {str(int(c)): n for c, n in zip(tm0.table.cluster, tm0.table.name)}
    names = data["meta"]["names"]
    names = dict(names) if isinstance(names, dict) else {str(i): n for i, n in enumerate(names)}
    assert {k: names[k] for k in want} == want
