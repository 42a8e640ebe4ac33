"""evaluate: the eight STS numbers against sentence-transformers' EmbeddingSimilarityEvaluator,
pair-classification thresholds, cluster metrics, the ``kosbert-viz evaluate korsts`` command."""

from __future__ import annotations

import types

import numpy as np
import pytest
from conftest import shared_file

import kosbert_viz as kv
from kosbert_viz import evaluate
from kosbert_viz.cli.main import main

KEYS = [f"{m}_{s}" for s in ("cosine", "euclidean", "manhattan", "dot") for m in ("pearson", "spearman")]


def _sentence_transformers_numbers(s1, s2, gold, e1, e2) -> dict:
    """EmbeddingSimilarityEvaluator run on the given embeddings instead of a model's."""
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    class OnEmbeddings(EmbeddingSimilarityEvaluator):
        def embed_inputs(self, model, sentences, **kwargs):
            return e1 if sentences is self.sentences1 else e2

    ev = OnEmbeddings(
        s1, s2, list(map(float, gold)), write_csv=False, similarity_fn_names=["cosine", "euclidean", "manhattan", "dot"]
    )
    dummy = types.SimpleNamespace(model_card_data=types.SimpleNamespace(set_evaluation_metrics=lambda *a, **k: None))
    return {k: 100.0 * float(v) for k, v in ev(dummy).items() if k in KEYS}


def test_sts_equals_sentence_transformers_on_random_embeddings():
    rng = np.random.default_rng(0)
    e1 = rng.standard_normal((300, 32)).astype(np.float32)
    noise = rng.uniform(0.1, 3, 300)
    e2 = (e1 + rng.standard_normal((300, 32)) * noise[:, None]).astype(np.float32)
    gold = np.clip(np.round(5 - 1.5 * noise + rng.normal(0, 0.5, 300), 1), 0, 5)  # ties, as in KorSTS
    s1, s2 = [f"a{i}" for i in range(300)], [f"b{i}" for i in range(300)]
    ours = evaluate.sts(s1, s2, gold, embeddings=(e1, e2))
    theirs = _sentence_transformers_numbers(s1, s2, gold, e1, e2)
    assert ours["n_pairs"] == 300 and set(ours) == set(KEYS) | {"n_pairs"}
    for k in KEYS:  # raw correlations (as the evaluator returns them) to 1e-6
        assert ours[k] / 100 == pytest.approx(theirs[k] / 100, abs=1e-6), k
    assert ours["spearman_cosine"] > 30  # the noise level makes a real correlation


def test_korsts_test_equals_sentence_transformers_with_offline_encoder(offline_encoder):
    pairs = evaluate.load_korsts(shared_file("KorNLUDatasets", "KorSTS", "sts-test.tsv").parent, split="test")
    assert len(pairs) == 1379
    s1, s2 = pairs["sentence1"].tolist(), pairs["sentence2"].tolist()
    e1 = kv.encode(s1, offline_encoder, cache=None, show_progress_bar=False)
    e2 = kv.encode(s2, offline_encoder, cache=None, show_progress_bar=False)
    ours = evaluate.sts(s1, s2, pairs["score"], embeddings=(e1, e2))
    theirs = _sentence_transformers_numbers(s1, s2, pairs["score"], e1, e2)
    for k in KEYS:
        assert ours[k] / 100 == pytest.approx(theirs[k] / 100, abs=1e-6), k  # raw correlations
    print("max |ours - theirs| (raw):", max(abs(ours[k] - theirs[k]) / 100 for k in KEYS))
    assert ours["n_pairs"] == 1379
    assert 69 < ours["spearman_cosine"] < 74, ours  # about 71.4 measured with this encoder before
    print({k: round(v, 2) for k, v in ours.items()})


