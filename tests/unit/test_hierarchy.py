"""Theme hierarchy: kv.cluster(X, "hierarchy"), names contrasted with siblings, merge / rename / split,
reassign_noise on HDBSCAN results."""

from __future__ import annotations

import numpy as np
import pytest

import kosbert_viz as kv
from kosbert_viz.themes.hierarchy import build_hierarchy, default_theme_range
from kosbert_viz.themes.names import hierarchy_names


def nested_blobs(n_groups=4, n_sub=3, per=60, d=5, seed=0, sub_spread=3.0, group_spread=20.0):
    """Points in ``n_groups`` far-apart groups, each of ``n_sub`` closer sub-groups: (X, group, sub)."""
    rng = np.random.default_rng(seed)
    g_centres = rng.normal(size=(n_groups, d)) * group_spread
    X, g, s = [], [], []
    for a in range(n_groups):
        subs = g_centres[a] + rng.normal(size=(n_sub, d)) * sub_spread
        for b in range(n_sub):
            X.append(subs[b] + rng.normal(size=(per, d)) * 0.4)
            g += [a] * per
            s += [a * n_sub + b] * per
    return np.vstack(X).astype(np.float32), np.array(g), np.array(s)


def check_consistent(res):
    """Tree and levels agree: one parent per node, sizes add up, levels nest, nobody unassigned."""
    n = len(res.labels)
    assert res.levels and res.default_level is not None
    np.testing.assert_array_equal(res.labels, res.levels[res.default_level])
    tree = res.tree
    assert tree.node.is_unique
    for lv, lab in enumerate(res.levels):
        assert len(lab) == n and (lab >= 0).all()  # every text placed at every level
        t = tree[tree.level == lv]
        assert sorted(t.label) == sorted(np.unique(lab).tolist())
        assert t["size"].sum() == n
        for b, size in zip(t.label, t["size"]):
            assert size == int((lab == b).sum())
        if lv == 0:
            assert (t.parent == -1).all()
            continue
        up = res.levels[lv - 1]
        prev = tree[tree.level == lv - 1].set_index("label").node
        for b, par in zip(t.label, t.parent):
            parents = np.unique(up[lab == b])
            assert len(parents) == 1  # levels nest
            assert prev[int(parents[0])] == par
        # children's sizes add up to the parent's
        child_sum = t.groupby("parent")["size"].sum()
        parent_size = tree.set_index("node")["size"]
        for par, s in child_sum.items():
            assert parent_size[par] == s
    if res.outlier_score is not None:
        assert len(res.outlier_score) == n and len(res.is_outlier) == n


def test_nested_structure_recovered_and_consistent():
    X, g, s = nested_blobs()
    res = kv.cluster(X, "hierarchy", embedding=X, truth=s, show_progress_bar=False)
    check_consistent(res)
    from sklearn.metrics import adjusted_rand_score

    by_k = {len(np.unique(lab)): adjusted_rand_score(s, lab) for lab in res.levels}
    best_sub = max(adjusted_rand_score(s, lab) for lab in res.levels)
    assert best_sub > 0.95, by_k
    # the coarser level (12 / 2.5 -> 5 themes) keeps the 4 groups apart: every theme inside one group
    coarse = res.levels[res.default_level - 1]
    assert len(np.unique(coarse)) == 5
    assert all(len(np.unique(g[coarse == t])) == 1 for t in np.unique(coarse))
    four = build_hierarchy(X, n_themes=4)  # the same dendrogram cut at 4: the groups exactly
    assert adjusted_rand_score(g, four.levels[four.default_level]) > 0.95
    assert res.n_clusters == 12  # 720 texts: range (8, 36); the 12 sub-groups are the clearest cut in it
    assert res.noise_fraction == 0.0
    assert res.params["hierarchy"]["default_k"] == 12


