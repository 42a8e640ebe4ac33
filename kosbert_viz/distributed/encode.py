"""``encode_dataset``: a corpus encoded on Ray Data actors into the ordinary embedding cache; ``load_embeddings`` reads it back."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kosbert_viz.distributed.session import (
    connect_ray,
    fsspec_http_broken,
    import_ray,
    ray_version,
    restore_builtin_print,
)
from kosbert_viz.distributed.sources import (
    is_pathlike,
    ray_dataset,
    resolve_filesystem,
    texts_for,
    texts_of,
)
from kosbert_viz.embed.cache import EmbeddingCache, text_keys
from kosbert_viz.embed.encode import resolve_cache as resolve
from kosbert_viz.embed.encode import unique_texts
from kosbert_viz.embed.models import load_encoder, resolve_model_name
from kosbert_viz.exceptions import MissingEmbeddingsError

log = logging.getLogger("kosbert_viz")


DEFAULT_BATCH = {"cpu": 4096, "gpu": 16384}


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
        return (
            f"kosbert_viz.encode_dataset: {self.rows:,} rows, {self.cached:,} cached, "
            f"{self.encoded:,} encoded"
            + (f", {self.repeated:,} repeated" if self.repeated else "")
            + f" in {self.seconds:.1f} s ({self.rows_per_s:,.0f} rows/s; "
            f"{self.actors} {self.device} actor{'s' if self.actors != 1 else ''}, {self.batches} batches)"
            f" -> {self.cache_path}" + (f" and {self.parquet_out}" if self.parquet_out else "")
        )


def encode_into_cache(
    encoder, cache: EmbeddingCache, texts: Sequence[str], *, token_budget=None, batch_size=None
) -> dict:
    """Encode the texts missing from ``cache`` and store them; returns counts.

    The same steps as :func:`kosbert_viz.encode` (NFC, de-duplicate, cache look-up, the
    encoder's fast path on the misses, one ``put``), without reading cached vectors back.
    """
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
    return {
        "rows": len(nfc),
        "cached": cached,
        "encoded": len(todo),
        "repeated": len(nfc) - cached - len(todo),
        "written": int(written),
        "truncated": truncated,
    }


class _EncodeActor:
    """A Ray Data actor: loads the model once, then encodes batches into the cache."""

    def __init__(
        self,
        model: str,
        cache_path: str,
        cache_dtype: str,
        text_column: str,
        precision: str,
        normalize: bool,
        token_budget,
        threads,
    ):
        if threads:
            import torch

            torch.set_num_threads(int(threads))

        self.encoder = load_encoder(model, precision=precision, normalize=normalize)
        self.cache = EmbeddingCache(cache_path, dtype=cache_dtype)
        self.text_column = text_column
        self.token_budget = token_budget

    def __call__(self, batch) -> dict:
        texts = texts_of(batch.column(self.text_column), self.text_column)
        stats = encode_into_cache(self.encoder, self.cache, texts, token_budget=self.token_budget)
        out = {k: np.array([v], dtype=np.int64) for k, v in stats.items()}
        out["fingerprint"] = np.array([self.encoder.fingerprint])
        out["device"] = np.array([str(self.encoder.device)])
        out["pid"] = np.array([os.getpid()], dtype=np.int64)
        return out


def _parquet_rows(batch, *, fingerprint: str, cache_path: str, cache_dtype: str, text_column: str, id_column: str):
    """A Ray Data task: (id, text_hash, vector) rows for a batch, read from the cache."""
    import pyarrow as pa

    cache = _TASK_CACHES.setdefault((cache_path, cache_dtype), EmbeddingCache(cache_path, dtype=cache_dtype))
    keys = text_keys(fingerprint, texts_of(batch.column(text_column), text_column))
    vecs, found = cache.get(fingerprint, keys)
    if not found.all():
        raise MissingEmbeddingsError(
            f"{int((~found).sum())} rows of a batch are missing from the cache at {cache_path} while writing Parquet"
        )
    dim = vecs.shape[1]
    vector = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), dim)
    hashes = pa.array([k.hex() for k in keys.tolist()], pa.string())
    return pa.table({"id": batch.column(id_column), "text_hash": hashes, "vector": vector})


def resolve_model(model) -> str:
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            "encode_dataset needs the model as a name or a folder path (each actor loads it), "
            f"got {type(model).__name__}"
        )
    name, _ = resolve_model_name(model)
    local = Path(name).expanduser()
    return str(local.resolve()) if local.exists() else name


def resolve_cache(cache) -> EmbeddingCache:
    if cache is None or cache is False:
        raise ValueError(
            "encode_dataset writes into the embedding cache: pass cache='auto' or a folder "
            "(on a cluster, a folder every node sees)"
        )
    store = resolve(cache)
    return EmbeddingCache(Path(store.path).expanduser().resolve(), dtype=store.dtype)


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
        fp16 on GPU actors, int8 through ONNX Runtime on CPU actors, each exporting the model
        once per machine).
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
    ray = import_ray()
    from ray.data import ActorPoolStrategy, DataContext

    read_kwargs = dict(read_kwargs or {})
    model_name = resolve_model(model)
    store = resolve_cache(cache)
    if parquet_out is not None and id_column is None and is_pathlike(source):
        raise ValueError("parquet_out= with a file source needs id_column= (the column that identifies a row)")
    t_start = time.perf_counter()
    where = connect_ray(ray, address, init_kwargs)
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
    batch_size = int(batch_size or DEFAULT_BATCH[kind])
    threads = None if num_gpus else max(1, int(round(num_cpus)))

    ctx = DataContext.get_current()
    saved = (ctx.enable_progress_bars, getattr(ctx, "use_datasource_v2", None))
    ctx.enable_progress_bars = bool(show_progress_bar)
    if saved[1] and fsspec_http_broken():
        # Ray Data's threaded V2 file listing imports fsspec's HTTP filesystem from several
        # threads; without aiohttp that import races and fails at random (Ray 2.60).
        ctx.use_datasource_v2 = False
    try:
        # Read tasks must not wait for CPUs that the actors hold for the whole run (a deadlock
        # when CPU actors fill the cluster): they ask for what is left, down to 0.
        free = cluster_cpus - concurrency * num_cpus
        read_cpus = None if free >= 1 else max(0.0, free)
        ds, id_col, n_known, desc = ray_dataset(
            source,
            text_column=text_column,
            id_column=id_column,
            block_rows=batch_size,
            fmt=format,
            read_kwargs=read_kwargs,
            read_cpus=read_cpus,
        )
        log.info("kosbert_viz.encode_dataset: %s on %s, %d %s actor(s)", desc, where, concurrency, kind)
        remote: dict[str, Any] = {}
        if ray_version(ray) < (2, 60):  # newer Ray Data sets these defaults and deprecates passing them
            remote.update(max_restarts=-1, max_task_retries=-1)
        actor_cls = _actor_cls or _EncodeActor
        stats_ds = ds.map_batches(
            actor_cls,
            fn_constructor_kwargs=dict(
                model=model_name,
                cache_path=str(store.path),
                cache_dtype=store.dtype,
                text_column=text_column,
                precision=precision,
                normalize=normalize,
                token_budget=batch_tokens,
                threads=threads,
            ),
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
            raise RuntimeError(
                f"the actors loaded the model differently (fingerprints {sorted(fingerprints)}); "
                "pin precision= and make the model identical on every node"
            )
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
            out_path = _write_parquet(
                ds, parquet_out, fingerprint=fingerprint, store=store, text_column=text_column, id_column=id_col
            )
    finally:
        ctx.enable_progress_bars = saved[0]
        if saved[1] is not None:
            ctx.use_datasource_v2 = saved[1]
        restore_builtin_print()
    result = EncodeResult(
        cache_path=str(store.path),
        fingerprint=fingerprint,
        model=model_name,
        text_column=text_column,
        cache_dtype=store.dtype,
        batches=batches,
        entries=entries,
        seconds=time.perf_counter() - t_start,
        actors=concurrency,
        num_gpus=float(num_gpus),
        device=",".join(sorted(devices)) or kind,
        parquet_out=out_path,
        extra={"actor_pids": sorted(pids), "where": where, "source": desc},
        **totals,
    )
    if show_progress_bar:
        print(result.summary(), file=sys.stderr, flush=True)
    else:
        log.info(result.summary())
    return result


def _write_parquet(
    ds, parquet_out, *, fingerprint: str, store: EmbeddingCache, text_column: str, id_column: str
) -> str:
    """Second pass (tasks, no model): look each row up in the cache and write Parquet."""
    text = os.fspath(parquet_out)
    fs, inner = resolve_filesystem(text)
    rows = ds.map_batches(
        _parquet_rows,
        batch_format="pyarrow",
        fn_kwargs=dict(
            fingerprint=fingerprint,
            cache_path=str(store.path),
            cache_dtype=store.dtype,
            text_column=text_column,
            id_column=id_column,
        ),
    )
    rows.write_parquet(inner, filesystem=fs)
    return text


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
        encoder = load_encoder(model, device=device, precision=precision, normalize=normalize)
        fingerprint, name = encoder.fingerprint, encoder.name
        store = resolve_cache(cache)
    text_column = text_column or "text"
    pieces: list[np.ndarray] = []
    done = missing = 0
    first_missing: list[int] = []
    for texts in texts_for(source, text_column, format, dict(read_kwargs or {})):
        for start in range(0, len(texts), 65536):
            chunk = texts[start : start + 65536]
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
                out[done : done + len(chunk)] = vecs
            elif not missing:
                pieces.append(vecs)
            done += len(chunk)
    if missing:
        hint = ""
        if missing == done:
            hint = (
                " None of them is cached for this model: check the cache folder, and pass the "
                "EncodeResult as model= (GPU runs store fp16 vectors, another fingerprint than a CPU "
                "load of the same model)."
            )
        raise MissingEmbeddingsError(
            f"{missing:,} of {done:,} texts have no vector in the cache at {store.path} for model {name!r} "
            f"(fingerprint {fingerprint}); first missing rows: {first_missing}.{hint} Run encode_dataset(...) "
            "again: it resumes and encodes only what is missing."
        )
    if out is not None:
        if done != len(out):
            raise ValueError(f"out has {len(out)} rows, but the source had {done} texts")
        return out
    if not pieces:
        return np.empty((0, 0), np.float32)
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


_TASK_CACHES: dict[tuple, EmbeddingCache] = {}
