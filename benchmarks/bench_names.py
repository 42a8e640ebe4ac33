"""Theme keywords worth reading: NPMI coherence and diversity of the top-5 keywords, ours against BERTopic's c-TF-IDF.

For each corpus (YNAT first 10,000 titles, NSMC 10,000 balanced reviews, Chatbot_data questions), the
same clusters for everyone: the default level of ``kv.cluster(X, "hierarchy", random_state=42)`` on the
offline encoder's vectors. The same tokenizer for everyone: ``kosbert_viz.naming.keywords.tokenize_ko`` (kiwipiepy nouns,
English words, Hanja; particles stripped; stop words out; word pairs that mostly occur together joined). Keyword sets compared, top 5 per theme:

- ``ours_map``: the names the map shows (``kv.hierarchy_names``: contrasted with siblings, idf of the level);
- ``ours_flat``: ``kv.keywords`` (class-based TF-IDF over the level's themes);
- ``bertopic``: BERTopic 0.17's ``ClassTfidfTransformer`` on the per-theme bag of the same tokens (what
  ``BERTopic(language="multilingual", vectorizer_model=CountVectorizer(tokenizer=...))`` computes for these
  topics); needs ``pip install bertopic``.

NPMI of a theme: the mean over its keyword pairs of log(P(a,b) / P(a)P(b)) / -log P(a,b), with P the share
of the corpus's texts that hold the word(s) (a pair that never co-occurs counts -1); reported as the mean
over themes. Diversity: distinct keywords over all themes' top-5 lists / (5 x themes). Also the share of
keywords that are a single Hangul syllable.

    python benchmarks/bench_names.py --out benchmarks/results/bench_names.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from json_out import emit  # benchmarks/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
TOP = 5
DEFAULT_CACHE = str(Path(tempfile.gettempdir()) / "kosbert-viz-bench-cache")  # the offline encoder's vectors


def npmi(topics: list[list[str]], docs: list[set]) -> float:
    n = len(docs)
    df: dict = {}
    for d in docs:
        for w in d:
            df[w] = df.get(w, 0) + 1
    scores = []
    for words in ([w.lower() for w in t] for t in topics):  # keywords show AI, the tokens are ai
        pair_scores = []
        for a, b in itertools.combinations(words[:TOP], 2):
            pa, pb = df.get(a, 0) / n, df.get(b, 0) / n
            pab = sum(1 for d in docs if a in d and b in d) / n
            if pab == 0 or pa == 0 or pb == 0:
                pair_scores.append(-1.0)
            elif pab == 1:
                pair_scores.append(1.0)
            else:
                pair_scores.append(float(np.log(pab / (pa * pb)) / -np.log(pab)))
        if pair_scores:
            scores.append(float(np.mean(pair_scores)))
    return round(float(np.mean(scores)), 4) if scores else float("nan")


def diversity(topics: list[list[str]]) -> float:
    words = [w for t in topics for w in t[:TOP]]
    return round(len(set(words)) / max(len(words), 1), 4)


def syllables(topics: list[list[str]]) -> float:
    words = [w for t in topics for w in t[:TOP]]
    one = [w for w in words if len(w) == 1 and "\uac00" <= w <= "\ud7a3"]
    return round(len(one) / max(len(words), 1), 4)


def bertopic_keywords(tokens: list[list[str]], labels: np.ndarray) -> list[list[str]]:
    from bertopic.vectorizers import ClassTfidfTransformer
    from sklearn.feature_extraction.text import CountVectorizer

    themes = sorted(int(c) for c in np.unique(labels) if c >= 0)
    per_theme = [[w for i in np.flatnonzero(labels == c) for w in tokens[i]] for c in themes]
    vec = CountVectorizer(analyzer=lambda words: words)
    counts = vec.fit_transform(per_theme)
    ctfidf = ClassTfidfTransformer().fit_transform(counts).toarray()
    vocab = np.array(vec.get_feature_names_out(), dtype=object)
    return [[str(w) for w in vocab[np.argsort(-row, kind="stable")[:TOP]]] for row in ctfidf]


def run(name: str, cache: str) -> dict:
    from bench_stability import corpus

    import kosbert_viz as kv
    from kosbert_viz.naming.keywords import tokenize_ko

    texts, _ = corpus(name)
    t = time.perf_counter()
    X = kv.encode(texts, model="offline", cache=cache, show_progress_bar=False)
    res = kv.cluster(X, "hierarchy", random_state=42, cache=None, show_progress_bar=False)
    labels = res.labels
    tokens = tokenize_ko(texts)
    docs = [set(d) for d in tokens]
    names = kv.hierarchy_names(texts, res, embeddings=X, top_n=TOP, show_progress_bar=False)
    at = names[names.level == res.default_level].sort_values("label")
    sets = {
        "ours_map": [list(k)[:TOP] for k in at.keywords],
        "ours_flat": [list(k)[:TOP] for k in kv.keywords(texts, labels, top_n=TOP).keywords],
        "bertopic": bertopic_keywords(tokens, labels),
    }
    out = {"n": len(texts), "themes": int(res.n_clusters)}
    for key, topics in sets.items():
        out[key] = {
            "npmi": npmi(topics, docs),
            "diversity": diversity(topics),
            "single_syllable_share": syllables(topics),
            "first_themes": [" · ".join(t[:3]) for t in topics[:4]],
        }
    out["ours_map_minus_bertopic_npmi"] = round(out["ours_map"]["npmi"] - out["bertopic"]["npmi"], 4)
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["ynat10k", "nsmc10k", "chatbot"])
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--out")
    args = ap.parse_args()
    result = {"benchmark": "names", "top": TOP, "corpora": {}}
    for name in args.datasets:
        result["corpora"][name] = run(name, args.cache)
        print(json.dumps({name: result["corpora"][name]}, ensure_ascii=False), file=sys.stderr, flush=True)
    emit(result, args.out)


if __name__ == "__main__":
    main()
