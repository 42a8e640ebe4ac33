"""A tiny on-disk store for computed arrays (reductions, neighbour graphs).

Each entry is ``<key>.bin`` (the arrays' raw little-endian bytes, back to back) plus
``<key>.json`` (names, dtypes, shapes, offsets, a CRC32 of the bytes and the parameters
that produced them). No pickle and no ``.npy``: only plain numeric dtypes are accepted.
Both files are written under a temporary name and renamed into place, the JSON last, so
a reader sees a whole entry or none; an entry whose size or checksum is wrong counts as
a miss.
"""

from __future__ import annotations

import json
import os
import warnings
import zlib
from pathlib import Path

import numpy as np

from kosbert_viz._util.atomic import write_atomic
from kosbert_viz._util.validation import check_cache_root

_ALLOWED = {"<f4", "<f8", "<i4", "<i8", "|u1"}
_VERSION = 1


_WARNED: set[str] = set()  # folders already reported as not writable (once per process each)


def default_reduce_dir() -> Path:
    """``$KOSBERT_VIZ_CACHE/reduce`` when set, else ``reduce`` next to the user's embedding cache."""
    from kosbert_viz.embed.cache import default_cache_dir

    env = os.environ.get("KOSBERT_VIZ_CACHE")
    return Path(env).expanduser() / "reduce" if env else default_cache_dir().parent / "reduce"


def resolve_store(cache) -> ArrayStore | None:
    """Where layouts and neighbour graphs go, for the same ``cache=`` as the vectors' (``encode``).

    ``None``/``False`` -> nothing on disk; ``"auto"``/``True`` -> the default folder; a folder path
    or an :class:`~kosbert_viz.EmbeddingCache` -> ``<that folder>/reduce`` (so one folder holds a
    project's vectors and layouts); an ``ArrayStore`` -> itself.

    >>> resolve_store("my/dir").root.parts
    ('my', 'dir', 'reduce')
    >>> resolve_store(None) is None
    True
    """
    if cache is None or cache is False:
        return None
    if isinstance(cache, ArrayStore):
        return cache

    if cache is True or (isinstance(cache, str) and cache == "auto"):
        if os.environ.get("KOSBERT_VIZ_CACHE"):
            check_cache_root(os.environ["KOSBERT_VIZ_CACHE"])
        return ArrayStore(default_reduce_dir())
    from kosbert_viz.embed.cache import EmbeddingCache

    if isinstance(cache, EmbeddingCache):
        return ArrayStore(cache.path / "reduce")
    if isinstance(cache, (str, os.PathLike)):
        return ArrayStore(check_cache_root(cache) / "reduce")
    raise TypeError(
        f"cache must be 'auto', True, None, False, a folder path or an EmbeddingCache, got {type(cache).__name__}"
    )


class ArrayStore:
    """Arrays on disk under ``root``; a folder that cannot be written only costs the entries (one warning)."""

    def __init__(self, root):
        self.root = check_cache_root(root, what="layout cache folder")

    def _paths(self, key: str):
        if not key.isalnum():
            raise ValueError(f"bad store key {key!r}")
        return self.root / f"{key}.bin", self.root / f"{key}.json"

    def get(self, key: str) -> dict | None:
        bin_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            raw = bin_path.read_bytes()
        except (OSError, ValueError):
            return None
        try:
            if meta.get("version") != _VERSION or len(raw) != meta["nbytes"] or zlib.crc32(raw) != meta["crc32"]:
                return None
            out = {}
            for item in meta["arrays"]:
                if item["dtype"] not in _ALLOWED:
                    return None
                dt = np.dtype(item["dtype"])
                count = int(np.prod(item["shape"], dtype=np.int64))
                arr = np.frombuffer(raw, dtype=dt, count=count, offset=item["offset"])
                out[item["name"]] = arr.reshape(item["shape"]).copy()
            return out
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, key: str, arrays: dict, params: dict | None = None) -> None:
        """Write an entry; a full or read-only disk only loses the entry (one warning per folder, never raises)."""
        bin_path, meta_path = self._paths(key)
        items, chunks, offset = [], [], 0
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
            if arr.dtype.str not in _ALLOWED:
                raise TypeError(f"cannot store dtype {arr.dtype} for {name!r}")
            b = arr.tobytes()
            items.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset})
            chunks.append(b)
            offset += len(b)
        raw = b"".join(chunks)
        meta = {
            "version": _VERSION,
            "nbytes": len(raw),
            "crc32": zlib.crc32(raw),
            "arrays": items,
            "params": params or {},
        }
        try:
            for path, data in ((bin_path, raw), (meta_path, json.dumps(meta, sort_keys=True).encode())):
                write_atomic(path, data)
        except OSError as exc:
            if str(self.root) not in _WARNED:
                _WARNED.add(str(self.root))
                warnings.warn(
                    f"kosbert_viz layout cache at {self.root} is not writable ({exc.strerror or exc}: "
                    f"{exc.filename}); layouts are computed but not cached. Make the folder writable, "
                    "point cache= / KOSBERT_VIZ_CACHE at a writable folder, or pass cache=None.",
                    RuntimeWarning,
                    stacklevel=3,
                )
