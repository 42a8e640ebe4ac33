"""encode(): the fast path, its fallback, inputs and errors, through the tiny ko-sbert-shaped model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import cosine_rows

import kosbert_viz as kv
from kosbert_viz.embed import engine as _fastpath

EDGE = ["", "   ", "  앞뒤 공백이 있는 문장  ", "ㅋㅋㅋㅋ", "배송 개빠름👍", "앱 update 후 login 안 됨", "가" * 400]


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def texts(sample):
    return list(sample.text) + EDGE


@pytest.fixture(scope="module")
def st_model(tiny_model_path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(tiny_model_path, device="cpu")


def test_fast_path_matches_sentence_transformers(tiny_model_path, st_model, texts):
    ours = kv.encode(texts, tiny_model_path, device="cpu", precision="fp32", cache=None)  # st_model runs on the CPU
    ref = st_model.encode(texts, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert cosine_rows(ours, ref).min() >= 0.9999
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_fast_path_equals_fallback(tiny_model_path, texts, monkeypatch):
    fast = kv.encode(texts, tiny_model_path, precision="fp32", cache=None)
    monkeypatch.setattr(_fastpath, "fast_path_supported", lambda model: False)
    slow = kv.encode(texts, tiny_model_path, precision="fp32", cache=None)
    assert cosine_rows(fast, slow).min() >= 0.9999


def test_order_kept_under_shuffled_lengths(tiny_model_path, texts):
    rng = np.random.default_rng(0)
    shuffled = [texts[i] for i in rng.permutation(len(texts))]
    batch = kv.encode(shuffled, tiny_model_path, cache=None, token_budget=256)
    one_by_one = np.stack([kv.encode(t, tiny_model_path, cache=None) for t in shuffled[:40]])
    np.testing.assert_allclose(batch[:40], one_by_one, atol=1e-5)


def test_batch_size_and_token_budget_give_same_vectors(tiny_model_path, texts):
    a = kv.encode(texts, tiny_model_path, cache=None, batch_size=7)
    b = kv.encode(texts, tiny_model_path, cache=None, token_budget=100_000)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_single_string_gives_vector_and_empty_gives_empty(tiny_model_path):
    v = kv.encode("배송이 빨라요", tiny_model_path, cache=None)
    assert v.shape == (32,) and v.dtype == np.float32
    e = kv.encode([], tiny_model_path, cache=None)
    assert e.shape == (0, 32) and e.dtype == np.float32


def test_generator_and_series_inputs(tiny_model_path, sample):
    ref = kv.encode(list(sample.text), tiny_model_path, cache=None)
    gen = kv.encode((t for t in sample.text), tiny_model_path, cache=None)
    ser = kv.encode(sample.text, tiny_model_path, cache=None)
    np.testing.assert_array_equal(ref, gen)
    np.testing.assert_array_equal(ref, ser)


def test_memmap_output(tiny_model_path, sample, tmp_path):
    texts = list(sample.text)
    out = np.lib.format.open_memmap(tmp_path / "emb.npy", mode="w+", dtype=np.float32, shape=(len(texts), 32))
    res = kv.encode(iter(texts), tiny_model_path, cache=None, out=out)
    assert res is out
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "emb.npy"), kv.encode(texts, tiny_model_path, cache=None), atol=1e-6)
    with pytest.raises(ValueError, match="rows"):
        kv.encode(texts[:3], tiny_model_path, cache=None, out=np.zeros((5, 32), np.float32))
    with pytest.raises(ValueError, match="float32"):
        kv.encode(texts[:3], tiny_model_path, cache=None, out=np.zeros((3, 32), np.float64))


def test_repeated_texts_are_encoded_once(tiny_model_path, sample):
    texts = list(sample.text[:50]) * 3
    emb = kv.encode(texts, tiny_model_path, cache=None)
    assert kv.encode.last_stats["encoded"] == 50
    np.testing.assert_array_equal(emb[:50], emb[50:100])


def test_truncation_warns_once_with_count(tiny_model_path):
    long = ["배송 " * 200, "환불 " * 300, "짧은 문장"]
    with pytest.warns(UserWarning, match=r"2 of 3 encoded texts are longer than max_seq_length=64"):
        kv.encode(long, tiny_model_path, cache=None)


def test_oom_backoff_completes_with_identical_output(tiny_model_path, texts, monkeypatch, caplog):
    import torch

    ref = kv.encode(texts, tiny_model_path, precision="fp32", cache=None)  # batches (and their back-off): torch's
    enc = kv.load_encoder(tiny_model_path, precision="fp32")
    real_forward = type(enc.model).forward
    calls = {"oom": 0}

    def forward(self, features, *a, **kw):
        ids = features["input_ids"]
        if ids.shape[0] * ids.shape[1] > 300:
            calls["oom"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, features, *a, **kw)

    monkeypatch.setattr(type(enc.model), "forward", forward)
    with caplog.at_level("WARNING", logger="kosbert_viz"):
        got = kv.encode(texts, tiny_model_path, precision="fp32", cache=None, token_budget=4096)
    assert calls["oom"] >= 1
    assert sum("halving the token budget" in r.message for r in caplog.records) == 1
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (None, TypeError, "iterable of str, got NoneType"),
        (42, TypeError, "iterable of str"),
        (b"bytes", TypeError, "iterable of str"),
        (["ok", None], TypeError, r"texts\[1\] is missing \(None/NaN/pd.NA\), expected str.*dropna"),
        (["ok", float("nan")], TypeError, r"texts\[1\] is missing \(None/NaN/pd.NA\), expected str"),
        (["ok", 3], TypeError, r"texts\[1\] is int, expected str"),
        (np.array([["a", "b"]]), ValueError, "one-dimensional"),
    ],
)
def test_bad_inputs_raise_clear_errors(tiny_model_path, bad, err, match):
    with pytest.raises(err, match=match):
        kv.encode(bad, tiny_model_path, cache=None)


def test_bad_options(tiny_model_path):
    with pytest.raises(ValueError, match="precision must be one of"):
        kv.encode(["a"], tiny_model_path, precision="int4", cache=None)
    if not _has_cuda():
        with pytest.raises(ValueError, match="torch.cuda.is_available"):
            kv.encode(["a"], tiny_model_path, device="cuda", cache=None)
    with pytest.raises(TypeError, match="cache must be"):
        kv.encode(["a"], tiny_model_path, cache=3.5)
    with pytest.raises(TypeError, match="model must be"):
        kv.encode(["a"], model=3.5)


def test_unloadable_model_raises_one_clear_error(tmp_path):
    with pytest.raises(kv.ModelLoadError) as info:
        kv.encode(["배송"], "nobody-here/no-such-model", cache=None)
    msg = str(info.value)
    assert "no-such-model" in msg and "Tried" in msg and "HF_HUB_OFFLINE=1" in msg
    assert "KOSBERT_VIZ_MODEL" in msg and "local copy" in msg
    with pytest.raises(kv.ModelLoadError, match="does not exist"):
        kv.encode(["배송"], str(tmp_path / "missing-folder"), cache=None)


def test_default_model_is_ko_sbert_and_never_swapped(monkeypatch):
    from kosbert_viz.embed.models import resolve_model_name

    assert resolve_model_name(None) == ("jhgan/ko-sbert-multitask", "the default")
    monkeypatch.setenv("KOSBERT_VIZ_MODEL", "/models/x")
    assert resolve_model_name(None) == ("/models/x", "$KOSBERT_VIZ_MODEL")
    assert resolve_model_name("y")[0] == "y"
    monkeypatch.delenv("KOSBERT_VIZ_MODEL")
    # offline: the default cannot load, and encode() says so instead of using another model
    with pytest.raises(kv.ModelLoadError, match="jhgan/ko-sbert-multitask"):
        kv.encode(["배송"], cache=None)


def test_env_model_is_used(tiny_model_path, monkeypatch):
    monkeypatch.setenv("KOSBERT_VIZ_MODEL", tiny_model_path)
    assert kv.encode(["배송"], cache=None).shape == (1, 32)


def test_device_auto_selects_cpu_here():
    import torch

    from kosbert_viz.embed.models import select_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        expected = "mps"
    assert select_device(None) == expected


def test_import_is_light():
    code = (
        "import sys, kosbert_viz as kv; kv.datasets.load_sample(); "
        "print(sorted(m for m in ('torch', 'umap', 'plotly', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_offline_encoder_is_explicit(offline_encoder):
    v = kv.encode(["배송이 빨라요", "택배가 빨리 왔어요", "주식이 떨어졌어요"], offline_encoder, cache=None)
    assert v.shape == (3, 512)
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2]  # real semantics: delivery ~ delivery
    assert kv.load_encoder("offline").name == offline_encoder.name
    # a precision it cannot give is refused, not ignored
    assert kv.load_encoder("offline", precision="fp32") is kv.load_encoder("offline")
    with pytest.raises(ValueError, match="computes in fp32 only, got precision='fp16'"):
        kv.encode(["배송"], model="offline", precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        kv.encode(["배송"], model="offline", precision="foo")


def test_several_devices_keep_order_and_vectors(tiny_model_path, sample):
    texts = list(sample.text)
    one = kv.encode(texts, tiny_model_path, cache=None, device="cpu")
    two = kv.encode(texts, tiny_model_path, cache=None, device=["cpu", "cpu"])
    np.testing.assert_array_equal(one, two)
    assert (
        kv.load_encoder(tiny_model_path, device=["cpu", "cpu"]).fingerprint
        == kv.load_encoder(tiny_model_path, device="cpu").fingerprint
    )
    with pytest.raises(ValueError, match="device list is empty"):
        kv.encode(texts[:2], tiny_model_path, cache=None, device=[])


def test_partial_cache_hits_give_bit_identical_vectors(tiny_model_path, sample, tmp_path):
    """fp32 padding depends only on each text's own length, so batch company never matters."""
    texts = list(sample.text)
    cold = kv.encode(texts, tiny_model_path, cache=None)
    kv.encode(texts[::3], tiny_model_path, cache=tmp_path)
    mixed = kv.encode(texts, tiny_model_path, cache=tmp_path)
    assert kv.encode.last_stats["hits"] == len(texts[::3])
    np.testing.assert_array_equal(mixed, cold)


