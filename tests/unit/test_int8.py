"""int8: the transformer exported to ONNX Runtime with int8 weights (the CPU default, precision="auto")."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pytest
from conftest import cosine_rows

import kosbert_viz as kv
from kosbert_viz.embed import engine as _fastpath
from kosbert_viz.embed import models

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def texts(sample):
    return list(sample.text) + ["", "  ", "앱 update 후 login 안 됨", "가" * 400]


def test_int8_vectors_are_close_to_fp32_and_cached_apart(tiny_model_path, texts, tmp_path, monkeypatch):
    fp32 = kv.encode(texts, tiny_model_path, precision="fp32", cache=tmp_path)
    int8 = kv.encode(texts, tiny_model_path, precision="int8", cache=tmp_path)
    assert kv.encode.last_stats["hits"] == 0  # int8 vectors never answer for fp32 ones, nor the reverse
    assert int8.dtype == np.float32 and int8.shape == fp32.shape
    assert cosine_rows(int8, fp32).min() >= 0.999
    assert not np.array_equal(int8, fp32)  # really another engine
    enc = kv.load_encoder(tiny_model_path, precision="int8")
    assert enc.precision == "int8" and enc.fingerprint != kv.load_encoder(tiny_model_path, precision="fp32").fingerprint
    report = enc.onnx.report
    assert report["min_cosine_vs_fp32_on_probes"] >= 0.999
    assert report["fused_operators"].get("Attention", 0) >= 1  # ONNX Runtime fused the BERT attention
    # the export keeps residual add and layer norm apart (fused they cost a quarter of a text's time;
    # kosbert_viz/embed/onnx.py), also in the session's own optimised graph, and keys the cache by its format
    import onnx
    import onnxruntime as ort

    from kosbert_viz.embed.onnx import EXPORT_FORMAT, _session

    assert report["format"] == EXPORT_FORMAT and enc.details["int8_export_format"] == EXPORT_FORMAT
    ops = {n.op_type for n in onnx.load(str(enc.onnx.path)).graph.node}
    assert "SkipLayerNormalization" not in ops and "MatMulInteger" in ops and "DequantizeLinear" not in ops
    opts_path = tmp_path / "optimised.onnx"
    real_session = ort.InferenceSession

    def saving(path, opts, **kw):  # the session writes the graph it optimised
        opts.optimized_model_filepath = str(opts_path)
        return real_session(path, opts, **kw)

    monkeypatch.setattr(ort, "InferenceSession", saving)
    _session(enc.onnx.path, 1)
    assert "SkipLayerNormalization" not in {n.op_type for n in onnx.load(str(opts_path)).graph.node}
    again = kv.encode(texts, tiny_model_path, precision="int8", cache=tmp_path)
    assert kv.encode.last_stats["hits"] == kv.encode.last_stats["total"] - kv.encode.last_stats["dup"]
    np.testing.assert_array_equal(again, int8)


def test_export_is_kept_on_disk_and_reused(tiny_model_path, tmp_path):
    from kosbert_viz.embed.onnx import OnnxInt8Transformer

    enc = kv.load_encoder(tiny_model_path, precision="int8")
    first = OnnxInt8Transformer(enc.model, enc.fingerprint, root=tmp_path)
    assert first.built and first.path.exists() and (first.folder / "report.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == [enc.fingerprint]  # no temporary folder left
    stamp = first.path.stat().st_mtime_ns
    second = OnnxInt8Transformer(enc.model, enc.fingerprint, root=tmp_path)
    assert not second.built and second.path.stat().st_mtime_ns == stamp
    (first.folder / "report.json").unlink()  # an incomplete folder (a crash, a deleted file) is rebuilt
    third = OnnxInt8Transformer(enc.model, enc.fingerprint, root=tmp_path)
    assert third.built and (third.folder / "report.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == [enc.fingerprint]


def test_export_of_another_model_is_not_reused(tiny_model_path, tmp_path):
    """The folder is named by the fingerprint; a changed in-memory model is caught by the probe check."""
    import torch
    from sentence_transformers import SentenceTransformer

    from kosbert_viz.embed.onnx import OnnxInt8Transformer

    st = SentenceTransformer(tiny_model_path, device="cpu")
    OnnxInt8Transformer(st, "same-name", root=tmp_path)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in st[0].auto_model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # "fine-tuned" in memory, same name
    again = OnnxInt8Transformer(st, "same-name", root=tmp_path)
    assert again.built and again.report["min_cosine_vs_fp32_on_probes"] >= 0.99


def test_int8_of_a_loaded_model_and_clear_errors(tiny_model_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    from kosbert_viz.embed.models import resolve_precision

    st = SentenceTransformer(tiny_model_path, device="cpu")
    enc = kv.load_encoder(st, precision="int8")
    assert enc.precision == "int8" and enc.onnx is not None
    with pytest.raises(ValueError, match="int8' runs on the CPU through ONNX Runtime, got device 'cuda'"):
        resolve_precision("int8", "cuda")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    from kosbert_viz.embed.onnx import _require

    with pytest.raises(ImportError, match=r"kosbert_viz\[onnx\]"):
        _require()


# ----------------------------------------------------------------------------------------------------
# int8 as the CPU default (precision="auto")
# ----------------------------------------------------------------------------------------------------


def test_the_cpu_default_is_int8_close_to_fp32_and_said_once(tiny_model_path, texts, caplog):
    from kosbert_viz.embed import onnx

    onnx._ANNOUNCED.clear()
    models._LOADED.clear()
    with caplog.at_level("WARNING", logger="kosbert_viz"):
        default = kv.encode(texts, tiny_model_path, cache=None)
        kv.encode(texts[:5], tiny_model_path, cache=None)
    said = [r.getMessage() for r in caplog.records if "ONNX Runtime int8" in r.getMessage()]
    assert len(said) == 1 and "precision='fp32'" in said[0] and "min cosine" in said[0]
    enc = kv.load_encoder(tiny_model_path)
    assert enc.precision == "int8" and enc.backend == "onnxruntime int8 dynamic"
    fp32 = kv.encode(texts, tiny_model_path, precision="fp32", cache=None)
    assert cosine_rows(default, fp32).min() >= 0.999
    assert enc.onnx.report["speedup_vs_fp32_on_probes"] > 0
    from kosbert_viz.maps.manifest import build_manifest

    manifest = build_manifest(encoder=enc)["model"]
    assert manifest["precision"] == "int8" and manifest["backend"] == "onnxruntime int8 dynamic"
    assert manifest["int8_export"]["min_cosine_vs_fp32_on_probes"] >= 0.999


def test_a_texts_int8_vector_does_not_depend_on_its_batch_or_the_worker_count(tiny_model_path, texts, tmp_path):
    """Dynamic int8 scales by the whole input: each text runs alone, so the cache's promise holds."""
    from kosbert_viz.embed.engine import encode_sentence_transformer
    from kosbert_viz.embed.onnx_runner import OnnxRunner

    enc = kv.load_encoder(tiny_model_path)
    assert enc.precision == "int8"
    together = kv.encode(texts, enc, cache=None)
    alone = np.vstack([kv.encode([t], enc, cache=None) for t in texts[::37]])
    np.testing.assert_array_equal(alone, together[::37])
    cold = kv.encode(texts, enc, cache=tmp_path)
    warm_partial = kv.encode(texts[::2] + ["새로 들어온 문장"], enc, cache=tmp_path)
    np.testing.assert_array_equal(cold, together)
    np.testing.assert_array_equal(warm_partial[:-1], together[::2])

    tok = enc.model[0].tokenizer(texts, truncation=True, max_length=enc.max_seq_length)["input_ids"]
    piece = _fastpath._Tokenized(tok, 0)
    for workers in (1, 2, 3):  # more workers than cores too: the same rows
        out = np.full((len(texts), enc.dim), np.nan, np.float32)
        OnnxRunner(enc, workers=workers).run(piece, out)
        np.testing.assert_array_equal(out, together)
    assert encode_sentence_transformer(enc, []).shape == (0, enc.dim)


