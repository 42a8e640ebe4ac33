"""Distributed encoding on a local Ray (2 CPUs, the tiny model) into the ordinary cache."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from conftest import shared_file

import kosbert_viz as kv
from kosbert_viz.distributed import encode_dataset, load_embeddings
from kosbert_viz.distributed.encode import _EncodeActor
from kosbert_viz.distributed.sources import _expand
from kosbert_viz.exceptions import MissingEmbeddingsError

N_HEADLINES = 20_000


def _ray():
    return pytest.importorskip("ray", reason='Ray is not installed (pip install "kosbert_viz[distributed]")')


@pytest.fixture(scope="module")
def ray_local():
    ray = _ray()
    pytest.importorskip("ray.data", reason="Ray Data is not installed")
    from kosbert_viz.distributed import shutdown_ray

    if ray.is_initialized():
        shutdown_ray()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    shutdown_ray()


@pytest.fixture(scope="module")
def headlines():
    import pandas as pd

    path = shared_file("dacon_news_topic_ynat", "train_data.csv")
    return pd.read_csv(path).head(N_HEADLINES)


@pytest.fixture(scope="module")
def reference(headlines, tiny_model_path):
    """Single-process encode() of the headlines, no cache."""
    return kv.encode(list(headlines.title), tiny_model_path, cache=None, show_progress_bar=False)


# -- Ray ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_headlines_match_encode_in_order_and_second_run_is_free(
    ray_local, headlines, reference, tiny_model_path, tmp_path
):
    texts = list(headlines.title)
    assert len(set(texts)) == len(texts) == N_HEADLINES
    cache = tmp_path / "cache"
    res = encode_dataset(
        texts, model=tiny_model_path, cache=cache, concurrency=2, batch_size=2000, show_progress_bar=False
    )
    assert res.rows == N_HEADLINES and res.encoded == N_HEADLINES and res.cached == 0
    assert res.written == N_HEADLINES and res.entries == N_HEADLINES and res.batches == 10
    assert res.actors == 2 and res.device == "cpu" and res.rows_per_s > 0
    got = load_embeddings(texts, res)
    assert got.shape == reference.shape and got.dtype == np.float32
    assert np.abs(got - reference).max() <= 1e-5
    # the same cache serves encode() and a fingerprint computed from the model here
    again = kv.encode(texts, tiny_model_path, cache=cache, show_progress_bar=False)
    assert kv.encode.last_stats["hits"] == N_HEADLINES and kv.encode.last_stats["encoded"] == 0
    np.testing.assert_array_equal(again, got)
    np.testing.assert_array_equal(load_embeddings(headlines, tiny_model_path, cache=cache, text_column="title"), got)
    # a shuffled subset comes back in its own order
    order = np.random.default_rng(0).permutation(N_HEADLINES)[:500]
    np.testing.assert_array_equal(load_embeddings([texts[i] for i in order], res), got[order])

    second = encode_dataset(
        texts, model=tiny_model_path, cache=cache, concurrency=2, batch_size=2000, show_progress_bar=False
    )
    assert second.rows == N_HEADLINES and second.encoded == 0 and second.written == 0
    assert second.cached == N_HEADLINES and second.entries == N_HEADLINES
    assert second.fingerprint == res.fingerprint
    segments = list(cache.rglob("*.kvs"))
    assert len(segments) == 1  # compact() merged the actors' segments


def _dying_actor(marker: str, die_on_call: int):
    """An actor class that exits (like a crash or an OOM kill) once, right after storing a batch."""

    class DiesOnce(_EncodeActor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.calls = 0

        def __call__(self, batch):
            out = super().__call__(batch)  # the batch is already in the cache
            self.calls += 1
            if self.calls == die_on_call and not os.path.exists(marker):
                with open(marker, "w") as fh:
                    fh.write(str(os.getpid()))
                os._exit(1)
            return out

    return DiesOnce


@pytest.mark.slow
def test_actor_killed_mid_run_loses_and_duplicates_nothing(ray_local, headlines, reference, tiny_model_path, tmp_path):
    n = 6000
    texts = list(headlines.title[:n])
    marker = tmp_path / "died"
    res = encode_dataset(
        texts,
        model=tiny_model_path,
        cache=tmp_path / "cache",
        concurrency=2,
        batch_size=500,
        show_progress_bar=False,
        _actor_cls=_dying_actor(str(marker), 2),
    )
    assert marker.exists(), "the actor never died: the test did not test anything"
    dead_pid = int(marker.read_text())
    assert dead_pid in res.extra["actor_pids"]  # it had reported its first batch before dying
    assert len(res.extra["actor_pids"]) >= 2  # its replacement (a new process) did the retry
    assert res.rows == n and res.batches == n // 500
    # the batch of the dead call was stored, then retried: found cached, not encoded again
    assert res.cached == 500 and res.encoded == n - 500
    assert res.written == n - 500 and res.entries == n
    got = load_embeddings(texts, res)
    assert np.abs(got - reference[:n]).max() <= 1e-5


@pytest.mark.slow
def test_run_stopped_halfway_resumes(ray_local, headlines, reference, tiny_model_path, tmp_path):
    n, half = 4000, 1700
    texts = list(headlines.title[:n])
    cache = tmp_path / "cache"
    kv.encode(texts[:half], tiny_model_path, cache=cache, show_progress_bar=False)  # what the stopped run stored
    res = encode_dataset(
        texts, model=tiny_model_path, cache=cache, concurrency=2, batch_size=1000, show_progress_bar=False
    )
    assert res.rows == n and res.cached == half and res.encoded == n - half and res.entries == n
    assert res.repeated == 0
    assert np.abs(load_embeddings(texts, res) - reference[:n]).max() <= 1e-5


@pytest.mark.slow
def test_parquet_source_url_and_parquet_output(ray_local, headlines, reference, tiny_model_path, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 3000
    part = headlines.iloc[:n]
    folder = tmp_path / "in"
    folder.mkdir()
    for i, start in enumerate(range(0, n, 1000)):  # a folder of three files
        pq.write_table(
            pa.Table.from_pandas(part.iloc[start : start + 1000], preserve_index=False), folder / f"part-{i}.parquet"
        )
    url = folder.as_uri()  # file:///..., read through the URL path
    out = tmp_path / "vectors"
    res = encode_dataset(
        url,
        model=tiny_model_path,
        cache=tmp_path / "cache",
        text_column="title",
        id_column="index",
        concurrency=2,
        batch_size=1000,
        parquet_out=out,
        show_progress_bar=False,
    )
    assert res.rows == n and res.encoded == n and res.parquet_out == str(out)
    got = load_embeddings(url, res)  # text_column comes from the result
    assert np.abs(got - reference[:n]).max() <= 1e-5
    table = pq.read_table(out)
    assert table.column_names == ["id", "text_hash", "vector"] and table.num_rows == n
    ids = table.column("id").to_numpy()
    vecs = np.asarray(table.column("vector").to_pylist(), np.float32)
    pos = {v: i for i, v in enumerate(part["index"])}
    rows = np.array([pos[i] for i in ids])
    assert sorted(rows.tolist()) == list(range(n))
    np.testing.assert_array_equal(vecs, got[rows])
    assert len(table.column("text_hash")[0].as_py()) == 32


@pytest.mark.slow
def test_csv_and_tsv_gz_sources(ray_local, headlines, reference, tiny_model_path, tmp_path):
    n = 2500
    part = headlines.iloc[:n]
    csv_path = tmp_path / "headlines.csv"
    part.to_csv(csv_path, index=False)
    cache = tmp_path / "cache"
    res = encode_dataset(
        str(csv_path),
        model=tiny_model_path,
        cache=cache,
        text_column="title",
        concurrency=2,
        batch_size=1000,
        show_progress_bar=False,
    )
    assert res.rows == n and res.encoded == n
    assert np.abs(load_embeddings(str(csv_path), res) - reference[:n]).max() <= 1e-5
    # the same texts as a gzipped TSV: all cached
    tsv_path = tmp_path / "headlines.tsv.gz"
    part.to_csv(tsv_path, sep="\t", index=False)
    again = encode_dataset(
        str(tsv_path),
        model=tiny_model_path,
        cache=cache,
        text_column="title",
        concurrency=2,
        batch_size=1000,
        show_progress_bar=False,
    )
    assert again.rows == n and again.cached == n and again.encoded == 0
    np.testing.assert_array_equal(load_embeddings(str(tsv_path), again), load_embeddings(str(csv_path), res))


# -- without Ray -------------------------------------------------------------------------------
def test_load_embeddings_names_what_is_missing(tiny_model_path, tmp_path):
    cache = tmp_path / "cache"
    kv.encode(["가방", "신발", "모자"], tiny_model_path, cache=cache, show_progress_bar=False)
    got = load_embeddings(["모자", "가방"], tiny_model_path, cache=cache)
    np.testing.assert_array_equal(
        got, kv.encode(["모자", "가방"], tiny_model_path, cache=None, show_progress_bar=False)
    )
    with pytest.raises(MissingEmbeddingsError, match=r"2 of 4 texts .* first missing rows: \[1, 3\]"):
        load_embeddings(["가방", "양말", "신발", "장갑"], tiny_model_path, cache=cache)
    with pytest.raises(MissingEmbeddingsError, match="None of them is cached"):
        load_embeddings(["양말"], tiny_model_path, cache=cache, normalize=True)


def test_file_sources_expand_in_order(tmp_path):
    pytest.importorskip("pyarrow")
    for name in ("b.csv", "a.csv", "sub/c.csv", "_SUCCESS", "notes.md"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("text\n가\n")
    files = _expand(tmp_path, None)
    assert [os.path.relpath(p, tmp_path) for p in files.paths] == ["a.csv", "b.csv", os.path.join("sub", "c.csv")]
    assert files.fmt == "csv"
    assert len(_expand(str(tmp_path / "*.csv"), None).paths) == 2
    assert _expand(tmp_path.as_uri() + "/a.csv", None).paths[-1].endswith("a.csv")
    with pytest.raises(FileNotFoundError):
        _expand(str(tmp_path / "nothing-*.parquet"), None)


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(ImportError, match=r'pip install "kosbert_viz\[distributed\]"'):
        encode_dataset(["가"], model="unused")


def test_parquet_out_of_files_needs_an_id_column(tmp_path):
    _ray()
    (tmp_path / "a.csv").write_text("text\n가\n")
    with pytest.raises(ValueError, match="id_column"):
        encode_dataset(str(tmp_path / "a.csv"), model="unused", cache=tmp_path / "c", parquet_out=tmp_path / "o")


def test_exported_from_the_package():
    assert kv.load_embeddings is load_embeddings
    assert kv.encode_dataset is encode_dataset
    assert kv.distributed.encode_dataset is encode_dataset


@pytest.mark.slow
def test_shutdown_keeps_numba_working():
    """Ray replaces builtins.print (progress bars, shutdown), which breaks numba (UMAP); we restore it."""
    import builtins

    ray = _ray()
    from kosbert_viz.distributed import shutdown_ray

    if not ray.is_initialized():
        ray.init(num_cpus=1, include_dashboard=False, logging_level="WARNING")
    import ray.experimental.tqdm_ray as tqdm_ray

    tqdm_ray.instance()  # what Ray Data's progress bars do: patches builtins.print
    shutdown_ray()
    assert type(builtins.print) is type(len), builtins.print
    X = np.random.default_rng(0).normal(size=(9000, 16)).astype(np.float32)
    from kosbert_viz.geometry.reduce import nearest_neighbors

    assert nearest_neighbors(X, n_neighbors=5, cache=None, mode="fast").indices.shape == (9000, 5)


def assert_close_placement(df, a, tm):
    """Ray's coordinates and novelty equal single-process assign's up to float32 rounding.

    The workers encode in other batches than ``assign`` does, and a float32 vector can differ in its last
    bits with its batch (seen: 5e-8 in a coordinate on one machine, 0 on another). Coordinates and novelty
    are float32 sums over neighbours, so they are compared to 1e-5 of the map's extent and of novelty's
    0-1 scale: far above such rounding, far below any real misplacement.
    """
    extent = float(np.ptp(tm.coords, axis=0).max())
    np.testing.assert_allclose(
        df[["x", "y"]].to_numpy(dtype=np.float64), np.asarray(a.coords, np.float64), rtol=0, atol=1e-5 * extent
    )
    np.testing.assert_allclose(
        df.novelty.to_numpy(dtype=np.float64), np.asarray(a.novelty, np.float64), rtol=0, atol=1e-5
    )


@pytest.mark.slow
def test_assign_dataset_matches_single_process_assign(ray_local, headlines, tiny_model_path, tmp_path):
    from kosbert_viz.distributed import assign_dataset

    titles = list(headlines.title)
    cache = tmp_path / "cache"
    tm = kv.map_texts(titles[:300], tiny_model_path, cache=cache, show_progress_bar=False)
    path = tm.save(tmp_path / "map")
    new = titles[300:1300] + titles[:3]  # three texts already in the map
    df = assign_dataset(new, path, cache=cache, concurrency=2, batch_size=250, out=tmp_path / "placed.parquet")
    a = kv.load_map(path).assign(new, cache=cache, show_progress_bar=False)
    assert len(df) == len(new)
    for i, lv in enumerate(a.levels):
        np.testing.assert_array_equal(df[f"level_{i}"].to_numpy(), lv)
    np.testing.assert_array_equal(df.label.to_numpy(), a.labels)
    assert df.name.tolist() == a.names
    assert_close_placement(df, a, tm)
    np.testing.assert_array_equal(df.is_new.to_numpy(), a.is_new)
    assert (df.novelty.to_numpy()[-3:] == 0).all()
    import pandas as pd

    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "placed.parquet"), df, check_dtype=False)


def test_assign_dataset_workers_write_without_collecting(ray_local, sample, tiny_model_path, tmp_path):
    """collect=False: the Ray workers write the placements of a file source (id column carried); equal
    to single-process assign after joining on the id."""
    import pandas as pd

    from kosbert_viz.distributed import assign_dataset

    texts = list(sample.text)
    cache = tmp_path / "cache"
    tm = kv.map_texts(texts[:150], tiny_model_path, cache=cache, show_progress_bar=False)
    path = tm.save(tmp_path / "map")
    new = texts[150:] + texts[:2]
    src = tmp_path / "new.csv"
    pd.DataFrame({"review_id": [f"r{i:04d}" for i in range(len(new))], "review": new}).to_csv(src, index=False)
    with pytest.raises(ValueError, match="collect=False needs out="):
        assign_dataset(str(src), path, text_column="review", collect=False)
    out = assign_dataset(
        str(src),
        path,
        text_column="review",
        id_column="review_id",
        cache=cache,
        concurrency=2,
        batch_size=40,
        out=tmp_path / "placed",
        collect=False,
    )
    assert out == str(tmp_path / "placed")
    with pytest.raises(ValueError, match="not an empty folder"):  # a second run would mix with the first
        assign_dataset(str(src), path, text_column="review", id_column="review_id", out=out, collect=False)
    with pytest.raises(ValueError, match="would overwrite a result column"):
        assign_dataset(str(src), path, text_column="review", id_column="label", out=tmp_path / "p2", collect=False)
    df = pd.read_parquet(out).sort_values("review_id").reset_index(drop=True)
    assert df.review_id.tolist() == [f"r{i:04d}" for i in range(len(new))]
    a = kv.load_map(path).assign(new, cache=cache, show_progress_bar=False)
    np.testing.assert_array_equal(df.label.to_numpy(), a.labels)
    assert_close_placement(df, a, tm)
