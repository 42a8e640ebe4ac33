"""precision="int8": the transformer exported to ONNX Runtime with int8 weights (CPU only, opt-in)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import cosine_rows

import kosbert_viz as kv

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def texts(sample):
    return list(sample.text) + ["", "  ", "앱 update 후 login 안 됨", "가" * 400]


def test_int8_vectors_are_close_to_fp32_and_cached_apart(tiny_model_path, texts, tmp_path):
    fp32 = kv.encode(texts, tiny_model_path, cache=tmp_path)
    int8 = kv.encode(texts, tiny_model_path, precision="int8", cache=tmp_path)
    assert kv.encode.last_stats["hits"] == 0  # int8 vectors never answer for fp32 ones, nor the reverse
    assert int8.dtype == np.float32 and int8.shape == fp32.shape
    assert cosine_rows(int8, fp32).min() >= 0.999
    assert not np.array_equal(int8, fp32)  # really another engine
    enc = kv.load_encoder(tiny_model_path, precision="int8")
    assert enc.precision == "int8" and enc.fingerprint != kv.load_encoder(tiny_model_path).fingerprint
    report = enc.onnx.report
    assert report["min_cosine_vs_fp32_on_probes"] >= 0.999
    assert report["fused_operators"].get("Attention", 0) >= 1  # ONNX Runtime fused the BERT attention
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
