"""keywords(): Korean morphemes (particles stripped), stop words, c-TF-IDF, names, representatives."""

from __future__ import annotations

import importlib
import re

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from expected_keywords import EXPECTED_KEYWORDS

K = importlib.import_module("kosbert_viz.naming.keywords")
C = importlib.import_module("kosbert_viz.themes.cluster")

BARE = {"은", "는", "이", "가", "을", "를", "의", "에", "에서", "로", "으로", "와", "과", "도", "만"}
NUMBER_OR_PUNCT = re.compile(r"^[\d\W_]+$")


def test_particles_and_endings_are_stripped():
    docs = K.tokenize_ko(["배송이 늦어요", "배송을 기다렸어요", "배송은 빨랐다", "배송도 만족"])
    assert all(d[0] == "배송" for d in docs)
    assert not any(w in BARE for d in docs for w in d)


def test_english_and_number_terms_kept_in_mixed_text():
    docs = K.tokenize_ko(["앱 update 후 login 오류", "AI 반도체와 5G 스마트폰 출시"])
    assert docs[0] == ["앱", "update", "login", "오류"]
    assert {"ai", "5g", "반도체", "스마트폰"} <= set(docs[1])
    table = K.keywords(["AI 반도체 AI 칩", "AI 서버 반도체", "맛집 국물 고기", "국물 맛집"], [0, 0, 1, 1], top_n=3)
    assert "AI" in table.keywords[0]  # shown in its usual spelling


def test_a_syllable_split_off_a_word_is_joined_back_not_kept_as_a_fragment():
    """꿀잼 and 노잼 are analysed as 꿀 + 잼 and 노 + 잼: the keyword is the word, never the lone syllable."""
    docs = K.tokenize_ko(
        ["꿀잼 영화 노잼 졸작", "배송비가 비싸요", "빵이 맛있고 꿀 맛이 나요", "작품성 있는 영화", "B급 감성"]
    )
    assert docs[0] == ["꿀잼", "영화", "노잼", "졸작"]
    assert docs[4] == ["B급", "감성"]
    unspaced = K.tokenize_ko(["구매후 만족합니다", "여행때 쓰려고", "가방안에 넣었어요", "화면밖으로 나가요"])
    assert [d[0] for d in unspaced] == ["구매", "여행", "가방", "화면"]  # 후, 때, 안, 밖 are not glued on
    assert docs[1] == ["배송비"]
    assert docs[2] == ["빵", "꿀", "맛"]  # a one-syllable word standing alone is a word
    assert docs[3] == ["작품", "영화"]
    table = K.keywords(["꿀잼 꿀잼 영화", "진짜 꿀잼", "노잼 영화", "완전 노잼"], [0, 0, 1, 1], top_n=2)
    assert table.keywords[0][0] == "꿀잼" and table.keywords[1][0] == "노잼"


def test_stems_optional():
    assert "늦다" not in K.tokenize_ko(["배송이 늦어요"])[0]
    assert "늦다" in K.tokenize_ko(["배송이 늦어요"], stems=True)[0]


def test_stopwords_extensible():
    texts = ["상품 배송 빠름", "상품 배송 좋음", "상품 환불 요청", "상품 환불 처리"]
    t = K.keywords(texts, [0, 0, 1, 1], top_n=5)
    assert "상품" in t.keywords[0]
    t = K.keywords(texts, [0, 0, 1, 1], top_n=5, extra_stopwords={"상품"})
    assert "상품" not in t.keywords[0] and "배송" in t.keywords[0]
    t = K.keywords(["사람 배송"], [0], stopwords=[])
    assert "사람" in t.keywords[0]


def test_ctfidf_prefers_words_specific_to_a_cluster():
    texts = ["배송 택배 서비스", "배송 택배 서비스", "환불 반품 서비스", "환불 교환 서비스"]
    t = K.keywords(texts, [0, 0, 1, 1], top_n=3)
    assert t.keywords[0][:2] == ["배송", "택배"] and t.keywords[1][0] == "환불"
    assert list(t.columns) == ["cluster", "size", "name", "keywords", "scores", "representative"]
    assert t.scores[0] == sorted(t.scores[0], reverse=True)
    assert t.name[0].startswith("배송")


def test_noise_skipped_and_representatives_nearest_centroid():
    texts = ["a 배송", "b 배송", "c 배송", "잡음"]
    emb = np.array([[1, 0], [0.9, 0.1], [0.2, 0.8], [0, 1]], np.float32)
    t = K.keywords(texts, [0, 0, 0, -1], embeddings=emb, n_representative=2)
    assert list(t.cluster) == [0] and t["size"][0] == 3
    assert t.representative[0] == ["b 배송", "a 배송"]


def test_bad_inputs():
    with pytest.raises(ValueError, match="labels has 1 entries, expected 2"):
        K.keywords(["a", "b"], [0])
    with pytest.raises(ValueError, match="top_n"):
        K.keywords(["a"], [0], top_n=0)
    with pytest.raises(TypeError):
        K.keywords(["a", None], [0, 0])
    with pytest.raises(ValueError, match="embeddings"):
        K.keywords(["a", "b"], [0, 0], embeddings=np.zeros((3, 2)))


