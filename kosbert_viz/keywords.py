"""Korean cluster keywords: kiwipiepy morphemes + class-based TF-IDF.

Particles (josa) and endings are stripped by morphological analysis, so 배송이,
배송을, 배송은 all count as 배송. English words in mixed lines are kept.

>>> table = kv.keywords(texts, res.labels, top_n=5)
>>> table[["cluster", "name", "keywords"]]
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

__all__ = ["keywords", "tokenize_ko", "KOREAN_STOPWORDS"]

# Nouns that say nothing about a topic in everyday reviews and posts.
KOREAN_STOPWORDS = frozenset("""
것 수 등 때 중 점 분 거 곳 번 개 뭐 좀 더 게 건 걸 데 듯 뿐 이것 그것 저것 여기 거기 저기 이거 그거 저거
우리 저희 제 나 너 당신 자기 누구 무엇 어디 언제 오늘 어제 내일 지금 이번 다음 진짜 정말 너무 완전 약간 그냥
하나 둘 사람 생각 정도 경우 부분 문제 이유 느낌 내용 처음 마지막 전 후 안 밖 위 아래 앞 뒤 쪽 말 일 년 월 시 초
the a an and or of to in is it for on with this that be are was
""".split())

_NOUN_TAGS = ("NNG", "NNP", "SL")
_STEM_TAGS = ("VV", "VA", "XR")
_JUNK = re.compile(r"^[\d\W_]+$")


@lru_cache(maxsize=1)
def _kiwi():
    try:
        from kiwipiepy import Kiwi
    except ImportError as exc:  # pragma: no cover - core dependency
        raise ImportError("keywords() needs kiwipiepy: pip install kosbert_viz (or pip install kiwipiepy)") from exc
    return Kiwi()


def tokenize_ko(texts, *, stems: bool = False, stopwords=None) -> list[list[str]]:
    """Content words of each text: nouns (and English words), optionally verb/adjective stems.

    >>> tokenize_ko(["배송이 너무 늦어요", "앱 update 후 login 오류"])
    [['배송'], ['앱', 'update', '후', 'login', '오류']]   # (before stop words)
    """
    tags = _NOUN_TAGS + (_STEM_TAGS if stems else ())
    stop = KOREAN_STOPWORDS if stopwords is None else frozenset(stopwords)
    out = []
    for tokens in _kiwi().tokenize(list(texts)):
        words = []
        for t in tokens:
            if t.tag not in tags:
                continue
            form = t.form.lower() if t.tag == "SL" else t.form
            if t.tag in _STEM_TAGS and t.tag != "XR":
                form = form + "다"
            if form in stop or _JUNK.match(form) or (t.tag == "SL" and len(form) < 2):
                continue
            words.append(form)
        out.append(words)
    return out


def keywords(texts, labels, *, top_n: int = 10, stems: bool = False, extra_stopwords=(),
             embeddings=None, n_representative: int = 3, name_words: int = 3):
    """Top keywords, a short name and representative texts for each cluster.

    Parameters
    ----------
    texts : sequence of str
    labels : cluster labels (-1 = noise, skipped)
    top_n : keywords per cluster
    stems : also count verb/adjective stems (as 늦다, 친절하다)
    extra_stopwords : words to drop on top of :data:`KOREAN_STOPWORDS`
    embeddings : if given, representative texts are those nearest the cluster centroid
        (cosine); otherwise the texts with the most top keywords

    Returns a pandas DataFrame: cluster, size, name, keywords, scores, representative.
    """
    import pandas as pd

    texts = list(texts)
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels must have the same length, got {len(texts)} and {len(labels)}")
    stop = KOREAN_STOPWORDS | frozenset(extra_stopwords)
    docs = tokenize_ko(texts, stems=stems, stopwords=stop)
    clusters = sorted(int(c) for c in np.unique(labels) if c >= 0)
    vocab: dict[str, int] = {}
    for words in docs:
        for w in words:
            vocab.setdefault(w, len(vocab))
    counts = np.zeros((len(clusters), max(len(vocab), 1)), dtype=np.float64)
    row_of = {c: i for i, c in enumerate(clusters)}
    for words, lab in zip(docs, labels):
        if lab < 0:
            continue
        r = row_of[int(lab)]
        for w in words:
            counts[r, vocab[w]] += 1
    # class-based TF-IDF: term frequency within the cluster x log(1 + avg words per cluster / term frequency)
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    avg_words = counts.sum() / max(len(clusters), 1)
    idf = np.log1p(avg_words / np.maximum(counts.sum(axis=0), 1))
    ctfidf = tf * idf
    words_by_id = np.array(list(vocab) or [""], dtype=object)
    X = None
    if embeddings is not None:
        X = np.asarray(embeddings, dtype=np.float32)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    rows = []
    for c in clusters:
        r = row_of[c]
        order = np.argsort(-ctfidf[r], kind="stable")
        order = [i for i in order if counts[r, i] > 0][:top_n]
        kws = [str(words_by_id[i]) for i in order]
        members = np.flatnonzero(labels == c)
        if X is not None:
            centroid = X[members].mean(axis=0)
            near = members[np.argsort(-(X[members] @ centroid), kind="stable")]
        else:
            top = set(kws)
            near = members[np.argsort([-len(top.intersection(docs[i])) for i in members], kind="stable")]
        rep, seen = [], set()
        for i in near:
            if texts[i] not in seen:
                rep.append(texts[i])
                seen.add(texts[i])
            if len(rep) >= n_representative:
                break
        rows.append({
            "cluster": c,
            "size": int(len(members)),
            "name": " · ".join(kws[:name_words]) if kws else f"cluster {c}",
            "keywords": kws,
            "scores": [round(float(ctfidf[r, i]), 5) for i in order],
            "representative": rep,
        })
    return pd.DataFrame(rows, columns=["cluster", "size", "name", "keywords", "scores", "representative"])
