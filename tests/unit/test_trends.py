"""Themes over time and per class (kv.topics_over_time, kv.topics_per_class)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kosbert_viz as kv
from kosbert_viz.maps.textmap import TextMap
from kosbert_viz.themes.result import ClusterResult


@pytest.fixture(scope="module")
def dated_map():
    """Four themes over 2023-2024: theme 0 grows, theme 1 fades, themes 2 and 3 stay flat."""
    rng = np.random.default_rng(0)
    n = 4000
    days = np.sort(rng.integers(0, 731, n))
    t = days / 730
    p = np.stack([0.05 + 0.4 * t, 0.45 - 0.4 * t, np.full(n, 0.25), np.full(n, 0.25)], 1)
    lab = np.array([rng.choice(4, p=row / row.sum()) for row in p])
    centres = rng.normal(size=(4, 16))
    X = (centres[lab] + 0.3 * rng.normal(size=(n, 16))).astype(np.float32)
    texts = [f"{['배송', '환불', '가격', '포장'][c]} 후기 {i}" for i, c in enumerate(lab)]
    table = pd.DataFrame(
        {
            "cluster": np.arange(4),
            "size": np.bincount(lab),
            "name": ["배송 지연", "환불 요청", "가격", "포장"],
            "keywords": [[]] * 4,
            "scores": [[]] * 4,
            "representative": [[]] * 4,
        }
    )
    tm = TextMap(texts, X, rng.normal(size=(n, 2)), ClusterResult(lab, "given"), table, object(), {})
    dates = pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D")
    return tm, dates, lab


@pytest.mark.parametrize("freq", ["W", "M", "Q"])
def test_counts_add_up_per_period(dated_map, freq):
    tm, dates, lab = dated_map
    tot = kv.topics_over_time(tm, dates, freq=freq)
    t = tot.table
    per_period = pd.Series(dates).dt.to_period(freq).astype(str).value_counts()
    got = t.groupby(t.period.astype(str))["count"].sum()
    assert (got[per_period.index] == per_period).all()
    assert got.sum() == len(lab)
    assert (t.groupby("period")["count"].sum() == t.groupby("period")["period_total"].first()).all()
    shares = t[t.period_total > 0].groupby("period")["share"].sum()
    np.testing.assert_allclose(shares, 1.0)
    assert set(t.columns) >= {"period", "theme", "name", "count", "share", "example"}
    assert len(t) == t.period.nunique() * 4  # every theme in every period, zeros included


def test_emerging_and_fading_themes(dated_map):
    tm, dates, _ = dated_map
    tot = kv.topics_over_time(tm, dates.astype(str), freq="M")  # ISO strings are parsed
    r = tot.ranking
    assert r.iloc[0]["name"] == "배송 지연" and r.iloc[0]["trend"] == "emerging" and r.iloc[0]["growth"] > 0.5
    assert r.iloc[-1]["name"] == "환불 요청" and r.iloc[-1]["trend"] == "fading"
    assert set(r[r.theme.isin([2, 3])].trend) == {"stable"}
    assert list(tot.emerging(1).theme) == [0] and list(tot.fading(1).theme) == [1]
    fig = tot.figure()
    assert len(fig.data) == 4 and fig.data[0].stackgroup == "one"
    assert "배송 지연" in {tr.name for tr in fig.data}
    assert "후기" in fig.data[0].customdata[0][2]  # an example text in the hover
    lines = tot.figure(kind="lines", top=2)
    assert len(lines.data) == 3 and lines.data[-1].name == "other"


def test_missing_and_bad_dates(dated_map):
    tm, dates, lab = dated_map
    d = pd.Series(dates).astype(object)
    d.iloc[:10] = None
    tot = kv.topics_over_time(tm, d, freq="Q")
    assert tot.table["count"].sum() == len(lab) - 10 and tot.info["n_dated"] == len(lab) - 10
    with pytest.raises(ValueError, match="one date per text"):
        kv.topics_over_time(tm, dates[:5])
    with pytest.raises(ValueError, match="freq must be"):
        kv.topics_over_time(tm, dates, freq="fortnight")
    with pytest.raises(ValueError, match="row 1 has '어제', which is not a date"):  # a DateError
        kv.topics_over_time(tm, ["어제"] * len(lab))


def test_topics_per_class(dated_map):
    tm, _, lab = dated_map
    rng = np.random.default_rng(1)
    # class "A" is mostly theme 2; "B" and "C" are drawn at random
    cls = np.where((lab == 2) & (rng.random(len(lab)) < 0.7), "A", rng.choice(["B", "C"], len(lab)))
    pc = kv.topics_per_class(tm, cls)
    t = pc.table
    assert t.groupby("class")["count"].sum().to_dict() == pd.Series(cls).value_counts().to_dict()
    np.testing.assert_allclose(t.groupby("class")["share"].sum(), 1.0)
    a = pc.distinctive[pc.distinctive["class"] == "A"]
    assert a.iloc[0]["name"] == "가격" and a.iloc[0]["lift"] > 2 and a.iloc[0]["q_value"] < 1e-10
    # random classes have no distinctive theme at q < 0.05 beyond what theme 2's absence implies
    assert not ((pc.distinctive["class"] != "A") & (pc.distinctive.theme == 2)).any()
    fig = pc.figure()
    assert fig.data[0].type == "heatmap" and len(fig.data[0].y) == 3
    # bad input is named, as topics_over_time names it
    n = len(lab)
    with pytest.raises(TypeError, match="got a single str 'rating'"):
        kv.topics_per_class(tm, "rating")
    with pytest.raises(ValueError, match=f"one value per text \\({n}\\), got 3 values"):
        kv.topics_per_class(tm, ["A", "B", "C"])
    with pytest.raises(ValueError, match="classes has no value"):
        kv.topics_per_class(tm, [None] * n)
    with pytest.raises(ValueError, match="alpha must be"):
        kv.topics_per_class(tm, cls, alpha=2)