def test_rust_tokenizer_copy_gives_the_wrappers_ids(tiny_model_path, texts):
    enc = kv.load_encoder(tiny_model_path)
    wrapper = enc.model[0].tokenizer
    fast = _fastpath._FastTokenizer(wrapper, 64)
    assert fast.backend is not None  # the fast copy is really used for a BERT WordPiece tokenizer
    ids, truncated = fast._backend_ids(texts)
    ref, ref_truncated = fast._wrapper_ids(texts)
    assert ids == ref and truncated == ref_truncated >= 1  # EDGE holds a text past 64 tokens
    assert wrapper.backend_tokenizer.truncation is None  # the model's own tokenizer is left as it was


def test_small_pieces_give_bit_identical_vectors(tiny_model_path, texts, monkeypatch):
    """Tokenizing piece by piece in the background thread changes no vector and no count."""
    whole = kv.encode(texts, tiny_model_path, cache=None)
    truncated = kv.encode.last_stats["truncated"]
    monkeypatch.setattr(_fastpath, "_PIECE", 37)
    pieces = kv.encode(texts, tiny_model_path, cache=None)
    np.testing.assert_array_equal(pieces, whole)
    assert kv.encode.last_stats["truncated"] == truncated >= 1


def test_wrapper_tokenizer_is_used_when_the_copy_disagrees(tiny_model_path, texts, monkeypatch):
    ref = kv.encode(texts, tiny_model_path, cache=None)
    enc = kv.load_encoder(tiny_model_path)
    monkeypatch.setattr(_fastpath._FastTokenizer, "_backend_ids", lambda self, t: ([[0]] * len(t), 0))
    monkeypatch.setattr(enc, "_fast_tokenizer", None, raising=False)
    got = kv.encode(texts, tiny_model_path, cache=None)
    assert enc._fast_tokenizer.backend is None
    np.testing.assert_array_equal(got, ref)