def test_the_int8_runner_reports_progress_and_passes_a_workers_failure_on(tiny_model_path, texts, monkeypatch):
    from tqdm import tqdm

    from kosbert_viz.embed import onnx_runner

    enc = kv.load_encoder(tiny_model_path)
    tok = enc.model[0].tokenizer(texts, truncation=True, max_length=enc.max_seq_length)["input_ids"]
    piece = _fastpath._Tokenized(tok, 0)
    bar = tqdm(total=len(texts), file=io.StringIO())
    onnx_runner.OnnxRunner(enc, progress=bar, workers=2).run(piece, np.empty((len(texts), enc.dim), np.float32))
    assert bar.n == len(texts)
    calls = {"n": 0}
    real = onnx_runner.sentence_vector

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 40:
            raise MemoryError("out of memory in the 40th text")
        return real(*a, **k)

    monkeypatch.setattr(onnx_runner, "sentence_vector", failing)
    with pytest.raises(MemoryError, match="40th text"):
        onnx_runner.OnnxRunner(enc, workers=2).run(piece, np.empty((len(texts), enc.dim), np.float32))
    assert calls["n"] < len(texts)  # the other worker stopped too


def test_auto_falls_back_to_fp32_with_one_warning(tiny_model_path, texts, monkeypatch, tmp_path):
    """An export that fails, or int8 vectors too far from fp32: fp32, said once; precision='int8' still raises."""
    import torch

    from kosbert_viz.embed import onnx

    models._LOADED.clear()
    monkeypatch.setattr(onnx, "AUTO_MIN_COSINE", 1.000001)  # no int8 vector can be this close
    with pytest.warns(RuntimeWarning, match="encoding .* in fp32 on the CPU.*too far from fp32") as caught:
        enc = kv.load_encoder(tiny_model_path)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert enc.precision == "fp32" and enc.onnx is None
    np.testing.assert_array_equal(
        kv.encode(texts, enc, cache=None), kv.encode(texts, tiny_model_path, precision="fp32", cache=None)
    )
    models._LOADED.clear()
    monkeypatch.setenv("KOSBERT_VIZ_CACHE", str(tmp_path))  # no export on disk yet

    def unexportable(*a, **k):
        raise RuntimeError("Exporting the operator 'aten::fancy_attention' to ONNX opset version 17 is not supported")

    monkeypatch.setattr(torch.onnx, "export", unexportable)
    with pytest.warns(RuntimeWarning, match="could not be exported to ONNX"):
        assert kv.load_encoder(tiny_model_path).precision == "fp32"
    with pytest.raises(ValueError, match="could not be exported to ONNX"):
        kv.load_encoder(tiny_model_path, precision="int8")
    models._LOADED.clear()