def test_default_range_scales_with_n():
    assert default_theme_range(100) == (2, 5)
    assert default_theme_range(480) == (8, 24)
    assert default_theme_range(10_000) == (8, 40)
    assert default_theme_range(1_000_000) == (8, 40)
    X, g, s = nested_blobs(per=40)
    h = build_hierarchy(X, n_themes=4)
    assert len(np.unique(h.levels[h.default_level])) == 4
    # in a range, the clearest cut wins: the 4 groups, not the 3 (the fewest) nor 6
    h = build_hierarchy(X, n_themes=(3, 6))
    assert len(np.unique(h.levels[h.default_level])) == 4
    with pytest.raises(ValueError, match="n_themes"):
        build_hierarchy(X, n_themes=(5, 2))


@pytest.mark.slow
def test_deterministic_mode_from_raw_vectors():
    X, g, s = nested_blobs(n_groups=3, n_sub=2, per=50, d=24, seed=3)
    a = kv.cluster(X, "hierarchy", mode="deterministic", cache=None, show_progress_bar=False)
    b = kv.cluster(X, "hierarchy", mode="deterministic", cache=None, show_progress_bar=False)
    assert a.params["embedding"] == "layout"
    assert len(a.levels) == len(b.levels)
    for la, lb in zip(a.levels, b.levels):
        np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(a.outlier_score, b.outlier_score)
    check_consistent(a)


@pytest.mark.slow
def test_merge_rename_split_keep_tree_consistent():
    X, g, s = nested_blobs()
    res = kv.cluster(X, "hierarchy", embedding=X, n_clusters=12, show_progress_bar=False)
    names = hierarchy_names([f"text {i}" for i in range(len(X))], res)
    assert set(res.names) == set(res.tree.node)
    size = dict(
        zip(res.tree[res.tree.level == res.default_level].label, res.tree[res.tree.level == res.default_level]["size"])
    )

    m = res.merge([3, 7], name="합친 주제")
    check_consistent(m)
    assert m.n_clusters == 11 and 7 not in set(m.labels)
    assert int((m.labels == 3).sum()) == size[3] + size[7]
    assert m.names_at()[3] == "합친 주제"
    assert res.n_clusters == 12  # the original is untouched
    assert m.centroids.shape == (11, X.shape[1])

    sp = m.split(3, n=2)
    check_consistent(sp)
    assert sp.n_clusters == 12
    parts = np.unique(sp.labels[m.labels == 3])
    assert len(parts) == 2 and 3 in parts
    assert sorted(np.bincount(sp.labels[m.labels == 3])[parts]) == sorted([size[3], size[7]])  # undoes the merge

    rn = sp.rename({0: "배송 지연"})
    check_consistent(rn)
    assert rn.names_at()[0] == "배송 지연"
    node0 = rn.tree[(rn.tree.level == rn.default_level) & (rn.tree.label == 0)].node.item()
    assert rn.tree.set_index("node").name[node0] == "배송 지연"
    # a top-level theme can be split too: finer levels stay nested
    top = sp.split(0, n=3, level=0)
    check_consistent(top)
    assert len(np.unique(top.levels[0])) == len(np.unique(sp.levels[0])) + 2
    with pytest.raises(ValueError, match="no theme 99"):
        res.merge([1, 99])
    with pytest.raises(ValueError, match="no theme 99"):
        res.rename({99: "x"})
    for bad in ({0: ""}, {0: "  "}, {0: 5}, {0: None}):  # a blank or non-str name is refused, not stored
        with pytest.raises(ValueError, match="a theme's name is a non-empty str"):
            res.rename(bad)
    with pytest.raises(TypeError, match="theme ids are integers"):
        res.rename({"0": "x"})
    assert len(names) == len(res.tree)


