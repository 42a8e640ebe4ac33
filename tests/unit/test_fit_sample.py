"""map_texts(fit_sample=...): fit on a seeded sample, place the rest with the same placement as tm.assign."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def texts(sample):
    t = list(sample.text)
    return (t * (600 // len(t) + 1))[:600] if len(t) < 600 else t[:600]


@pytest.fixture(scope="module")
def sampled(texts, tiny_model_path, tmp_path_factory):
    import kosbert_viz as kv

    cache = tmp_path_factory.mktemp("fit-sample-cache")
    return kv.map_texts(texts, tiny_model_path, fit_sample=300, cache=cache, show_progress_bar=False)


def test_every_text_is_placed_at_every_level_and_fitted_texts_keep_theirs(sampled, texts, tiny_model_path, tmp_path):
    import kosbert_viz as kv
    from kosbert_viz.maps.placement import assign_vectors

    tm = sampled
    n = len(texts)
    info = tm.manifest["fit_sample"]
    assert (info["fitted"], info["placed"]) == (300, n - 300)
    assert len(tm.texts) == len(tm.embeddings) == len(tm.coords) == n
    assert np.isfinite(tm.coords).all()
    levels = tm.clusters.levels
    assert levels and all(len(lv) == n for lv in levels)
    # the sample, drawn as documented, fitted on its own, gives the same themes and positions for its texts
    fit_idx = np.sort(np.random.default_rng(42).choice(n, 300, replace=False))
    alone = kv.map_texts([texts[i] for i in fit_idx], tiny_model_path, cache=tmp_path, show_progress_bar=False)
    for lv, own in zip(levels, alone.clusters.levels):
        np.testing.assert_array_equal(lv[fit_idx], own)
    np.testing.assert_allclose(tm.coords[fit_idx], alone.coords)
    # the others are placed exactly as tm.assign would place them into the sample's map
    rest = np.setdiff1d(np.arange(n), fit_idx)
    a = assign_vectors(alone, tm.embeddings[rest])
    for lv, placed in zip(levels, a.levels):
        np.testing.assert_array_equal(lv[rest], placed)
    np.testing.assert_allclose(tm.coords[rest], a.coords)
    # table sizes count all texts
    shown = levels[tm.level]
    assert tm.table["size"].sum() == n
    assert dict(zip(tm.table.cluster, tm.table["size"])) == {int(c): int((shown == c).sum()) for c in np.unique(shown)}
    assert len(tm.figure.data) > 0


def test_deterministic_and_no_sample_when_small(sampled, texts, tiny_model_path, tmp_path):
    import kosbert_viz as kv

    again = kv.map_texts(texts, tiny_model_path, fit_sample=300, cache=tmp_path, show_progress_bar=False)
    for x, y in zip(sampled.clusters.levels, again.clusters.levels):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(sampled.coords, again.coords)
    small = kv.map_texts(texts[:100], tiny_model_path, fit_sample=300, cache=tmp_path, show_progress_bar=False)
    assert "fit_sample" not in small.manifest
    with pytest.raises(ValueError, match="fit_sample"):
        kv.map_texts(texts, tiny_model_path, fit_sample=0, cache=tmp_path)


def test_map_vectors_takes_precomputed_vectors(sampled, texts):
    import kosbert_viz as kv

    tm = kv.map_vectors(sampled.embeddings, texts, fit_sample=300, cache=None, show_progress_bar=False)
    for x, y in zip(sampled.clusters.levels, tm.clusters.levels):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="one per text"):
        kv.map_vectors(sampled.embeddings[:10], texts)


def test_map_vectors_takes_the_model_by_name_and_checks_its_width(sampled, texts, tiny_model_path):
    """A model given by name (a str, which has an ``encode`` method of its own) is loaded and recorded."""
    import kosbert_viz as kv

    tm = kv.map_vectors(sampled.embeddings[:200], texts[:200], model=str(tiny_model_path), show_progress_bar=False)
    assert tm.manifest["model"]["dim"] == sampled.embeddings.shape[1]
    assert tm.manifest["model"]["name"] == sampled.manifest["model"]["name"]
    assert tm.manifest["model"]["precision"] == "fp32"  # loaded to be recorded: no int8 export for that
    with pytest.raises(TypeError, match="model must be a model name"):  # refused before any work
        kv.map_vectors(sampled.embeddings[:200], texts[:200], model=123)
    with pytest.raises(ValueError, match="pass the model that encoded them"):
        kv.map_vectors(sampled.embeddings[:200, :8], texts[:200], model=str(tiny_model_path))


def test_a_sampled_map_places_new_texts_as_it_placed_its_own(sampled, texts, tmp_path):
    """The saved fit_sample map keeps the fitted rows and their index: texts placed at fit time and
    placed again (before or after save/load) get the same themes and positions."""
    import kosbert_viz as kv
    from kosbert_viz.maps.placement import assign_vectors

    tm = sampled
    n = len(texts)
    fit_idx = np.sort(np.random.default_rng(42).choice(n, 300, replace=False))
    rest = np.setdiff1d(np.arange(n), fit_idx)
    state = tm.placement
    assert state is not None and state.n == n
    np.testing.assert_array_equal(state.rows, fit_idx)
    again = assign_vectors(tm, tm.embeddings[rest])
    for lv, placed in zip(tm.clusters.levels, again.levels):
        np.testing.assert_array_equal(lv[rest], placed)
    np.testing.assert_allclose(again.coords, tm.coords[rest])
    assert np.isin(again.neighbors[again.neighbors >= 0], fit_idx).all()  # map rows, fitted ones only
    loaded = kv.load_map(tm.save(tmp_path / "map"))
    np.testing.assert_array_equal(loaded.placement.rows, fit_idx)
    after = assign_vectors(loaded, tm.embeddings[rest])
    for x, y in zip(again.levels, after.levels):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(again.coords, after.coords)
    np.testing.assert_array_equal(again.neighbors, after.neighbors)


def test_an_extended_sampled_map_still_places_by_its_fitted_rows(sampled, texts):
    from kosbert_viz.maps.placement import assign_vectors

    tm = sampled
    n = len(texts)
    fit_idx = np.sort(np.random.default_rng(42).choice(n, 300, replace=False))
    rest = np.setdiff1d(np.arange(n), fit_idx)
    a = assign_vectors(tm, tm.embeddings[rest[:20]])
    a.texts = [texts[i] for i in rest[:20]]
    grown = tm.extend(a)
    assert len(grown.texts) == n + 20
    np.testing.assert_array_equal(grown.placement.rows, fit_idx)
    again = assign_vectors(grown, tm.embeddings[rest[:20]])
    np.testing.assert_array_equal(again.labels, a.labels)
    np.testing.assert_array_equal(again.coords, a.coords)
