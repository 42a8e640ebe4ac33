"""Saving, loading and growing a map; placing new texts into it (kv.load_map, TextMap.save/assign/extend)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import kosbert_viz as kv
from kosbert_viz.exceptions import MapFileError, ModelMismatchError
from kosbert_viz.maps.placement import assign_vectors


@pytest.fixture(scope="module")
def text_map(tiny_model_path, sample, tmp_path_factory):
    texts = list(sample.text)
    cache = tmp_path_factory.mktemp("map-cache")
    tm = kv.map_texts(texts, tiny_model_path, n_clusters=6, cache=cache, show_progress_bar=False)
    tm.metadata = pd.DataFrame(
        {
            "topic": sample.topic.astype(str).to_numpy(),
            "score": np.arange(len(texts), dtype=np.float64) / 7,
            "when": pd.date_range("2024-01-01", periods=len(texts), freq="D"),
            "flag": np.arange(len(texts)) % 3 == 0,
            "mixed": [None if i % 11 == 0 else f"값 {i}" for i in range(len(texts))],
        }
    )
    return tm


NEW = [
    "배송이 너무 늦어서 화가 나요",
    "강아지가 산책을 좋아해요",
    "완전히 다른 이야기: 양자 컴퓨터의 오류 정정 부호",
    "앱이 자꾸 꺼져요 업데이트 해주세요",
]


def test_round_trip_is_identical_and_assigns_identically(text_map, tiny_model_path, tmp_path):
    tm = text_map
    before = tm.assign(NEW + tm.texts[:40], model=tiny_model_path)
    path = tm.save(tmp_path / "map")
    assert json.loads((path / "map.json").read_text("utf-8"))["version"] == kv.maps.store.FORMAT_VERSION
    assert not list(path.rglob("*.pkl"))
    loaded = kv.load_map(path)
    assert loaded.texts == tm.texts
    np.testing.assert_array_equal(loaded.clusters.labels, tm.clusters.labels)
    np.testing.assert_array_equal(loaded.coords, tm.coords)
    np.testing.assert_array_equal(np.asarray(loaded.embeddings), tm.embeddings)
    pd.testing.assert_frame_equal(loaded.table, tm.table)
    pd.testing.assert_frame_equal(loaded.metadata, tm.metadata, check_dtype=False)
    assert loaded.metadata["when"].dtype.kind == "M" and loaded.metadata["flag"].dtype == bool
    assert loaded.manifest["model"]["fingerprint"] == tm.manifest["model"]["fingerprint"]
    assert loaded.figure is not None and len(loaded.figure.data) > 0  # drawn on first access
    assert loaded.level == tm.level
    levels = getattr(tm.clusters, "levels", None) or []
    assert len(getattr(loaded.clusters, "levels", None) or []) == len(levels)
    for x, y in zip(levels, loaded.clusters.levels):
        np.testing.assert_array_equal(x, y)
    if getattr(tm, "themes", None) is not None:
        pd.testing.assert_frame_equal(loaded.themes, tm.themes, check_dtype=False)
        assert loaded.clusters.names == tm.clusters.names and loaded.clusters.default_level == tm.clusters.default_level

    after = loaded.assign(NEW + tm.texts[:40])  # the map's own model, loaded by name
    for field in ("labels", "coords", "novelty", "is_new", "similarity", "neighbors"):
        np.testing.assert_array_equal(getattr(before, field), getattr(after, field), err_msg=field)
    assert before.names == after.names
    # texts already in the map get their own theme and place back
    np.testing.assert_array_equal(after.labels[len(NEW) :], tm.clusters.labels[:40])
    np.testing.assert_array_equal(after.coords[len(NEW) :], tm.coords[:40])
    assert (after.novelty[len(NEW) :] == 0).all() and not after.is_new[len(NEW) :].any()


def _blob_map(n=3000, d=32, k=8, seed=1):
    from conftest import make_blobs

    from kosbert_viz.maps.textmap import TextMap
    from kosbert_viz.themes.result import ClusterResult

    X, lab = make_blobs(n, d, k, seed=seed, spread=0.6)
    coords = np.random.default_rng(seed).normal(size=(k, 2))[lab] * 10 + np.random.default_rng(2).normal(size=(n, 2))
    return TextMap(
        [f"t{i}" for i in range(n)],
        X,
        coords,
        ClusterResult(lab, "given"),
        None,
        object(),
        {"model": {"name": "x", "fingerprint": "f", "dim": d}},
    )


def test_assignment_places_near_its_neighbours():
    tm = _blob_map()
    X = tm.embeddings
    rng = np.random.default_rng(0)
    # moved copies of map vectors: their own theme, placed inside their theme's region of the map
    V = X[:300] + 0.3 * rng.normal(size=X[:300].shape).astype(np.float32)
    a = assign_vectors(tm, V)
    lab = tm.clusters.labels
    assert (a.labels == lab[:300]).mean() >= 0.97
    for c in np.unique(a.labels):
        own = tm.coords[lab == c]
        got = a.coords[a.labels == c]
        assert (np.linalg.norm(got - own.mean(0), axis=1) <= np.linalg.norm(own - own.mean(0), axis=1).max()).all()
    # vectors unlike any map text get the highest novelty and are flagged
    far = rng.normal(size=(5, X.shape[1])).astype(np.float32) * 5
    b = assign_vectors(tm, np.concatenate([V[:5], far]))
    assert b.novelty[5:].min() > b.novelty[:5].max() and b.is_new[5:].all() and not b.is_new[:5].any()
    tbl = b.table()
    assert (
        list(tbl.columns[:8]) == ["text", "theme", "name", "x", "y", "novelty", "is_new", "similarity"]
        and len(tbl) == 10
    )


def test_extend_adds_the_texts(text_map, tiny_model_path):
    tm2 = text_map.extend(NEW, pd.DataFrame({"topic": ["새"] * len(NEW)}), model=tiny_model_path)
    n = len(text_map.texts)
    assert len(tm2.texts) == n + len(NEW) and tm2.embeddings.shape[0] == n + len(NEW)
    assert tm2.coords.shape == (n + len(NEW), 2) and len(tm2.clusters.labels) == n + len(NEW)
    assert tm2.metadata["topic"].iloc[-1] == "새" and len(tm2.metadata) == n + len(NEW)
    assert set(tm2.table.name) <= set(text_map.table.name)  # names kept
    assert int(tm2.table["size"].sum()) == n + len(NEW)
    assert sum(len(t.x) for t in tm2.figure.data if t.x is not None) >= n + len(NEW)
    # an assignment is placed once: extend(a) keeps its themes and positions
    a = text_map.assign(NEW, model=tiny_model_path)
    tm3 = text_map.extend(a, pd.DataFrame({"topic": ["새"] * len(NEW)}))
    np.testing.assert_array_equal(tm3.clusters.labels[n:], tm2.clusters.labels[n:])
    np.testing.assert_array_equal(tm3.coords[n:], a.coords.astype(tm3.coords.dtype))  # float32 like the map
    assert tm3.metadata["topic"].iloc[-1] == "새"
    with pytest.raises(ValueError, match="not the assignment's"):
        kv.maps.placement.extend(text_map, NEW[:2], assignment=a)


def test_another_model_is_refused(text_map, tmp_path, tiny_model_path):
    from tiny_model import build_tiny_model

    other = str(build_tiny_model(tmp_path / "other-model", seed=1))
    with pytest.raises(ModelMismatchError, match="was made with the model"):
        text_map.assign(NEW, model=other)
    # a map made with a hub model: another model named, not a folder, is refused before it is loaded (no
    # network try, no ModelLoadError); a map made from a folder is checked by fingerprint (its hub name may differ)
    import dataclasses

    m = text_map.manifest
    hub_map = dataclasses.replace(text_map, manifest={**m, "model": {**m["model"], "name": "jhgan/ko-sbert-multitask"}})
    with pytest.raises(ModelMismatchError, match="got model='someone/another-model'"):
        hub_map.assign(NEW, model="someone/another-model")
    with pytest.raises(ModelMismatchError, match="got model='offline'"):
        hub_map.assign(NEW, model="offline")
    path = text_map.save(tmp_path / "m")
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        kv.load_map(path, model=other)
    kv.load_map(path, model=tiny_model_path)  # its own model is fine
    with pytest.raises(ValueError, match="dimension 7, expected"):
        assign_vectors(text_map, np.ones((2, 7), np.float32))


def test_missing_and_corrupt_files_give_clear_errors(text_map, tmp_path):
    path = text_map.save(tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        text_map.save(path)
    text_map.save(path, overwrite=True)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")  # a folder with files that are not a map
    with pytest.raises(FileExistsError, match="not a saved map"):
        text_map.save(tmp_path / "plain", overwrite=True)
    with pytest.raises(FileNotFoundError, match="no saved map"):
        kv.load_map(tmp_path / "nowhere")
    with pytest.raises(MapFileError, match="map.json is missing"):
        kv.load_map(tmp_path / "plain")

    # a flipped byte in a small file: caught on load by its checksum
    labels = path / "levels.npy"
    raw = bytearray(labels.read_bytes())
    raw[-3] ^= 0xFF
    labels.write_bytes(bytes(raw))
    with pytest.raises(MapFileError, match=r"levels\.npy is corrupt"):
        kv.load_map(path)
    # a flipped byte in the memory-mapped vectors: caught when they are first used (or at once with verify="all")
    text_map.save(path, overwrite=True)
    emb = path / "embeddings.npy"
    raw = bytearray(emb.read_bytes())
    raw[-5] ^= 0x10
    emb.write_bytes(bytes(raw))
    with pytest.raises(MapFileError, match=r"embeddings\.npy is corrupt"):
        kv.load_map(path, verify="all")
    lazy = kv.load_map(path)
    with pytest.raises(MapFileError, match=r"embeddings\.npy is corrupt"):
        assign_vectors(lazy, np.asarray(text_map.embeddings[:3]))
    # a truncated file, a deleted file, a broken header, a newer format
    text_map.save(path, overwrite=True)
    (path / "coords.npy").write_bytes((path / "coords.npy").read_bytes()[:-8])
    with pytest.raises(MapFileError, match="truncated"):
        kv.load_map(path)
    text_map.save(path, overwrite=True)
    (path / "texts.json").unlink()
    with pytest.raises(MapFileError, match=r"texts\.json is missing"):
        kv.load_map(path)
    text_map.save(path, overwrite=True)
    head = json.loads((path / "map.json").read_text("utf-8"))
    (path / "map.json").write_text(json.dumps(dict(head, version=99)), "utf-8")
    with pytest.raises(MapFileError, match="version 99"):
        kv.load_map(path)
    (path / "map.json").write_text("{not json", "utf-8")
    with pytest.raises(MapFileError, match="not valid UTF-8 JSON"):
        kv.load_map(path)


def test_hierarchy_levels_round_trip_and_nest(text_map, tmp_path):
    """A result with several nested levels: every level is saved, and placement keeps them nested."""
    import copy

    tm = copy.copy(text_map)
    fine = np.asarray(text_map.clusters.labels)
    coarse = fine // 2
    res = copy.copy(text_map.clusters)
    res.levels, res.default_level = [coarse, fine], 1
    res.tree = pd.DataFrame(
        {"node": [0, 1], "parent": [-1, -1], "level": [0, 0], "label": [0, 1], "size": [1, 2], "name": ["가", "나"]}
    )
    tm.clusters, tm.placement = res, None
    a = assign_vectors(tm, np.asarray(tm.embeddings[:50]) * 1.01 + 0.01)
    assert len(a.levels) == 2 and np.array_equal(a.levels[0], a.levels[1] // 2)
    loaded = kv.load_map(tm.save(tmp_path / "h"))
    assert len(loaded.clusters.levels) == 2 and loaded.clusters.default_level == 1
    np.testing.assert_array_equal(loaded.clusters.levels[0], coarse)
    pd.testing.assert_frame_equal(loaded.clusters.tree, res.tree)
    b = assign_vectors(loaded, np.asarray(tm.embeddings[:50]) * 1.01 + 0.01)
    for x, y in zip(a.levels, b.levels):
        np.testing.assert_array_equal(x, y)


def test_inverted_file_index_matches_exact_neighbours(monkeypatch):
    """Above the size threshold placement searches an inverted-file index: nearly the exact neighbours."""
    from conftest import make_blobs

    import kosbert_viz.maps.placement as pl

    tm = _blob_map()
    V = make_blobs(400, 32, 8, seed=1, spread=0.7)[0]
    exact = assign_vectors(tm, V)
    monkeypatch.setattr(pl, "_IVF_FROM", 1000)
    tm.placement = None
    ivf = assign_vectors(tm, V)
    assert ivf.info["index"] == "ivf" and exact.info["index"] == "exact"
    recall = np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(exact.neighbors, ivf.neighbors)])
    assert recall >= 0.9, recall
    assert (exact.labels == ivf.labels).mean() >= 0.98


@pytest.mark.slow
def test_cli_assign_writes_a_report_with_candidates_first(text_map, tmp_path):
    import os
    import subprocess
    import sys

    path = text_map.save(tmp_path / "map")
    batch = tmp_path / "june.csv"
    n = len(NEW) + 20
    dates = pd.date_range("2024-06-01", periods=n, freq="D").strftime("%Y-%m-%d")  # 3-4 weeks: weekly periods
    pd.DataFrame(
        {"review": NEW + text_map.texts[:20], "product": ["가", "나<i>"] * (n // 2) + ["가"] * (n % 2), "date": dates}
    ).to_csv(batch, index=False)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = tmp_path / "batch.html"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "kosbert_viz",
            "assign",
            str(path),
            str(batch),
            "--text-col",
            "review",
            "-o",
            str(out),
            "--csv",
            str(tmp_path / "batch.csv"),
            "--time-col",
            "date",
            "--class-col",
            "product",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "periods of W (from the time span" in run.stdout and "themes by class: 2 classes" in run.stdout
    page = out.read_text("utf-8")
    assert page.index("new-candidates") < page.index('id="map"') and "connect-src 'none'" in page
    assert "<h2 id='themes-over-time'>시간에 따른 테마</h2>" in page
    assert "<h2 id='themes-by-class'>분류별 테마</h2>" in page and "나<i>" not in page  # user text escaped
    rows = pd.read_csv(tmp_path / "batch.csv", encoding="utf-8-sig")
    assert len(rows) == len(NEW) + 20 and {"theme", "novelty", "is_new", "product"} <= set(rows.columns)
    bad = subprocess.run(
        [sys.executable, "-m", "kosbert_viz", "assign", str(tmp_path), str(batch), "--text-col", "review"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "not a saved map" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "kosbert_viz",
            "assign",
            str(path),
            str(batch),
            "--text-col",
            "review",
            "--time-col",
            "날짜",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2 and "column '날짜' not in" in bad.stderr and "Traceback" not in bad.stderr


def test_batch_map_is_the_batch_with_the_maps_themes(text_map):
    from kosbert_viz import topics_per_class
    from kosbert_viz.maps.levels import theme_names
    from kosbert_viz.maps.placement import batch_map

    a = text_map.assign(NEW + text_map.texts[:20])
    batch = batch_map(text_map, a)
    assert batch.texts == list(a.texts) and batch.embeddings.shape == (len(a), text_map.embeddings.shape[1])
    np.testing.assert_array_equal(batch.clusters.labels, a.labels)
    assert theme_names(batch) == theme_names(text_map)
    assert batch.manifest["n_texts"] == len(a) and batch.manifest["batch_of"] == {"n_texts": len(text_map.texts)}
    assert text_map.themes is not None  # a theme tree: its sizes are the batch's at every level
    for lv, labels in enumerate(a.levels):
        sizes = batch.themes[batch.themes.level == lv].set_index("label")["size"]
        counts = pd.Series(labels[labels >= 0]).value_counts()
        assert sizes[sizes > 0].sort_index().to_dict() == counts.sort_index().to_dict()
    pc = topics_per_class(batch, ["가"] * 10 + ["나"] * (len(a) - 10))
    assert pc.table.groupby("class")["count"].sum().to_dict() == {"가": 10, "나": len(a) - 10}
    other = text_map.assign(NEW[:2])
    other.info["n_map"] = len(text_map.texts) + 1  # as if made on another map
    with pytest.raises(ValueError, match="made on a map of"):
        batch_map(text_map, other)


def test_theme_tree_sizes_are_counted_over_the_texts_at_hand():
    from kosbert_viz.maps.placement import themes_over

    themes = pd.DataFrame(
        {
            "node": [0, 1, 2, 3],
            "parent": [-1, -1, 0, 0],
            "level": [0, 0, 1, 1],
            "label": [0, 1, 0, 1],
            "size": [9, 9, 9, 9],
            "name": list("abcd"),
        }
    )
    out = themes_over(themes, [np.array([0, 0, 1]), np.array([0, 1, 1])])
    assert out["size"].tolist() == [2, 1, 1, 2] and themes["size"].tolist() == [9] * 4  # a copy
    assert themes_over(None, [np.array([0])]) is None


def test_a_map_json_pointing_outside_its_folder_is_refused(tmp_path):

    from kosbert_viz.maps.store import MapFileError, _Reader

    (tmp_path / "secret.npy").write_bytes(b"x")
    reader = _Reader(tmp_path / "map", {"../secret.npy": {"bytes": 1, "sha256": "0"}}, "none")
    with pytest.raises(MapFileError, match="outside the map folder"):
        reader._path("../secret.npy")
    reader = _Reader(tmp_path / "map", {str(tmp_path / "secret.npy"): {"bytes": 1, "sha256": "0"}}, "none")
    with pytest.raises(MapFileError, match="outside the map folder"):
        reader._path(str(tmp_path / "secret.npy"))


def test_an_edited_map_json_is_refused_and_an_older_one_still_loads(text_map, tmp_path):
    """map.json carries the sha256 of its own content: a hand-edited but valid map.json is refused like any
    other altered file; reformatting it is not a change; a map saved before the checksum loads as before."""
    path = text_map.save(tmp_path / "m")
    head = json.loads((path / "map.json").read_text("utf-8"))
    assert len(head["sha256"]) == 64
    edited = json.loads(json.dumps(head))
    edited["model"]["name"] = "someone/else"  # still valid JSON, still a plausible map
    (path / "map.json").write_text(json.dumps(edited, ensure_ascii=False, indent=1), "utf-8")
    with pytest.raises(MapFileError, match=r"map\.json was changed after the map was saved: its content's sha256 is"):
        kv.load_map(path)
    edited = json.loads(json.dumps(head))
    edited["clusters"]["seconds"] += 1.0
    (path / "map.json").write_text(json.dumps(edited, ensure_ascii=False), "utf-8")
    with pytest.raises(MapFileError, match=r"map\.json was changed"):
        kv.load_map(path)
    kv.load_map(path, verify="none")  # sizes only, as for the other files
    (path / "map.json").write_text(json.dumps(head, indent=4, sort_keys=True), "utf-8")  # same content
    assert kv.load_map(path).texts == text_map.texts
    older = {k: v for k, v in head.items() if k != "sha256"}  # saved before map.json had a checksum
    (path / "map.json").write_text(json.dumps(older, ensure_ascii=False, indent=1), "utf-8")
    assert kv.load_map(path).texts == text_map.texts
