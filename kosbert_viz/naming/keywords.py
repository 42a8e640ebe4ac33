"""Korean cluster keywords: kiwipiepy morphemes + class-based TF-IDF.

Particles (josa) and endings are stripped by morphological analysis, so 배송이,
배송을, 배송은 all count as 배송. English words (and number+letter terms such as 5G)
in mixed lines are kept; Hanja abbreviations common in news (美, 北) count as nouns.

>>> table = kv.keywords(texts, res.labels, top_n=5, embeddings=emb)
>>> table.columns.tolist()
['cluster', 'size', 'name', 'keywords', 'scores', 'representative']
>>> table = kv.keywords(texts, labels, stems=True, extra_stopwords={"상품"})
>>> kv.keywords(texts, df["topic"]).cluster.tolist()[:3]   # string labels keep their values
['건강', '교육', '금융']
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.progress import Stages, want_progress
from kosbert_viz._util.validation import (
    check_embeddings,
    check_labels,
    check_positive_int,
    check_texts,
    cut_long_texts,
)
from kosbert_viz.naming.coherence import candidate_pool, coherent_order

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["keywords", "tokenize_ko", "join_phrases", "KOREAN_STOPWORDS", "PARTICLES_AND_ENDINGS"]

# Bare particles and endings: never a keyword, even when the analyser leaves one standing alone.
PARTICLES_AND_ENDINGS = frozenset(
    """
은 는 이 가 을 를 의 에 에서 에게 께 한테 로 으로 와 과 도 만 랑 이랑 하고 보다 처럼 까지 부터 마다 조차 밖에 뿐
요 다 고 며 면 서 니 지 죠 네 게 자 라 냐 나
""".split()
)

# Words that say nothing about a topic in reviews, posts and news. Extend with ``extra_stopwords``.
KOREAN_STOPWORDS = (
    frozenset(
        """
