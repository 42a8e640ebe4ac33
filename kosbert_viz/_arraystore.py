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
import secrets
import zlib
from pathlib import Path

import numpy as np

_ALLOWED = {"<f4", "<f8", "<i4", "<i8", "|u1"}
_VERSION = 1


def default_reduce_dir() -> Path:
    """``$KOSBERT_VIZ_CACHE/reduce`` when set, else ``reduce`` next to the user's embedding cache."""
    import os

    from .cache import default_cache_dir

    env = os.environ.get("KOSBERT_VIZ_CACHE")
    return Path(env).expanduser() / "reduce" if env else default_cache_dir().parent / "reduce"


def resolve_store(cache) -> "ArrayStore | None":
    """``"auto"`` -> the default folder, ``None``/``False`` -> no store, a path -> that folder."""
    if cache is None or cache is False:
        return None
    if isinstance(cache, ArrayStore):
        return cache
    if cache == "auto" or cache is True:
        return ArrayStore(default_reduce_dir())
    return ArrayStore(cache)


class ArrayStore:
    def __init__(self, root):
        self.root = Path(root).expanduser()

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
        """Write an entry; a full or read-only disk only loses the entry (never raises)."""
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
        meta = {"version": _VERSION, "nbytes": len(raw), "crc32": zlib.crc32(raw), "arrays": items,
                "params": params or {}}
        tag = f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for path, data in ((bin_path, raw), (meta_path, json.dumps(meta, sort_keys=True).encode())):
                tmp = path.with_name(path.name + tag)
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
        except OSError:
            for path in (bin_path, meta_path):
                try:
                    path.with_name(path.name + tag).unlink()
                except OSError:
                    pass
