"""int8 on the CPU: the model's transformer run by ONNX Runtime with int8 weights.

This is the CPU default (``precision="auto"``). On a 2-core CPU it ran a ko-sbert-shaped
BERT-base several times faster than ``SentenceTransformer.encode`` at its best thread count,
with per-vector cosine >= 0.999 against fp32 (``benchmarks/bench_encode_cpu.py``). The vectors
differ slightly from fp32, so they are cached apart from fp32 ones, and ``precision="fp32"``
gives the exact ones:

>>> emb = kv.encode(texts)                        # on a CPU: int8 through ONNX Runtime
>>> emb = kv.encode(texts, precision="fp32")      # exact fp32 (PyTorch)

The first use exports the transformer (eager attention, which ONNX Runtime's BERT optimiser
fuses), fuses it and quantises its weights to int8 (dynamic quantisation: no calibration
data); the files are kept under ``$KOSBERT_VIZ_CACHE/onnx/<fingerprint>``, written to a
temporary folder and renamed (a killed export leaves nothing half-written), and reused. The
model's own pooling / normalise / dense modules still run in PyTorch. Each export is checked
against PyTorch fp32 on probe texts: ``precision="auto"`` keeps int8 only at cosine >=
:data:`AUTO_MIN_COSINE` on every probe, else it encodes in fp32 with one warning; an explicit
``precision="int8"`` warns below :data:`MIN_COSINE`.

Why ONNX Runtime int8 dynamic (``benchmarks/bench_encode_cpu_backends.py``): of the backends
measured (ONNX Runtime fp32 and int8, OpenVINO fp32, bf16, int8 weight-only and int8 static),
it is the one that is fast, needs no calibration data, exports in seconds and ships as one
small wheel; OpenVINO's static int8 ran about 1.3x faster still, but needs a calibration pass
(30 s at export) and about ten times the install.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import secrets
import shutil
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz._util.extras import package_version, require

if TYPE_CHECKING:
    import onnxruntime as ort

logger = logging.getLogger("kosbert_viz")

MIN_COSINE = 0.99  # below this on the probe texts an explicit precision="int8" export is reported as lossy
AUTO_MIN_COSINE = 0.999  # precision="auto" keeps int8 only at or above this on every probe text
_ANNOUNCED: set = set()  # fingerprints whose int8 use this process has announced
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EXPORT_FORMAT = 2  # part of the int8 cache key: a change to the export below changes the vectors
# Residual add and layer norm stay two ONNX Runtime ops: fused (SkipLayerNormalization) they took
# 1.83 ms of a 20-token text's 7.5 ms on one core, unfused 0.41 ms (ONNX Runtime 1.32, BERT-base;
# 123 -> 161 texts/s; the vectors' cosine to fp32 unchanged).
_UNFUSED = ["SkipLayerNormFusion"]


def _require():
    require("onnx", "onnxruntime", extra="onnx", feature="int8 encoding on the CPU (ONNX Runtime, a core dependency)")


def int8_available() -> bool:
    """True where ONNX Runtime and onnx can be imported (they are part of the default install)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))
    except (ImportError, ValueError):
        return False


def announce_int8(encoder) -> None:
    """Say once per process and model that ``precision="auto"`` encodes in int8, how fast, and how not to."""
    if encoder.fingerprint in _ANNOUNCED:
        return
    _ANNOUNCED.add(encoder.fingerprint)
    report = encoder.onnx.report
    speed = report.get("speedup_vs_fp32_on_probes")
    said = f"{speed:.1f}x the fp32 speed per core on probe texts, " if speed else ""
    logger.warning(
        "kosbert_viz: encoding %s on the CPU with ONNX Runtime int8 (%smin cosine %.5f against fp32); "
        "precision='fp32' gives exact fp32 vectors.",
        encoder.name,
        said,
        report["min_cosine_vs_fp32_on_probes"],
    )


def exports_info(root: Path | None = None) -> dict:
    """The int8 exports kept on disk: ``{"path", "exports", "bytes"}`` (``kosbert-viz cache info`` shows it)."""
    root = Path(root or onnx_root())
    folders = [f for f in root.iterdir() if f.is_dir()] if root.is_dir() else []
    size = sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.is_file())
    return {"path": str(root), "exports": sum(1 for f in folders if _complete(f)), "bytes": int(size)}


def clear_exports(root: Path | None = None) -> dict:
    """Remove every int8 export (each is made again, once, on its model's next use); returns what was removed."""
    info = exports_info(root)
    root = Path(info["path"])
    if root.is_dir():
        for folder in [f for f in root.iterdir() if f.is_dir()]:
            shutil.rmtree(folder, ignore_errors=True)
    return info


def onnx_root() -> Path:
    """``$KOSBERT_VIZ_CACHE/onnx`` when set, else ``onnx`` next to the user's embedding cache."""
    from kosbert_viz.embed.cache import default_cache_dir

    env = os.environ.get("KOSBERT_VIZ_CACHE")
    return Path(env).expanduser() / "onnx" if env else default_cache_dir().parent / "onnx"


