"""Keywords of a selection against the rest of the map, fast enough to follow a lasso.

Every point has a fixed random rank (seeded). A selection's keywords contrast its ``KEYWORD_SAMPLE``
best-ranked texts with the best-ranked texts outside it (class-based TF-IDF): both random samples, the
same for the same selection, and mostly the same texts for overlapping selections. Each text's content
words are analysed once and kept, and the map's best-ranked ``KEYWORD_WARM_UP`` texts are analysed on a
low-priority thread once the widget is shown, so a selection's keywords mostly cost no analysis at all.
Two words that mostly occur as a pair in the contrasted texts are one keyword (킬링 타임), as in
``kv.keywords`` (:func:`kosbert_viz.naming.keywords.join_phrases`, over the two samples).

>>> kw = SelectionKeywords(["환불 언제 되나요", "환불 요청합니다", "배송이 늦어요", "배송 빨라요"])
>>> kw.keywords(np.array([0, 1]), top_n=1)
['환불']
"""

from __future__ import annotations

import os
import threading

import numpy as np

from kosbert_viz._util.validation import check_positive_int
from kosbert_viz.naming.keywords import (
    ctfidf_table,
    join_phrases,
    korean_analyser,
    naming_inputs,
    tokenize,
)

__all__ = ["KEYWORD_WARM_UP", "KEYWORD_SAMPLE", "TOKEN_CACHE_MAX", "SelectionKeywords"]

KEYWORD_WARM_UP = 20_000  # best-ranked texts analysed in the background once the widget is built
KEYWORD_SAMPLE = 1500  # texts per side (selection / rest) tokenised for the selection's keywords
TOKEN_CACHE_MAX = 200_000  # texts whose content words are kept


class SelectionKeywords:
    """The analysed texts of one map and the keywords of its selections (thread-safe)."""

    def __init__(self, texts: list[str], random_state: int = 0):
        self.texts = texts
        self.random_state = random_state
        self.tokens: dict = {}  # point -> (its checked text, its content words): see morphemes
        self._ranked = None  # (order, rank): see ranks
        self._lock = threading.Lock()
        self._warmed = False

    def ranks(self) -> tuple[np.ndarray, np.ndarray]:
        """(points in rank order, each point's rank): a fixed random order of the map's points."""
        ranked = self._ranked
        if ranked is None:
            n = len(self.texts)
            order = np.random.default_rng(self.random_state).permutation(n)
            rank = np.empty(n, np.int64)
            rank[order] = np.arange(n)
            ranked = self._ranked = (order, rank)  # one assignment: another thread sees both or neither
        return ranked

    def morphemes(self, indices, *, on_this_thread: bool = False) -> list:
        """(checked text, its (key, form, start, end) content words) of the texts at ``indices``, analysed once
        per text and kept (at most ``TOKEN_CACHE_MAX`` texts; past that the kept ones are dropped and analysed
        again when needed)."""
        wanted = [int(i) for i in indices]
        with self._lock:  # the warm-up thread and the kernel's thread share the store
            have = {i: self.tokens[i] for i in wanted if i in self.tokens}
        todo = list(dict.fromkeys(i for i in wanted if i not in have))
        if todo:  # analysed outside the store's lock (the analyser has its own)
            texts, _, stop, _ = naming_inputs([self.texts[i] for i in todo], 1, (), None, None)
            words = tokenize(texts, False, stop, False, on_this_thread=on_this_thread, positions=True)
            new = dict(zip(todo, zip(texts, words)))
            with self._lock:
                if len(self.tokens) + len(new) > TOKEN_CACHE_MAX:
                    self.tokens.clear()
                self.tokens.update(new)
            have.update(new)
        return [have[i] for i in wanted]

    def keywords(self, idx: np.ndarray, *, top_n: int = 8) -> list[str]:
        """Top keywords of the points ``idx`` (sorted, unique positions) against the rest of the map."""
        top_n = check_positive_int(top_n, "top_n")
        n = len(self.texts)
        if len(idx) == 0:
            return []
        order, rank = self.ranks()
        inside = np.zeros(n, bool)
        inside[idx] = True
        if len(idx) > KEYWORD_SAMPLE:
            idx = np.sort(idx[np.argpartition(rank[idx], KEYWORD_SAMPLE)[:KEYWORD_SAMPLE]])
        rest = np.zeros(0, np.int64)
        scan = min(n, 4 * KEYWORD_SAMPLE)
        while True:  # the best-ranked texts outside the selection
            cand = order[:scan]
            rest = cand[~inside[cand]][:KEYWORD_SAMPLE]
            if len(rest) >= KEYWORD_SAMPLE or scan >= n:
                break
            scan = min(n, scan * 4)
        rest = np.sort(rest)
        both = np.concatenate([idx, rest])
        lab = np.r_[np.ones(len(idx), np.int64), np.zeros(len(rest), np.int64)]
        texts, words = zip(*self.morphemes(both))
        pairs = [[(w[0], w[1]) for w in doc] for doc in join_phrases(list(words), list(texts))]
        table = ctfidf_table(list(texts), lab, pairs, top_n, None, 1, 3)
        row = [r for r in table if r["cluster"] == 1]
        return list(row[0]["keywords"]) if row else []

    def warm_up(self) -> None:
        """Analyse the map's best-ranked texts (``KEYWORD_WARM_UP``) on a background thread at the lowest CPU
        priority (Linux: nice 19 for that thread; the texts are analysed on it, one by one), once."""
        if self._warmed:
            return
        self._warmed = True

        def warm() -> None:
            try:
                korean_analyser()  # built at normal priority: Kiwi's own worker threads must not inherit nice 19
                try:
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only
                except (AttributeError, OSError):
                    pass
                order, _ = self.ranks()
                head = order[: min(len(self.texts), KEYWORD_WARM_UP)]
                for s in range(0, len(head), 50):  # small pieces: a selection's own analysis goes between them
                    self.morphemes(head[s : s + 50], on_this_thread=True)
            except Exception:  # noqa: BLE001 - only a warm-up: the real call reports its own errors
                pass

        threading.Thread(target=warm, name="kosbert_viz-keywords-warm-up", daemon=True).start()
