"""One date reader for the library and the CLI (kosbert_viz.io.dates): every cell read by one format or named
in an error; NaT only for empty cells, counted and reported. And classes that mix numbers and text."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kosbert_viz as kv
from kosbert_viz.exceptions import DateError
from kosbert_viz.io.dates import DATE_FORMATS, parse_dates


@pytest.fixture(scope="module")
def tm300(tiny_model_path, sample):
    return kv.map_texts(list(sample.text[:300]), tiny_model_path, cache=None, show_progress_bar=False)


def test_a_different_first_row_is_an_error_naming_it_not_299_lost_rows(tm300):
    d = [f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(300)]
    d[0] = "2024/01/01"
    with pytest.raises(DateError, match=r"row 1 has '2024/01/01'.*1 of 300 dated rows fail"):
        kv.topics_over_time(tm300, d)
    d[0] = "2024-01-01"
    assert kv.topics_over_time(tm300, d).info["n_dated"] == 300


def test_alternating_formats_are_refused_not_halved(tm300):
    d = [f"2024{'-' if i % 2 else '/'}01-{1 + i % 28:02d}".replace("/01-", "/01/") for i in range(300)]
    with pytest.raises(DateError, match="row"):
        kv.topics_over_time(tm300, d)


def test_nsmc_two_digit_years_and_a_given_format(tm300):
    d = [f"24.{1 + i // 28:02d}.{1 + i % 28:02d}" for i in range(300)]
    tot = kv.topics_over_time(tm300, d, freq="M")
    assert tot.info["n_periods"] == 11  # Jan-Nov 2024, not 368 periods from 2001 to 2031
    assert str(tot.table.period.min()) == "2024-01"
    dmy = [f"{1 + i % 28:02d}/{1 + i // 28:02d}/2024" for i in range(300)]  # DD/MM/YYYY is not guessed
    with pytest.raises(DateError, match="row"):
        kv.topics_over_time(tm300, dmy)
    tot = kv.topics_over_time(tm300, dmy, date_format="%d/%m/%Y", freq="M")
    assert tot.info["n_dated"] == 300 and str(tot.table.period.max()) == "2024-11"


def test_junk_is_named_and_empty_cells_are_counted_and_reported(tm300):
    d = ["2024-03-01"] * 300
    d[7] = "not a date"
    with pytest.raises(DateError, match=r"row 8 has 'not a date'"):
        kv.topics_over_time(tm300, d)
    d[7] = ""
    d[8] = None
    with pytest.warns(UserWarning, match="2 of 300 texts have no date"):
        tot = kv.topics_over_time(tm300, d)
    assert tot.info["n_missing"] == 2 and tot.info["n_dated"] == 298


def test_years_epochs_and_objects():
    assert parse_dates([2019, 2020, None]).dt.year.tolist()[:2] == [2019, 2020]
    assert parse_dates(np.array([2019.0, np.nan])).dt.year.tolist()[0] == 2019
    with pytest.raises(DateError, match="epoch needs its unit"):
        parse_dates([1_700_000_000, 1_700_000_100])
    naive = parse_dates([dt.datetime(2024, 1, 2, 9), dt.date(2024, 1, 3), None])
    assert naive.dt.tz is None and naive.notna().sum() == 2 and naive.iloc[0] == pd.Timestamp("2024-01-02 09:00")
    with pytest.raises(DateError, match="no dates"):
        parse_dates(["", None, "nan"])
    long = "x" * 5_000_000
    with pytest.raises(DateError) as e:
        parse_dates([long, "2024-01-01"])
    assert len(str(e.value)) < 1000  # a bad cell is quoted, not copied


@pytest.mark.parametrize(
    "values, fmt, row",
    [
        (["20200101", "30000101"], None, 2),  # an id column read as yyyymmdd
        ([2020, 7316], None, 2),  # row numbers read as years
        (["1500-01-01 10:00", "2020-01-01 10:00"], None, 1),
        (["01012020", "01011500"], "%d%m%Y", 2),  # day first: the year is not the first four digits
        (["2262-01-01"] * 3 + ["3000-01-01"], None, 4),  # 2262-01-01 is still a date pandas holds
    ],
)
def test_a_date_pandas_cannot_hold_is_named_not_a_pandas_error(values, fmt, row):
    # pandas 3 reads such a cell and overflows (named here); pandas 2 reads it as no date (named as such)
    with pytest.raises(DateError, match=f"row {row} has '{values[row - 1]}'"):
        parse_dates(values, date_format=fmt)


# ---------------------------------------------------------------- time zones: one zone for the whole column


def test_plus_nine_and_z_are_the_same_instant_not_an_error_or_a_drop():
    got = parse_dates(["2024-01-01T09:00:00+09:00", "2024-01-01T00:00:00Z", None])
    assert got.notna().sum() == 2 and str(got.dt.tz) == "UTC"  # several zones: converted to UTC
    assert got.iloc[0] == got.iloc[1] == pd.Timestamp("2024-01-01 00:00", tz="UTC")


def test_one_zone_is_kept_so_a_late_seoul_review_stays_on_its_korean_date():
    got = parse_dates(["2024-01-01T23:30:00+09:00", "2024-01-02T08:00:00+0900"])
    assert got.dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2024-01-01 23:30", "2024-01-02 08:00"]
    assert got.iloc[0] == pd.Timestamp("2024-01-01 14:30", tz="UTC")


def test_timestamps_in_mixed_zones_are_all_kept_and_converted():
    seoul, utc = pd.Timestamp("2024-01-01 09:00", tz="Asia/Seoul"), pd.Timestamp("2024-01-01 10:00", tz="UTC")
    for values in ([seoul, utc, None], pd.Series([seoul, utc, None], dtype=object)):
        got = parse_dates(values)
        assert got.notna().sum() == 2 and str(got.dt.tz) == "UTC"
        assert got.iloc[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC") and got.iloc[1] == utc
    column = parse_dates(pd.Series(pd.date_range("2024-01-01 23:00", periods=2, freq="h", tz="Asia/Seoul")))
    assert str(column.dt.tz) == "Asia/Seoul" and column.dt.day.tolist() == [1, 2]  # already one zone: kept


def test_tz_converts_zoned_values_and_localizes_naive_ones():
    got = parse_dates(["2024-01-01T00:00:00Z", "2024-01-01 09:00", "2024-01-01T10:00:00+10:00", ""], tz="Asia/Seoul")
    assert str(got.dt.tz) == "Asia/Seoul" and got.isna().tolist() == [False, False, False, True]
    assert (got.iloc[:3] == pd.Timestamp("2024-01-01 09:00", tz="Asia/Seoul")).all()
    objects = parse_dates(
        [pd.Timestamp("2024-01-01", tz="UTC"), dt.datetime(2024, 1, 1, 9), dt.date(2024, 1, 2)], tz="Asia/Seoul"
    )
    assert objects.dt.strftime("%m-%d %H:%M").tolist() == ["01-01 09:00", "01-01 09:00", "01-02 00:00"]
    years = parse_dates(pd.Series(pd.date_range("2024-01-01", periods=2)), tz="UTC")
    assert str(years.dt.tz) == "UTC" and years.iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    with pytest.raises(DateError, match=r"row 2 has '2024-03-31 02:30'.*Europe/Berlin"):  # the hour that is skipped
        parse_dates(["2024-03-30 02:30", "2024-03-31 02:30"], tz="Europe/Berlin")


def test_naive_and_zoned_cells_without_tz_are_an_error_naming_the_row():
    with pytest.raises(DateError, match=r"row 3 has '2024-01-03 08:00', which has no time zone.*row 1.*tz="):
        parse_dates(["2024-01-01T23:30:00+09:00", "", "2024-01-03 08:00"])
    with pytest.raises(DateError, match=r"row 2 has .*2024-01-01 09:00:00\+09:00.*, which has a time zone"):
        parse_dates([dt.datetime(2024, 1, 1), pd.Timestamp("2024-01-01 09:00", tz="Asia/Seoul")])
    from kosbert_viz.cli.common import CLIError
    from kosbert_viz.cli.trends import parse_date_column as _parse_dates

    with pytest.raises(CLIError, match="pass --tz"):
        _parse_dates(["2024-01-01 00:00", "2024-01-01T00:00Z"], "d")


@pytest.mark.parametrize("bad", ["Asia/Seul", "KST", "", 9])
def test_a_bad_zone_name_is_refused(bad):
    with pytest.raises(ValueError, match=r"tz: got .*, expected an IANA zone name such as 'Asia/Seoul' or 'UTC'"):
        parse_dates(["2024-01-01"], tz=bad)


def test_topics_over_time_counts_periods_in_the_zone_given(tm300):
    d = ["2024-01-31T23:30:00+09:00"] * 150 + ["2024-01-31T16:00:00Z"] * 150
    assert kv.topics_over_time(tm300, d, freq="M").info["n_periods"] == 1  # UTC: Jan 31 14:30 and 16:00
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tot = kv.topics_over_time(tm300, d, freq="M", tz="Asia/Seoul")  # Korean: Jan 31 23:30 and Feb 1 01:00
    assert tot.info["n_dated"] == 300 and tot.info["early_periods"] == ["2024-01"] and tot.info["n_periods"] == 2


def test_the_cli_reads_dates_with_the_same_reader(tmp_path):
    from kosbert_viz.cli.common import CLIError
    from kosbert_viz.cli.trends import parse_date_column as _parse_dates

    with pytest.raises(CLIError, match=r"--time-col 'd': row 2 has '01/02/2024'.*--date-format"):
        _parse_dates(["2024-01-01", "01/02/2024"], "d")
    assert _parse_dates(["24.01.05"], "d").dt.year.tolist() == [2024]


# ---------------------------------------------------------------- property: nothing silently misread

_FORMATS = [fmt for _, _, fmt in DATE_FORMATS if fmt not in ("ISO8601", "%Y-%m", "%Y")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(_FORMATS),
    days=st.lists(st.integers(0, 365 * 30), min_size=1, max_size=40),
    holes=st.lists(st.sampled_from(["", None, "nan", "  "]), max_size=5),
    junk=st.lists(st.sampled_from(["not a date", "2024-13-45", "31/31/31", "어제", "0"]), max_size=2),
    seed=st.integers(0, 2**16),
)
def test_every_row_dated_correctly_or_named(fmt, days, holes, junk, seed):
    base = dt.date(2000, 1, 1) if fmt != "%y.%m.%d" else dt.date(2001, 1, 1)
    dates = [base + dt.timedelta(days=d) for d in days]
    cells = [d.strftime(fmt) for d in dates] + list(holes) + list(junk)
    order = np.random.default_rng(seed).permutation(len(cells))
    cells = [cells[i] for i in order]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = parse_dates(cells)
    except DateError as e:
        bad = [i for i, src in enumerate(order) if src >= len(dates) + len(holes)]
        assert bad, f"refused a column of well-formed dates: {e}"
        assert f"row {bad[0] + 1} has" in str(e)  # the first junk row is named
        return
    assert not junk, "junk was read as a date"
    for i, src in enumerate(order):
        if src < len(dates):
            assert got.iloc[i] == pd.Timestamp(dates[src]), (cells[i], got.iloc[i])  # a date is read as itself
        else:
            assert pd.isna(got.iloc[i]), (cells[i], got.iloc[i])  # an empty cell is NaT, never a made-up date


_ZONES = [None, "UTC", "Asia/Seoul", "America/New_York"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    instants=st.lists(
        st.tuples(st.integers(0, 10**9), st.sampled_from([0, 540, -300, 330, 600, -600]), st.booleans()),
        min_size=1,
        max_size=30,
    ),
    holes=st.lists(st.sampled_from(["", None, "nan"]), max_size=3),
    naive_at=st.none() | st.integers(0, 40),
    tz=st.sampled_from(_ZONES),
)
def test_every_zoned_row_is_its_instant_in_one_zone_or_named(instants, holes, naive_at, tz):
    base = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    cells, want = [], []
    for seconds, minutes, colon in instants:  # one instant written in a zone: Z, +09:00 or +0900
        at = (base + dt.timedelta(seconds=seconds)).astimezone(dt.timezone(dt.timedelta(minutes=minutes)))
        text = at.strftime("%Y-%m-%dT%H:%M:%S%z")
        text = (
            "Z".join(text.rsplit("+0000", 1))
            if not colon and minutes == 0
            else text[:-2] + ":" + text[-2:]
            if colon
            else text
        )
        cells.append(text)
        want.append(pd.Timestamp(at))
    cells += holes
    want += [pd.NaT] * len(holes)
    if naive_at is not None:  # a cell without a zone: read in tz, or an error naming it
        i = naive_at % (len(cells) + 1)
        cells.insert(i, "2024-01-15T12:00:00")
        want.insert(i, pd.Timestamp("2024-01-15 12:00", tz=tz) if tz else None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if naive_at is not None and tz is None:
            first = next(j for j, w in enumerate(want) if w is not pd.NaT)
            row = i if first < i else next(j for j, w in enumerate(want) if w is not pd.NaT and j > i)
            with pytest.raises(DateError, match=f"row {row + 1} has"):
                parse_dates(cells)
            return
        got = parse_dates(cells, tz=tz)
    offsets = {m for _, m, _ in instants}
    assert str(got.dt.tz) == (tz or ("UTC" if len(offsets) > 1 else str(want[0].tz)))
    for i, w in enumerate(want):
        assert pd.isna(got.iloc[i]) if w is pd.NaT else got.iloc[i] == w, (cells[i], got.iloc[i], w)


def test_mixed_int_and_str_classes_are_one_class(tm300):
    classes = [1 if i % 2 else "1" for i in range(300)]
    classes[3] = 2.0
    classes[5] = ""
    classes[6] = None
    pc = kv.topics_per_class(tm300, classes)
    assert sorted(pc.table["class"].unique()) == ["1", "2"]
    assert pc.info["n_missing"] == 2 and pc.info["n_classified"] == 298


# ---------------------------------------------------------------- a giant cell: bounded memory, one warning

GIANT = """
import resource, sys, warnings
import kosbert_viz as kv
size = int(sys.argv[1])
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    kv.encode(["나" * size, "짧은 글"], model="offline", cache=None, show_progress_bar=False)
    kv.keywords(["배송 " * (size // 3), "환불 문의", "배송 지연"], [0, 1, 1], show_progress_bar=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, sum("characters" in str(x.message) for x in w))
"""


@pytest.mark.slow
def test_a_giant_cell_is_cut_with_a_warning_and_memory_stays_bounded(offline_encoder):
    """Memory does not grow with a cell's length: a 2M-character cell peaks like a 20k-character one (uncut, the
    encoder alone took 3.5 GB at 200k characters, and keywords of a 2M-character text took 104 s)."""
    import subprocess
    import sys
    import time

    def run(size):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", GIANT, str(size)], capture_output=True, text=True, timeout=300, check=True
        )
        peak_mb, warned = (int(v) for v in out.stdout.split())
        return peak_mb, warned, time.perf_counter() - t

    small_mb, small_warned, _ = run(20_000)
    big_mb, big_warned, seconds = run(2_000_000)
    assert small_warned == big_warned == 2  # one for the encoder, one for the keywords
    assert big_mb < small_mb + 300, (small_mb, big_mb)
    assert seconds < 120


def test_duplicates_on_two_unrelated_texts_and_on_none():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 16)).astype(np.float32)  # cosine ~0: unrelated
    g = kv.duplicates(X, ["하나", "둘"])
    assert len(g) == 0 and g.attrs["threshold"] >= 0.95
    same = np.vstack([X[0], X[0] * 1.0001])
    assert len(kv.duplicates(same)) == 1  # near-identical texts still link in a tiny corpus
    empty = kv.duplicates(np.zeros((0, 16), np.float32), [])
    assert len(empty) == 0 and list(empty.columns)[:2] == ["group", "size"]


def test_an_error_quotes_at_most_a_few_hundred_characters_of_a_giant_header(tmp_path):
    import subprocess
    import sys

    f = tmp_path / "wide.csv"
    f.write_text("h" * 5_000_000 + "\n" + "배송이 늦어요\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "kosbert_viz", "map", str(f), "--text-col", "review"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode != 0 and "not in" in out.stderr
    assert len(out.stderr) < 2000, len(out.stderr)


def test_saving_into_an_empty_folder_and_a_report_with_a_255_byte_name(tmp_path, tm300):
    import os

    folder = tmp_path / "map"
    os.makedirs(folder)
    assert kv.load_map(tm300.save(folder)).texts == tm300.texts
    name = "가" * 81 + ".html"  # 81 x 3 bytes + 5 = 248 bytes: a valid name the old temp name overflowed
    assert len(name.encode()) <= 255
    out = kv.write_report(tm300, tmp_path / name)
    assert os.path.getsize(out) > 0 and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