def test_sts_with_a_model_encodes_each_sentence_once(tiny_model_path):
    s1 = ["배송이 빨라요", "환불은 언제 되나요?", "앱이 자꾸 꺼져요", "오늘 날씨 좋네요"]
    s2 = ["택배가 일찍 왔어요", "환불 처리 언제 돼요", "배송이 빨라요", "비가 와요"]
    gold = [4.0, 4.5, 0.5, 1.0]
    got = evaluate.sts(s1, s2, gold, model=tiny_model_path, cache=None)
    e1 = kv.encode(s1, tiny_model_path, cache=None)
    e2 = kv.encode(s2, tiny_model_path, cache=None)
    want = evaluate.sts(None, None, gold, embeddings=(e1, e2))
    for k in KEYS:
        assert got[k] == pytest.approx(want[k], abs=1e-4)


def test_load_korsts_reads_quotes_literally(tmp_path):
    (tmp_path / "sts-test.tsv").write_text(
        "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
        'main-news\theadlines\t2015\t0001\t3.800\t"그는 "안녕"이라고 말했다\t그가 인사했다\n'
        "main-news\theadlines\t2015\t0002\t0.000\t하나\t둘\n",
        encoding="utf-8",
    )
    pairs = evaluate.load_korsts(tmp_path)
    assert pairs["sentence1"].tolist() == ['"그는 "안녕"이라고 말했다', "하나"]
    assert pairs["score"].tolist() == [3.8, 0.0]
    with pytest.raises(FileNotFoundError, match="sts-dev.tsv"):
        evaluate.load_korsts(tmp_path, split="dev")