def test_merge_below_the_default_level_keeps_centroids_true():
    """Merging fine themes from different default-level themes moves texts between those themes:
    the centroids are recomputed from X, or left out without it (never stale)."""
    from kosbert_viz.themes.tree import cluster_centroids as _centroids

    X, g, s = nested_blobs()
    res = kv.cluster(X, "hierarchy", embedding=X, n_clusters=12, show_progress_bar=False)
    fine, default = len(res.levels) - 1, res.default_level
    assert fine > default
    lab_f, lab_d = res.levels[fine], res.levels[default]
    parent = {int(f): int(lab_d[np.flatnonzero(lab_f == f)[0]]) for f in np.unique(lab_f)}
    a = next(iter(parent))
    b = next(f for f in parent if parent[f] != parent[a])  # a fine theme under another default theme
    m = res.merge([a, b], level=fine, X=X)
    check_consistent(m)
    assert not np.array_equal(m.labels, res.labels)  # texts changed default-level theme
    want, ids = _centroids(X, m.labels)
    np.testing.assert_array_equal(m.cluster_ids, ids)
    np.testing.assert_allclose(m.centroids, want, rtol=1e-5, atol=1e-5)
    without = res.merge([a, b], level=fine)
    np.testing.assert_array_equal(without.labels, m.labels)
    assert without.centroids is None and without.cluster_ids is None
    siblings = [(f, h) for f in parent for h in parent if f < h and parent[f] == parent[h]]
    assert siblings  # nested blobs: several fine themes under one default theme
    kept = res.merge(list(siblings[0]), level=fine)  # inside one default theme nothing moves
    np.testing.assert_array_equal(kept.labels, res.labels)
    np.testing.assert_array_equal(kept.centroids, res.centroids)
    with pytest.raises(ValueError, match="rows"):
        res.merge([a, b], level=fine, X=X[:-1])


def test_reassign_noise_on_hdbscan():
    rng = np.random.default_rng(0)
    X, g, s = nested_blobs(n_groups=4, n_sub=1, per=80, d=5)
    Xn = np.vstack([X, rng.uniform(X.min(0), X.max(0), size=(40, 5))]).astype(np.float32)
    hd = kv.cluster(Xn, "hdbscan", embedding=Xn, min_cluster_size=15, show_progress_bar=False)
    assert hd.noise_fraction > 0.02
    assert hd.embedding is None  # HDBSCAN ran on X itself: reassign_noise needs it
    with pytest.raises(ValueError, match="pass X="):
        hd.reassign_noise()
    for strategy in ("centroid", "knn"):
        r = hd.reassign_noise(strategy, X=Xn)
        assert (r.labels >= 0).all()
        np.testing.assert_array_equal(r.is_outlier, hd.labels < 0)
        keep = hd.labels >= 0
        np.testing.assert_array_equal(r.labels[keep], hd.labels[keep])
        assert hd.noise_fraction > 0  # the original keeps its noise
        assert r.outlier_score[r.is_outlier].mean() > r.outlier_score[~r.is_outlier].mean()
    # centroid: each former noise point sits in the cluster with the nearest centre
    r = hd.reassign_noise("centroid", X=Xn)
    ids = np.unique(hd.labels[hd.labels >= 0])
    C = np.stack([Xn[hd.labels == c].mean(0) for c in ids])
    noise = hd.labels < 0
    want = ids[np.argmin(((Xn[noise][:, None, :] - C[None]) ** 2).sum(-1), axis=1)]
    np.testing.assert_array_equal(r.labels[noise], want)
    with pytest.raises(ValueError, match="strategy"):
        hd.reassign_noise("nearest", X=Xn)
    # with the UMAP coordinates HDBSCAN ran on kept in the result, no X is needed
    Xh, _, _ = nested_blobs(n_groups=4, n_sub=1, per=60, d=24, seed=5)
    hu = kv.cluster(Xh, "hdbscan", min_cluster_size=40, cache=None, show_progress_bar=False)
    assert hu.embedding is not None
    ru = hu.reassign_noise("knn")
    assert (ru.labels >= 0).all() and ru.is_outlier.sum() == int((hu.labels < 0).sum())


