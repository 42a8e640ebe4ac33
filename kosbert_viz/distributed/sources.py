"""Where a distributed job reads its texts: files (local, S3, GCS, HTTP; Parquet, CSV, JSON lines), globs, or in-memory tables."""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("kosbert_viz")


ROW_ID_COLUMN = "__kv_id"  # the row-position column added to in-memory sources


_PARQUET_EXT = (".parquet", ".pq", ".parq")


_CSV_EXT = (".csv", ".tsv", ".txt")


_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4", ".br")


# -- sources ------------------------------------------------------------------------------------
@dataclass
class _Files:
    paths: list[str]  # inside ``filesystem``
    filesystem: Any  # a pyarrow.fs.FileSystem
    fmt: str  # "csv" | "tsv" | "parquet"
    shown: str


def is_pathlike(source) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return True
    return isinstance(source, (list, tuple)) and len(source) > 0 and all(isinstance(s, os.PathLike) for s in source)


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


def resolve_filesystem(path: str) -> tuple:
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
            raise ImportError(
                f"reading {path!r} needs fsspec and its driver for that protocol "
                "(pip install fsspec s3fs / gcsfs / adlfs)"
            ) from exc
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
        fs, inner = resolve_filesystem(text)
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
            found = sorted(
                i.path
                for i in fs.get_file_info(sel)
                if i.type == pafs.FileType.File
                and not Path(i.path).name.startswith(("_", "."))
                and _format_of(i.path, fmt)
            )
        elif any(c in inner for c in "*?["):
            cut = min(inner.index(c) for c in "*?[" if c in inner)
            base = inner[:cut].rsplit("/", 1)[0] or "/"
            sel = pafs.FileSelector(base, recursive=True, allow_not_found=True)
            found = sorted(
                i.path for i in fs.get_file_info(sel) if i.type == pafs.FileType.File and _glob_match(i.path, inner)
            )
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
        opts["convert_options"] = pacsv.ConvertOptions(include_columns=columns, column_types={columns[0]: pa.string()})
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
            raise TypeError(
                f"source must be a list of texts, a pandas DataFrame or file path(s), got {type(source).__name__}"
            )
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
    return pa.table({text_column: pa.array(texts, pa.string()), ROW_ID_COLUMN: pa.array(ids)})


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


def ray_dataset(
    source,
    *,
    text_column: str,
    id_column: str | None,
    block_rows: int,
    fmt: str | None,
    read_kwargs: dict,
    read_cpus: float | None = None,
) -> tuple:
    """(Ray dataset, id column name, number of rows or None, description)."""
    import ray.data

    if is_pathlike(source):
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
    return ray.data.from_arrow(blocks), ROW_ID_COLUMN, n, f"{n:,} in-memory texts"


# -- reading back -----------------------------------------------------------------------------
def texts_for(source, text_column: str, fmt: str | None, read_kwargs: dict) -> Iterator[list[str]]:
    """Yield lists of texts of ``source`` in input order (files one by one)."""
    if is_pathlike(source):
        files = _expand(source, fmt)
        for table in _read_files_driver(files, [text_column], read_kwargs):
            yield texts_of(table.column(text_column), text_column)
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


# -- the work done inside each actor -------------------------------------------------------------
def texts_of(column, name: str) -> list[str]:
    """A pyarrow column as a list of str, with a clear error for missing values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        raise ValueError(
            f"the text column {name!r} has {column.null_count} missing values (null/NaN); "
            "drop or fill them before encoding (df.dropna(subset=[...]) or .fillna(''))"
        )
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return column.to_pylist()