def test_an_export_killed_midway_leaves_nothing_half_written(tiny_model_path, tmp_path, monkeypatch):
    """A real process killed (os._exit) while quantising: no model folder; the next load exports it whole."""
    import subprocess
    import textwrap

    script = textwrap.dedent(
        f"""
        import os
        import onnxruntime.quantization as q
        def killed(*a, **k):
            os._exit(9)
        q.quantize_dynamic = killed
        import kosbert_viz as kv
        kv.load_encoder({tiny_model_path!r})
        """
    )
    env = dict(os.environ, KOSBERT_VIZ_CACHE=str(tmp_path), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]
    root = tmp_path / "onnx"
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == []  # only a hidden temporary folder
    models._LOADED.clear()
    monkeypatch.setenv("KOSBERT_VIZ_CACHE", str(tmp_path))
    enc = kv.load_encoder(tiny_model_path)
    assert enc.precision == "int8" and enc.onnx.folder.parent == root and (enc.onnx.folder / "report.json").exists()
    models._LOADED.clear()


@pytest.mark.slow
def test_int8_keeps_korsts_spearman_within_half_a_point(tiny_model_path):
    """KorSTS test split through kv.sts: the default CPU path's Spearman within 0.5 point of fp32's."""
    from conftest import shared_file

    from kosbert_viz import evaluate

    pairs = evaluate.load_korsts(shared_file("KorNLUDatasets", "KorSTS", "sts-test.tsv").parent, split="test")
    s1, s2, gold = pairs.sentence1.tolist(), pairs.sentence2.tolist(), pairs.score.tolist()
    fp32 = kv.sts(s1, s2, gold, model=tiny_model_path, precision="fp32", cache=None)
    int8 = kv.sts(s1, s2, gold, model=tiny_model_path, cache=None)
    assert kv.load_encoder(tiny_model_path).precision == "int8"
    assert abs(int8["spearman_cosine"] - fp32["spearman_cosine"]) <= 0.5


def test_cache_info_counts_the_int8_exports_and_clear_removes_them(tiny_model_path, tmp_path, monkeypatch, capsys):
    from kosbert_viz.cli.main import main

    monkeypatch.setenv("KOSBERT_VIZ_CACHE", str(tmp_path))
    models._LOADED.clear()
    kv.encode(["배송이 늦어요"], tiny_model_path)  # the CPU default exports the model once
    assert main(["cache", "info", "--json"]) == 0
    exports = json.loads(capsys.readouterr().out)["int8_exports"]
    assert exports["exports"] == 1 and exports["bytes"] > 0 and exports["path"] == str(tmp_path / "onnx")
    assert main(["cache", "info"]) == 0
    assert "int8 exports (the CPU default's models, made once each): 1," in capsys.readouterr().out
    other = tmp_path / "another-cache"
    assert main(["cache", "clear", "--cache-dir", str(other)]) == 0  # another folder: the exports stay
    assert "int8 exports kept" in capsys.readouterr().out and any((tmp_path / "onnx").iterdir())
    assert main(["cache", "clear"]) == 0
    assert "removed 1 int8 exports" in capsys.readouterr().out
    assert not any((tmp_path / "onnx").iterdir())
    models._LOADED.clear()
    assert kv.load_encoder(tiny_model_path).onnx.built  # made again on next use
    models._LOADED.clear()