def test_cli_evaluate_korsts_prints_the_table(tmp_path, tiny_model_path, capsys):
    rng = np.random.default_rng(1)
    words = ["배송", "환불", "앱", "음식", "여행", "금융", "건강", "날씨"]
    lines = ["genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2"]
    for i in range(30):
        a, b = rng.choice(words, 2)
        lines.append(f"g\tf\t2015\t{i:04d}\t{rng.uniform(0, 5):.3f}\t{a} 문제가 있어요\t{b} 문의드려요")
    (tmp_path / "sts-test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["evaluate", "korsts", str(tmp_path), "--model", tiny_model_path]) == 0
    out = capsys.readouterr().out
    assert "30 pairs" in out and "spearman" in out and "84.71" in out  # the model card column
    for name in ("cosine", "euclidean", "manhattan", "dot"):
        assert name in out
    assert main(["evaluate", "korsts", str(tmp_path), "--model", tiny_model_path, "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["n_pairs"] == 30 and set(result) == set(KEYS) | {"n_pairs"}
    assert main(["evaluate", "korsts", str(tmp_path), "--model", tiny_model_path, "--precision", "fp32"]) == 0
    assert "precision fp32" in capsys.readouterr().out  # the model's exact vectors (the default is int8 on a CPU)
    file = str(tmp_path / "sts-test.tsv")
    assert main(["evaluate", "korsts", file, "--model", tiny_model_path]) == 0
    assert "KorSTS sts-test.tsv: 30 pairs" in capsys.readouterr().out  # a file is named as itself
    assert main(["evaluate", "korsts", file, "--split", "dev", "--model", tiny_model_path]) == 2
    assert "--split dev names a file of a KorSTS folder" in capsys.readouterr().err
    assert main(["evaluate", "korsts", str(tmp_path / "nowhere")]) == 2  # one `error:` line, exit status 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "sts-test.tsv" in err


def test_best_threshold_is_the_f1_maximum():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    s = np.round(y * 0.3 + rng.uniform(0, 1, 400), 2)  # rounded: tied scores
    best = evaluate.best_threshold(s, y)
    brute = max((evaluate.precision_recall_f1(s, y, t) for t in np.unique(s)), key=lambda r: r["f1"])
    assert best["f1"] == pytest.approx(brute["f1"], abs=1e-12)
    assert best["threshold"] == brute["threshold"]
    from sklearn.metrics import f1_score, precision_score, recall_score

    pred = s >= best["threshold"]
    assert best["f1"] == pytest.approx(f1_score(y, pred))
    assert best["precision"] == pytest.approx(precision_score(y, pred))
    assert best["recall"] == pytest.approx(recall_score(y, pred))


def test_cluster_metrics_match_sklearn_and_purity_by_hand():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    truth = ["a", "a", "a", "b", "b", "b", "c", "c"]
    pred = [0, 0, 1, 1, 1, 1, -1, 2]
    m = evaluate.cluster_metrics(truth, pred)
    assert m["ari"] == pytest.approx(adjusted_rand_score(truth, pred))
    assert m["nmi"] == pytest.approx(normalized_mutual_info_score(truth, pred))
    assert m["v_measure"] == pytest.approx(v_measure_score(truth, pred))
    assert m["purity"] == pytest.approx((2 + 3 + 1 + 1) / 8)  # clusters 0, 1, -1, 2
    assert m["n"] == 8 and m["n_clusters"] == 3 and m["noise_fraction"] == pytest.approx(1 / 8)
    dropped = evaluate.cluster_metrics(truth, pred, noise="drop")
    assert dropped["n"] == 7 and dropped["purity"] == pytest.approx(6 / 7)
    perfect = evaluate.cluster_metrics(np.array([1, 1, 2, 2]), np.array([5, 5, 7, 7]))
    assert perfect["ari"] == perfect["nmi"] == perfect["purity"] == pytest.approx(1.0)
    assert kv.cluster_metrics is evaluate.cluster_metrics


def test_cluster_metrics_on_sample_clusters(sample, sample_offline_embeddings):
    res = kv.cluster(sample_offline_embeddings, n_clusters=10)
    m = evaluate.cluster_metrics(sample.topic, res.labels)
    assert m["ari"] > 0.3 and m["purity"] > 0.6, m  # 10 everyday topics, a real pretrained encoder
    shuffled = evaluate.cluster_metrics(sample.topic, np.random.default_rng(0).permutation(res.labels))
    assert shuffled["ari"] < 0.05 and shuffled["purity"] < m["purity"]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda e: evaluate.sts(None, None, [1.0, 2.0], embeddings=(e[:2], e[:3])), ValueError, "same shape"),
        (
            lambda e: evaluate.sts(None, None, [1.0, 2.0, 3.0], embeddings=(e[:2], e[:2])),
            ValueError,
            "2 pairs but 3 scores",
        ),
        (lambda e: evaluate.sts(None, None, [2.0, 2.0], embeddings=(e[:2], e[2:4])), ValueError, "all gold scores"),
        (lambda e: evaluate.sts(None, None, [1.0], embeddings=(e[:1], e[1:2])), ValueError, "at least 2 pairs"),
        (lambda e: evaluate.sts(None, None, [1.0, np.nan], embeddings=(e[:2], e[2:4])), ValueError, "NaN"),
        (lambda e: evaluate.sts(None, None, ["x", "y"], embeddings=(e[:2], e[2:4])), TypeError, "numbers"),
        (lambda e: evaluate.sts(None, None, [1.0, 2.0], embeddings=e[:2]), TypeError, "pair"),
        (
            lambda e: evaluate.sts(None, None, [1.0, 2.0], embeddings=(e[:2], e[2:4]), model="offline"),
            ValueError,
            "not both",
        ),
        (lambda e: evaluate.sts(["a"], None, [1.0]), TypeError, "sentences1 and sentences2"),
        (lambda e: evaluate.sts("ab", "cd", [1.0, 2.0]), TypeError, "single str"),
        (lambda e: evaluate.sts(None, None, None, embeddings=(e[:2], e[2:4])), TypeError, "gold scores"),
        (lambda e: evaluate.pair_similarity(e[:2], e[2:4], "cos"), ValueError, "kind must be"),
        (lambda e: evaluate.best_threshold([0.1, 0.2], [0, 0]), ValueError, "no positive"),
        (lambda e: evaluate.best_threshold([0.1, 0.2], [0, 2]), ValueError, "0/1"),
        (lambda e: evaluate.best_threshold([0.1, 0.2], [0, 1, 1]), ValueError, "one entry per"),
        (lambda e: evaluate.cluster_metrics([1, 2], [1]), ValueError, "equal length"),
        (lambda e: evaluate.cluster_metrics([1, 2], [-1, -1], noise="drop"), ValueError, "every point is noise"),
        (lambda e: evaluate.cluster_metrics([1, 2], [1, 2], noise="x"), ValueError, "noise must be"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match):
    e = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with pytest.raises(error, match=match):
        call(e)
