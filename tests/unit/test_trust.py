"""Issue 12: real-world Korean input (NFD text, lone surrogates, string labels, repeated texts, bad
arguments) and one vocabulary across the API. Each test reproduces a defect found by a QA pass."""

from __future__ import annotations

import inspect
import unicodedata
import warnings

import numpy as np
import pandas as pd
import pytest

import kosbert_viz as kv

REVIEWS = [
    "배송이 너무 늦어요",
    "배송이 빨라서 좋아요",
    "배송이 하루 늦었어요",
    "배송 빠르고 포장도 좋아요",
    "환불은 언제 되나요",
    "환불 처리가 늦어요",
    "환불 요청했는데 답이 없어요",
    "환불이 됐어요",
]
TOPICS = ["배송"] * 4 + ["환불"] * 4


def nfd(texts):
    return [unicodedata.normalize("NFD", t) for t in texts]


# ---------------------------------------------------------------- 1. NFD Hangul


def test_keywords_treat_nfd_text_as_the_same_words():
    labels = [0] * 4 + [1] * 4
    mixed = kv.keywords(REVIEWS + nfd(REVIEWS), labels + labels, top_n=5)
    plain = kv.keywords(REVIEWS, labels, top_n=5)
    assert mixed.keywords.tolist() == plain.keywords.tolist()
    for kws, name in zip(mixed.keywords, mixed.name):
        assert len(kws) == len(set(kws)), kws  # 배송 not twice (NFC and NFD)
        assert all(unicodedata.is_normalized("NFC", w) for w in kws)
        assert name.count("배송") <= 1 and name.count("환불") <= 1
    assert all(unicodedata.is_normalized("NFC", t) for reps in mixed.representative for t in reps)


def test_cluster_map_hover_and_duplicates_show_nfc():
    xy = np.random.default_rng(0).normal(size=(8, 2))
    fig = kv.cluster_map(xy, labels=[0] * 8, texts=nfd(REVIEWS))
    hover = [t for tr in fig.to_dict()["data"] for t in (tr.get("text") or [])]
    assert hover and all(unicodedata.is_normalized("NFC", t) for t in hover)
    emb = np.eye(8, dtype=np.float32)
    emb[1] = emb[0]
    groups = kv.duplicates(emb, nfd(REVIEWS), threshold=0.99)
    assert all(unicodedata.is_normalized("NFC", t) for ts in groups.texts for t in ts)


def test_encode_gives_nfd_and_nfc_the_same_vector(tiny_model_path):
    a = kv.encode(REVIEWS[:3], tiny_model_path, cache=None, device="cpu")
    b = kv.encode(nfd(REVIEWS[:3]), tiny_model_path, cache=None, device="cpu")
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- 5b. lone surrogates


def test_lone_surrogates_are_replaced_with_one_warning(tiny_model_path):
    texts = ["이모지가 깨졌어요 \ud83d", "정상 문장", "또 깨짐 \ude00"]
    with pytest.warns(UserWarning, match=r"texts\[0\].*surrogate"):
        emb = kv.encode(texts, tiny_model_path, cache=None, device="cpu")
    assert emb.shape[0] == 3 and np.isfinite(emb).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = kv.keywords(texts, [0, 0, 1])
        fig = kv.cluster_map(np.zeros((3, 2)), labels=[0, 0, 1], texts=texts)
    assert "\ufffd" in table.representative[0][0] or "\ufffd" in table.representative[0][1]
    fig.to_json()  # plotly serialises it (a lone surrogate cannot be written as UTF-8)


# ---------------------------------------------------------------- 6. one string is not a collection


@pytest.mark.parametrize(
    "call",
    [
        lambda s: kv.map_texts(s, "offline"),
        lambda s: kv.keywords(s, [0] * len(s)),
        lambda s: kv.duplicates(np.zeros((len(s), 4)), s),
        lambda s: kv.cluster_map(np.zeros((len(s), 2)), texts=s),
    ],
)
def test_a_single_string_is_refused_where_texts_are_expected(call):
    with pytest.raises(TypeError, match="single str"):
        call("배송이 너무 늦어요 환불 부탁해요")


# ---------------------------------------------------------------- 7. labels of any hashable type


def test_string_and_categorical_labels_keep_their_names():
    t = kv.keywords(REVIEWS, TOPICS, top_n=3)
    assert t.cluster.tolist() == ["배송", "환불"] and t["size"].tolist() == [4, 4]
    cat = pd.Series(TOPICS, dtype="category")
    assert kv.keywords(pd.Series(REVIEWS), cat).cluster.tolist() == ["배송", "환불"]
    fig = kv.cluster_map(np.random.default_rng(0).normal(size=(8, 2)), labels=cat, texts=REVIEWS)
    names = [tr["name"] for tr in fig.to_dict()["data"] if tr.get("name")]
    assert any(n.startswith("배송") for n in names) and any(n.startswith("환불") for n in names)


def test_float_labels_have_sizes():
    t = kv.keywords(REVIEWS, [0.5] * 4 + [1.5] * 4)
    assert t["size"].tolist() == [4, 4] and t.cluster.tolist() == [0.5, 1.5]
    # whole-number floats (an int column that held NaN) keep -1 as noise
    t = kv.keywords(REVIEWS, [0.0] * 4 + [-1.0] * 2 + [np.nan] * 2)
    assert t.cluster.tolist() == [0] and t["size"].tolist() == [4]


# ---------------------------------------------------------------- 8. identical texts, one cluster