def test_loaded_model_precision_is_its_own(st_model):
    enc = kv.load_encoder(st_model)
    assert enc.precision == "fp32" and enc.device == "cpu"
    with pytest.raises(ValueError, match="weights are fp32, got precision='fp16'"):
        kv.load_encoder(st_model, precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        kv.load_encoder(st_model, precision="int4")


def test_thread_tuner_keeps_the_faster_count_and_rechecks():
    tuner = _fastpath._ThreadTuner(2, lambda t: applied.append(t), recheck_s=3600, trial_after_s=0)
    applied = []
    speed = {1: 0.01, 2: 0.25}  # seconds per batch: 1 thread 25x faster

    def batch():
        tuner.before()
        tuner.after(tokens=1000, seconds=speed[tuner.current])
        return tuner.current

    assert batch() == 2 and not tuner.rates  # warm-up: not measured
    assert [batch(), batch()] == [2, 1] and 1 not in tuner.rates  # the first batch after a switch: not measured
    assert batch() == 1 and tuner.best == 1
    assert [batch(), batch()] == [1, 1]  # kept until the next check
    speed = {1: 0.01, 2: 0.004}  # the other process has gone: 2 threads win now
    assert batch() == 1  # the kept count's latest rate is measured
    tuner.next_trial = 0  # time for a check: the other count, one settling batch and one measured
    assert [batch(), batch()] == [2, 2] and tuner.best == 2
    speed = {1: 0.01, 2: 0.25}
    batch()
    tuner.next_trial = 0
    assert [batch(), batch(), batch()] == [1, 1, 1] and tuner.best == 1 and tuner.applied == 1
    tuner.restore()
    assert applied[-1] == 2 and tuner.applied == 2  # the caller's count comes back


def test_thread_tuner_runs_no_trial_in_a_short_run():
    tuner = _fastpath._ThreadTuner(2, lambda t: None, trial_after_s=5.0)
    for _ in range(8):  # 8 batches of 0.5 s: the trial starts once 5 s of encoding have passed
        tuner.before()
        assert tuner.current == 2
        tuner.after(tokens=1000, seconds=0.5)
    for _ in range(4):
        tuner.before()
        tuner.after(tokens=1000, seconds=0.5)
    assert 1 in tuner.trials or 1 in tuner.rates


def test_thread_tuner_keeps_the_callers_count_on_a_near_tie():
    """Batches of other lengths differ by some percent at the same speed: that is no reason to switch."""
    tuner = _fastpath._ThreadTuner(2, lambda t: None, recheck_s=0, trial_after_s=0)
    speed = {1: 0.095, 2: 0.1}  # 1 thread 5% faster on these batches: within the margin
    for _ in range(12):
        tuner.before()
        tuner.after(tokens=1000, seconds=speed[tuner.current])
    assert tuner.best == 2
    speed = {1: 0.05, 2: 0.1}  # 1 thread twice as fast: chosen at the next check
    for _ in range(6):
        tuner.before()
        tuner.after(tokens=1000, seconds=speed[tuner.current])
    assert tuner.best == 1


def test_thread_count_trial_changes_no_vector(tmp_path, texts):
    import torch
    from tiny_model import build_tiny_model

    # BERT-base widths (768 hidden, 3072 FFN), so the matrix products really run on several threads
    path = str(
        build_tiny_model(
            tmp_path / "wide", hidden_size=768, num_layers=1, num_heads=12, intermediate_size=3072, max_seq_length=64
        )
    )
    before = torch.get_num_threads()
    enc = kv.load_encoder(path, device="cpu", precision="fp32")  # the thread trial is the fp32 path's
    try:
        torch.set_num_threads(1)
        one = kv.encode(texts, enc, cache=None, token_budget=2048)
        torch.set_num_threads(2)
        enc._thread_tuner = _fastpath._ThreadTuner(2, torch.set_num_threads, trial_after_s=0)  # trial at once
        tuned = kv.encode(texts, enc, cache=None, token_budget=2048)  # warm-up, then 2 and 1 threads
        assert enc._thread_tuner.options == [2, 1] and set(enc._thread_tuner.rates) == {1, 2}
        assert torch.get_num_threads() == 2  # the caller's setting comes back
        # 1 and 2 threads may split a matrix product's sums differently: last-bit differences only
        # (bit-identical in earlier runs; 2.4e-7 on one text of 487 with the 2026-12 package set)
        np.testing.assert_allclose(tuned, one, rtol=0, atol=1e-6)
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU (bench_encode.py --device cuda ran it on an H200)")
def test_cuda_path_matches_cpu_across_pieces(tiny_model_path, texts, monkeypatch):
    """Pinned uploads, device-side padding, one copy back per piece, collected one piece late."""
    cpu = kv.encode(texts, tiny_model_path, device="cpu", cache=None)
    monkeypatch.setattr(_fastpath, "_PIECE", 37)
    fp32 = kv.encode(texts, tiny_model_path, device="cuda", precision="fp32", cache=None)
    fp16 = kv.encode(texts, tiny_model_path, device="cuda", cache=None)
    np.testing.assert_allclose(fp32, cpu, atol=1e-4)
    assert cosine_rows(fp16, cpu).min() >= 0.999


def test_a_loaded_model_is_set_up_once_and_not_kept_alive(tiny_model_path):
    import gc
    import weakref

    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(tiny_model_path, device="cpu")
    assert kv.load_encoder(st) is kv.load_encoder(st)  # no fingerprint / tokenizer / tuner set-up per call
    kv.encode(["배송"], st, cache=None)
    ref = weakref.ref(st)
    del st
    gc.collect()
    assert ref() is None


def test_passed_in_encoder_applies_normalize_and_refuses_conflicting_options(tiny_model_path, tmp_path):
    """Issue 12: options given with an encoder object are applied or refused, never dropped."""
    texts = ["배송이 빨라요", "환불이 늦어요", "앱이 꺼져요"]
    enc = kv.load_encoder(tiny_model_path, device="cpu", precision="fp32")
    raw = kv.encode(texts, enc, cache=tmp_path)  # default options: the encoder as it is
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    unit = kv.encode(texts, enc, normalize=True, cache=tmp_path)  # used to return `raw` (and its cache entries)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    assert kv.encode.last_stats["hits"] == 0  # its own cache fingerprint, not the raw vectors'
    assert not enc.normalize and kv.load_encoder(enc, normalize=True) is kv.load_encoder(enc, normalize=True)
    np.testing.assert_array_equal(kv.encode(texts, enc, cache=None), raw)  # the object itself is unchanged
    np.testing.assert_array_equal(kv.encode(texts, enc, device="cpu", precision="fp32", cache=None), raw)
    with pytest.raises(ValueError, match=r"got device='cuda:1', but the SentenceTransformerEncoder .* runs on 'cpu'"):
        kv.encode(texts, enc, device="cuda:1", cache=None)
    with pytest.raises(ValueError, match=r"got precision='fp16', but the SentenceTransformerEncoder .* 'fp32'"):
        kv.encode(texts, enc, precision="fp16", cache=None)
    with pytest.raises(ValueError, match=r"got device=\['cpu', 'cpu'\]"):
        kv.encode(texts, enc, device=["cpu", "cpu"], cache=None)
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(tiny_model_path, device="cpu")
    with pytest.raises(ValueError, match=r"the SentenceTransformer is on 'cpu', got device='cuda:1'"):
        kv.encode(texts, st, device="cuda:1", cache=None)
