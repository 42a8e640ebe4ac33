"""Encode corpora larger than one machine with Ray Data, into the ordinary embedding cache.

A pool of Ray actors (one per GPU, or CPU actors where the cluster has none) each load
the model once and run the same encoding path as :func:`kosbert_viz.encode`. Every
actor looks its rows up in the cache, encodes only the misses and appends them as its
own immutable segment (the cache is safe for many writers); the run ends with a
``compact()``. Reading back is a cache look-up in the input's order:

>>> from kosbert_viz.distributed.jobs import encode_dataset
>>> run = encode_dataset("s3://bucket/reviews/*.parquet", model="jhgan/ko-sbert-multitask",
...                      cache="/shared/kv-cache", text_column="review",
...                      id_column="review_id")   # needs Ray and S3  # doctest: +SKIP
>>> emb = kv.load_embeddings("s3://bucket/reviews/*.parquet", run,
...                          text_column="review")   # needs S3  # doctest: +SKIP

* **Resumable**: a second run encodes nothing that is cached; a run stopped halfway
  keeps every finished batch (one batch = one cache segment) and continues from there.
* **Fault tolerant**: Ray restarts a dead actor and retries its batch (Ray Data's actor
  pools default to ``max_restarts=-1, max_task_retries=-1``). A retried batch finds the
  rows its predecessor already stored and skips them; the cache ignores repeated keys.
* **Connecting**: an existing Ray (``ray.init`` already called) is used as is;
  otherwise ``address=`` or ``$RAY_ADDRESS`` (``"auto"`` for the cluster this machine
  belongs to), else a local Ray on this machine. Nothing here starts cloud resources.
* On a cluster the cache folder must be storage every node sees (NFS, a shared
  volume), and the model name or folder must load on every node.

Needs ``pip install "kosbert_viz[distributed]"``.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kosbert_viz.embed.cache import EmbeddingCache, text_keys
from kosbert_viz._util.validation import renamed_kwargs
from kosbert_viz.exceptions import MissingEmbeddingsError

__all__ = ["encode_dataset", "assign_dataset", "load_embeddings", "EncodeResult", "MissingEmbeddingsError", "shutdown_ray"]

log = logging.getLogger("kosbert_viz")

_INSTALL = ('kosbert_viz.distributed.jobs needs Ray Data: pip install "kosbert_viz[distributed]"  '
            '(or pip install "ray[data]>=2.9"; conda: pip install "ray[data]" inside the environment)')
_ID = "__kv_id"  # the row-position column added to in-memory sources
_PARQUET_EXT = (".parquet", ".pq", ".parq")
_CSV_EXT = (".csv", ".tsv", ".txt")
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4", ".br")
_DEFAULT_BATCH = {"cpu": 4096, "gpu": 16384}


def _restore_builtin_print() -> None:
    """Put back the built-in ``print`` that Ray swaps out.

    Ray Data's progress bars (``ray.experimental.tqdm_ray``) and ``ray.shutdown()`` leave a
    Python function in ``builtins.print``; numba cannot compile code that calls it, so UMAP
    and NN-descent then fail in the same process ("Untyped global name 'print'").
    """
    import builtins

    tqdm_ray = sys.modules.get("ray.experimental.tqdm_ray")
    original = getattr(tqdm_ray, "_print", None)
    if (original is not None and builtins.print is not original
            and type(original) is type(len) and type(builtins.print) is not type(len)):
        builtins.print = original


def shutdown_ray() -> None:
    """``ray.shutdown()`` that leaves numba (UMAP) working: see :func:`_restore_builtin_print`.

    Use it instead of ``ray.shutdown()`` in a notebook.
    """
    _import_ray().shutdown()
    _restore_builtin_print()


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    return ray


@dataclass
class EncodeResult:
    """What :func:`encode_dataset` did; pass it to :func:`load_embeddings` as ``model=``.

    ``rows``: input rows; ``cached``: rows already in the cache; ``encoded``: distinct
    texts encoded in this run; ``repeated``: rows repeating a text of the same batch
    (``rows == cached + encoded + repeated``); ``written``: new cache entries (a text that two actors
    encoded at the same moment is written once after ``compact()``); ``entries``: entries
    the cache holds for this model afterwards.
    """

    cache_path: str
    fingerprint: str | None
    model: str
    text_column: str
    cache_dtype: str = "float32"
    rows: int = 0
    cached: int = 0
    encoded: int = 0
    repeated: int = 0
    written: int = 0
    truncated: int = 0
    batches: int = 0
    entries: int = 0
    seconds: float = 0.0
    actors: int = 0
    num_gpus: float = 0.0
    device: str = "cpu"
    parquet_out: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    @property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.cache_path, dtype=self.cache_dtype)

    def summary(self) -> str:
        return (f"kosbert_viz.encode_dataset: {self.rows:,} rows, {self.cached:,} cached, "
                f"{self.encoded:,} encoded" + (f", {self.repeated:,} repeated" if self.repeated else "") + f" in {self.seconds:.1f} s ({self.rows_per_s:,.0f} rows/s; "
                f"{self.actors} {self.device} actor{'s' if self.actors != 1 else ''}, {self.batches} batches)"
                f" -> {self.cache_path}" + (f" and {self.parquet_out}" if self.parquet_out else ""))


# -- the work done inside each actor -------------------------------------------------------------
def _texts_of(column, name: str) -> list[str]:
    """A pyarrow column as a list of str, with a clear error for missing values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        raise ValueError(f"the text column {name!r} has {column.null_count} missing values (null/NaN); "
                         "drop or fill them before encoding (df.dropna(subset=[...]) or .fillna(''))")
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return column.to_pylist()