@pytest.fixture(scope="module")
def sample_hierarchy(sample, sample_offline_embeddings):
    res = kv.cluster(sample_offline_embeddings, "hierarchy", truth=sample.topic, cache=None, show_progress_bar=False)
    return res


@pytest.mark.slow
def test_sample_quality_against_kmeans(sample, sample_offline_embeddings, sample_hierarchy):
    """Real sentence vectors (offline encoder): the default level is at least 0.9x k-means given the true k."""
    res = sample_hierarchy
    check_consistent(res)
    lo, hi = default_theme_range(len(sample))
    assert lo <= res.n_clusters <= hi
    km = kv.cluster(sample_offline_embeddings, "kmeans", n_clusters=10, truth=sample.topic, scores=False)
    assert res.scores["ari"] >= 0.9 * km.scores["ari"], (res.scores["ari"], km.scores["ari"])
    assert res.is_outlier.mean() < 0.1


@pytest.mark.slow
def test_sibling_names_distinct_and_representatives_are_members(sample, sample_offline_embeddings, sample_hierarchy):
    res = sample_hierarchy
    seen = []

    def namer(keywords, representative):
        seen.append((list(keywords), list(representative)))
        return "/".join(keywords[:2])

    table = hierarchy_names(sample.text, res, embeddings=sample_offline_embeddings, namer=namer)
    assert len(seen) == len(res.tree) == len(table)
    assert set(table.node) == set(res.tree.node)
    texts = np.asarray(sample.text)
    for _, row in table.iterrows():
        members = set(texts[res.levels[row.level] == row.label])
        assert row.representative and set(row.representative) <= members
        assert row["name"] == "/".join(row.keywords[:2])
    for (lv, parent), group in table.groupby(["level", "parent"]):
        firsts = [k[0] for k in group.keywords if k]
        assert len(firsts) == len(set(firsts)) == len(group), group[["label", "keywords"]]
    assert res.names_at()[0] == table[(table.level == res.default_level) & (table.label == 0)].name.item()
    # default namer: keyword names, one of the bundled topics' words among the default level's first keywords
    plain = hierarchy_names(sample.text, res, top_n=5)
    firsts = set(plain[plain.level == res.default_level].keywords.str[0])
    assert firsts & {"배송", "환불", "앱", "여행", "강아지", "강의", "카드", "음식"}, firsts
    with pytest.raises(TypeError, match="namer"):
        hierarchy_names(sample.text, res, namer="gpt")


def test_hierarchy_chart_from_result_and_table():
    X, g, s = nested_blobs(per=30)
    res = kv.cluster(X, "hierarchy", embedding=X, n_clusters=12, show_progress_bar=False)
    table = hierarchy_names([f"문서 {i} <b>" for i in range(len(X))], res)
    res = res.rename({0: "배송 <지연>"})
    fig = kv.hierarchy_chart(res).to_dict()
    tr = fig["data"][0]
    assert tr["type"] == "sunburst" and len(tr["ids"]) == len(res.tree)
    # sizes add up through the chart's parent links (branchvalues="total")
    val = dict(zip(tr["ids"], tr["values"]))
    assert sum(v for i, v, p in zip(tr["ids"], tr["values"], tr["parents"]) if p == "") == len(X)
    for i, p in zip(tr["ids"], tr["parents"]):
        if p:
            assert val[i] <= val[p]
    assert "배송 &lt;지연&gt;" in tr["labels"]  # names escaped, the renamed one shown
    fig2 = kv.hierarchy_chart(table, kind="icicle").to_dict()
    assert fig2["data"][0]["type"] == "icicle" and len(fig2["data"][0]["ids"]) == len(table)
    with pytest.raises(ValueError, match="kind"):
        kv.hierarchy_chart(res, kind="pie")
    with pytest.raises(ValueError, match="hierarchy"):
        kv.hierarchy_chart(kv.cluster(X, "kmeans", n_clusters=3, show_progress_bar=False))
