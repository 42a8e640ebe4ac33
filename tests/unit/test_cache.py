"""The embedding cache: real files on disk, real subprocesses for concurrency, crashes and a full disk."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest
from cache_worker import DIM, FP, synthetic_texts, synthetic_vectors

import kosbert_viz as kv
from kosbert_viz.embed.cache import EmbeddingCache, text_keys

WORKER = str(Path(__file__).resolve().parents[1] / "cache_worker.py")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    return env


def _segments(cache_dir) -> list[Path]:
    return sorted(Path(cache_dir).rglob("*.kvs"))


# -- through encode() --------------------------------------------------------------------
def test_hit_partial_hit_and_identical_results(tiny_model_path, sample, tmp_path):
    texts = list(sample.text)
    cold = kv.encode(texts, tiny_model_path, cache=None)
    cache = EmbeddingCache(tmp_path / "c")
    first = kv.encode(texts[:300], tiny_model_path, cache=cache)
    assert kv.encode.last_stats["encoded"] == 300 and kv.encode.last_stats["hits"] == 0
    both = kv.encode(texts, tiny_model_path, cache=cache)  # 300 hits, 180 misses
    assert kv.encode.last_stats["hits"] == 300 and kv.encode.last_stats["encoded"] == 180
    again = kv.encode(texts, tiny_model_path, cache=cache)
    assert kv.encode.last_stats["encoded"] == 0
    np.testing.assert_array_equal(first, cold[:300])
    np.testing.assert_array_equal(both, cold)
    np.testing.assert_array_equal(again, cold)
    assert cache.info()["entries"] == 480


def test_nfc_and_nfd_share_one_entry(tiny_model_path, tmp_path):
    nfc = "배송이 빨라요 한글"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    cache = EmbeddingCache(tmp_path / "c")
    a = kv.encode([nfc], tiny_model_path, cache=cache)
    b = kv.encode([nfd], tiny_model_path, cache=cache)
    assert kv.encode.last_stats["hits"] == 1
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, kv.encode([nfd], tiny_model_path, cache=None))


def test_model_change_is_a_miss(tiny_model_path, tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    kv.encode(["배송"], tiny_model_path, cache=cache)
    kv.encode(["배송"], tiny_model_path, cache=cache, normalize=True)
    assert kv.encode.last_stats["hits"] == 0
    assert len(cache.info()["models"]) == 2


def _copy_model(src, dst, **changes) -> str:
    shutil.copytree(src, dst)
    if "max_seq_length" in changes:
        cfg = Path(dst, "sentence_bert_config.json")
        data = json.loads(cfg.read_text())
        data["max_seq_length"] = changes["max_seq_length"]
        cfg.write_text(json.dumps(data))
    if "pooling" in changes:
        cfg = Path(dst, "1_Pooling", "config.json")
        data = json.loads(cfg.read_text())
        data["pooling_mode"] = changes["pooling"]
        cfg.write_text(json.dumps(data))
    if "weights" in changes:
        from safetensors.numpy import load_file, save_file

        w = load_file(Path(dst, "model.safetensors"))
        name = sorted(w)[0]
        w[name] = w[name] + np.float32(0.01)
        save_file(w, Path(dst, "model.safetensors"))
    return str(dst)


@pytest.mark.parametrize("change", ["max_seq_length", "pooling", "weights", "normalize", "precision"])
def test_fingerprint_changes_with_model_settings(tiny_model_path, tmp_path, change):
    base = kv.load_encoder(tiny_model_path).fingerprint
    if change == "max_seq_length":
        other = kv.load_encoder(_copy_model(tiny_model_path, tmp_path / "m", max_seq_length=32))
    elif change == "pooling":
        other = kv.load_encoder(_copy_model(tiny_model_path, tmp_path / "m", pooling="cls"))
    elif change == "weights":  # a new revision of a local folder = new weights
        other = kv.load_encoder(_copy_model(tiny_model_path, tmp_path / "m", weights=True))
    elif change == "normalize":
        other = kv.load_encoder(tiny_model_path, normalize=True)
    else:
        other = kv.load_encoder(tiny_model_path, precision="bf16")
    assert other.fingerprint != base


def test_same_model_copied_elsewhere_keeps_its_fingerprint(tiny_model_path, tmp_path):
    copy = _copy_model(tiny_model_path, tmp_path / "tiny-ko-sbert")
    assert kv.load_encoder(copy).fingerprint == kv.load_encoder(tiny_model_path).fingerprint


def test_no_texts_in_file_names_and_no_pickle(tiny_model_path, sample, tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    kv.encode(list(sample.text[:50]), tiny_model_path, cache=cache)
    files = [p for p in (tmp_path / "c").rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert re.fullmatch(r"[0-9a-f\-]+\.kvs|model\.json|lock", p.name), p.name
        head = p.read_bytes()[:2]
        assert not head.startswith(b"\x80"), f"{p} looks like a pickle"
    for p in _segments(tmp_path / "c"):
        assert "배송".encode() not in p.read_bytes()


# -- the cache API -----------------------------------------------------------------------
def _put(cache, ids):
    return cache.put(FP, text_keys(FP, synthetic_texts(ids)), synthetic_vectors(ids), model="synthetic")


def _check_all_found_are_exact(cache, ids):
    vecs, found = cache.get(FP, text_keys(FP, synthetic_texts(ids)))
    if found.any():
        np.testing.assert_array_equal(vecs[found], synthetic_vectors(np.asarray(ids)[found]))
    return found


def test_put_skips_known_and_repeated_keys(tmp_path):
    cache = EmbeddingCache(tmp_path)
    assert _put(cache, [1, 2, 3, 3]) == 3
    assert _put(cache, [2, 3, 4]) == 1
    assert cache.info()["entries"] == 4
    assert _check_all_found_are_exact(cache, [1, 2, 3, 4, 5]).tolist() == [True] * 4 + [False]


def test_bad_put_arguments(tmp_path):
    cache = EmbeddingCache(tmp_path)
    keys = text_keys(FP, ["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        cache.put(FP, keys, np.zeros((3, DIM), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        cache.put(FP, keys, np.full((2, DIM), np.nan, np.float32))
    _put(cache, [1])
    with pytest.raises(ValueError, match="dim"):
        cache.put(FP, keys, np.zeros((2, DIM + 1), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        EmbeddingCache(tmp_path, dtype="int8")


def test_flipped_bytes_are_detected_and_treated_as_misses(tiny_model_path, sample, tmp_path):
    texts = list(sample.text[:60])
    cache_dir = tmp_path / "c"
    ref = kv.encode(texts, tiny_model_path, cache=cache_dir)
    (seg,) = _segments(cache_dir)
    data = bytearray(seg.read_bytes())
    data[-17] ^= 0xFF  # inside the vectors
    seg.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = kv.encode(texts, tiny_model_path, cache=EmbeddingCache(cache_dir))
    assert sum("failed its checksum" in str(w.message) for w in caught) == 1
    assert kv.encode.last_stats["hits"] == 0 and kv.encode.last_stats["encoded"] == 60
    np.testing.assert_array_equal(again, ref)
    assert len(list(cache_dir.rglob("*.corrupt"))) == 1


@pytest.mark.parametrize("where", ["header", "keys", "truncated"])
def test_corrupt_header_keys_or_truncation_are_detected(tmp_path, where):
    cache = EmbeddingCache(tmp_path)
    _put(cache, range(100))
    (seg,) = _segments(tmp_path)
    data = bytearray(seg.read_bytes())
    if where == "header":
        data[20] ^= 0x01
    elif where == "keys":
        data[64 + 5] ^= 0x10
    else:
        data = data[: len(data) // 2]
    seg.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="failed its checksum"):
        found = _check_all_found_are_exact(EmbeddingCache(tmp_path), range(100))
    assert not found.any()


def test_float16_storage_is_explicit_and_separate(tmp_path):
    c32, c16 = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path, dtype="float16")
    ids = np.arange(50)
    keys = text_keys(FP, synthetic_texts(ids))
    c16.put(FP, keys, synthetic_vectors(ids))
    assert not c32.get(FP, keys)[1].any()  # a float32 cache never returns half-precision vectors
    vecs, found = c16.get(FP, keys)
    assert found.all() and vecs.dtype == np.float32
    np.testing.assert_array_equal(vecs, synthetic_vectors(ids).astype(np.float16).astype(np.float32))
    seg16 = _segments(tmp_path)[0].stat().st_size
    c32.put(FP, keys, synthetic_vectors(ids))
    seg32 = max(p.stat().st_size for p in _segments(tmp_path))
    assert seg16 < 0.6 * seg32


def test_info_clear_and_prune_lru(tmp_path):
    cache = EmbeddingCache(tmp_path)
    for i in range(3):
        _put(cache, range(i * 100, i * 100 + 100))
        time.sleep(0.02)
    other = "other-fingerprint"
    cache.put(other, text_keys(other, ["x"]), np.ones((1, 8), np.float32), model="other-model")
    info = cache.info()
    assert info["entries"] == 301 and {m["model"] for m in info["models"]} == {"synthetic", "other-model"}
    assert info["bytes"] == sum(p.stat().st_size for p in _segments(tmp_path))
    # use the oldest segment, so the second becomes least recently used
    time.sleep(0.05)
    _check_all_found_are_exact(cache, range(0, 100))
    assert cache.clear(model="other-model") == 1
    seg_size = _segments(tmp_path)[0].stat().st_size
    freed = cache.prune(max_bytes=2 * seg_size + 10)
    assert freed == seg_size
    found = _check_all_found_are_exact(EmbeddingCache(tmp_path), range(300))
    assert found[:100].all() and not found[100:200].any() and found[200:].all()
    assert cache.clear() == 200 and cache.info()["entries"] == 0


def test_compaction_merges_and_drops_duplicates(tmp_path):
    cache_a, cache_b = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    _put(cache_a, range(0, 300))
    _put(cache_b, range(200, 500))  # b did not see a's write: writes 200..299 again? no: it re-reads the index
    # force real duplicates: two writers that both checked before either wrote
    ids = np.arange(600, 700)
    keys = text_keys(FP, synthetic_texts(ids))
    cache_a._write_segment(cache_a._ns_dir(FP), keys, synthetic_vectors(ids))
    cache_b._write_segment(cache_b._ns_dir(FP), keys, synthetic_vectors(ids))
    assert cache_a.info()["entries"] == 600
    assert cache_a.compact() == 4
    assert len(_segments(tmp_path)) == 1
    from kosbert_viz.embed.cache_format import read_segment_keys

    _, keys_only = read_segment_keys(_segments(tmp_path)[0])
    assert len(keys_only) == 600
    assert _check_all_found_are_exact(EmbeddingCache(tmp_path), list(range(500)) + list(range(600, 700))).all()


def test_many_batches_are_looked_up_in_bulk(tmp_path):
    cache = EmbeddingCache(tmp_path)
    for start in range(0, 20_000, 2_000):
        _put(cache, range(start, start + 2_000))
    ids = np.random.default_rng(0).permutation(25_000)
    found = _check_all_found_are_exact(EmbeddingCache(tmp_path), ids)
    assert found.sum() == 20_000 and (found == (ids < 20_000)).all()


# -- real processes ----------------------------------------------------------------------
@pytest.mark.slow
def test_concurrent_writers_with_overlapping_texts(tiny_model_path, tmp_path):
    cache_dir = tmp_path / "shared-cache"
    ranges = [(0, 600), (300, 900), (150, 750)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                WORKER,
                "encode",
                str(cache_dir),
                tiny_model_path,
                str(a),
                str(b),
                str(tmp_path / f"out{i}.npy"),
            ],
            env=_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, (a, b) in enumerate(ranges)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    texts = [f"동시에 쓰는 문장 {i} 택배가 늦어요" for i in range(900)]
    fresh = kv.encode(texts, tiny_model_path, cache=None)
    for i, (a, b) in enumerate(ranges):
        np.testing.assert_array_equal(np.load(tmp_path / f"out{i}.npy"), fresh[a:b])
    cache = EmbeddingCache(cache_dir)
    assert cache.info()["entries"] == 900
    cached = kv.encode(texts, tiny_model_path, cache=cache)
    assert kv.encode.last_stats["hits"] == 900
    np.testing.assert_array_equal(cached, fresh)
    cache.compact()
    assert cache.info()["entries"] == 900 and len(_segments(cache_dir)) == 1


@pytest.mark.slow
def test_kill_9_during_writes_never_leaves_a_wrong_vector(tmp_path):
    rng = np.random.default_rng(1)
    cache_dir = tmp_path / "crash-cache"
    for round_ in range(20):
        p = subprocess.Popen(
            [sys.executable, WORKER, "writeloop", str(cache_dir), str(round_)],
            env=_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.02, 0.4)))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        cache = EmbeddingCache(cache_dir)
        found = _check_all_found_are_exact(cache, np.arange(50_000))
        assert cache.info()["entries"] == int(found.sum())
    assert found.sum() > 0
    # leftovers of interrupted writes live only in tmp/ and are never read
    assert all(p.parent.name == "tmp" for p in cache_dir.rglob("*.tmp"))


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_full_disk_gives_clear_error_and_keeps_earlier_entries(tmp_path):
    cache_dir = tmp_path / "full"
    p = subprocess.run(
        [sys.executable, WORKER, "fill", str(cache_dir), str(200_000)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 3, p.stderr[-2000:]
    assert "disk is full" in p.stdout and "intact" in p.stdout
    assert not list(cache_dir.rglob("*.tmp"))
    found = _check_all_found_are_exact(EmbeddingCache(cache_dir), np.arange(0, 5100))
    assert found[:100].all() and not found[100:].any()


def test_cli_cache_info_clear_prune(tmp_path, capsys):
    from kosbert_viz.cli.main import main

    cache = EmbeddingCache(tmp_path)
    _put(cache, range(100))
    _put(cache, range(100, 200))
    assert main(["cache", "info", "--cache-dir", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 200
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--max-bytes", "1KB"]) == 0
    assert "freed" in capsys.readouterr().out
    assert EmbeddingCache(tmp_path).info()["entries"] == 0
    _put(cache, range(10))
    assert main(["cache", "clear", "--cache-dir", str(tmp_path), "--model", "synthetic"]) == 0
    assert "removed 10 entries" in capsys.readouterr().out


KILLED_WRITER = r"""
import os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from cache_worker import FP, synthetic_texts, synthetic_vectors
from kosbert_viz.embed.cache import EmbeddingCache, text_keys