def encode_into_cache(encoder, cache: EmbeddingCache, texts: Sequence[str], *, token_budget=None,
                      batch_size=None) -> dict:
    """Encode the texts missing from ``cache`` and store them; returns counts.

    The same steps as :func:`kosbert_viz.encode` (NFC, de-duplicate, cache look-up, the
    encoder's fast path on the misses, one ``put``), without reading cached vectors back.
    """
    from kosbert_viz.embed.encode import unique_texts

    nfc, unique, inverse = unique_texts(texts)
    fp = encoder.fingerprint
    keys = text_keys(fp, unique)
    found = cache.contains(fp, keys) if len(keys) else np.zeros(0, bool)
    todo = np.flatnonzero(~found)
    written = truncated = 0
    if len(todo):
        encoder.last_truncated = 0
        vecs = encoder.encode_unique([unique[i] for i in todo], batch_size=batch_size, token_budget=token_budget)
        truncated = int(getattr(encoder, "last_truncated", 0) or 0)
        written = cache.put(fp, keys[todo], vecs, model=encoder.name, details=encoder.details)
    cached = int(np.count_nonzero(found[inverse])) if len(nfc) else 0
    return {"rows": len(nfc), "cached": cached, "encoded": len(todo), "repeated": len(nfc) - cached - len(todo),
            "written": int(written), "truncated": truncated}


class _EncodeActor:
    """A Ray Data actor: loads the model once, then encodes batches into the cache."""

    def __init__(self, model: str, cache_path: str, cache_dtype: str, text_column: str, precision: str,
                 normalize: bool, token_budget, threads):
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        from kosbert_viz.embed.models import load_encoder

        self.encoder = load_encoder(model, precision=precision, normalize=normalize)
        self.cache = EmbeddingCache(cache_path, dtype=cache_dtype)
        self.text_column = text_column
        self.token_budget = token_budget

    def __call__(self, batch) -> dict:
        texts = _texts_of(batch.column(self.text_column), self.text_column)
        stats = encode_into_cache(self.encoder, self.cache, texts, token_budget=self.token_budget)
        out = {k: np.array([v], dtype=np.int64) for k, v in stats.items()}
        out["fingerprint"] = np.array([self.encoder.fingerprint])
        out["device"] = np.array([str(self.encoder.device)])
        out["pid"] = np.array([os.getpid()], dtype=np.int64)
        return out


_TASK_CACHES: dict[tuple, EmbeddingCache] = {}


def _parquet_rows(batch, *, fingerprint: str, cache_path: str, cache_dtype: str, text_column: str,
                  id_column: str):
    """A Ray Data task: (id, text_hash, vector) rows for a batch, read from the cache."""
    import pyarrow as pa

    cache = _TASK_CACHES.setdefault((cache_path, cache_dtype), EmbeddingCache(cache_path, dtype=cache_dtype))
    keys = text_keys(fingerprint, _texts_of(batch.column(text_column), text_column))
    vecs, found = cache.get(fingerprint, keys)
    if not found.all():
        raise MissingEmbeddingsError(f"{int((~found).sum())} rows of a batch are missing from the cache at "
                                     f"{cache_path} while writing Parquet")
    dim = vecs.shape[1]
    vector = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), dim)
    hashes = pa.array([k.hex() for k in keys.tolist()], pa.string())
    return pa.table({"id": batch.column(id_column), "text_hash": hashes, "vector": vector})


# -- sources ------------------------------------------------------------------------------------
@dataclass
class _Files:
    paths: list[str]      # inside ``filesystem``
    filesystem: Any       # a pyarrow.fs.FileSystem
    fmt: str              # "csv" | "tsv" | "parquet"
    shown: str


def _is_pathlike(source) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return True
    return (isinstance(source, (list, tuple)) and len(source) > 0
            and all(isinstance(s, os.PathLike) for s in source))


def _strip_compression(name: str) -> str:
    low = name.lower()
    for ext in _COMPRESSED:
        if low.endswith(ext):
            return low[: -len(ext)]
    return low


def _format_of(name: str, fmt: str | None) -> str | None:
    if fmt:
        return fmt
    low = _strip_compression(name)
    if low.endswith(_PARQUET_EXT):
        return "parquet"
    if low.endswith(".tsv"):
        return "tsv"
    if low.endswith(_CSV_EXT):
        return "csv"
    return None