def test_hdbscan_puts_identical_vectors_in_one_cluster():
    rng = np.random.default_rng(0)
    same = np.repeat(rng.normal(size=(1, 32)), 500, axis=0)
    res = kv.cluster(same.astype(np.float32), "hdbscan", cache=None)
    assert res.n_clusters == 1 and res.noise_fraction == 0.0
    mixed = np.vstack([same, rng.normal(size=(200, 32))]).astype(np.float32)
    res = kv.cluster(mixed, "hdbscan", cache=None)
    assert len(np.unique(res.labels[:500])) == 1 and res.labels[0] >= 0


# ---------------------------------------------------------------- 9. clear messages


def test_pd_na_in_a_string_series_names_the_row(tiny_model_path):
    s = pd.Series(["배송", pd.NA, "환불"], dtype="string")
    with pytest.raises(TypeError, match=r"texts\[1\] is missing.*dropna"):
        kv.encode(s, tiny_model_path, cache=None)
    with pytest.raises(TypeError, match=r"texts\[1\] is missing"):
        kv.keywords(s, [0, 0, 1])


@pytest.mark.parametrize("bad", [-1, 0, 2.5, "8"])
def test_batch_size_must_be_a_positive_integer(tiny_model_path, bad):
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        kv.encode(["배송"], tiny_model_path, cache=None, batch_size=bad)


# ---------------------------------------------------------------- one vocabulary

PUBLIC_WITH_PROGRESS = [
    "encode",
    "reduce",
    "nearest_neighbors",
    "cluster",
    "sweep",
    "layout",
    "cluster_layout",
    "keywords",
    "map_texts",
    "encode_dataset",
]


@pytest.mark.parametrize("name", PUBLIC_WITH_PROGRESS)
def test_show_progress_bar_is_the_one_name(name):
    params = inspect.signature(getattr(kv, name)).parameters
    assert "show_progress_bar" in params and "show_progress" not in params


def test_old_keyword_names_are_gone_with_a_clear_error():
    """0.2.0 dropped the one-release aliases (show_progress, seed, k, top_n): an old name is a TypeError."""
    X = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    with pytest.raises(TypeError, match="show_progress"):
        kv.cluster(X, "kmeans", n_clusters=2, show_progress=False)
    with pytest.raises(TypeError, match="seed"):
        kv.duplicates(X, seed=1)


def test_no_public_function_takes_seed():
    for name in kv.__all__:
        obj = getattr(kv, name)
        if callable(obj) and not isinstance(obj, type):
            assert "seed" not in inspect.signature(obj).parameters, name


def test_cluster_layout_passes_n_neighbors_to_the_layout_and_refuses_unknown_options():
    X = np.random.default_rng(0).normal(size=(60, 16)).astype(np.float32)
    res, _ = kv.cluster_layout(X, "kmeans", n_clusters=3, n_neighbors=7, cache=None)
    assert res.params["layout"]["n_neighbors"] == 7
    with pytest.raises(TypeError, match="n_neighbours"):
        kv.cluster_layout(X, "kmeans", n_clusters=3, n_neighbours=7, cache=None)


def test_modules_and_functions_do_not_share_names():
    import importlib

    for name in ("encode", "reduce", "cluster", "keywords", "search", "layout"):
        assert callable(getattr(kv, name))
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"kosbert_viz.{name}")


def test_hierarchy_names_treat_nfd_text_as_the_same_words():
    X = np.repeat(np.eye(2, 8, dtype=np.float32), 4, axis=0) + 0.01 * np.random.default_rng(0).normal(size=(8, 8))
    res = kv.cluster(X.astype(np.float32), "hierarchy", cache=None)
    plain = kv.hierarchy_names(REVIEWS, res, top_n=4)
    mixed = kv.hierarchy_names(nfd(REVIEWS), res, top_n=4)
    assert plain.keywords.tolist() == mixed.keywords.tolist()
    assert all(unicodedata.is_normalized("NFC", w) for kws in mixed.keywords for w in kws)


def test_check_texts_in_chunks_equals_the_per_text_check(monkeypatch):
    """check_texts checks chunks of joined texts (bench_check_texts.py); every row must come out as the
    per-text path gives it, and errors and warnings must still name the right row."""
    from kosbert_viz._util import validation as V

    monkeypatch.setattr(V, "_CHUNK", 4)  # many chunks from a few rows
    rows = [
        "배송",
        nfd(["환불이 늦어요"])[0],
        "",
        "\u0301로 시작",
        "두 줄\n리뷰",
        nfd(["여러\n줄"])[0],
        "e\u0301",
        "ok",
        "끝",
    ] * 3
    want = [unicodedata.normalize("NFC", t) for t in rows]
    assert V.check_texts(rows) == want
    assert V.check_texts(pd.Series(rows)) == want and V.check_texts(t for t in rows) == want
    assert V.check_texts(tuple(rows[:8])) == want[:8]  # clean, NFD, newline chunks
    bad = rows[:9] + [None] + rows[9:]
    with pytest.raises(V.NotATextError, match=r"texts\[9\] is missing"):
        V.check_texts(bad)
    broken = rows[:10] + ["깨짐 \ud83d", "또 \ude00"] + rows[10:]
    with pytest.warns(UserWarning, match=r"texts\[10\].*surrogate") as caught:
        out = V.check_texts(broken)
    assert len([w for w in caught if "surrogate" in str(w.message)]) == 1
    assert out == want[:10] + ["깨짐 \ufffd", "또 \ufffd"] + want[10:]
