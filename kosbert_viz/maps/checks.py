"""Checks a saved map relies on: which model made it, and that its files are the files it saved."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kosbert_viz.exceptions import MapFileError, ModelMismatchError

__all__ = ["model_identity", "encoder_info", "check_model", "sha256_file", "check_file"]


def model_identity(info: dict) -> dict:
    """What makes two encoders the same model (precision and device aside)."""
    details = info.get("details") or {}
    return {
        "name": info.get("name"),
        "dim": info.get("dim"),
        "revision": details.get("revision", info.get("revision")),
        "weights": details.get("weights", info.get("weights_hash")),
    }


def encoder_info(encoder) -> dict:
    return {
        "name": encoder.name,
        "fingerprint": encoder.fingerprint,
        "dim": int(encoder.dim),
        "details": json.loads(json.dumps(encoder.details, default=str)),
    }


def check_model(saved: dict, encoder, *, what: str = "this map") -> None:
    """Raise :class:`ModelMismatchError` unless ``encoder`` is the model ``saved`` describes.

    The same weights in another precision (fp16 on a GPU, int8 or fp32 on a CPU) are accepted with a
    warning: their vectors differ by rounding and quantisation only (cosine >= 0.999).
    """
    if not saved or not saved.get("name"):
        raise ModelMismatchError(
            f"{what} does not record the model that made it, so texts cannot be placed "
            "into it safely; rebuild it with kv.map_texts"
        )
    if saved.get("fingerprint") == encoder.fingerprint:
        return
    got = model_identity(encoder_info(encoder))
    want = model_identity(saved)
    if got != want:
        diff = ", ".join(f"{k} {got[k]!r} (map: {want[k]!r})" for k in want if got[k] != want[k])
        raise ModelMismatchError(
            f"{what} was made with the model {saved.get('name')!r} (fingerprint {saved.get('fingerprint')}), "
            f"got {encoder.name!r} (fingerprint {encoder.fingerprint}): {diff}. Vectors of different models "
            f"are not comparable; use model={saved.get('name')!r} or rebuild the map with the new model"
        )
    import warnings

    warnings.warn(
        f"{what} was made with {saved.get('name')!r} in another precision or normalisation "
        f"(fingerprint {saved.get('fingerprint')}, now {encoder.fingerprint}); vectors differ by "
        "rounding and quantisation only (cosine >= 0.999)",
        RuntimeWarning,
        stacklevel=3,
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path, sha256: str) -> None:
    got = sha256_file(path)
    if got != sha256:
        raise MapFileError(
            f"{path} is corrupt: its sha256 is {got[:16]}..., expected {sha256[:16]}... "
            "(the file changed after the map was saved)"
        )