def _filesystem(path: str):
    """(pyarrow filesystem, path inside it) for a local path or a URL (pyarrow-native or fsspec)."""
    import pyarrow.fs as pafs

    if "://" not in path:
        return pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())
    try:
        return pafs.FileSystem.from_uri(path)
    except Exception:  # noqa: BLE001 - a protocol pyarrow lacks: go through fsspec
        try:
            import fsspec
        except ImportError as exc:
            raise ImportError(f"reading {path!r} needs fsspec and its driver for that protocol "
                              "(pip install fsspec s3fs / gcsfs / adlfs)") from exc
        fs, inner = fsspec.core.url_to_fs(path)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), inner


def _glob_match(path: str, pattern: str) -> bool:
    """Shell-style match where ``*`` stays inside one folder and ``**`` crosses folders."""
    if "**" in pattern:
        return fnmatch.fnmatchcase(path, pattern)
    parts, pats = path.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pats))


def _expand(source, fmt: str | None) -> _Files:
    """Concrete files (sorted; a folder is searched recursively; globs allowed)."""
    import pyarrow.fs as pafs

    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    paths: list[str] = []
    filesystem = None
    for item in items:
        text = os.fspath(item)
        fs, inner = _filesystem(text)
        if filesystem is None:
            filesystem = fs
        elif type(fs) is not type(filesystem):
            raise ValueError("all source files must be on one filesystem")
        found: list[str] = []
        info = fs.get_file_info(inner)
        if info.type == pafs.FileType.File:
            found = [inner]
        elif info.type == pafs.FileType.Directory:
            sel = pafs.FileSelector(inner, recursive=True)
            found = sorted(i.path for i in fs.get_file_info(sel) if i.type == pafs.FileType.File
                           and not Path(i.path).name.startswith(("_", ".")) and _format_of(i.path, fmt))
        elif any(c in inner for c in "*?["):
            cut = min(inner.index(c) for c in "*?[" if c in inner)
            base = inner[:cut].rsplit("/", 1)[0] or "/"
            sel = pafs.FileSelector(base, recursive=True, allow_not_found=True)
            found = sorted(i.path for i in fs.get_file_info(sel) if i.type == pafs.FileType.File
                           and _glob_match(i.path, inner))
        if not found:
            raise FileNotFoundError(f"no CSV/TSV/Parquet files at {text!r}")
        paths += found
    fmts = {_format_of(p, fmt) for p in paths}
    if None in fmts:
        bad = next(p for p in paths if _format_of(p, fmt) is None)
        raise ValueError(f"cannot tell the format of {bad!r}: name it *.csv / *.tsv / *.parquet or pass format=")
    if len(fmts) > 1:
        raise ValueError(f"the source mixes formats {sorted(fmts)}; encode them in separate calls")
    shown = os.fspath(items[0]) + (f" (+{len(items) - 1} more)" if len(items) > 1 else "")
    return _Files(paths, filesystem, fmts.pop(), shown)


def _csv_options(files: _Files, columns: list[str], read_kwargs: dict) -> dict:
    """pyarrow CSV options shared by Ray's reader and the driver's, so both see the same texts."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    opts = dict(read_kwargs)
    if "parse_options" not in opts and files.fmt == "tsv":
        opts["parse_options"] = pacsv.ParseOptions(delimiter="\t")
    if "convert_options" not in opts:
        opts["convert_options"] = pacsv.ConvertOptions(include_columns=columns,
                                                       column_types={columns[0]: pa.string()})
    return opts


def _read_files_driver(files: _Files, columns: list[str], read_kwargs: dict):
    """Yield pyarrow tables of ``columns`` file by file, in order (on the driver)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    for path in files.paths:
        if files.fmt == "parquet":
            yield pq.read_table(path, columns=columns, filesystem=files.filesystem)
        else:
            opts = _csv_options(files, columns, read_kwargs)
            with files.filesystem.open_input_stream(path, compression="detect") as fh:
                yield pacsv.read_csv(fh, **opts)


def _in_memory_table(source, text_column: str, id_column: str | None):
    """A pyarrow table (text, id) from a list, pandas Series or DataFrame."""
    import pyarrow as pa

    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - core dependency
        pd = None
    if pd is not None and isinstance(source, pd.DataFrame):
        if text_column not in source.columns:
            raise KeyError(f"the DataFrame has no column {text_column!r} (columns: {list(source.columns)[:10]})")
        texts = source[text_column]
        ids = source[id_column].to_numpy() if id_column else np.arange(len(source), dtype=np.int64)
    else:
        if isinstance(source, (str, bytes)) or not hasattr(source, "__iter__"):
            raise TypeError(f"source must be a list of texts, a pandas DataFrame or file path(s), "
                            f"got {type(source).__name__}")
        if id_column:
            raise ValueError("id_column= needs a DataFrame or file source; a list gets its positions as ids")
        texts = source
        ids = None
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            hint = " (missing values? use .dropna() or .fillna(''))" if t is None or t != t else ""
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str{hint}")
    if ids is None:
        ids = np.arange(len(texts), dtype=np.int64)
    return pa.table({text_column: pa.array(texts, pa.string()), _ID: pa.array(ids)})