것 수 등 때 중 점 분 거 곳 번 개 뭐 좀 더 게 건 걸 데 듯 뿐 이것 그것 저것 여기 거기 저기 이거 그거 저거
우리 저희 제 나 너 당신 자기 누구 무엇 어디 언제 오늘 어제 내일 지금 이번 다음 진짜 정말 너무 완전 약간 그냥
하나 둘 사람 생각 정도 경우 부분 문제 이유 느낌 내용 처음 마지막 전 후 안 밖 위 아래 앞 뒤 쪽 말 일 년 월 시 초
종합 속보 단독 사진 영상 포토 기자 뉴스 관련 대한 위해 통해 가지 요즘 이상 이하 이후 이전
the a an and or of to in is it for on with this that be are was by at as from
""".split()
    )
    | PARTICLES_AND_ENDINGS
)

_NOUN_TAGS = ("NNG", "NNP", "SL", "SH")
_STEM_TAGS = ("VV", "VA", "XR")
_JUNK = re.compile(r"^[\d\W_]+$")


_ANALYSER_LOCK = threading.Lock()  # one Kiwi per process, built once; one analysis at a time
_KIWI = []


def korean_analyser():
    if not _KIWI:
        with _ANALYSER_LOCK:
            if not _KIWI:
                try:
                    from kiwipiepy import Kiwi
                except ImportError as exc:  # pragma: no cover - core dependency
                    raise ImportError(
                        "keywords() needs kiwipiepy: pip install kosbert_viz (or pip install kiwipiepy; "
                        "conda: pip install kiwipiepy inside the environment)"
                    ) from exc
                _KIWI.append(Kiwi())
    return _KIWI[0]


def _is_syllable(form: str) -> bool:
    return len(form) == 1 and "\uac00" <= form <= "\ud7a3"


# One-syllable nouns of place, time and count that unspaced writing attaches to a word (구매후, 여행때,
# 가방안에): they end a run of pieces rather than join it, so 구매후 stays 구매.
_ATTACHED = frozenset(
    "후 전 중 때 안 밖 위 앞 뒤 속 내 외 간 쪽 등 측 상 하 시 날 년 월 일 번 개 분 초 용 별 당 쯤".split()
)


def _joined_nouns(tokens) -> list:
    """Tokens with each run of nouns (and letters, numbers) inside one word that holds a single-syllable noun joined.

    The analyser splits slang and compounds into pieces (꿀잼 -> 꿀 + 잼, 노잼 -> 노 + 잼); a lone
    syllable is then a fragment no reader would take for the word. Joined, the run is the word as
    written. A single-syllable noun that is a whole word (빵이, 꿀 맛) stays itself, and nouns of place,
    time and count written onto a word (구매후, 여행때, 가방안에) are not joined to it.
    """
    out, run = [], []

    def flush():
        if len(run) > 1 and any(_is_syllable(t.form) and t.tag in ("NNG", "NNP") for t in run):
            out.append(_Joined("".join(t.form for t in run), "NNG", run[0].start, sum(t.len for t in run)))
        else:
            out.extend(run)
        run.clear()

    for t in tokens:
        if t.tag in ("NNG", "NNP", "SL", "SN") and t.form not in _ATTACHED:  # B급: the letter belongs to the word
            last = run[-1] if run else None
            if last is not None and (
                getattr(t, "word_position", None) != getattr(last, "word_position", None)
                or last.start + last.len != t.start
            ):
                flush()
            run.append(t)
            continue
        flush()
        out.append(t)
    flush()
    return out


class _Joined:
    """A joined run of noun tokens (form, tag, start, len: what :func:`_content_words` reads)."""

    __slots__ = ("form", "tag", "start", "len")

    def __init__(self, form, tag, start, length):
        self.form, self.tag, self.start, self.len = form, tag, start, length


def _content_words(tokens, tags, stop):
    words = []
    prev = None
    for t in _joined_nouns(tokens):
        tag = t.tag
        form = t.form
        if tag == "SL" and prev is not None and prev.tag == "SN" and prev.start + prev.len == t.start:
            form, tag = prev.form + form, "SL"  # 5G, 3D, 4K: the number belongs to the term
        prev = t
        if tag not in tags:
            continue
        if tag in ("VV", "VA"):
            form = form + "다"
        key = form.lower() if tag == "SL" else form
        if key in stop or _JUNK.match(key) or (tag == "SL" and len(key) < 2):
            continue
        words.append((key, form, t.start, t.start + t.len))
    return words


PHRASE_MIN_COUNT = 5  # a two-word phrase is seen at least this often ...
PHRASE_SHARE = 0.5  # ... and holds at least half of each word's occurrences


def join_phrases(docs: list, texts: list[str]) -> list:
    """Two content words that follow each other (attached, or one space apart) become one keyword where
    they mostly occur as that pair: at least :data:`PHRASE_MIN_COUNT` times, and in at least half of each
    word's occurrences (킬링 타임, 고객센터 in a support corpus; not 배송 조회, whose 배송 stands mostly alone).

    ``docs``: per text, (key, form, start, end) tuples in text order; returns the same with pairs joined
    (key "a b"; the form as written, 킬링타임 or 킬링 타임).

    >>> docs = [[("킬링", "킬링", 0, 2), ("타임", "타임", 3, 5)]] * 5
    >>> join_phrases(docs, ["킬링 타임"] * 5)[0]
    [('킬링 타임', '킬링 타임', 0, 5)]
    """
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for doc, text in zip(docs, texts):
        unigrams.update(w[0] for w in doc)
        for a, b in zip(doc, doc[1:]):
            if a[0] != b[0] and not text[a[3] : b[2]].strip():
                bigrams[a[0], b[0]] += 1
    joined = {
        pair
        for pair, n in bigrams.items()
        if n >= PHRASE_MIN_COUNT and n >= PHRASE_SHARE * unigrams[pair[0]] and n >= PHRASE_SHARE * unigrams[pair[1]]
    }
    if not joined:
        return docs
    out = []
    for doc, text in zip(docs, texts):
        new, i = [], 0
        while i < len(doc):
            a = doc[i]
            b = doc[i + 1] if i + 1 < len(doc) else None
            if b is not None and (a[0], b[0]) in joined and not text[a[3] : b[2]].strip():
                new.append((f"{a[0]} {b[0]}", text[a[2] : b[3]], a[2], b[3]))
                i += 2
            else:
                new.append(a)
                i += 1
        out.append(new)
    return out


def tokenize_ko(
    texts, *, stems: bool = False, stopwords=None, show_progress_bar: bool | None = None
) -> list[list[str]]:
    """Content words of each text: nouns, English words and Hanja; optionally verb/adjective stems.

    English words are lower-cased here (``keywords()`` shows their most common spelling). Two words that
    mostly occur as a pair in these texts are one ("킬링 타임"; :func:`join_phrases`), as in ``keywords()``.

    >>> tokenize_ko(["배송이 너무 늦어요", "앱 update 후 login 오류"])
    [['배송'], ['앱', 'update', 'login', '오류']]
    """
    return [
        [k for k, _ in doc] for doc in tokenize(check_texts(texts), stems, stopwords, show_progress_bar, phrases=True)
    ]


KEYWORD_CHARS = 5000  # characters of one text that keyword analysis reads (a 2M-character cell took 104 s)


def tokenize(
    texts,
    stems,
    stopwords,
    show_progress,
    *,
    on_this_thread: bool = False,
    phrases: bool = False,
    positions: bool = False,
):
    """Content words per text, as (key, form) pairs; ``texts`` are already checked (NFC str, see ``check_texts``).

    ``on_this_thread``: analyse text by text on the calling thread (a list goes to Kiwi's own worker
    threads), so a background caller's priority applies to the work. ``phrases``: join the word pairs that
    mostly occur together in ``texts`` (:func:`join_phrases`; so a text's words depend on the others).
    ``positions``: (key, form, start, end) per word instead, as :func:`join_phrases` takes them.
    """
    tags = _NOUN_TAGS + (_STEM_TAGS if stems else ())
    stop = KOREAN_STOPWORDS if stopwords is None else frozenset(stopwords) | PARTICLES_AND_ENDINGS
    texts = cut_long_texts(texts, KEYWORD_CHARS, "keyword analysis", stacklevel=4)
    out = []
    kiwi = korean_analyser()
    with _ANALYSER_LOCK:
        if on_this_thread:
            stream = (kiwi.tokenize(t) for t in texts)
        else:
            stream = kiwi.tokenize(texts) if texts else []
        if want_progress(show_progress, len(texts)):
            from tqdm.auto import tqdm

            stream = tqdm(stream, total=len(texts), desc="keywords: morphemes", unit="text", leave=False)
        for tokens in stream:
            out.append(_content_words(tokens, tags, stop))
    if phrases:
        out = join_phrases(out, texts)
    return out if positions else [[(w[0], w[1]) for w in doc] for doc in out]


def naming_inputs(texts, top_n, extra_stopwords, stopwords, embeddings, n=None):
    """The checked inputs of :func:`keywords` and :func:`kosbert_viz.hierarchy_names`: NFC texts, top_n,
    the stop-word set and unit-length embeddings (or None)."""
    texts = check_texts(texts, n=n)
    top_n = check_positive_int(top_n, "top_n")
    if isinstance(extra_stopwords, str):
        extra_stopwords = extra_stopwords.split()
    base = KOREAN_STOPWORDS if stopwords is None else frozenset(stopwords)
    stop = frozenset(base) | frozenset(extra_stopwords) | PARTICLES_AND_ENDINGS
    X = None
    if embeddings is not None:
        X = check_embeddings(embeddings, n=len(texts))
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return texts, top_n, stop, X


def keywords(
    texts,
    labels,
    *,
    top_n: int = 10,
    stems: bool = False,
    extra_stopwords=(),
    stopwords=None,
    embeddings=None,
    n_representative: int = 3,
    name_words: int = 3,
    show_progress_bar: bool | None = None,
) -> pd.DataFrame:
    """Top keywords, a short name and representative texts for each cluster.

    Parameters
    ----------
    texts : sequence of str (NFC-normalised here, so macOS NFD text counts as the same words)
    labels : cluster labels, one per text: integers (-1 = noise, skipped), or any hashable values
        (strings, a pandas categorical); the ``cluster`` column keeps them. A missing label (None,
        NaN) is skipped as -1 is
    top_n : keywords per cluster (``top_n`` is always a number of keywords in kosbert_viz)
    stems : also count verb/adjective stems (as 늦다, 친절하다)
    extra_stopwords : words to drop on top of :data:`KOREAN_STOPWORDS`
    stopwords : replace :data:`KOREAN_STOPWORDS` altogether (bare particles are always dropped)
    embeddings : if given, representative texts are those nearest the cluster centroid
        (cosine); otherwise the texts that hold the most of the cluster's top keywords
    name_words : keywords joined into the cluster's short name

    Class-based TF-IDF: a word's frequency within a cluster times
    ``log(1 + average words per cluster / the word's frequency over all clusters)``. The best word
    comes first; the others are chosen from the best ``max(2 * top_n, 10)`` for their score and how
    often they share the cluster's texts with the words before them
    (:mod:`kosbert_viz.naming.coherence`).

    Returns a pandas DataFrame: cluster, size, name, keywords, scores, representative.

    >>> t = ["배송이 빨라요", "배송이 늦어요", "환불이 안 돼요", "환불을 요청했어요"]
    >>> kv.keywords(t, [0, 0, 1, 1], top_n=2)[["cluster", "size", "name", "keywords"]].values.tolist()
    [[0, 2, '배송', ['배송']], [1, 2, '환불 · 요청', ['환불', '요청']]]
    """
    import pandas as pd

    texts, top_n, stop, X = naming_inputs(texts, top_n, extra_stopwords, stopwords, embeddings)
    labels, label_values = check_labels(labels, n=len(texts))
    with Stages(["morphemes", "c-TF-IDF"], show=False, desc="keywords") as st:
        with st("morphemes", f"{len(texts):,} texts"):
            pairs = tokenize(texts, stems, stop, show_progress_bar, phrases=True)
        with st("c-TF-IDF"):
            table = ctfidf_table(texts, labels, pairs, top_n, X, n_representative, name_words)
    for row in table:  # back to the caller's labels (strings stay strings)
        value = label_values[row["cluster"]]
        row["cluster"] = int(value) if isinstance(value, (int, np.integer)) else value
        if row["name"] == f"cluster {row['cluster']}" or not row["keywords"]:
            row["name"] = str(value) if not isinstance(value, (int, np.integer)) else f"cluster {value}"
    return pd.DataFrame(table, columns=["cluster", "size", "name", "keywords", "scores", "representative"])


def ctfidf_table(texts, labels, pairs, top_n, X, n_representative, name_words):
    from scipy.sparse import csr_matrix

    docs = [[k for k, _ in doc] for doc in pairs]
    spelling: dict[str, Counter] = {}
    for doc in pairs:
        for k, f in doc:
            if k.isascii():
                spelling.setdefault(k, Counter())[f] += 1
    clusters = sorted(int(c) for c in np.unique(labels) if c >= 0)
    row_of = {c: i for i, c in enumerate(clusters)}
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, (words, lab) in enumerate(zip(docs, labels)):
        if lab < 0:
            continue
        for w in words:
            rows.append(i)
            cols.append(vocab.setdefault(w, len(vocab)))
    V = max(len(vocab), 1)
    dtm = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), V))  # texts x words
    kept = np.flatnonzero(np.asarray(labels) >= 0)
    member_of = csr_matrix(
        (np.ones(len(kept)), ([row_of[int(labels[i])] for i in kept], kept)), shape=(max(len(clusters), 1), len(docs))
    )
    counts = (member_of @ dtm).toarray()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    avg_words = counts.sum() / max(len(clusters), 1)
    idf = np.log1p(avg_words / np.maximum(counts.sum(axis=0), 1))
    ctfidf = tf * idf
    words_by_id = np.array(list(vocab) or [""], dtype=object)

    out = []
    for c in clusters:
        r = row_of[c]
        order = np.argsort(-ctfidf[r], kind="stable")
        members = np.flatnonzero(labels == c)
        pool = np.array([i for i in order[: candidate_pool(top_n) * 2] if counts[r, i] > 0][: candidate_pool(top_n)])
        if len(pool):
            pool = pool[coherent_order(dtm[members][:, pool].toarray() > 0, ctfidf[r, pool], top_n)]
        order = [int(i) for i in pool]
        keys = [str(words_by_id[i]) for i in order]
        kws = [display_form(k, spelling) for k in keys]
        if X is not None:
            centroid = X[members].mean(axis=0)
            near = members[np.argsort(-(X[members] @ centroid), kind="stable")]
        else:
            top = set(keys)
            near = members[np.argsort([-len(top.intersection(docs[i])) for i in members], kind="stable")]
        rep, seen = [], set()
        for i in near:
            if texts[i] not in seen:
                rep.append(texts[i])
                seen.add(texts[i])
            if len(rep) >= n_representative:
                break
        out.append(
            {
                "cluster": c,
                "size": int(len(members)),
                "name": short_name(kws, name_words) if kws else f"cluster {c}",
                "keywords": kws,
                "scores": [round(float(ctfidf[r, i]), 5) for i in order],
                "representative": rep,
            }
        )
    return out


def display_form(key: str, spelling: dict) -> str:
    """The most common original spelling of an English key (AI, iPhone), else the key itself."""
    c = spelling.get(key)
    return c.most_common(1)[0][0] if c else key


def short_name(kws, n):
    """The first ``n`` keywords, skipping any that repeat part of a word already taken."""
    picked = []
    for w in kws:
        if any(w in p or p in w for p in picked):
            continue
        picked.append(w)
        if len(picked) >= n:
            break
    return " · ".join(picked)