def _export(st, folder: Path, probes: list[str]) -> dict:
    """Write model_int8.onnx (and its report) into ``folder``; return the report."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    auto = st[0].auto_model
    model = copy.deepcopy(auto).float().cpu().eval()
    try:
        model.set_attn_implementation("eager")  # the graph ONNX Runtime's BERT optimiser fuses
    except Exception:  # noqa: BLE001 - older transformers or a model without it: export as is
        pass
    tokenizer = st[0].tokenizer
    names = _input_names(tokenizer)
    sample = tokenizer(probes[:2], padding=True, return_tensors="pt")
    sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    raw, fused, int8 = folder / "model.onnx", folder / "model_fused.onnx", folder / "model_int8.onnx"
    axes = {k: {0: "batch", 1: "tokens"} for k in names}
    axes["token_embeddings"] = {0: "batch", 1: "tokens"}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Wrapped(model),
                tuple(sample[k] for k in names),
                str(raw),
                input_names=names,
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        raise ValueError(
            f"precision='int8': this model's transformer ({type(model).__name__}) could not be "
            f"exported to ONNX ({type(exc).__name__}: {str(exc)[:200]}); use precision='fp32'"
        ) from exc
    source, fusion = raw, None
    config = model.config
    if getattr(config, "model_type", "") in ("bert", "roberta", "xlm-roberta", "electra"):
        try:
            from onnxruntime.transformers.fusion_options import FusionOptions
            from onnxruntime.transformers.optimizer import optimize_model

            options = FusionOptions("bert")
            options.enable_skip_layer_norm = False  # see _UNFUSED
            opt = optimize_model(
                str(raw),
                model_type="bert",
                num_heads=config.num_attention_heads,
                hidden_size=config.hidden_size,
                opt_level=1,
                optimization_options=options,
            )
            opt.save_model_to_file(str(fused))
            source, fusion = fused, opt.get_fused_operator_statistics()
        except Exception as exc:  # noqa: BLE001 - the unfused graph is still correct
            logger.info("kosbert_viz: ONNX Runtime could not fuse the graph (%s); using it unfused", exc)
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # the quantiser logs its advice on pre-processing as a root warning
    try:
        quantize_dynamic(
            str(source),
            str(int8),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention"],  # not the embedding tables: no faster, less exact
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    for f in (raw, fused):
        f.unlink(missing_ok=True)
    for extra in folder.glob("*.data"):
        extra.unlink()
    return {
        "fused_operators": {k: v for k, v in (fusion or {}).items() if v},
        "quantization": "dynamic QInt8 weights of MatMul and Attention",
        "format": EXPORT_FORMAT,
        "opset": 17,
    }


def onnxruntime_version() -> str:
    """The installed ONNX Runtime's version ("?" when it is missing)."""
    return package_version("onnxruntime") or "?"


def _input_names(tokenizer) -> list[str]:
    wanted = getattr(tokenizer, "model_input_names", _INPUTS)
    return [k for k in _INPUTS if k != "token_type_ids" or k in wanted]


def _run(session, input_ids, attention_mask):
    """Token embeddings of a padded batch through ``session`` (token type ids are zeros, where the graph takes them)."""
    given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": np.zeros_like(input_ids)}
    return session.run(None, {i.name: given[i.name] for i in session.get_inputs()})[0]


def _complete(folder: Path) -> bool:
    return (folder / "model_int8.onnx").is_file() and (folder / "report.json").is_file()


def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting between runs
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=_UNFUSED)


