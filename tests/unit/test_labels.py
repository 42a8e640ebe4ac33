"""Map names that never cover each other (kosbert_viz.viz.labels): the Python copy of the page's rule."""

from __future__ import annotations

import numpy as np
import pytest

import kosbert_viz as kv
from kosbert_viz.viz.labels import (
    MAX_WORDS,
    MIN_FONT_PX,
    label_candidates,
    overlaps,
    place_labels,
    text_width,
)


def _blobs(m: int, per: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, size=(m, 2))
    xy = np.repeat(centers, per, axis=0) + rng.normal(scale=0.4, size=(m * per, 2))
    return xy, np.repeat(np.arange(m), per)


@pytest.mark.parametrize("m, width, height", [(12, 1400, 1000), (12, 900, 650), (40, 900, 650), (8, 320, 240)])
def test_every_theme_named_none_overlapping_none_cut(m, width, height):
    xy, fine = _blobs(4 * m)
    coarse = fine // 4
    names = {i: f"테마{i} · 배송 · 환불 · 늦음" for i in range(m)}
    cands = label_candidates(xy, coarse, names, fine, {i: f"하위{i} · 말" for i in range(4 * m)})
    placed = place_labels(cands, (-11, 11), (-11, 11), width=width, height=height)
    boxes = [p["box"] for p in placed]
    assert overlaps(boxes) == 0
    assert all(b[0] >= 0 and b[1] >= 0 and b[2] <= width and b[3] <= height for b in boxes)  # none cut
    assert sorted(p["theme"] for p in placed if p["level"] == 0) == list(range(m))  # every theme named
    assert all(p["font"] >= MIN_FONT_PX for p in placed)
    assert all(len(p["text"].split(" · ")) <= MAX_WORDS for p in placed)
    moved = [p for p in placed if p["leader"]]
    assert all(np.hypot(p["ax"], p["ay"]) > 6 for p in moved)  # a moved name points back to its theme
    assert place_labels(cands, (-11, 11), (-11, 11), width=width, height=height) == placed  # deterministic


def test_bigger_themes_get_bigger_names_and_first_pick_of_the_space():
    xy = np.r_[np.zeros((90, 2)), np.zeros((10, 2)) + 0.01]
    lab = np.r_[np.zeros(90, int), np.ones(10, int)]
    cands = label_candidates(xy, lab, {0: "큰 테마", 1: "작은 테마"})
    assert [c["theme"] for c in cands] == [0, 1] and cands[0]["font"] > cands[1]["font"] >= MIN_FONT_PX
    big, small = place_labels(cands, (-1, 1), (-1, 1), width=400, height=300)
    assert (big["ax"], big["ay"]) == (0, 0) and small["leader"]  # the big one sits on its centre


def test_text_width_counts_hangul_wider_than_latin():
    assert text_width("배송", 10) == 20 and text_width("ab", 10) < 12


def test_a_zoomed_view_names_only_themes_inside_it():
    xy, lab = _blobs(6)
    cands = label_candidates(xy, lab, {i: f"테마 {i}" for i in range(6)})
    inside = [c for c in cands if -3 <= c["x"] <= 3 and -3 <= c["y"] <= 3]
    placed = place_labels(cands, (-3, 3), (-3, 3), width=600, height=600)
    assert {p["theme"] for p in placed} == {c["theme"] for c in inside}


def test_cluster_map_stores_placed_names_and_the_candidates_for_the_page():
    xy, lab = _blobs(10)
    fig = kv.cluster_map(xy, labels=lab, names={i: f"테마 {i} · 가 · 나 · 다" for i in range(10)}, width=900)
    lay = fig.to_dict()["layout"]
    names = [a for a in lay["annotations"] if a.get("name") == "theme-name"]
    assert len(names) == 10 and all(a["text"].count("·") <= MAX_WORDS - 1 for a in names)
    assert all(a["bgcolor"].startswith("rgba(255,255,255") for a in names)  # a halo keeps them legible
    assert len(lay["meta"]["kosbert_viz"]["labels"]) == 10
    assert lay["xaxis"]["range"][0] < xy[:, 0].min() and lay["yaxis"]["range"][1] > xy[:, 1].max()


def test_figures_with_other_meta_and_bad_coordinates_still_draw():
    from kosbert_viz.viz.renderers import figure_html

    assert "never cover each other" not in figure_html({"data": [], "layout": {"meta": ["x"]}})  # any meta value
    assert kv.cluster_map(np.zeros((0, 2))).layout.xaxis.range is not None  # no points: no names, no error
    xy = np.array([[0.0, 0.0], [np.nan, 1.0], [1.0, 1.0], [2.0, 2.0]])
    lay = kv.cluster_map(xy, labels=[0, 0, 1, 1], names={0: "가", 1: "나"}).to_dict()["layout"]
    assert all(np.isfinite(lay["xaxis"]["range"])) and len(lay["meta"]["kosbert_viz"]["labels"]) == 2


def test_a_subtheme_that_is_its_whole_theme_or_has_its_name_is_not_named_twice():
    xy, fine = _blobs(6)
    coarse = np.where(fine < 3, fine, 3)  # themes 0-2 hold one sub-theme each; theme 3 holds three
    cands = label_candidates(xy, coarse, {i: f"테마 {i}" for i in range(4)}, fine, {i: f"세부 {i}" for i in range(6)})
    assert sorted(c["theme"] for c in cands if c["level"] == 1) == [3, 4, 5]
    # a part of theme 3 named as theme 3 itself (its largest part, often) would only repeat it, smaller
    subnames = {i: f"세부 {i}" for i in range(6)} | {4: "테마 3"}
    cands = label_candidates(xy, coarse, {i: f"테마 {i}" for i in range(4)}, fine, subnames)
    assert sorted(c["theme"] for c in cands if c["level"] == 1) == [3, 5]
    # ... as drawn (three words); without names, parts keep their own ("theme 4", "theme 5" under "theme 3")
    subnames[4] = "테마 3 · 가 · 나 · 다"
    long = {i: f"테마 {i}" for i in range(3)} | {3: "테마 3 · 가 · 나 · 라"}
    assert sorted(c["theme"] for c in label_candidates(xy, coarse, long, fine, subnames) if c["level"] == 1) == [3, 5]
    assert sorted(c["theme"] for c in label_candidates(xy, coarse, {}, fine, {}) if c["level"] == 1) == [4, 5]