def _with_cpus(reader, kwargs: dict, cpus: float | None) -> dict:
    """Add the read tasks' CPU request in the form this Ray version takes."""
    import inspect

    if cpus is None or "num_cpus" in kwargs:
        return kwargs
    params = inspect.signature(reader).parameters
    if "num_cpus" in params:
        return {**kwargs, "num_cpus": cpus}
    if "ray_remote_args" in params:  # older Ray Data
        return {**kwargs, "ray_remote_args": {**kwargs.get("ray_remote_args", {}), "num_cpus": cpus}}
    return kwargs


def _dataset(source, *, text_column: str, id_column: str | None, block_rows: int, fmt: str | None,
             read_kwargs: dict, read_cpus: float | None = None):
    """(Ray dataset, id column name, number of rows or None, description)."""
    import ray.data

    if _is_pathlike(source):
        files = _expand(source, fmt)
        columns = [text_column] + ([id_column] if id_column and id_column != text_column else [])
        if files.fmt == "parquet":
            kwargs = _with_cpus(ray.data.read_parquet, read_kwargs, read_cpus)
            ds = ray.data.read_parquet(files.paths, filesystem=files.filesystem, **kwargs).select_columns(columns)
        else:
            kwargs = _with_cpus(ray.data.read_csv, _csv_options(files, columns, read_kwargs), read_cpus)
            ds = ray.data.read_csv(files.paths, filesystem=files.filesystem, **kwargs)
        return ds, id_column, None, f"{len(files.paths)} {files.fmt} file(s) at {files.shown}"
    table = _in_memory_table(source, text_column, id_column)
    n = table.num_rows
    step = max(1, int(block_rows))
    blocks = [table.slice(i, step) for i in range(0, n, step)] or [table]
    return ray.data.from_arrow(blocks), _ID, n, f"{n:,} in-memory texts"


# -- Ray ------------------------------------------------------------------------------------
def _connect(ray, address: str | None, init_kwargs: dict | None) -> str:
    if ray.is_initialized():
        return "the running Ray"
    kwargs = dict(init_kwargs or {})
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("logging_level", logging.WARNING)
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        ray.init(address=address, **kwargs)  # address=None lets Ray read $RAY_ADDRESS itself
        return f"the Ray cluster at {target}"
    ray.init(**kwargs)
    return "a local Ray"


def _fsspec_http_broken() -> bool:
    """fsspec is installed but its HTTP filesystem cannot be imported (no aiohttp)."""
    import importlib.util

    if importlib.util.find_spec("fsspec") is None:
        return False
    return importlib.util.find_spec("aiohttp") is None


def _ray_version(ray) -> tuple[int, int]:
    try:
        major, minor = ray.__version__.split(".")[:2]
        return int(major), int(minor)
    except ValueError:  # pragma: no cover - dev builds
        return (99, 0)


def _resolve_model(model) -> str:
    from kosbert_viz.embed.models import resolve_model_name

    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise TypeError("encode_dataset needs the model as a name or a folder path (each actor loads it), "
                        f"got {type(model).__name__}")
    name, _ = resolve_model_name(model)
    local = Path(name).expanduser()
    return str(local.resolve()) if local.exists() else name


def resolve_cache(cache) -> EmbeddingCache:
    from kosbert_viz.embed.encode import resolve_cache as resolve

    if cache is None or cache is False:
        raise ValueError("encode_dataset writes into the embedding cache: pass cache='auto' or a folder "
                         "(on a cluster, a folder every node sees)")
    store = resolve(cache)
    return EmbeddingCache(Path(store.path).expanduser().resolve(), dtype=store.dtype)


