"""``assign_dataset``: texts placed into a saved map on Ray Data actors (the map loaded once per actor)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kosbert_viz._util.validation import check_positive_int
from kosbert_viz.distributed.encode import DEFAULT_BATCH, resolve_cache, resolve_model
from kosbert_viz.distributed.session import (
    connect_ray,
    import_ray,
    ray_version,
    restore_builtin_print,
)
from kosbert_viz.distributed.sources import (
    ROW_ID_COLUMN,
    is_pathlike,
    ray_dataset,
    resolve_filesystem,
    texts_of,
)
from kosbert_viz.embed.cache import EmbeddingCache
from kosbert_viz.maps.placement import assign, map_encoder, prepare
from kosbert_viz.maps.textmap import load_map

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("kosbert_viz")


# What assign_dataset returns besides level_0, level_1, ... (and "row" for in-memory sources).
_PLACEMENT_COLUMNS = ("label", "name", "x", "y", "novelty", "is_new", "similarity")


class _AssignActor:
    """A Ray Data actor: loads the saved map and its model once, then places batches (``placement.assign``)."""

    def __init__(
        self,
        map_path: str,
        model,
        cache_path: str,
        cache_dtype: str,
        text_column: str,
        top_k: int,
        new_threshold: float,
        threads,
        id_column: str | None = None,
    ):
        if threads:
            import torch

            torch.set_num_threads(int(threads))

        self.tm = load_map(map_path, draw=False)
        self.encoder = map_encoder(self.tm, model)
        prepare(self.tm)  # the saved placement index (or the exact search) once, not per batch
        self.cache = EmbeddingCache(cache_path, dtype=cache_dtype)
        self.text_column, self.top_k, self.new_threshold = text_column, top_k, new_threshold
        self.id_column = id_column

    def __call__(self, batch) -> dict:
        texts = texts_of(batch.column(self.text_column), self.text_column)
        a = assign(
            self.tm,
            texts,
            model=self.encoder,
            top_k=self.top_k,
            new_threshold=self.new_threshold,
            cache=self.cache,
            show_progress_bar=False,
        )
        out = {f"level_{i}": np.asarray(lv, np.int64) for i, lv in enumerate(a.levels)}
        out.update(
            zip(
                _PLACEMENT_COLUMNS,
                (
                    np.asarray(a.labels, np.int64),
                    np.array(a.names, dtype=object),
                    a.coords[:, 0],
                    a.coords[:, 1],
                    a.novelty,
                    a.is_new,
                    a.similarity.astype(np.float64),
                ),
            )
        )
        if ROW_ID_COLUMN in batch.column_names:
            out[ROW_ID_COLUMN] = batch.column(ROW_ID_COLUMN).to_numpy()
        if self.id_column is not None and self.id_column in batch.column_names:  # to join the rows back
            out[self.id_column] = batch.column(self.id_column).to_numpy(zero_copy_only=False)
        return out


def assign_dataset(
    source,
    map_path,
    *,
    text_column: str = "text",
    model=None,
    cache="auto",
    top_k: int = 15,
    new_threshold: float = 0.99,
    concurrency: int | None = None,
    num_cpus: float | None = None,
    batch_size: int | None = None,
    out=None,
    format: str | None = None,  # noqa: A002
    read_kwargs: dict | None = None,
    address: str | None = None,
    init_kwargs: dict | None = None,
    show_progress_bar: bool = False,
    collect: bool = True,
    id_column: str | None = None,
) -> pd.DataFrame | str:
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
    (tests/unit/test_distributed.py runs it on a local Ray):

    >>> df = kv.distributed.assign_dataset("reviews/*.parquet", "maps/voc", text_column="review")  # doctest: +SKIP
    >>> df.groupby("name").size().sort_values().tail()  # doctest: +SKIP
    """
    ray = import_ray()
    from ray.data import ActorPoolStrategy, DataContext

    top_k = check_positive_int(top_k, "top_k")
    if not collect:
        if out is None:
            raise ValueError("collect=False needs out= (the folder the Ray workers write the placements to)")
        import pyarrow.fs as pafs

        fs, inner = resolve_filesystem(os.fspath(out))
        info = fs.get_file_info(inner)
        if info.type == pafs.FileType.File or (
            info.type == pafs.FileType.Directory and fs.get_file_info(pafs.FileSelector(inner))
        ):
            raise ValueError(
                f"out={os.fspath(out)!r} exists and is not an empty folder; the workers add files to "
                "it, so a second run would mix with the first: choose a new folder or empty it"
            )
    if id_column is not None and (id_column in (*_PLACEMENT_COLUMNS, "row") or id_column.startswith("level_")):
        raise ValueError(f"id_column={id_column!r} would overwrite a result column; rename it in the source")
    map_path = str(Path(os.fspath(map_path)).expanduser().resolve())
    if not Path(map_path).is_dir():
        raise FileNotFoundError(f"no saved map at {map_path} (expected a folder written by TextMap.save)")
    if model is not None:
        model = resolve_model(model)
    store = resolve_cache(cache)
    where = connect_ray(ray, address, init_kwargs)
    cluster_cpus = float(ray.cluster_resources().get("CPU", 1))
    num_cpus = 1.0 if num_cpus is None else float(num_cpus)
    concurrency = max(1, int(concurrency or cluster_cpus // max(num_cpus, 1e-9)))
    batch_size = int(batch_size or DEFAULT_BATCH["cpu"])
    ctx = DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.execution_options.preserve_order)
    ctx.enable_progress_bars = bool(show_progress_bar)
    ctx.execution_options.preserve_order = bool(collect)  # collected rows come back in the input's order
    try:
        free = cluster_cpus - concurrency * num_cpus
        if id_column is not None and not is_pathlike(source):
            raise ValueError(
                "id_column= is for file sources; in-memory sources keep their row positions "
                "(column 'row' with collect=False)"
            )
        ds, _, n_known, desc = ray_dataset(
            source,
            text_column=text_column,
            id_column=id_column,
            block_rows=batch_size,
            fmt=format,
            read_kwargs=dict(read_kwargs or {}),
            read_cpus=None if free >= 1 else max(0.0, free),
        )
        log.info("kosbert_viz.assign_dataset: %s into %s on %s, %d actor(s)", desc, map_path, where, concurrency)
        remote: dict[str, Any] = {}
        if ray_version(ray) < (2, 60):
            remote.update(max_restarts=-1, max_task_retries=-1)
        placed = ds.map_batches(
            _AssignActor,
            fn_constructor_kwargs=dict(
                map_path=map_path,
                model=model,
                cache_path=str(store.path),
                cache_dtype=store.dtype,
                text_column=text_column,
                top_k=top_k,
                new_threshold=float(new_threshold),
                threads=max(1, int(round(num_cpus))),
                id_column=id_column,
            ),
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ActorPoolStrategy(size=concurrency),
            num_cpus=num_cpus,
            **remote,
        )
        if not collect:  # the workers write; nothing comes back to the driver but the row count
            import pyarrow.dataset as pads

            if not is_pathlike(source):
                placed = placed.rename_columns({ROW_ID_COLUMN: "row"})
            placed.write_parquet(inner, filesystem=fs)
            written = pads.dataset(inner, filesystem=fs, format="parquet").count_rows()
            if n_known is not None and written != n_known:
                raise RuntimeError(f"Ray wrote placements for {written} of {n_known} rows to {os.fspath(out)}")
            log.info("kosbert_viz.assign_dataset: %d placements written to %s", written, os.fspath(out))
            return os.fspath(out)
        df = placed.to_pandas()
    finally:
        ctx.enable_progress_bars, ctx.execution_options.preserve_order = saved
        restore_builtin_print()
    if ROW_ID_COLUMN in df.columns:  # in-memory sources carry their row positions: order by them
        df = df.sort_values(ROW_ID_COLUMN, kind="stable").drop(columns=ROW_ID_COLUMN).reset_index(drop=True)
    if n_known is not None and len(df) != n_known:
        raise RuntimeError(f"Ray returned placements for {len(df)} of {n_known} rows")
    if out is not None:
        df.to_parquet(os.fspath(out), index=False)
    return df
