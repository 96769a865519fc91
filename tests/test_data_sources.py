"""Market data sources: the sample, user files, the synthetic market, yfinance."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import (
    FIELDS,
    SAMPLE_SYMBOLS,
    SOURCES,
    MarketData,
    generate_synthetic,
    load_files,
    load_market_data,
    load_yfinance,
)
from core.data.market import NOT_IN_CLOSE_ONLY
from core.errors import DataSourceError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample() -> MarketData:
    return load_market_data("sample")


@pytest.fixture(scope="module")
def raw_sample() -> pd.DataFrame:
    from bokeh_sampledata.stocks import data

    return data


def _returns(frame: pd.DataFrame, symbol: str, day: str) -> float:
    series = frame[symbol].dropna()
    return float(series.pct_change().loc[pd.Timestamp(day, tz="UTC")])


# --------------------------------------------------------------------------- sample
def test_sample_golden_shape(sample: MarketData) -> None:
    counts = sample.close.count()
    assert counts.to_dict() == {"AAPL": 3270, "FB": 196, "GOOG": 2148, "IBM": 3270, "MSFT": 3270}
    assert sample.symbols == SAMPLE_SYMBOLS
    assert sample.source == "sample" and sample.synthetic is False
    assert sample.dates[0] == pd.Timestamp("2000-03-01", tz="UTC")
    assert sample.dates[-1] == pd.Timestamp("2013-03-01", tz="UTC")
    assert str(sample.dates.dtype) == "datetime64[ns, UTC]"
    assert sample.dates.name == "date"
    assert sample.dates.is_unique and sample.dates.is_monotonic_increasing
    for name in FIELDS:
        assert getattr(sample, name).dtypes.eq(np.float64).all()
    goog = sample.close["GOOG"]
    assert goog.loc[:"2004-08-18"].isna().all()
    assert goog.first_valid_index() == pd.Timestamp("2004-08-19", tz="UTC")
    assert sample.close["FB"].first_valid_index() == pd.Timestamp("2012-05-18", tz="UTC")


@pytest.mark.parametrize(
    ("symbol", "day"),
    [("AAPL", "2000-06-21"), ("AAPL", "2005-02-28"), ("MSFT", "2003-02-18")],
)
def test_sample_is_split_adjusted(
    sample: MarketData, raw_sample: pd.DataFrame, symbol: str, day: str
) -> None:
    raw = raw_sample[raw_sample["ticker"] == symbol].set_index("date")
    raw.index = raw.index.tz_localize("UTC")
    assert abs(_returns(raw[["close"]].rename(columns={"close": symbol}), symbol, day)) > 0.3
    assert abs(_returns(sample.close, symbol, day)) < 0.3
    assert abs(_returns(sample.open, symbol, day)) < 0.3
    # The adjusted close is the source's adj_close; volume scales the other way.
    np.testing.assert_allclose(sample.close[symbol].dropna().to_numpy(), raw["adj_close"])
    factor = raw["adj_close"] / raw["close"]
    np.testing.assert_allclose(
        sample.volume[symbol].dropna().to_numpy(), (raw["volume"] / factor).to_numpy()
    )


def test_sample_subset_is_case_insensitive_and_sliced() -> None:
    m = load_market_data(symbols=["msft", "aapl"], start="2005-01-01", end="2005-12-31")
    assert m.symbols == ("AAPL", "MSFT")
    assert m.dates[0] == pd.Timestamp("2005-01-03", tz="UTC")
    assert m.dates[-1] == pd.Timestamp("2005-12-30", tz="UTC")
    assert len(m.dates) == 252


def test_sample_unknown_symbol_lists_available() -> None:
    with pytest.raises(DataSourceError, match=r"unknown symbol.*'TSLA'.*AAPL, FB, GOOG, IBM, MSFT"):
        load_market_data("sample", symbols=["AAPL", "TSLA"])


def test_sample_cache_hands_out_fresh_frames() -> None:
    first = load_market_data("sample", symbols=["IBM"])
    first.close.iloc[0, 0] = -1.0  # a careless caller
    second = load_market_data("sample", symbols=["IBM"])
    assert second.close.iloc[0, 0] > 0
    assert second.fingerprint == first.fingerprint  # computed before the mutation


def test_unknown_source_suggests() -> None:
    with pytest.raises(DataSourceError, match=r"did you mean 'synthetic'"):
        load_market_data("synthtic")


def test_file_source_needs_path() -> None:
    with pytest.raises(DataSourceError, match=r"source='csv' needs path="):
        load_market_data("csv")


# --------------------------------------------------------------------------- files
GOOD = "date,open,high,low,close,volume\n2020-01-02,10,11,9,10,100\n2020-01-03,10,12,9,11,120\n"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_csv_folder_one_file_per_symbol(tmp_path: Path) -> None:
    _write(tmp_path, "aapl.csv", GOOD)
    _write(tmp_path, "msft.csv", GOOD.replace("2020-01-02", "2020-01-01"))
    m = load_market_data("csv", path=tmp_path)
    assert m.symbols == ("AAPL", "MSFT")
    assert m.source == "csv" and not m.synthetic
    assert len(m.dates) == 3
    assert np.isnan(m.close.loc["2020-01-01", "AAPL"])
    assert m.close.loc["2020-01-03", "MSFT"] == 11.0


def test_csv_aliases_and_adjusted_close(tmp_path: Path) -> None:
    text = (
        "Timestamp,OPEN,High,low,Close,Adj Close,Volume,Ticker\n"
        "2020-01-02,10,11,9,10,5,100,x\n"
        "2020-01-03,10,12,9,11,5.5,120,x\n"
        "2020-01-02,20,21,19,20,20,7,y\n"
    )
    m = load_files(_write(tmp_path, "long.csv", text))
    assert m.symbols == ("X", "Y")
    row = m.to_long().set_index(["symbol", "date"]).loc[("X", pd.Timestamp("2020-01-02", tz="UTC"))]
    assert (row["open"], row["high"], row["low"], row["close"]) == (5.0, 5.5, 4.5, 5.0)
    assert row["volume"] == 200.0
    assert m.close.loc["2020-01-02", "Y"] == 20.0


def test_parquet_long_file(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["A", "A", "B"],
            "datetime": pd.to_datetime(["2021-03-01", "2021-03-02", "2021-03-01"]),
            "open": [1.0, 2.0, 3.0],
            "high": [1.5, 2.5, 3.5],
            "low": [0.5, 1.5, 2.5],
            "close": [1.0, 2.0, 3.0],
        }
    )
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    m = load_market_data("parquet", path=tmp_path)
    assert m.source == "parquet"
    assert m.symbols == ("A", "B")
    assert m.volume.isna().all().all()  # no volume column: NaN
    assert m.dates.tz is not None


def test_dates_naive_as_utc_and_offsets_converted(tmp_path: Path) -> None:
    text = GOOD.replace("2020-01-02,", "2020-01-02T00:00:00+00:00,")
    m = load_files(_write(tmp_path, "a.csv", text))
    assert list(m.dates) == [
        pd.Timestamp("2020-01-02", tz="UTC"),
        pd.Timestamp("2020-01-03", tz="UTC"),
    ]


def test_unsorted_file_is_sorted_with_a_warning(tmp_path: Path) -> None:
    lines = GOOD.strip().split("\n")
    path = _write(tmp_path, "zz.csv", "\n".join([lines[0], lines[2], lines[1]]) + "\n")
    with pytest.warns(UserWarning, match=r"zz\.csv: dates were not in increasing order") as rec:
        m = load_market_data("csv", path=path)
    assert rec[0].filename == __file__  # stacklevel points at the caller
    assert m.dates.is_monotonic_increasing
    assert m.close["ZZ"].tolist() == [10.0, 11.0]


def test_symbol_in_two_files(tmp_path: Path) -> None:
    _write(tmp_path, "aapl.csv", GOOD)
    _write(tmp_path, "all.csv", "symbol,date,open,high,low,close\nAAPL,2020-01-06,1,2,1,1\n")
    with pytest.raises(DataSourceError, match=r"AAPL appears in both aapl\.csv and all\.csv"):
        load_files(tmp_path)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"does not exist"):
        load_files(tmp_path / "nope")
    with pytest.raises(DataSourceError, match=r"holds no \.csv files"):
        load_files(tmp_path)


HEADER = "date,open,high,low,close,volume\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            "date,open,high,low,volume\n2020-01-02,1,2,1,5\n",
            r"bad\.csv: row 1 \(header\) has no 'close' column.*add a header",
            id="missing-column",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,1,1,5\n2020-01-03,1,2,1,1,5\nsoon,1,2,1,1,5\n",
            r"bad\.csv: row 4: date 'soon' is not a date; write dates as YYYY-MM-DD",
            id="unparsable-date",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,1,1,5\n2020-01-03,1,2,1,0,5\n",
            r"bad\.csv: row 3: close is 0; prices must be positive numbers: correct",
            id="zero-price",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,1,1,5\n2020-01-03,-1,2,1,1,5\n2020-01-06,-2,2,1,1,5\n",
            r"bad\.csv: row 3 \(and 1 more row\): open is -1; prices must be positive",
            id="negative-price",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,1,,5\n",
            r"bad\.csv: row 2: close is empty; prices must be positive",
            id="nan-price",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,1,1,5\n2020-01-03,1,2,1,abc,5\n",
            r"bad\.csv: row 3: close is 'abc'; prices must be positive",
            id="text-price",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,1,1,5\n2020-01-03,1,9,10,9.5,5\n",
            r"bad\.csv: row 3: high 9\.0 is below low 10\.0; swap the two values",
            id="high-below-low",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,1,1,5\n2020-01-03,1,2,1,1,5\n2020-01-02,1,2,1,1,5\n",
            r"bad\.csv: rows 2 and 4 have the same date 2020-01-02 for BAD; keep one bar",
            id="duplicate-date",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,1,1,-5\n",
            r"bad\.csv: row 2: volume is -5; volume cannot be negative",
            id="negative-volume",
        ),
        pytest.param(
            "symbol,date,open,high,low,close\nA,2020-01-02,1,2,1,1\n,2020-01-02,1,2,1,1\n",
            r"bad\.csv: row 3: the symbol column is empty; fill in the symbol",
            id="empty-symbol",
        ),
        pytest.param(
            HEADER,
            r"bad\.csv: the file has no data rows",
            id="empty-file",
        ),
    ],
)
def test_bad_csv_files(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(DataSourceError, match=match):
        load_market_data("csv", path=path)


def test_bad_row_numbers_refer_to_the_file_even_when_unsorted(tmp_path: Path) -> None:
    text = HEADER + "2020-01-06,1,2,1,1,5\n2020-01-02,1,2,1,1,5\n2020-01-03,1,0.5,1,1,5\n"
    with pytest.raises(DataSourceError, match=r"u\.csv: row 4: high 0\.5 is below low 1\.0"):
        load_files(_write(tmp_path, "u.csv", text))


# --------------------------------------------------------------------------- synthetic
def test_synthetic_shape_and_labels() -> None:
    m = load_market_data("synthetic", n_symbols=12, n_days=300, seed=3)
    assert m.shape == (300, 12)
    assert m.symbols[0] == "SYN000" and m.symbols[-1] == "SYN011"
    assert m.synthetic is True and m.source == "synthetic"
    assert m.dates[0] == pd.Timestamp("2010-01-04", tz="UTC")
    assert (m.dates.day_of_week < 5).all()
    for name in FIELDS:
        assert np.isfinite(getattr(m, name).to_numpy()).all()
    o, h, lo, c = (getattr(m, k).to_numpy() for k in ("open", "high", "low", "close"))
    assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all() and (lo > 0).all()


def test_synthetic_is_deterministic() -> None:
    a = generate_synthetic(n_symbols=20, n_days=500, seed=11)
    b = generate_synthetic(n_symbols=20, n_days=500, seed=11)
    c = generate_synthetic(n_symbols=20, n_days=500, seed=12)
    pd.testing.assert_frame_equal(a.close, b.close)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint


def test_synthetic_has_fat_tails_and_volatility_clustering() -> None:
    m = generate_synthetic(n_symbols=50, n_days=2000, seed=0)
    r = np.diff(np.log(m.close.to_numpy()), axis=0)
    z = (r - r.mean(axis=0)) / r.std(axis=0)
    excess_kurtosis = float(np.median((z**4).mean(axis=0) - 3.0))
    assert excess_kurtosis > 1.0
    a = np.abs(z)
    acf1 = float(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1])
    assert acf1 > 0.05
    # The market factor makes symbols co-move.
    corr = np.corrcoef(r.T)
    assert float(corr[np.triu_indices(50, 1)].mean()) > 0.1


def test_synthetic_large_market_has_the_asked_shape() -> None:
    # Its speed (about 0.3 s) is measured in bench/, not here.
    m = generate_synthetic(n_symbols=500, n_days=2520, seed=0)
    assert m.shape == (2520, 500)
    assert m.synthetic and np.isfinite(m.close.to_numpy()).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_symbols": 0}, r"n_symbols=0 is out of range"),
        ({"n_days": 1}, r"n_days=1 is out of range"),
        ({"seed": -1}, r"seed=-1 is out of range"),
        ({"n_symbols": 2.5}, r"n_symbols=2\.5 must be an integer"),
    ],
)
def test_synthetic_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(DataSourceError, match=match):
        generate_synthetic(**kwargs)


# --------------------------------------------------------------------------- container
def test_fingerprint_is_stable_across_processes() -> None:
    code = (
        "from core.data import generate_synthetic;"
        "print(generate_synthetic(n_symbols=5, n_days=50, seed=4).fingerprint)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == generate_synthetic(n_symbols=5, n_days=50, seed=4).fingerprint


def test_fingerprint_sees_one_changed_price() -> None:
    m = generate_synthetic(n_symbols=5, n_days=50, seed=4)
    frames = {name: getattr(m, name).copy() for name in FIELDS}
    same = MarketData(**frames, source="synthetic", synthetic=True)
    assert same.fingerprint == m.fingerprint
    assert len(m.fingerprint) == 64
    frames["close"].iloc[30, 2] *= 1.0000001
    changed = MarketData(**frames, source="synthetic", synthetic=True)
    assert changed.fingerprint != m.fingerprint
    assert changed != m


def test_fingerprint_ignores_column_order_but_not_dates() -> None:
    m = generate_synthetic(n_symbols=4, n_days=30, seed=1)
    order = ["SYN002", "SYN000", "SYN003", "SYN001"]
    shuffled = MarketData(
        **{name: getattr(m, name)[order] for name in FIELDS}, source="synthetic", synthetic=True
    )
    assert shuffled.symbols == m.symbols
    assert shuffled.fingerprint == m.fingerprint
    shifted = MarketData(
        **{name: getattr(m, name).set_axis(m.dates + pd.Timedelta(days=1)) for name in FIELDS},
        source="synthetic",
        synthetic=True,
    )
    assert shifted.fingerprint != m.fingerprint


def test_slice_recomputes_fingerprint_and_drops_empty_dates(sample: MarketData) -> None:
    fb = sample.slice(symbols=["FB"])
    assert len(fb.dates) == 196 and fb.symbols == ("FB",)
    assert fb.fingerprint != sample.fingerprint
    again = sample.slice(symbols=["fb"])
    assert again.fingerprint == fb.fingerprint
    with pytest.raises(DataSourceError, match=r"start=2010-01-01 is after end=2009-01-01"):
        sample.slice(start="2010-01-01", end="2009-01-01")
    with pytest.raises(DataSourceError, match=r"no bars for symbols \['FB'\]"):
        sample.slice(end="2011-01-01", symbols=["FB"])


def test_to_long_round_trip(sample: MarketData) -> None:
    long = sample.to_long()
    assert len(long) == 3270 * 3 + 2148 + 196
    assert list(long.columns) == ["date", "symbol", *FIELDS]
    assert str(long["date"].dtype) == "datetime64[ns, UTC]"
    back = MarketData.from_long(long, source="sample")
    assert back.fingerprint == sample.fingerprint


def test_container_rejects_naive_index() -> None:
    idx = pd.date_range("2020-01-01", periods=3, name="date")
    frame = pd.DataFrame({"A": [1.0, 2.0, 3.0]}, index=idx)
    with pytest.raises(DataSourceError, match=r"tz-naive; localise it"):
        MarketData(**dict.fromkeys(FIELDS, frame), source="csv")


def test_repr_is_short(sample: MarketData) -> None:
    text = repr(sample)
    assert "source='sample'" in text and "dates=3270" in text and len(text) < 200


# --------------------------------------------------------------------------- yfinance
def test_yfinance_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yfinance", None)
    with pytest.raises(DataSourceError, match=r"pip install 'signal-lab\[online\]'"):
        load_market_data("yfinance", symbols=["AAPL"])


def test_yfinance_unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def download(*args: object, **kwargs: object) -> pd.DataFrame:
        raise ConnectionError("Failed to resolve 'query1.finance.yahoo.com'")

    monkeypatch.setitem(sys.modules, "yfinance", types.SimpleNamespace(download=download))
    with pytest.raises(DataSourceError, match=r"could not download AAPL.*check the network"):
        load_yfinance(["AAPL"], cache_dir=tmp_path)


def test_yfinance_empty_answer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.SimpleNamespace(download=lambda *a, **k: pd.DataFrame())
    monkeypatch.setitem(sys.modules, "yfinance", fake)
    with pytest.raises(DataSourceError, match=r"returned no bars for ZZZZ"):
        load_yfinance(["ZZZZ"], cache_dir=tmp_path)


def test_yfinance_download_is_adjusted_and_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []

    def download(symbol: str, **kwargs: object) -> pd.DataFrame:
        calls.append(symbol)
        idx = pd.DatetimeIndex(
            pd.to_datetime(["2024-01-02", "2024-01-03"]).tz_localize("America/New_York"),
            name="Date",
        )
        cols = pd.MultiIndex.from_product(
            [["Adj Close", "Close", "High", "Low", "Open", "Volume"], [symbol]]
        )
        values = [[5.0, 10.0, 11.0, 9.0, 10.0, 100.0], [6.0, 12.0, 12.5, 10.0, 10.0, 50.0]]
        return pd.DataFrame(values, index=idx, columns=cols)

    monkeypatch.setitem(sys.modules, "yfinance", types.SimpleNamespace(download=download))
    m = load_market_data("yfinance", symbols=["aapl"], cache_dir=tmp_path)
    assert m.source == "yfinance" and m.symbols == ("AAPL",)
    assert m.dates[0] == pd.Timestamp("2024-01-02", tz="UTC")
    assert m.close["AAPL"].tolist() == [5.0, 6.0]
    assert m.volume["AAPL"].tolist() == [200.0, 100.0]
    again = load_yfinance(["AAPL"], cache_dir=tmp_path)
    assert calls == ["AAPL"]  # the second load came from the cache
    assert again.fingerprint == m.fingerprint


# ----------------------------------------------------------------------------- close-only
def _closes(n: int = 4) -> pd.DataFrame:
    index = pd.bdate_range("2021-01-04", periods=n, tz="UTC", name="date")
    return pd.DataFrame({"BBB": np.arange(n) + 20.0, "AAA": np.arange(n) + 10.0}, index=index)


def test_from_closes_builds_a_labelled_close_only_market() -> None:
    m = MarketData.from_closes(_closes(), source="extended-close-only")
    assert m.close_only and not m.synthetic
    assert m.symbols == ("AAA", "BBB")
    assert m.close["AAA"].tolist() == [10.0, 11.0, 12.0, 13.0]
    for name in NOT_IN_CLOSE_ONLY:
        assert getattr(m, name).isna().all().all()
    assert m.description == "extended-close-only (close-only)"
    assert "close_only=True" in repr(m)
    part = m.slice(start="2021-01-05", symbols=["aaa"])
    assert part.close_only and part.shape == (3, 1)
    long = m.to_long()
    assert len(long) == 8 and long["open"].isna().all() and long["close"].notna().all()


def test_close_only_flag_is_part_of_the_fingerprint_only_when_set() -> None:
    closes = _closes()
    nan = pd.DataFrame(np.nan, index=closes.index, columns=closes.columns)
    flagged = MarketData.from_closes(closes, source="csv")
    plain = MarketData(open=nan, high=nan, low=nan, close=closes, volume=nan, source="csv")
    assert not plain.close_only and plain.description == "csv"
    assert flagged.fingerprint != plain.fingerprint
    assert flagged != plain


@pytest.mark.parametrize("field", NOT_IN_CLOSE_ONLY)
def test_close_only_market_rejects_observed_open_high_low_volume(field: str) -> None:
    closes = _closes()
    frames = {
        name: pd.DataFrame(np.nan, index=closes.index, columns=closes.columns) for name in FIELDS
    }
    frames["close"] = closes
    frames[field] = closes  # values where a close-only market has none
    with pytest.raises(DataSourceError, match=rf"close_only=True but MarketData\.{field} holds"):
        MarketData(**frames, source="csv", close_only=True)


def test_from_closes_rejects_non_frames_and_empty() -> None:
    with pytest.raises(DataSourceError, match="must be a pandas DataFrame"):
        MarketData.from_closes(np.ones((3, 2)), source="csv")  # type: ignore[arg-type]
    with pytest.raises(DataSourceError, match="empty"):
        MarketData.from_closes(_closes().iloc[:0], source="csv")


def test_extended_sources_are_known() -> None:
    assert {"extended", "extended-close-only"} <= set(SOURCES)
    with pytest.raises(DataSourceError, match="did you mean 'extended'"):
        load_market_data("extnded")