def test_sample_topics_find_expected_keywords(sample, sample_offline_embeddings):
    res = C.cluster(sample_offline_embeddings, "kmeans", n_clusters=10)
    table = K.keywords(sample.text, res.labels, top_n=5, embeddings=sample_offline_embeddings).set_index("cluster")
    ct = pd.crosstab(sample.topic, res.labels)
    missing = {}
    for topic, expected in EXPECTED_KEYWORDS.items():
        top5 = table.loc[int(ct.loc[topic].idxmax()), "keywords"]
        if not set(expected) & set(top5):
            missing[topic] = top5
    assert not missing, missing


@pytest.mark.slow
def test_ynat_cluster_keywords_are_never_particles_numbers_or_punctuation(offline_encoder):
    from kosbert_viz.embed.encode import encode

    df = pd.read_csv(shared_file("dacon_news_topic_ynat", "train_data.csv")).sample(3000, random_state=1)
    X = encode(df.title.tolist(), offline_encoder, cache=None, show_progress_bar=False)
    bad = {}
    for labels in (
        C.cluster(X, "kmeans", n_clusters=7).labels,
        C.cluster(X, "hdbscan", min_cluster_size=30, cache=None).labels,
    ):
        table = K.keywords(df.title.tolist(), labels, top_n=5, embeddings=X)
        assert len(table) >= 2
        for row in table.itertuples():
            assert len(row.keywords) == 5
            b = [w for w in row.keywords if w in BARE or NUMBER_OR_PUNCT.match(w)]
            if b:
                bad[row.cluster] = row.keywords
    assert not bad, bad


def test_keywords_after_the_first_go_together():
    # 날씨 is more frequent than 택배 in cluster 0, but never shares a text with 배송: plain c-TF-IDF
    # would list it second; the keywords read as one description instead
    texts = ["배송이 늦어요 택배 기사님"] * 3 + ["날씨가 맑아요"] * 4 + ["배송 완료"] * 2 + ["환불 요청"] * 3
    table = K.keywords(texts, [0] * 9 + [1] * 3, top_n=3)
    assert table.keywords.tolist() == [["배송", "택배", "기사"], ["환불", "요청"]]
    assert table.scores[0][0] == max(table.scores[0])  # the first keyword is still the best-scoring word


def test_hierarchy_names_use_the_same_coherence(sample, sample_offline_embeddings, monkeypatch):
    coherence = importlib.import_module("kosbert_viz.naming.coherence")
    hierarchy_names = importlib.import_module("kosbert_viz.themes.names").hierarchy_names
    res = C.cluster(sample_offline_embeddings, "hierarchy", random_state=0, show_progress_bar=False)
    docs = [set(d) for d in K.tokenize_ko(list(sample.text))]
    D = {w: np.array([w in d for d in docs]) for d in docs for w in d}

    def mean_npmi():  # over the default level's themes, each theme's top 5 over the whole sample
        names = hierarchy_names(
            sample.text, res, embeddings=sample_offline_embeddings, top_n=5, show_progress_bar=False
        )
        level = names[names.level == res.default_level]
        return np.mean(
            [
                coherence.npmi_matrix(np.stack([D[k.lower()] for k in kws], axis=1))[
                    np.triu_indices(len(kws), 1)
                ].mean()
                for kws in level.keywords
                if len(kws) > 1
            ]
        )

    ours = mean_npmi()
    monkeypatch.setattr(coherence, "COHERENCE_WEIGHT", 0.0)  # plain c-TF-IDF order
    assert ours > mean_npmi() + 0.05


def test_word_pairs_that_mostly_occur_together_are_one_keyword():
    # 킬링 타임 (spaced or not) is one keyword; 배송 조회 is not: 배송 mostly stands alone
    texts = (
        ["킬링 타임 영화로 딱"] * 4 + ["킬링타임용으로 볼만"] * 2 + ["배송 조회가 안 돼요"] * 5 + ["배송이 늦어요"] * 8
    )
    assert K.tokenize_ko(texts)[0] == ["킬링 타임", "영화"] and K.tokenize_ko(texts)[4][0] == "킬링 타임"
    table = K.keywords(texts, [0] * 6 + [1] * 13, top_n=3).set_index("cluster")
    assert table.loc[0, "keywords"][0] == "킬링 타임"
    assert "배송" in table.loc[1, "keywords"] and "조회" in table.loc[1, "keywords"]
    assert K.tokenize_ko(texts[:4]) == [["킬링", "타임", "영화"]] * 4  # 4 times: below PHRASE_MIN_COUNT
    # the explorer's side panel (a lasso's keywords) joins them too
    from kosbert_viz.explorer.keywords import SelectionKeywords

    panel = SelectionKeywords(texts)
    assert panel.keywords(np.arange(6), top_n=2)[0] == "킬링 타임"
    assert SelectionKeywords(texts[:4] + texts[6:]).keywords(np.arange(4), top_n=3)[:2] == ["킬링", "타임"]


def test_a_missing_label_is_skipped_like_noise_in_a_list_of_strings_too():
    t = ["배송이 빨라요", "배송이 늦어요", "환불이 안 돼요", "환불 요청"]
    for missing in (np.nan, None):
        table = K.keywords(t, ["배송", "배송", missing, "환불"], top_n=2)
        assert table.cluster.tolist() == ["배송", "환불"] and table["size"].tolist() == [2, 1]  # no "nan" theme