class OnnxInt8Transformer:
    """ONNX Runtime sessions for an encoder's transformer, built once and kept on disk.

    Used by ``kv.encode`` on a CPU (``precision="auto"`` or ``"int8"``); :func:`load_encoder` builds it.
    """

    def __init__(self, st, fingerprint: str, *, root: Path | None = None, verify: bool = True, warn_lossy: bool = True):
        _require()
        from kosbert_viz.embed.engine import PROBE_TEXTS

        self.st = st
        self.folder = Path(root or onnx_root()) / fingerprint
        self.path = self.folder / "model_int8.onnx"
        self.probes = [p for p in PROBE_TEXTS if p.strip()] + [
            "오늘 주식 시장은 반도체 업종이 올랐다",
            "Delivery was quick, 배송 빨라요",
        ]
        self._sessions: dict[int, object] = {}
        self._lock = threading.Lock()
        self.built = False
        self.warn_lossy = bool(warn_lossy)  # a new export below MIN_COSINE warns (precision="auto" says it itself)
        if verify and _complete(self.folder):
            # the folder is named by the model's fingerprint; an in-memory model changed since
            # (fine-tuned, no name) must not reuse another transformer's export. A model loaded by name or
            # folder needs no check (verify=False): its fingerprint holds its weights' hash or revision.
            cos = self._probe_cosine(self.path)
            built_with = json.loads((self.folder / "report.json").read_text())["min_cosine_vs_fp32_on_probes"]
            if abs(cos - built_with) > 1e-3:
                logger.warning(
                    "kosbert_viz: the int8 export in %s no longer matches this model (cosine %.4f on "
                    "probe texts, %.4f when exported); exporting it again",
                    self.folder,
                    cos,
                    built_with,
                )
                shutil.rmtree(self.folder, ignore_errors=True)
                self._sessions.clear()  # the probe's session read the stale file
        if not _complete(self.folder):
            self._build()
            self.built = True
        self.report = json.loads((self.folder / "report.json").read_text())

    def __repr__(self) -> str:
        return f"OnnxInt8Transformer({str(self.folder)!r})"

    def _build(self) -> None:
        logger.warning(
            "kosbert_viz: exporting the model to int8 ONNX Runtime for this CPU (once per model; a BERT-base "
            "took 12 s on 2 cores), kept in %s",
            self.folder.parent,
        )
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.parent.glob(".*.tmp-*"):  # left by a killed export more than an hour ago
            try:
                if time.time() - stale.stat().st_mtime > 3600:
                    shutil.rmtree(stale, ignore_errors=True)
            except OSError:
                pass
        tmp = self.folder.parent / f".{self.folder.name}.tmp-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            report = _export(self.st, tmp, self.probes)
            report["min_cosine_vs_fp32_on_probes"] = cos = self._probe_cosine(tmp / "model_int8.onnx")
            report["speedup_vs_fp32_on_probes"] = self._probe_speedup(tmp / "model_int8.onnx")
            report["onnxruntime"] = onnxruntime_version()
            (tmp / "report.json").write_text(json.dumps(report, indent=1))
            try:
                os.replace(tmp, self.folder)  # atomic; another process may have won the race
            except OSError:
                if not _complete(self.folder):  # an incomplete folder (a crash, a deleted file): replace it
                    shutil.rmtree(self.folder, ignore_errors=True)
                    os.replace(tmp, self.folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info(
            "kosbert_viz: exported an int8 ONNX model to %s (min cosine vs fp32 on probes %.5f)", self.folder, cos
        )
        if cos < MIN_COSINE and self.warn_lossy:
            warnings.warn(
                f"int8 vectors of this model differ from fp32 (min cosine {cos:.4f} on probe texts, "
                f"expected >= {MIN_COSINE}); use precision='fp32' where that matters.",
                RuntimeWarning,
                stacklevel=4,
            )

    def _probe_runner(self, path: Path):
        """(token ids of each probe text, a transformer call on ``path``'s single-threaded session)."""
        session = self.session(1) if path == self.path else _session(path, 1)  # kept for encoding too
        max_length = self.st.max_seq_length or 128
        ids = self.st[0].tokenizer(self.probes, truncation=True, max_length=max_length)["input_ids"]
        return [np.asarray(x, np.int64) for x in ids], lambda i, m: _run(session, i, m)

    def _probe_cosine(self, path: Path) -> float:
        """The lowest cosine between a probe text's vector as encoding delivers it (alone, int8) and fp32's."""
        import torch

        from kosbert_viz.embed.onnx_runner import sentence_vector

        ids, transformer = self._probe_runner(path)
        with torch.inference_mode():
            got = np.stack([sentence_vector(self.st, transformer, x) for x in ids]).astype(np.float64)
            ref = np.asarray(self.st.encode(self.probes, convert_to_numpy=True, show_progress_bar=False), np.float64)
        return float(((got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)).min())

    def _probe_speedup(self, path: Path, repeats: int = 3) -> float:
        """Per core: how many times faster the probe texts encode as delivered (int8, one by one) than in fp32.

        Both on one thread (the int8 path runs one such worker per core), best of ``repeats``.
        """
        import torch

        from kosbert_viz.embed.onnx_runner import sentence_vector

        ids, transformer = self._probe_runner(path)
        best = {"fp32": math.inf, "int8": math.inf}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                for _ in range(repeats):
                    t = time.perf_counter()
                    self.st.encode(self.probes, batch_size=1, show_progress_bar=False)  # no padding, as int8
                    best["fp32"] = min(best["fp32"], time.perf_counter() - t)
                    t = time.perf_counter()
                    for x in ids:
                        sentence_vector(self.st, transformer, x)
                    best["int8"] = min(best["int8"], time.perf_counter() - t)
        finally:
            torch.set_num_threads(threads)
        return round(best["fp32"] / max(best["int8"], 1e-9), 2)

    def session(self, threads: int) -> ort.InferenceSession:
        """An ONNX Runtime session using ``threads`` intra-op threads (made once, also when several threads ask)."""
        with self._lock:
            if threads not in self._sessions:
                self._sessions[threads] = _session(self.path, threads)
            return self._sessions[threads]

    def __call__(self, input_ids, attention_mask, threads: int):
        """Token embeddings (numpy float32) for one padded batch (numpy int64 arrays); the CPU default runs one text."""
        return _run(self.session(threads), input_ids, attention_mask)
