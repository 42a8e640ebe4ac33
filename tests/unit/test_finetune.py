"""kv.finetune: the model card's recipe through sentence-transformers' trainer, on the tiny BERT.

The tiny model has random weights, so these runs use a higher learning rate (5e-4) than the
card's 2e-5, which is meant for a pretrained ko-sbert: the tests check that training with our
recipe moves the model the right way, not ko-sbert's numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, SHARED_DATA, shared_file

import kosbert_viz as kv
from kosbert_viz.finetuning import train as training
from kosbert_viz.finetuning.card import RECORD_FILE
from kosbert_viz.finetuning.checkpoints import CHECKPOINT_DIR
from kosbert_viz.finetuning.data import _as_task, hold_out
from kosbert_viz.finetuning.recipe import default_recipe

TINY_LR = 5e-4


def _korsts(split):
    from kosbert_viz.evaluate import load_korsts

    return load_korsts(shared_file("KorNLUDatasets", "KorSTS", f"sts-{split}.tsv"))


def _weights(folder) -> dict:
    from safetensors.torch import load_file

    folder = Path(folder)
    files = sorted(folder.rglob("*.safetensors"))
    assert files, f"no weights in {folder}"
    out = {}
    for f in files:
        out.update({f"{f.relative_to(folder).parent}/{k}": v for k, v in load_file(str(f)).items()})
    return out


def _topic_pairs(n_pairs=160, seed=0):
    """Scored pairs from the bundled corpus, half of them same-topic (score 1.0), half not (0.0)."""
    df = kv.datasets.load_sample()
    rng = np.random.default_rng(seed)
    texts, topics = df.text.to_numpy(), df.topic.to_numpy()
    rows = []
    while len(rows) < n_pairs:
        a = int(rng.integers(len(df)))
        pool = np.flatnonzero((topics == topics[a]) if len(rows) % 2 == 0 else (topics != topics[a]))
        b = int(rng.choice(pool[pool != a]))
        rows.append((texts[a], texts[b], float(topics[a] == topics[b])))
    return pd.DataFrame(rows, columns=["sentence1", "sentence2", "score"])


# --------------------------------------------------------------------------- KorSTS, cosine loss


@pytest.fixture(scope="module")
def korsts_run(tiny_model_path, tmp_path_factory):
    train = _korsts("train").head(3000)
    dev = _korsts("dev")
    out = tmp_path_factory.mktemp("ft") / "tiny-korsts"
    res = kv.finetune(
        train,
        tiny_model_path,
        output_dir=out,
        epochs=1,
        eval=dev,
        learning_rate=TINY_LR,
        show_progress_bar=False,
        cache=None,
    )
    return res, dev


@pytest.mark.slow
def test_cosine_loss_on_korsts_raises_dev_spearman(korsts_run):
    res, dev = korsts_run
    print(f"\nKorSTS dev, tiny BERT, 3,000 train pairs, 1 epoch (x100):\n{res.table.to_string()}")
    assert res.recipe["losses"] == {"train": "CosineSimilarityLoss"}
    assert res.recipe["batch_sizes"] == {"train": 8} and res.recipe["score_scale"] == {"train": 5.0}
    assert res.recipe["total_steps"] == 375 and res.recipe["warmup_steps"] == 38
    assert res.n_eval == len(dev) == res.after["n_pairs"]
    assert res.after["spearman_cosine"] > res.before["spearman_cosine"] + 3
    # the "after" numbers are those of the saved folder through kv.sts, in fp32 (before and after alike)
    saved = kv.load_encoder(res.output_dir, precision="fp32")
    again = kv.sts(dev.sentence1, dev.sentence2, dev.score, model=saved, cache=None)
    assert again["spearman_cosine"] == pytest.approx(res.after["spearman_cosine"], abs=1e-6)
    assert res.pairs_per_second > 0 and res.train_seconds < res.seconds


@pytest.mark.slow
def test_output_folder_is_a_model_under_a_new_fingerprint(korsts_run, tiny_model_path):
    res, _ = korsts_run
    out = Path(res.output_dir)
    base = kv.load_encoder(tiny_model_path, device="cpu")
    new = kv.load_encoder(str(out), device="cpu")
    assert new.fingerprint != base.fingerprint
    texts = ["배송이 늦어요", "환불해 주세요", "앱이 자꾸 꺼져요"]
    emb_new = kv.encode(texts, model=str(out), device="cpu", precision="fp32")  # ST's own precision, to compare
    emb_base = kv.encode(texts, model=tiny_model_path, device="cpu", precision="fp32")
    assert emb_new.shape == emb_base.shape and not np.allclose(emb_new, emb_base)
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(out), device="cpu")  # a plain sentence-transformers folder
    assert np.allclose(st.encode(texts), emb_new, atol=1e-5)
    record = json.loads((out / RECORD_FILE).read_text(encoding="utf-8"))
    assert record["base_model"] == tiny_model_path and record["data_hash"] == res.data_hash
    assert record["recipe"]["learning_rate"] == TINY_LR and record["after"] == res.after
    card = (out / "README.md").read_text(encoding="utf-8")
    assert tiny_model_path in card and res.data_hash in card and "CosineSimilarityLoss" in card
    assert not (out / CHECKPOINT_DIR).exists()  # removed after a finished run


# --------------------------------------------------------------------------- pairs only, MNRL


def _recall_at_1(model, anchors, positives) -> float:
    a = kv.encode(anchors, model=model, cache=None, device="cpu", normalize=True)
    p = kv.encode(positives, model=model, cache=None, device="cpu", normalize=True)
    return float((np.argmax(a @ p.T, axis=1) == np.arange(len(a))).mean())


@pytest.mark.slow
def test_mnrl_on_pairs_raises_recall_at_1(tiny_model_path, tmp_path):
    sts = _korsts("train")
    close = sts[sts.score >= 4.0].drop_duplicates("sentence1").drop_duplicates("sentence2")
    held = close.sample(n=300, random_state=0)
    seen = set(held.sentence1) | set(held.sentence2)
    train = sts[(sts.score >= 3.0) & ~sts.sentence1.isin(seen) & ~sts.sentence2.isin(seen)]
    pairs = list(zip(train.sentence1, train.sentence2))  # (anchor, positive): no score
    res = kv.finetune(
        pairs, tiny_model_path, output_dir=tmp_path / "mnrl", epochs=3, learning_rate=TINY_LR, show_progress_bar=False
    )
    assert res.recipe["losses"] == {"train": "MultipleNegativesRankingLoss(scale=20, cos_sim)"}
    assert res.recipe["batch_samplers"] == {"train": "no_duplicates"}
    assert res.before is None and res.eval_source == "none"  # pairs only: nothing scored to hold out
    before = _recall_at_1(tiny_model_path, held.sentence1.tolist(), held.sentence2.tolist())
    after = _recall_at_1(res.output_dir, held.sentence1.tolist(), held.sentence2.tolist())
    print(f"\nrecall@1 of 300 held-out KorSTS paraphrases (score >= 4): {before:.3f} -> {after:.3f}")
    assert after > before + 0.03


# --------------------------------------------------------------------------- resume


class _Interrupt(Exception):
    pass


@pytest.mark.slow
def test_resume_after_interruption_gives_the_same_weights(tiny_model_path, tmp_path, monkeypatch):
    train = _topic_pairs(170)
    kw = dict(
        epochs=2,
        batch_size=8,
        checkpoint_steps=7,
        learning_rate=TINY_LR,
        eval=False,
        threads=1,
        show_progress_bar=False,
    )
    whole = kv.finetune(train, tiny_model_path, output_dir=tmp_path / "whole", **kw)
    per_epoch = whole.recipe["steps_per_epoch"]
    assert per_epoch == -(-len(train) // 8) and whole.recipe["total_steps"] == 2 * per_epoch
    stop = per_epoch + 10  # in epoch 2, a few steps after a checkpoint: a mid-epoch resume
    last_checkpoint = f"checkpoint-{stop // 7 * 7}"

    original = training.thread_trial_callback

    def interrupting(threads):
        inner = original(threads)
        step_end = inner.on_step_end

        def on_step_end(args, state, control, **kwargs):
            step_end(args, state, control, **kwargs)
            if state.global_step == stop:
                raise _Interrupt

        inner.on_step_end = on_step_end
        return inner

    monkeypatch.setattr(training, "thread_trial_callback", interrupting)
    with pytest.raises(_Interrupt):
        kv.finetune(train, tiny_model_path, output_dir=tmp_path / "cut", **kw)
    assert (tmp_path / "cut" / "checkpoints" / last_checkpoint).is_dir()
    monkeypatch.setattr(training, "thread_trial_callback", original)
    with pytest.raises(ValueError, match="made with another data_hash"):  # other data: refused, not mixed
        kv.finetune(train.head(100), tiny_model_path, output_dir=tmp_path / "cut", resume=True, **kw)
    resumed = kv.finetune(train, tiny_model_path, output_dir=tmp_path / "cut", resume=True, **kw)
    assert resumed.resumed_from.endswith(last_checkpoint)
    a, b = _weights(whole.output_dir), _weights(resumed.output_dir)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key].numpy(), b[key].numpy()), key
    # and it did train: the weights moved from the base model's
    base = _weights(tiny_model_path)
    assert any(not np.array_equal(base[k].numpy(), a[k].numpy()) for k in a if k in base)


# --------------------------------------------------------------------------- multi-task


@pytest.mark.slow
def test_multitask_round_robin(tiny_model_path, tmp_path):
    scored = _topic_pairs(120)
    df = kv.datasets.load_sample()
    trip = kv.pairs_from_labels(df.text, df.topic, max_pairs=60)
    res = kv.finetune(
        {"sts": scored, "nli": trip},
        tiny_model_path,
        output_dir=tmp_path / "multi",
        epochs=1,
        learning_rate=TINY_LR,
        show_progress_bar=False,
        cache=None,
    )
    r = res.recipe
    assert r["multi_dataset_batch_sampler"] == "round_robin"
    assert r["losses"]["sts"] == "CosineSimilarityLoss" and r["losses"]["nli"].startswith("MultipleNegatives")
    # the shorter task sets the length: one batch of each in turn
    shortest = min(-(-r["n_train"][k] // r["batch_sizes"][k]) for k in r["n_train"])
    assert r["steps_per_epoch"] == 2 * shortest
    # 10% of 120 would be 12 pairs, too few for a Spearman correlation: 30 held out (a quarter)
    assert res.eval_source == "30 of 'sts' held out" and res.n_eval == 30 and res.after is not None


# --------------------------------------------------------------------------- input checks (fast)


@pytest.mark.parametrize(
    "train, match",
    [
        (pd.DataFrame(), "empty"),
        (pd.DataFrame({"sentence1": [], "sentence2": [], "score": []}), "empty"),
        ([], "empty"),
        (pd.DataFrame({"a": ["x", "y"], "b": ["p", "q"], "c": ["r", "s"], "d": ["t", "u"]}), "columns"),
        (pd.DataFrame({"sentence1": ["가", "나"], "sentence2": ["다", "라"], "score": [1.0, 7.0]}), "between 0 and 5"),
        (pd.DataFrame({"sentence1": ["가", "나"], "sentence2": ["다", "라"], "score": [-0.5, 1.0]}), "between 0 and 5"),
        ([("배송이 늦어요", "배송 지연", 4.0)], "single pair"),
        ([("배송이 늦어요", "배송 지연")], "single pair"),
        ([("배송", "지연"), ("환불", 3)], r"train\[.*1\] is int"),
        (
            pd.DataFrame({"sentence1": ["가", None], "sentence2": ["다", "라"], "score": [1.0, 2.0]}),
            r"\[1\] is missing",
        ),
        (pd.DataFrame({"sentence1": ["가", "나"], "sentence2": ["다", "라"], "score": ["high", 2.0]}), "number"),
        ([("가", "나", "다"), ("라", "마")], "entries"),
        ({}, "empty dict"),
        ("pairs.csv", "DataFrame"),
        (pd.DataFrame({"sentence1": ["가", "나"], "sentence2": ["다", "  "], "score": [1.0, 2.0]}), "empty text"),
    ],
)
def test_bad_train_data_gives_a_clear_error(train, match, tmp_path):
    with pytest.raises((ValueError, TypeError), match=match):
        kv.finetune(train, "unused-model", output_dir=tmp_path / "m")


def test_bad_arguments(tmp_path):
    pairs = [("배송이 늦어요", "배송 지연"), ("환불해 주세요", "반품 처리")]
    scored = [("배송이 늦어요", "배송 지연", 4.0), ("환불해 주세요", "반품 처리", 3.0)]
    with pytest.raises(ValueError, match="loss='cosine' needs scored pairs"):
        kv.finetune(pairs, "unused", output_dir=tmp_path / "m", loss="cosine")
    with pytest.raises(ValueError, match="loss='mnrl'"):
        kv.finetune(scored, "unused", output_dir=tmp_path / "m", loss="mnrl")
    with pytest.raises(ValueError, match="loss must be one of"):
        kv.finetune(pairs, "unused", output_dir=tmp_path / "m", loss="triplet")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        if __import__("torch").cuda.is_available():
            raise ValueError("no CUDA GPU (skipped: this machine has one)")
        kv.finetune(pairs, "unused", output_dir=tmp_path / "m", precision="fp16")
    with pytest.raises(TypeError, match="offline encoder"):
        kv.finetune(pairs, "offline", output_dir=tmp_path / "m")
    with pytest.raises(ValueError, match="eval must be scored pairs"):
        kv.finetune(pairs, "unused", output_dir=tmp_path / "m", eval=pairs)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        kv.finetune(pairs, "unused", output_dir=tmp_path / "file")
    with pytest.raises(ValueError, match="epochs must be"):
        kv.finetune(pairs, "unused", output_dir=tmp_path / "m", epochs=0)


def test_default_recipe_scales_with_data():
    r = default_recipe({"train": 5749}, {"train": "scored"})
    assert r["epochs"] == 5 and r["batch_sizes"] == {"train": 8}
    assert r["warmup_steps"] == 360  # the card: 10% of 5 x 719 steps
    big = default_recipe({"train": 500_000}, {"train": "pairs"})
    assert big["epochs"] == 1 and big["batch_sizes"] == {"train": 64} and big["warmup_steps"] == 360
    small = default_recipe({"train": 100}, {"train": "pairs"})
    assert small["batch_sizes"] == {"train": 12} and small["epochs"] == 5
    assert small["warmup_steps"] == 5  # 10% of 5 x 9 steps
    mid = default_recipe({"train": 20_000}, {"train": "pairs"})
    assert mid["epochs"] == 2


def test_hold_out_is_at_least_30_pairs_and_at_most_a_quarter(caplog):
    """A Spearman correlation on a few pairs means nothing (2 held-out pairs give +-100): the held-out
    share grows from 10% to 30 pairs, up to a quarter of the data; below that no evaluation, one warning."""

    def scored(n):
        return _as_task([(f"문장 {i}", f"다른 문장 {i}", float(i % 6)) for i in range(n)])

    for n, want in ((1000, 100), (300, 30), (200, 30), (120, 30)):
        tasks = [scored(n)]
        held, source = hold_out(tasks, 42)
        assert len(held) == want and len(tasks[0]) == n - want, n
        assert source == ("10% of 'train' held out" if want == n // 10 else f"{want} of 'train' held out")
        assert not set(held.columns["sentence1"]) & set(tasks[0].columns["sentence1"])
    for n in (20, 119):
        tasks = [scored(n)]
        with caplog.at_level("WARNING", logger="kosbert_viz"):
            caplog.clear()
            held, source = hold_out(tasks, 42)
        assert held is None and len(tasks[0]) == n  # every pair trains
        assert source.startswith("none (") and "30" in source
        (record,) = caplog.records
        assert f"{n} scored pairs" in record.message and "at least 30" in record.message and "120" in record.message
    pairs = [_as_task([("가", "나"), ("다", "라")])]
    assert hold_out(pairs, 42) == (None, "none")


def test_finetune_on_20_scored_pairs_reports_no_meaningless_spearman(tiny_model_path, tmp_path, caplog):
    """20 scored pairs used to hold out 2 and report 'cosine Spearman 100.00 -> 100.00'."""
    train = _topic_pairs(20)
    with caplog.at_level("WARNING", logger="kosbert_viz"):
        res = kv.finetune(
            train,
            tiny_model_path,
            output_dir=tmp_path / "small",
            epochs=1,
            learning_rate=TINY_LR,
            show_progress_bar=False,
            cache=None,
            threads=1,
            random_state=0,
        )  # 2 held out: 1.0, 0.0
    assert res.before is None and res.after is None and res.n_eval == 0
    assert res.n_train == {"train": 20}  # nothing held out: every pair trains
    assert "Spearman" not in repr(res) and "100.00" not in repr(res)
    assert res.table.isna().all().all()  # NaN, never 100
    warned = [r.message for r in caplog.records if "held-out evaluation" in r.message]
    assert len(warned) == 1 and "20 scored pairs" in warned[0] and "eval=" in warned[0]
    record = json.loads((Path(res.output_dir) / RECORD_FILE).read_text(encoding="utf-8"))
    assert record["before"] is None and record["after"] is None and record["recipe"]["n_eval"] == 0
    assert "## Evaluation" not in (Path(res.output_dir) / "README.md").read_text(encoding="utf-8")


def test_an_eval_set_too_small_for_a_correlation_is_refused(tmp_path):
    scored = [(f"문장 {i}", f"다른 문장 {i}", float(i % 5)) for i in range(50)]
    with pytest.raises(ValueError, match=r"eval has 12 scored pairs, expected at least 30"):
        kv.finetune(scored, "unused-model", output_dir=tmp_path / "m", eval=scored[:12])


# --------------------------------------------------------------------------- pairs from an analysis


def test_pairs_from_duplicates():
    texts = ["배송이 늦어요", "배송이 늦어요!", "배송 너무 늦음", "환불 언제 되나요", "환불은 언제쯤", "날씨 좋다"]
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    emb = np.stack([centres[0], centres[0], centres[0], centres[1], centres[1], centres[2]])
    emb = emb + 0.01 * rng.normal(size=emb.shape)
    groups = kv.duplicates(emb, texts, threshold=0.9)
    pairs = kv.pairs_from_duplicates(groups, texts)
    assert list(pairs.columns) == ["anchor", "positive"]
    assert len(pairs) == 3  # (3 - 1) + (2 - 1)
    rep_of = {texts[r] for r in groups.representative}
    assert set(pairs.anchor) <= rep_of and not (pairs.anchor == pairs.positive).any()
    assert kv.pairs_from_duplicates(groups).equals(pairs)  # texts from the groups themselves
    with pytest.raises(TypeError, match="kv.duplicates"):
        kv.pairs_from_duplicates(pd.DataFrame({"a": [1]}), texts)
    with pytest.raises(ValueError, match="refers to row"):
        kv.pairs_from_duplicates(groups, texts[:2])


def test_pairs_from_labels_hard_negatives():
    df = kv.datasets.load_sample()
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(len(df), 8)).astype(np.float32)
    trip = kv.pairs_from_labels(df.text, df.topic, embeddings=emb, max_pairs=100, random_state=3)
    assert list(trip.columns) == ["anchor", "positive", "negative"] and len(trip) == 100
    topic = dict(zip(df.text, df.topic))
    assert all(topic[a] == topic[p] for a, p in zip(trip.anchor, trip.positive))
    assert all(topic[a] != topic[n] for a, n in zip(trip.anchor, trip.negative))
    assert not (trip.anchor == trip.positive).any()
    # the negative is the anchor's nearest text of another theme
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    row = {t: i for i, t in enumerate(df.text)}
    topics = df.topic.to_numpy()
    for a, n in zip(trip.anchor[:20], trip.negative[:20]):
        i = row[a]
        others = np.flatnonzero(topics != topics[i])
        assert df.text[others[np.argmax(unit[others] @ unit[i])]] == n
    again = kv.pairs_from_labels(df.text, df.topic, embeddings=emb, max_pairs=100, random_state=3)
    assert again.equals(trip)
    rand = kv.pairs_from_labels(df.text, df.topic, max_pairs=50)
    assert len(rand) == 50 and all(topic[a] != topic[n] for a, n in zip(rand.anchor, rand.negative))
    with pytest.raises(ValueError, match="2 labelled themes"):
        kv.pairs_from_labels(["a", "b"], ["x", "x"])


# --------------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_finetune(tiny_model_path, tmp_path):
    csv = tmp_path / "pairs.csv"
    _topic_pairs(120).to_csv(csv, index=False)
    out = tmp_path / "cli-model"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kosbert_viz",
            "finetune",
            str(csv),
            "--model",
            tiny_model_path,
            "-o",
            str(out),
            "--epochs",
            "1",
            "--batch-size",
            "8",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "modules.json").exists() and (out / RECORD_FILE).exists()
    assert "pearson" in proc.stdout and str(out) in proc.stdout


def test_cli_finetune_errors(tmp_path, capsys):
    from kosbert_viz.cli.main import main

    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": ["x"], "b": ["y"], "c": ["z"], "d": ["w"]}).to_csv(bad, index=False)
    assert main(["finetune", str(bad), "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error: ") and "columns" in err[-1] and len(err) == 2  # "read ..." + the error
    assert main(["finetune", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "m")]) == 2
    assert "error: " in capsys.readouterr().err


# --------------------------------------------------------------------------- notebook


@pytest.mark.slow
def test_notebook_08_on_question_pair_with_the_tiny_model(tiny_model_path, tmp_path):
    """With the shared data (test_notebooks.py runs it on the bundled fallback)."""
    from test_notebooks import execute_notebook

    shared_file("Question_pair", "kor_pair_train.csv")

    nb = execute_notebook(
        ROOT / "notebooks" / "08_domain_adaptation.ipynb",
        tmp_path,
        env={
            "KOSBERT_VIZ_MODEL": tiny_model_path,
            "KOSBERT_VIZ_CACHE": str(tmp_path / "cache"),
            "KOSBERT_VIZ_NOTEBOOK_FAST": "1",
            "KOSBERT_VIZ_DATA": str(SHARED_DATA),
        },
    )
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = "\n".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "stream"
    )
    assert "F1 before" in text and "Question_pair: " + str(SHARED_DATA / "Question_pair") in text
    assert (tmp_path / "ko-sbert-question-pair" / "modules.json").exists()


def test_a_folder_of_the_users_is_never_cleared(tmp_path):
    """output_dir with other files (a project folder, a checkpoints/ of the user's) is refused before any
    model is loaded, and nothing in it is touched."""
    import kosbert_viz as kv

    own = tmp_path / "project"
    (own / "checkpoints").mkdir(parents=True)
    (own / "checkpoints" / "my-notes.txt").write_text("keep me", encoding="utf-8")
    pairs = [("배송이 늦어요", "배송 지연"), ("환불 해주세요", "환불 요청"), ("앱이 꺼져요", "앱 오류")]
    with pytest.raises(FileExistsError, match="not a kosbert_viz model"):
        kv.finetune(pairs, "no-such-model", output_dir=own)
    assert (own / "checkpoints" / "my-notes.txt").read_text(encoding="utf-8") == "keep me"