@renamed_kwargs(show_progress="show_progress_bar")
def encode_dataset(
    source,
    *,
    model=None,
    cache="auto",
    text_column: str = "text",
    id_column: str | None = None,
    num_gpus: float | None = None,
    concurrency: int | None = None,
    num_cpus: float | None = None,
    batch_size: int | None = None,
    batch_tokens: int | None = None,
    precision: str = "auto",
    normalize: bool = False,
    parquet_out: str | os.PathLike | None = None,
    format: str | None = None,  # noqa: A002 - mirrors the file formats
    read_kwargs: dict | None = None,
    address: str | None = None,
    init_kwargs: dict | None = None,
    show_progress_bar: bool = True,
    _actor_cls=None,
) -> EncodeResult:
    """Encode a corpus on a Ray cluster (or a local Ray) into the embedding cache.

    Parameters
    ----------
    source : list of str, pandas DataFrame, or path(s)
        A list (or Series) of texts; a DataFrame with ``text_column``; or a CSV / TSV /
        Parquet file, a folder of them, a glob, or a list of ``pathlib.Path``. URLs
        (``s3://``, ``gs://``, ``hdfs://``, any fsspec protocol) are read by the workers.
        A list of *strings* is always texts; several files: a folder, a glob or Paths.
    model : str or path, optional
        Loaded once per actor; default ``$KOSBERT_VIZ_MODEL``, else ko-sbert-multitask.
    cache : "auto", path or EmbeddingCache
        Where vectors go (``"auto"``: ``$KOSBERT_VIZ_CACHE`` or the user cache dir on the
        driver). On a multi-node cluster: a folder every node mounts.
    text_column, id_column : str
        The text column; ``id_column`` names ids for the Parquet output (files need it;
        in-memory sources default to the row position).
    num_gpus : float, optional
        GPUs per actor. Default: 1 when the cluster has GPUs, else 0 (CPU actors).
    concurrency : int, optional
        Actors in the pool. Default: the cluster's GPUs / ``num_gpus``, or its CPUs /
        ``num_cpus`` for CPU actors.
    num_cpus : float, optional
        CPUs reserved per actor (and torch threads on CPU actors); default 1.
    batch_size : int, optional
        Rows per actor call: one cache segment, and the unit a stopped run resumes from
        (default 4096 on CPU, 16384 on GPU).
    batch_tokens : int, optional
        Padded tokens per forward pass inside an actor (``encode(token_budget=)``).
    precision, normalize
        As in :func:`kosbert_viz.encode`; part of the cache fingerprint (``"auto"`` is
        fp16 on GPU actors, fp32 on CPU actors).
    parquet_out : str or path, optional
        Also write ``(id, text_hash, vector)`` Parquet files into this folder (or URL).
    format : {"csv", "tsv", "parquet"}, optional
        File format when the names do not say it.
    read_kwargs : dict, optional
        Passed to the readers (pyarrow ``parse_options`` / ``read_options`` for CSV,
        ``ray.data.read_parquet`` options for Parquet).
    address : str, optional
        A Ray cluster (``"auto"``, ``"ray://head:10001"``); default ``$RAY_ADDRESS``,
        else a local Ray. An already initialised Ray is used as it is.
    init_kwargs : dict, optional
        Extra ``ray.init`` arguments (e.g. ``runtime_env``, ``num_cpus`` for a local Ray).
    show_progress_bar : bool
        Ray Data's progress bars and the summary line.

    Returns
    -------
    EncodeResult
        Counts, timing and where the vectors are; ``kv.load_embeddings(source, result)``
        returns them in the input's order.
    """
    ray = _import_ray()
    from ray.data import ActorPoolStrategy, DataContext

    read_kwargs = dict(read_kwargs or {})
    model_name = _resolve_model(model)
    store = resolve_cache(cache)
    if parquet_out is not None and id_column is None and _is_pathlike(source):
        raise ValueError("parquet_out= with a file source needs id_column= (the column that identifies a row)")
    t_start = time.perf_counter()
    where = _connect(ray, address, init_kwargs)
    resources = ray.cluster_resources()
    cluster_gpus, cluster_cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 1))
    if num_gpus is None:
        num_gpus = 1.0 if cluster_gpus >= 1 else 0.0
    if num_gpus and cluster_gpus < num_gpus:
        raise ValueError(f"num_gpus={num_gpus} per actor, but the cluster has {cluster_gpus:g} GPUs")
    if num_cpus is None:
        num_cpus = 1.0
    if concurrency is None:
        concurrency = int(cluster_gpus // num_gpus) if num_gpus else int(cluster_cpus // max(num_cpus, 1e-9))
    concurrency = max(1, int(concurrency))
    kind = "gpu" if num_gpus else "cpu"
    batch_size = int(batch_size or _DEFAULT_BATCH[kind])
    threads = None if num_gpus else max(1, int(round(num_cpus)))

    ctx = DataContext.get_current()
    saved = (ctx.enable_progress_bars, getattr(ctx, "use_datasource_v2", None))
    ctx.enable_progress_bars = bool(show_progress_bar)
    if saved[1] and _fsspec_http_broken():
        # Ray Data's threaded V2 file listing imports fsspec's HTTP filesystem from several
        # threads; without aiohttp that import races and fails at random (Ray 2.60).
        ctx.use_datasource_v2 = False
    try:
        # Read tasks must not wait for CPUs that the actors hold for the whole run (a deadlock
        # when CPU actors fill the cluster): they ask for what is left, down to 0.
        free = cluster_cpus - concurrency * num_cpus
        read_cpus = None if free >= 1 else max(0.0, free)
        ds, id_col, n_known, desc = _dataset(source, text_column=text_column, id_column=id_column,
                                             block_rows=batch_size, fmt=format, read_kwargs=read_kwargs,
                                             read_cpus=read_cpus)
        log.info("kosbert_viz.encode_dataset: %s on %s, %d %s actor(s)", desc, where, concurrency, kind)
        remote: dict[str, Any] = {}
        if _ray_version(ray) < (2, 60):  # newer Ray Data sets these defaults and deprecates passing them
            remote.update(max_restarts=-1, max_task_retries=-1)
        actor_cls = _actor_cls or _EncodeActor
        stats_ds = ds.map_batches(
            actor_cls,
            fn_constructor_kwargs=dict(model=model_name, cache_path=str(store.path), cache_dtype=store.dtype,
                                       text_column=text_column, precision=precision, normalize=normalize,
                                       token_budget=batch_tokens, threads=threads),
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ActorPoolStrategy(size=concurrency),
            num_cpus=num_cpus,
            num_gpus=num_gpus or None,
            **remote,
        )
        totals = {"rows": 0, "cached": 0, "encoded": 0, "repeated": 0, "written": 0, "truncated": 0}
        fingerprints: set[str] = set()
        devices: set[str] = set()
        pids: set[int] = set()
        batches = 0
        for part in stats_ds.iter_batches(batch_size=None, batch_format="numpy"):
            for k in totals:
                totals[k] += int(part[k].sum())
            fingerprints.update(str(f) for f in part["fingerprint"])
            devices.update(str(d) for d in part["device"])
            pids.update(int(p) for p in part["pid"])
            batches += len(part["rows"])
        if len(fingerprints) > 1:
            raise RuntimeError(f"the actors loaded the model differently (fingerprints {sorted(fingerprints)}); "
                               "pin precision= and make the model identical on every node")
        fingerprint = fingerprints.pop() if fingerprints else None
        if n_known is not None and totals["rows"] != n_known:
            raise RuntimeError(f"Ray returned counts for {totals['rows']} of {n_known} rows")
        store.compact()
        entries = 0
        if fingerprint is not None:
            ns = store.namespace(fingerprint)
            entries = next((m["entries"] for m in store.info()["models"] if m["namespace"] == ns), 0)
        out_path = None
        if parquet_out is not None and fingerprint is not None:
            out_path = _write_parquet(ds, parquet_out, fingerprint=fingerprint, store=store,
                                      text_column=text_column, id_column=id_col)
    finally:
        ctx.enable_progress_bars = saved[0]
        if saved[1] is not None:
            ctx.use_datasource_v2 = saved[1]
        _restore_builtin_print()
    result = EncodeResult(
        cache_path=str(store.path), fingerprint=fingerprint, model=model_name, text_column=text_column,
        cache_dtype=store.dtype,
        batches=batches, entries=entries, seconds=time.perf_counter() - t_start, actors=concurrency,
        num_gpus=float(num_gpus), device=",".join(sorted(devices)) or kind, parquet_out=out_path,
        extra={"actor_pids": sorted(pids), "where": where, "source": desc}, **totals)
    if show_progress_bar:
        print(result.summary(), file=sys.stderr, flush=True)
    else:
        log.info(result.summary())
    return result


# What assign_dataset returns besides level_0, level_1, ... (and "row" for in-memory sources).
_PLACEMENT_COLUMNS = ("label", "name", "x", "y", "novelty", "is_new", "similarity")


class _AssignActor:
    """A Ray Data actor: loads the saved map and its model once, then places batches (``placement.assign``)."""

    def __init__(self, map_path: str, model, cache_path: str, cache_dtype: str, text_column: str, top_k: int,
                 new_threshold: float, threads, id_column: str | None = None):
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        from kosbert_viz.maps.textmap import load_map
        from kosbert_viz.maps.placement import map_encoder, prepare

        self.tm = load_map(map_path, draw=False)
        self.encoder = map_encoder(self.tm, model)
        prepare(self.tm)  # the saved placement index (or the exact search) once, not per batch
        self.cache = EmbeddingCache(cache_path, dtype=cache_dtype)
        self.text_column, self.top_k, self.new_threshold = text_column, top_k, new_threshold
        self.id_column = id_column

    def __call__(self, batch) -> dict:
        from kosbert_viz.maps.placement import assign

        texts = _texts_of(batch.column(self.text_column), self.text_column)
        a = assign(self.tm, texts, model=self.encoder, top_k=self.top_k, new_threshold=self.new_threshold,
                   cache=self.cache, show_progress_bar=False)
        out = {f"level_{i}": np.asarray(lv, np.int64) for i, lv in enumerate(a.levels)}
        out.update(zip(_PLACEMENT_COLUMNS, (
            np.asarray(a.labels, np.int64), np.array(a.names, dtype=object), a.coords[:, 0], a.coords[:, 1],
            a.novelty, a.is_new, a.similarity.astype(np.float64))))
        if _ID in batch.column_names:
            out[_ID] = batch.column(_ID).to_numpy()
        if self.id_column is not None and self.id_column in batch.column_names:  # to join the rows back
            out[self.id_column] = batch.column(self.id_column).to_numpy(zero_copy_only=False)
        return out


def assign_dataset(source, map_path, *, text_column: str = "text", model=None, cache="auto", top_k: int = 15,
                   new_threshold: float = 0.99, concurrency: int | None = None, num_cpus: float | None = None,
                   batch_size: int | None = None, out=None, format: str | None = None,  # noqa: A002
                   read_kwargs: dict | None = None, address: str | None = None, init_kwargs: dict | None = None,
                   show_progress_bar: bool = False, collect: bool = True, id_column: str | None = None):
    """Place a corpus into a saved map on Ray Data: ``tm.assign`` on every batch, in parallel actors.

    ``source``, ``text_column``, ``cache``, ``concurrency``, ``num_cpus``, ``batch_size``, ``format``,
    ``read_kwargs``, ``address`` and ``init_kwargs`` are as in :func:`encode_dataset` (the same
    sources, the same embedding cache, the same kind of actor pool). Each actor loads the map at
    ``map_path`` once (``kv.load_map``, with its saved placement index) and the map's model (or
    ``model``, refused unless it is the map's), and places its batches with
    :func:`kosbert_viz.maps.placement.assign`, so the result equals single-process ``tm.assign``.
    Returns a pandas DataFrame in the input's order: ``level_0`` ... (coarsest first), ``label`` and
    ``name`` (the map's shown level), ``x``, ``y``, ``novelty``, ``is_new``, ``similarity``;
    ``out=`` also writes it to a Parquet file.

    For inputs larger than the driver's memory: ``collect=False`` with ``out=`` (a folder, local or a
    URL) has the Ray workers write the placements as Parquet files and collects nothing on the driver;
    it returns ``out``. ``id_column=`` (a column of a file source) is carried into every output row, so
    they join back to the input (the written files' order is Ray's, not the input's); in-memory sources
    get their row positions as ``row``.

    It starts Ray and reads files a test machine does not have, so the suite skips this example
    (tests/test_distributed.py runs it on a local Ray):

    >>> df = kv.distributed.assign_dataset("reviews/*.parquet", "maps/voc", text_column="review")  # doctest: +SKIP
    >>> df.groupby("name").size().sort_values().tail()  # doctest: +SKIP
    """
    ray = _import_ray()
    from ray.data import ActorPoolStrategy, DataContext

    from kosbert_viz._util.validation import check_positive_int

    top_k = check_positive_int(top_k, "top_k")
    if not collect:
        if out is None:
            raise ValueError("collect=False needs out= (the folder the Ray workers write the placements to)")
        import pyarrow.fs as pafs

        fs, inner = _filesystem(os.fspath(out))
        info = fs.get_file_info(inner)
        if info.type == pafs.FileType.File or (
                info.type == pafs.FileType.Directory and fs.get_file_info(pafs.FileSelector(inner))):
            raise ValueError(f"out={os.fspath(out)!r} exists and is not an empty folder; the workers add files to "
                             "it, so a second run would mix with the first: choose a new folder or empty it")
    if id_column is not None and (id_column in (*_PLACEMENT_COLUMNS, "row") or id_column.startswith("level_")):
        raise ValueError(f"id_column={id_column!r} would overwrite a result column; rename it in the source")
    map_path = str(Path(os.fspath(map_path)).expanduser().resolve())
    if not Path(map_path).is_dir():
        raise FileNotFoundError(f"no saved map at {map_path} (expected a folder written by TextMap.save)")
    if model is not None:
        model = _resolve_model(model)
    store = resolve_cache(cache)
    where = _connect(ray, address, init_kwargs)
    cluster_cpus = float(ray.cluster_resources().get("CPU", 1))
    num_cpus = 1.0 if num_cpus is None else float(num_cpus)
    concurrency = max(1, int(concurrency or cluster_cpus // max(num_cpus, 1e-9)))
    batch_size = int(batch_size or _DEFAULT_BATCH["cpu"])
    ctx = DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.execution_options.preserve_order)
    ctx.enable_progress_bars = bool(show_progress_bar)
    ctx.execution_options.preserve_order = bool(collect)  # collected rows come back in the input's order
    try:
        free = cluster_cpus - concurrency * num_cpus
        if id_column is not None and not _is_pathlike(source):
            raise ValueError("id_column= is for file sources; in-memory sources keep their row positions "
                             "(column 'row' with collect=False)")
        ds, _, n_known, desc = _dataset(source, text_column=text_column, id_column=id_column, block_rows=batch_size,
                                        fmt=format, read_kwargs=dict(read_kwargs or {}),
                                        read_cpus=None if free >= 1 else max(0.0, free))
        log.info("kosbert_viz.assign_dataset: %s into %s on %s, %d actor(s)", desc, map_path, where, concurrency)
        remote: dict[str, Any] = {}
        if _ray_version(ray) < (2, 60):
            remote.update(max_restarts=-1, max_task_retries=-1)
        placed = ds.map_batches(
            _AssignActor,
            fn_constructor_kwargs=dict(map_path=map_path, model=model, cache_path=str(store.path),
                                       cache_dtype=store.dtype, text_column=text_column, top_k=top_k,
                                       new_threshold=float(new_threshold), threads=max(1, int(round(num_cpus))),
                                       id_column=id_column),
            batch_size=batch_size, batch_format="pyarrow", compute=ActorPoolStrategy(size=concurrency),
            num_cpus=num_cpus, **remote)
        if not collect:  # the workers write; nothing comes back to the driver but the row count
            import pyarrow.dataset as pads

            if not _is_pathlike(source):
                placed = placed.rename_columns({_ID: "row"})
            placed.write_parquet(inner, filesystem=fs)
            written = pads.dataset(inner, filesystem=fs, format="parquet").count_rows()
            if n_known is not None and written != n_known:
                raise RuntimeError(f"Ray wrote placements for {written} of {n_known} rows to {os.fspath(out)}")
            log.info("kosbert_viz.assign_dataset: %d placements written to %s", written, os.fspath(out))
            return os.fspath(out)
        df = placed.to_pandas()
    finally:
        ctx.enable_progress_bars, ctx.execution_options.preserve_order = saved
        _restore_builtin_print()
    if _ID in df.columns:  # in-memory sources carry their row positions: order by them
        df = df.sort_values(_ID, kind="stable").drop(columns=_ID).reset_index(drop=True)
    if n_known is not None and len(df) != n_known:
        raise RuntimeError(f"Ray returned placements for {len(df)} of {n_known} rows")
    if out is not None:
        df.to_parquet(os.fspath(out), index=False)
    return df


def _write_parquet(ds, parquet_out, *, fingerprint: str, store: EmbeddingCache, text_column: str,
                   id_column: str) -> str:
    """Second pass (tasks, no model): look each row up in the cache and write Parquet."""
    text = os.fspath(parquet_out)
    fs, inner = _filesystem(text)
    rows = ds.map_batches(_parquet_rows, batch_format="pyarrow",
                          fn_kwargs=dict(fingerprint=fingerprint, cache_path=str(store.path),
                                         cache_dtype=store.dtype, text_column=text_column, id_column=id_column))
    rows.write_parquet(inner, filesystem=fs)
    return text


# -- reading back -----------------------------------------------------------------------------
def _texts_for(source, text_column: str, fmt: str | None, read_kwargs: dict):
    """Yield lists of texts of ``source`` in input order (files one by one)."""
    if _is_pathlike(source):
        files = _expand(source, fmt)
        for table in _read_files_driver(files, [text_column], read_kwargs):
            yield _texts_of(table.column(text_column), text_column)
        return
    try:
        import pandas as pd

        if isinstance(source, pd.DataFrame):
            source = source[text_column]
    except ImportError:  # pragma: no cover
        pass
    if isinstance(source, str):
        raise TypeError("source must be a list of texts, a DataFrame or file path(s); a single str is read as a path")
    texts = list(source)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    yield texts


def load_embeddings(
    source,
    model=None,
    *,
    cache="auto",
    text_column: str | None = None,
    format: str | None = None,  # noqa: A002
    read_kwargs: dict | None = None,
    device: str | None = None,
    precision: str = "auto",
    normalize: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Vectors of ``source`` from the cache, in the input's order.

    ``source`` is what :func:`encode_dataset` was given (texts, a DataFrame, file path(s)).
    ``model`` is the :class:`EncodeResult` of that run (its fingerprint and cache are
    used; works on a machine without the model), or a model name / folder loaded here
    (with the same ``precision``/``normalize`` as the run). Raises
    :class:`MissingEmbeddingsError` naming how many texts are missing. Needs no Ray.

    >>> vectors = kv.encode(df["review"], show_progress_bar=False)   # fills the cache (so does encode_dataset)
    >>> emb = kv.load_embeddings(df, text_column="review")   # default model; or the run's EncodeResult
    >>> emb.shape == (len(df), vectors.shape[1]), emb.dtype, bool((emb == vectors).all())
    (True, dtype('float32'), True)
    """
    if isinstance(model, EncodeResult):
        fingerprint, name = model.fingerprint, model.model
        store = model.cache if cache == "auto" else resolve_cache(cache)
        text_column = text_column or model.text_column
    else:
        from kosbert_viz.embed.models import load_encoder

        encoder = load_encoder(model, device=device, precision=precision, normalize=normalize)
        fingerprint, name = encoder.fingerprint, encoder.name
        store = resolve_cache(cache)
    text_column = text_column or "text"
    pieces: list[np.ndarray] = []
    done = missing = 0
    first_missing: list[int] = []
    for texts in _texts_for(source, text_column, format, dict(read_kwargs or {})):
        for start in range(0, len(texts), 65536):
            chunk = texts[start:start + 65536]
            if fingerprint is None:  # a run over an empty source
                found = np.zeros(len(chunk), bool)
                vecs = np.zeros((len(chunk), 0), np.float32)
            else:
                vecs, found = store.get(fingerprint, text_keys(fingerprint, chunk))
            if not found.all():
                miss = np.flatnonzero(~found)
                missing += len(miss)
                first_missing += [done + int(i) for i in miss[: max(0, 5 - len(first_missing))]]
            if out is not None and found.all():
                if done + len(chunk) > len(out):
                    raise ValueError(f"out has {len(out)} rows, but the source has more texts")
                out[done:done + len(chunk)] = vecs
            elif not missing:
                pieces.append(vecs)
            done += len(chunk)
    if missing:
        hint = ""
        if missing == done:
            hint = (" None of them is cached for this model: check the cache folder, and pass the "
                    "EncodeResult as model= (GPU runs store fp16 vectors, another fingerprint than a CPU "
                    "load of the same model).")
        raise MissingEmbeddingsError(
            f"{missing:,} of {done:,} texts have no vector in the cache at {store.path} for model {name!r} "
            f"(fingerprint {fingerprint}); first missing rows: {first_missing}.{hint} Run encode_dataset(...) "
            "again: it resumes and encodes only what is missing.")
    if out is not None:
        if done != len(out):
            raise ValueError(f"out has {len(out)} rows, but the source had {done} texts")
        return out
    if not pieces:
        return np.empty((0, 0), np.float32)
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
