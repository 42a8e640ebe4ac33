"""Saving a :class:`~kosbert_viz.TextMap` to a folder and loading it back, without pickle.

>>> tm = kv.map_texts(df["review"])
>>> path = tm.save("maps/reviews-2024-05", overwrite=True)
>>> tm = kv.load_map("maps/reviews-2024-05")      # a later session, another machine
>>> new = tm.assign(df["review"][:20])             # same themes, same positions

The folder holds plain files: ``map.json`` (format version, model name and cache fingerprint,
manifest, the cluster result's parameters and scores, sha256 and size of every other file),
``texts.json``, ``table.json`` (names, keywords, representative texts), ``levels.npy`` (labels at
every level, coarsest first), ``coords.npy``, ``embeddings.npy`` (float32), the placement state
that :meth:`TextMap.assign` uses, and ``metadata/`` (one ``.npy`` or ``.json`` file per column).
Arrays are read with ``allow_pickle=False``; nothing in the folder is ever executed.

Every file is checked against its sha256 on load, except ``embeddings.npy``, which is memory-mapped
(a 100k-text map opens in well under a second) and checked the first time :meth:`TextMap.assign`
reads it (``load_map(path, verify="all")`` checks it at once). ``map.json`` carries the sha256 of its
own content (key ``sha256``: of the document without that key, as canonical JSON, so reformatting
it is no change); maps saved before it had one load unchecked. A missing, truncated or altered file
raises :class:`MapFileError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from kosbert_viz.embed.models import load_encoder
from kosbert_viz.exceptions import MapFileError, ModelMismatchError
from kosbert_viz.maps.checks import check_file, check_model, sha256_file
from kosbert_viz.maps.levels import map_levels
from kosbert_viz.maps.placement import PlacementState, prepare
from kosbert_viz.themes.result import ClusterResult

__all__ = ["save_map", "read_map", "MapFileError", "ModelMismatchError", "FORMAT", "FORMAT_VERSION", "check_model"]

FORMAT = "kosbert_viz.map"
FORMAT_VERSION = 1
_LAZY = "embeddings.npy"  # checked on first use, not on load


# --------------------------------------------------------------------------- model identity


# --------------------------------------------------------------------------- files


def _jsonable(obj):
    """dicts/lists/numbers as plain JSON values (numpy scalars and arrays converted, tuples as lists,
    a DataFrame as ``{"__frame__": {"columns": [...], "rows": {column: values}}}``)."""
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
        return {"__frame__": {"columns": [str(c) for c in obj.columns], "rows": _jsonable(obj.to_dict(orient="list"))}}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


class _Writer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[str, dict] = {}

    def _done(self, name: str):
        p = self.folder / name
        self.files[name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}

    def npy(self, name: str, array) -> None:
        p = self.folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        np.save(p, np.ascontiguousarray(array), allow_pickle=False)
        self._done(name)

    def json(self, name: str, value) -> None:
        p = self.folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value, ensure_ascii=False, allow_nan=False), encoding="utf-8")
        self._done(name)


class _Reader:
    def __init__(self, folder: Path, files: dict, verify: str):
        self.folder, self.files, self.verify = folder, files, verify

    def _path(self, name: str) -> Path:
        if name not in self.files:
            raise MapFileError(f"{self.folder / 'map.json'} lists no file {name!r}: the map is incomplete")
        if Path(name).is_absolute() or ".." in Path(name).parts or "\\" in name:
            raise MapFileError(
                f"{self.folder / 'map.json'} names a file outside the map folder ({name!r}); "
                "a saved map only lists files inside its own folder"
            )
        p = self.folder / name
        if not p.is_file():
            raise MapFileError(f"{p} is missing: the saved map is incomplete (copy the whole folder)")
        size = p.stat().st_size
        if size != self.files[name]["bytes"]:
            raise MapFileError(
                f"{p} has {size} bytes, expected {self.files[name]['bytes']}: the file is "
                "truncated or was changed after the map was saved"
            )
        if self.verify != "none" and (name != _LAZY or self.verify == "all"):
            check_file(p, self.files[name]["sha256"])
        return p

    def npy(self, name: str, mmap: bool = False) -> np.ndarray:
        p = self._path(name)
        try:
            return np.load(p, allow_pickle=False, mmap_mode="r" if mmap else None)
        except (ValueError, OSError) as exc:
            raise MapFileError(f"{p} is not a readable .npy array ({exc})") from exc

    def json(self, name: str):
        p = self._path(name)
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise MapFileError(f"{p} is not valid UTF-8 JSON ({exc})") from exc


def _restore(obj):
    """The inverse of :func:`_jsonable` for frames and integer dict keys."""
    if isinstance(obj, dict):
        if set(obj) == {"__frame__"}:
            import pandas as pd

            return pd.DataFrame(obj["__frame__"]["rows"], columns=obj["__frame__"]["columns"])
        return {int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k: _restore(v) for k, v in obj.items()}
    return obj


def _doc_sha256(doc: dict) -> str:
    """sha256 of a map.json document without its ``sha256`` key, as canonical JSON (sorted keys, no spaces)."""
    body = {k: v for k, v in doc.items() if k != "sha256"}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- metadata columns


def _write_metadata(w: _Writer, df) -> list[dict]:
    import pandas as pd

    cols = []
    for j, col in enumerate(df.columns):
        s = df[col]
        entry = {"name": _jsonable(col), "dtype": str(s.dtype)}
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            if getattr(s.dt, "tz", None) is not None:
                entry["tz"] = str(s.dt.tz)
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            entry.update(kind="datetime", unit="ns", file=f"metadata/{j}.npy")
            w.npy(entry["file"], s.to_numpy(dtype="datetime64[ns]").view(np.int64))
        elif (
            pd.api.types.is_bool_dtype(s.dtype)
            and s.dtype == bool
            or (pd.api.types.is_numeric_dtype(s.dtype) and isinstance(s.dtype, np.dtype))
        ):
            entry.update(kind="array", file=f"metadata/{j}.npy")
            w.npy(entry["file"], s.to_numpy())
        else:
            if isinstance(s.dtype, pd.CategoricalDtype):
                entry["kind"] = "category"
                entry["categories"] = _jsonable(list(s.cat.categories))
                values = s.cat.codes.to_numpy().tolist()
            else:
                entry["kind"] = "values"
                values = [
                    None
                    if (v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT)
                    else _jsonable(v)
                    for v in s.tolist()
                ]
            entry["file"] = f"metadata/{j}.json"
            w.json(entry["file"], values)
        cols.append(entry)
    return cols


def _read_metadata(r: _Reader, cols: list[dict], n: int):
    import pandas as pd

    if cols is None:
        return None
    data = {}
    for entry in cols:
        kind = entry["kind"]
        if kind == "datetime":
            s = pd.Series(r.npy(entry["file"]).view("datetime64[ns]"))
            if entry.get("tz"):
                s = s.dt.tz_localize("UTC").dt.tz_convert(entry["tz"])
        elif kind == "array":
            s = pd.Series(r.npy(entry["file"]))
        elif kind == "category":
            s = pd.Series(pd.Categorical.from_codes(r.json(entry["file"]), categories=entry["categories"]))
        else:
            s = pd.Series(r.json(entry["file"]), dtype=object)
            if entry["dtype"] not in ("object",):
                try:
                    s = s.astype(entry["dtype"])
                except (TypeError, ValueError):
                    pass
        if len(s) != n:
            raise MapFileError(f"metadata column {entry['name']!r} has {len(s)} rows, expected {n}")
        data[entry["name"]] = s
    return pd.DataFrame(data, index=pd.RangeIndex(n))


# --------------------------------------------------------------------------- levels


# --------------------------------------------------------------------------- save / load


def save_map(tm, path, *, overwrite: bool = False) -> Path:
    """Write ``tm`` to the folder ``path`` (created; see the module docstring for its files).

    ``overwrite=True`` replaces an existing saved map; an existing empty folder is used as is; any
    other existing folder is refused.
    The folder is written next to ``path`` first and moved into place, so an interrupted save
    never leaves a half-written map under ``path``.
    """
    import pandas as pd

    path = Path(path).expanduser()
    empty_dir = path.is_dir() and not any(path.iterdir())  # an empty folder made for the map is fine
    if path.exists() and not empty_dir:
        if not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace a saved map")
        if not (path / "map.json").is_file():
            raise FileExistsError(f"{path} exists and is not a saved map (no map.json); refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = prepare(tm)  # the placement state, computed once and kept by tm, so both copies assign alike
    n = len(tm.texts)
    tmp = Path(tempfile.mkdtemp(prefix=".kv-map.", dir=path.parent))  # short: fits beside a 255-byte name
    try:
        w = _Writer(tmp)
        w.json("texts.json", [str(t) for t in tm.texts])
        emb = np.asarray(tm.embeddings, dtype=np.float32)
        if emb.shape[0] != n:
            raise ValueError(f"the map has {n} texts but {emb.shape[0]} embedding rows")
        w.npy("embeddings.npy", emb)
        w.npy("coords.npy", np.asarray(tm.coords))
        res = tm.clusters
        levels, default = map_levels(res)
        w.npy("levels.npy", np.stack([np.asarray(lv, dtype=np.int64) for lv in levels]))
        if res.centroids is not None:
            w.npy("centroids.npy", np.asarray(res.centroids, dtype=np.float32))
        if res.cluster_ids is not None:
            w.npy("cluster_ids.npy", np.asarray(res.cluster_ids, dtype=np.int64))
        if getattr(res, "embedding", None) is not None:
            w.npy("cluster_embedding.npy", np.asarray(res.embedding))
        for key, arr in state.arrays().items():
            w.npy(f"placement/{key}.npy", arr)
        table = tm.table
        if table is not None:
            w.json(
                "table.json",
                {"columns": [str(c) for c in table.columns], "rows": _jsonable(table.to_dict(orient="list"))},
            )
        themes = getattr(tm, "themes", None)
        if themes is not None:
            w.json("themes.json", _jsonable(themes))
        meta = getattr(tm, "metadata", None)
        if meta is not None and not isinstance(meta, pd.DataFrame):
            meta = pd.DataFrame(meta)
        if meta is not None and len(meta) != n:
            raise ValueError(f"metadata has {len(meta)} rows, expected one per text ({n})")
        meta_cols = None if meta is None else _write_metadata(w, meta.reset_index(drop=True))
        model = (tm.manifest or {}).get("model") or {}
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "n_texts": n,
            "model": {
                "name": model.get("name"),
                "fingerprint": model.get("fingerprint"),
                "dim": model.get("dim"),
                "details": model.get("details")
                or {"revision": model.get("revision"), "weights": model.get("weights_hash")},
            },
            "manifest": _jsonable(tm.manifest or {}),
            "clusters": {
                "method": res.method,
                "params": _jsonable(res.params),
                "scores": _jsonable(res.scores),
                "silhouette_by_k": _jsonable(res.silhouette_by_k),
                "seconds": float(res.seconds),
                "default_level": default,
                "n_levels": len(levels),
                "tree": _jsonable(getattr(res, "tree", None)),
                "names": _jsonable(getattr(res, "names", None)),
            },
            "placement": state.params(),
            "textmap": {"level": _jsonable(getattr(tm, "level", None))},
            "metadata": meta_cols,
            "files": w.files,
        }
        doc["sha256"] = _doc_sha256(doc)
        (tmp / "map.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8")
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=".kv-old.", dir=path.parent))
            os.replace(path, old / "map")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_map(path, *, model=None, verify: str = "auto") -> dict:
    """The fields of a :class:`~kosbert_viz.maps.textmap.TextMap` saved with :meth:`TextMap.save`
    (:func:`kosbert_viz.load_map` builds the map from them).

    ``model``: the encoder you mean to use with it (name, folder or encoder); a map made with
    another model is refused (:class:`ModelMismatchError`). ``verify``: ``"auto"`` checks map.json's
    own sha256 and every file's now except the embeddings, which are memory-mapped and checked on first
    use; ``"all"`` checks them now too; ``"none"`` checks sizes only.

    >>> path = tm.save("maps/reviews", overwrite=True)
    >>> sorted(read_map("maps/reviews"))[:3]
    ['clusters', 'coords', 'embeddings']
    """
    if verify not in ("auto", "all", "none"):
        raise ValueError(f"verify must be 'auto', 'all' or 'none', got {verify!r}")
    path = Path(path).expanduser()
    head = path / "map.json"
    if not path.exists():
        raise FileNotFoundError(f"no saved map at {path}: the folder does not exist")
    if not head.is_file():
        raise MapFileError(f"{path} is not a saved map: map.json is missing")
    try:
        doc = json.loads(head.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MapFileError(f"{head} is corrupt: not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MapFileError(
            f"{head} is not a kosbert_viz map (format {doc.get('format') if isinstance(doc, dict) else None!r}, "
            f"expected {FORMAT!r})"
        )
    if not isinstance(doc.get("version"), int) or doc["version"] > FORMAT_VERSION:
        raise MapFileError(
            f"{path} has map format version {doc.get('version')!r}; this kosbert_viz reads "
            f"versions up to {FORMAT_VERSION} (upgrade kosbert_viz)"
        )
    if "sha256" in doc and verify != "none":  # absent in maps saved before map.json had a checksum
        got = _doc_sha256(doc)
        if got != doc["sha256"]:
            raise MapFileError(
                f"{head} was changed after the map was saved: its content's sha256 is {got[:16]}..., "
                f"expected {str(doc['sha256'])[:16]}... (save the map again rather than edit map.json)"
            )
    try:
        saved_model, files, n = doc["model"], doc["files"], int(doc["n_texts"])
        cl = doc["clusters"]
    except (KeyError, TypeError, ValueError) as exc:
        raise MapFileError(f"{head} is incomplete: {exc!r} is missing") from exc
    if model is not None:
        check_model(saved_model, load_encoder(model), what=f"the map in {path}")
    r = _Reader(path, files, verify)
    texts = r.json("texts.json")
    if not isinstance(texts, list) or len(texts) != n or not all(isinstance(t, str) for t in texts):
        raise MapFileError(f"{path / 'texts.json'} does not hold {n} texts")
    emb = r.npy("embeddings.npy", mmap=True)
    coords = r.npy("coords.npy")
    levels_arr = r.npy("levels.npy")
    if emb.shape[0] != n or coords.shape[0] != n or levels_arr.ndim != 2 or levels_arr.shape[1] != n:
        raise MapFileError(
            f"{path}: arrays do not have one row per text ({n}): embeddings {emb.shape}, "
            f"coords {coords.shape}, levels {levels_arr.shape}"
        )
    levels = [levels_arr[i] for i in range(len(levels_arr))]
    default = int(cl.get("default_level", 0))
    silhouette = {
        int(k) if str(k).lstrip("-").isdigit() else k: v for k, v in (cl.get("silhouette_by_k") or {}).items()
    }
    res = ClusterResult(
        labels=levels[default],
        method=cl.get("method", "?"),
        params=cl.get("params") or {},
        scores=cl.get("scores") or {},
        centroids=r.npy("centroids.npy") if "centroids.npy" in files else None,
        cluster_ids=r.npy("cluster_ids.npy") if "cluster_ids.npy" in files else None,
        silhouette_by_k=silhouette,
        embedding=r.npy("cluster_embedding.npy") if "cluster_embedding.npy" in files else None,
        seconds=float(cl.get("seconds", 0.0)),
    )
    if len(levels) > 1 or cl.get("tree") is not None or cl.get("names") is not None:
        for attr, value in (
            ("levels", levels),
            ("tree", _restore(cl.get("tree"))),
            ("names", _restore(cl.get("names"))),
            ("default_level", default),
        ):
            setattr(res, attr, value)
    table = None
    if "table.json" in files:
        import pandas as pd

        t = r.json("table.json")
        table = pd.DataFrame(t["rows"], columns=t["columns"])
        for col in ("cluster", "size"):
            if col in table:
                table[col] = table[col].astype(np.int64)
    metadata = _read_metadata(r, doc.get("metadata"), n)
    state = PlacementState.from_arrays(
        doc.get("placement") or {}, {k[len("placement/") : -4]: r.npy(k) for k in files if k.startswith("placement/")}
    )
    manifest = doc.get("manifest") or {}
    manifest.setdefault(
        "model",
        {"name": saved_model.get("name"), "fingerprint": saved_model.get("fingerprint"), "dim": saved_model.get("dim")},
    )
    manifest["model"].setdefault("details", saved_model.get("details"))
    fields = dict(
        texts=texts,
        embeddings=emb,
        coords=coords,
        clusters=res,
        table=table,
        figure=None,
        manifest=manifest,
        metadata=metadata,
        placement=state,
        source=str(path),
        embeddings_file=None if verify != "auto" else (path / _LAZY, files[_LAZY]["sha256"]),
    )
    level = (doc.get("textmap") or {}).get("level")
    if level is not None:
        fields["level"] = level
    if "themes.json" in files:
        fields["themes"] = _restore(r.json("themes.json"))
    return fields