cache = EmbeddingCache(sys.argv[1])
first = np.arange(100)
cache.put(FP, text_keys(FP, synthetic_texts(first)), synthetic_vectors(first), model="synthetic")
real_fsync = os.fsync

def stall(fd):  # the batch is in tmp/, not yet renamed into place: where a kill -9 leaves it
    real_fsync(fd)
    print("written", flush=True)
    time.sleep(600)

os.fsync = stall
big = np.arange(100, 20_100)  # 20,000 x 64 float32: a 5 MB segment
cache.put(FP, text_keys(FP, synthetic_texts(big)), synthetic_vectors(big), model="synthetic")
"""


def test_info_counts_temp_files_of_a_killed_writer_at_once(tmp_path, capsys):
    """A writer killed with SIGKILL mid-write leaves a tmp file: `cache info` counts it at once (not only
    once it is an hour old); compaction still leaves a young one alone (it may be a live writer's)."""
    from kosbert_viz.cli.main import main
    from kosbert_viz.embed.cache_format import TMP_MAX_AGE as _TMP_MAX_AGE

    cache_dir = tmp_path / "c"
    p = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(cache_dir), str(Path(__file__).resolve().parents[1])],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout.readline().strip() == "written"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    (left,) = cache_dir.rglob("tmp/*.tmp")
    size = left.stat().st_size
    assert size > 5_000_000
    info = EmbeddingCache(cache_dir).info()
    assert info["entries"] == 100 and info["tmp_files"] == 1 and info["tmp_bytes"] == size
    assert info["models"][0]["tmp_files"] == 1 and info["models"][0]["tmp_bytes"] == size
    assert info["bytes"] == sum(q.stat().st_size for q in _segments(cache_dir))  # segments only, as before
    assert main(["cache", "info", "--cache-dir", str(cache_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tmp_bytes"] == size
    EmbeddingCache(cache_dir).compact()  # young: it may belong to a writer still at work, so it stays
    assert left.exists() and EmbeddingCache(cache_dir).info()["tmp_files"] == 1
    old = time.time() - _TMP_MAX_AGE - 60
    os.utime(left, (old, old))
    EmbeddingCache(cache_dir).compact()
    assert not left.exists()
    info = EmbeddingCache(cache_dir).info()
    assert info["tmp_files"] == 0 and info["tmp_bytes"] == 0 and info["entries"] == 100


# -- a cache we may not write, or that is a file ------------------------------------------
READ_ONLY_WORKER = r"""
import json, os, sys, warnings
import numpy as np
import kosbert_viz as kv

cache_dir, model, texts_file = sys.argv[1:4]
texts = json.loads(open(texts_file, encoding="utf-8").read())
encoder = kv.load_encoder(model)
kv.encode(texts[:2], encoder, cache=None, show_progress_bar=False)  # every lazy import happens before the drop
if os.geteuid() == 0:  # root ignores file permissions: become nobody, as an analyst on a shared machine is
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
try:
    open(os.path.join(cache_dir, "probe"), "w").close()
    print(json.dumps({"writable": True}))
    sys.exit(0)
except OSError:
    pass
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    emb = kv.encode(texts, encoder, cache=cache_dir, show_progress_bar=False)
print(json.dumps({"writable": False, "uid": os.geteuid(), "stats": kv.encode.last_stats,
                  "warnings": [str(w.message) for w in caught], "emb": emb.tolist()}))
"""


def _chmod_tree(root: Path, dir_mode: int, file_mode: int) -> None:
    for p in [root, *root.rglob("*")]:
        os.chmod(p, dir_mode if p.is_dir() else file_mode)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_read_only_cache_returns_vectors_and_warns(tiny_model_path, sample):
    """Issue 12.4: a cache the user may read but not write (as non-root; root runs the encode as nobody)."""
    import tempfile

    texts = list(sample.text[:40])
    ref = kv.encode(texts, tiny_model_path, cache=None, show_progress_bar=False)
    base = Path(tempfile.mkdtemp(prefix="kv-ro-"))  # under /tmp: reachable by nobody, unlike pytest's tmp_path
    try:
        os.chmod(base, 0o755)
        cache_dir = base / "cache"
        kv.encode(texts[:20], tiny_model_path, cache=cache_dir, show_progress_bar=False)  # half of them cached
        before = sorted(str(p.relative_to(cache_dir)) for p in cache_dir.rglob("*"))
        (base / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        _chmod_tree(cache_dir, 0o555, 0o444)
        proc = subprocess.run(
            [sys.executable, "-c", READ_ONLY_WORKER, str(cache_dir), tiny_model_path, str(base / "texts.json")],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=str(base),
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        if out["writable"]:
            pytest.skip("this user can write a chmod 0555 folder (no way to make a read-only cache here)")
        assert "Traceback" not in proc.stderr
        # the cached half is read, the new half encoded, and every vector comes back
        assert out["stats"]["hits"] == 20 and out["stats"]["encoded"] == 20
        np.testing.assert_array_equal(np.asarray(out["emb"], np.float32), ref)
        msgs = [m for m in out["warnings"] if "not writable" in m]
        assert len(msgs) == 1, out["warnings"]
        assert str(cache_dir) in msgs[0] and "returned but not cached" in msgs[0]
        assert sorted(str(p.relative_to(cache_dir)) for p in cache_dir.rglob("*")) == before  # nothing written
    finally:
        if base.exists():
            _chmod_tree(base, 0o755, 0o644)
            shutil.rmtree(base, ignore_errors=True)


def test_unwritable_cache_folder_keeps_the_vectors(tiny_model_path, sample, tmp_path):
    """A cache folder that cannot be created (below a regular file: refused to root too) warns once per call."""
    texts = list(sample.text[:30])
    ref = kv.encode(texts, tiny_model_path, cache=None, show_progress_bar=False)
    (tmp_path / "notes.txt").write_text("not a folder")
    cache = EmbeddingCache(tmp_path / "notes.txt" / "cache")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = kv.encode(texts, tiny_model_path, cache=cache, show_progress_bar=False)
    np.testing.assert_array_equal(got, ref)
    msgs = [str(w.message) for w in caught if "not writable" in str(w.message)]
    assert len(msgs) == 1 and "returned but not cached" in msgs[0]
    # put() itself raises a CacheWriteError (an OSError), like a full disk
    from kosbert_viz.embed.cache import CacheNotWritableError, CacheWriteError

    ids = np.arange(5)
    with pytest.raises(CacheNotWritableError, match="not writable") as info:
        cache.put(FP, text_keys(FP, synthetic_texts(ids)), synthetic_vectors(ids))
    assert isinstance(info.value, CacheWriteError) and isinstance(info.value, OSError)


def test_cache_tmp_folder_replaced_by_a_file_keeps_the_vectors(tmp_path):
    cache = EmbeddingCache(tmp_path)
    _put(cache, range(50))
    (ns_dir,) = [p for p in (tmp_path / "v1").iterdir() if p.is_dir()]
    shutil.rmtree(ns_dir / "tmp")
    (ns_dir / "tmp").write_text("in the way")
    from kosbert_viz.embed.cache import CacheNotWritableError

    with pytest.raises(CacheNotWritableError, match="not writable"):
        _put(cache, range(50, 60))
    assert _check_all_found_are_exact(EmbeddingCache(tmp_path), range(60)).tolist() == [True] * 50 + [False] * 10


def test_cache_path_that_is_a_file_is_a_clear_error(tiny_model_path, tmp_path, monkeypatch):
    afile = tmp_path / "cache.txt"
    afile.write_text("I am a file")
    with pytest.raises(NotADirectoryError, match=re.escape(str(afile)) + ".*is a file, expected a folder"):
        EmbeddingCache(afile)
    monkeypatch.setenv("KOSBERT_VIZ_CACHE", str(afile))
    with pytest.raises(NotADirectoryError, match="KOSBERT_VIZ_CACHE.*cache=None"):
        EmbeddingCache()
    with pytest.raises(NotADirectoryError, match="KOSBERT_VIZ_CACHE"):
        kv.encode(["배송이 빨라요"], tiny_model_path, cache="auto")
    with pytest.raises(NotADirectoryError, match=re.escape(str(afile))):
        kv.encode(["배송이 빨라요"], tiny_model_path, cache=afile)


# -- a segment damaged after a cache object read it ------------------------------------
def _overwrite_in_place(path: Path, offset: int, data: bytes) -> None:
    """Same size, same mtime: nothing but the bytes tells the change."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def test_reused_cache_object_detects_segment_corrupted_after_first_read(tiny_model_path, sample, tmp_path):
    """Issue 12.9: the same EmbeddingCache object returned a 7.8e37 from a segment damaged after its first read."""
    texts = list(sample.text[:60])
    ref = kv.encode(texts, tiny_model_path, cache=None, show_progress_bar=False)
    cache = EmbeddingCache(tmp_path / "c")
    kv.encode(texts, tiny_model_path, cache=cache, show_progress_bar=False)
    kv.encode(texts, tiny_model_path, cache=cache, show_progress_bar=False)  # read (and verified) through it
    assert kv.encode.last_stats["hits"] == 60
    (seg,) = _segments(tmp_path / "c")
    _overwrite_in_place(seg, seg.stat().st_size - 4 * 5, np.float32(7.8e37).tobytes())  # a value of the last text
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = kv.encode(texts, tiny_model_path, cache=cache, show_progress_bar=False)
    assert sum("failed its checksum" in str(w.message) for w in caught) == 1
    assert kv.encode.last_stats["encoded"] == 60  # the whole damaged segment counts as misses
    np.testing.assert_array_equal(again, ref)
    assert np.abs(again).max() < 1e6


@pytest.mark.parametrize("read", ["whole", "few rows"])
def test_reused_cache_object_rechecks_every_reread(tmp_path, read):
    """Both read paths re-check what they read: the whole segment, and a few rows of a big one."""
    cache = EmbeddingCache(tmp_path)
    ids = np.arange(4000)
    keys = text_keys(FP, synthetic_texts(ids))
    _put(cache, ids)
    rows = np.array([7, 2000, 3999]) if read == "few rows" else ids
    got, found = cache.get(FP, keys[rows])
    assert found.all()
    (seg,) = _segments(tmp_path)
    vec_offset = 64 + 16 * len(ids)
    _overwrite_in_place(seg, vec_offset + (2000 * DIM + 3) * 4, np.float32(7.8e37).tobytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, found = cache.get(FP, keys[rows])
    assert not found.any() and not (got == np.float32(7.8e37)).any()
    assert sum("failed its checksum" in str(w.message) for w in caught) == 1
    # an untouched segment read again through the same object keeps being served
    keys2 = text_keys(FP, synthetic_texts(np.arange(5000, 5400)))
    _put(cache, np.arange(5000, 5400))
    for _ in range(2):
        got, found = cache.get(FP, keys2[[1, 200, 399]])
        assert found.all()
        np.testing.assert_array_equal(got, synthetic_vectors([5001, 5200, 5399]))


# -- cache= means the same for vectors and layouts -----------------------------------------
@pytest.mark.slow
def test_map_texts_cache_holds_vectors_and_layouts(tiny_model_path, sample, tmp_path):
    """Issue 12: map_texts(cache="my/dir") wrote layouts to the default folder, and cache=False meant "auto"."""
    from kosbert_viz.embed.arraystore import default_reduce_dir
    from kosbert_viz.geometry.reduce import _MEMO

    texts = list(sample.text[:60])
    default_root = Path(os.environ["KOSBERT_VIZ_CACHE"])
    _MEMO.clear()
    kv.map_texts(texts, tiny_model_path, n_clusters=3, cache=tmp_path / "proj", show_progress_bar=False)
    assert list((tmp_path / "proj" / "v1").rglob("*.kvs"))
    assert list((tmp_path / "proj" / "reduce").glob("*.bin"))
    assert not default_root.exists() or not list(default_root.rglob("*.*"))  # nothing in the default folders
    _MEMO.clear()
    kv.map_texts(texts, tiny_model_path, n_clusters=3, cache=False, show_progress_bar=False)
    assert not default_root.exists() or not list(default_root.rglob("*.*"))
    _MEMO.clear()
    kv.map_texts(texts, tiny_model_path, n_clusters=3, cache=EmbeddingCache(tmp_path / "obj"), show_progress_bar=False)
    assert list((tmp_path / "obj" / "reduce").glob("*.bin")) and list((tmp_path / "obj" / "v1").rglob("*.kvs"))
    assert not default_root.exists() or not list(default_root.rglob("*.*"))
    assert not list(default_reduce_dir().parent.rglob("*.bin"))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_few_rows_read_again_are_exact_across_chunk_boundaries(tmp_path, dtype, monkeypatch):
    """Rows of 2,800 bytes straddle the 8 KiB checksum chunks: every row read again is still exact."""
    calls = []
    real = EmbeddingCache._read_rows
    monkeypatch.setattr(EmbeddingCache, "_read_rows", lambda self, *a: calls.append(1) or real(self, *a))
    cache = EmbeddingCache(tmp_path, dtype=dtype)
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((3000, 700)).astype(np.float32)
    keys = text_keys("fp", [f"문장 {i}" for i in range(3000)])
    cache.put("fp", keys, vecs)
    expect = vecs.astype(dtype).astype(np.float32)
    cache.get("fp", keys)  # first read: verified whole, checksum marks kept
    for seed in range(5):
        rows = np.random.default_rng(seed).choice(3000, size=int(rng.integers(1, 700)), replace=True)
        got, found = cache.get("fp", keys[rows])
        assert found.all()
        np.testing.assert_array_equal(got, expect[rows])
    got, found = cache.get("fp", keys[[0, 2999, 1500, 0]])
    np.testing.assert_array_equal(got, expect[[0, 2999, 1500, 0]])
    assert len(calls) == 6  # each of these reads took the partial path
