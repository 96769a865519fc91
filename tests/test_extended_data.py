"""The extended real data of ``signal-lab[data]``: loaders, golden values, adjustment, close-only.

Golden values are checked against the raw files, read here independently of
:mod:`core.data.extended` (tarfile / pandas on the path the distribution's
metadata lists). A test needing an optional package is skipped when it is
absent, except under ``CI=true``, where it fails with the install command.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.backtest import BacktestConfig, run_backtest
from core.data import (
    CLOSE_ONLY_SYMBOLS,
    EXTENDED_SYMBOLS,
    load_extended,
    load_extended_close_only,
    load_market_data,
)
from core.data import extended as extended_module
from core.data.market import NOT_IN_CLOSE_ONLY
from core.errors import DataSourceError
from core.store import Store

INSTALL = "pip install 'signal-lab[data]'"


def need(distribution: str) -> None:
    """Skip (or, under CI=true, fail) when an optional data package is missing."""
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        message = f"{distribution} is not installed; install the data extra: {INSTALL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def raw_path(distribution: str, name: str) -> Path:
    """The installed file called ``name``, found through the distribution's RECORD."""
    need(distribution)
    (entry,) = [f for f in metadata.files(distribution) or () if f.name == name]
    return Path(str(entry.locate()))


@pytest.fixture(scope="module")
def raw_msft() -> pd.DataFrame:
    with tarfile.open(raw_path("pmdarima", "msft.tar.gz")) as archive:
        frame = pd.read_csv(archive.extractfile("msft.csv"))
    return frame.set_index(pd.to_datetime(frame.pop("Date")).dt.tz_localize("UTC"))


def _raw_arch(name: str) -> pd.DataFrame:
    frame = pd.read_csv(raw_path("arch", name))
    dates = pd.to_datetime(frame.pop("Date"), format="%m/%d/%Y").dt.tz_localize("UTC")
    return frame.set_index(dates)


@pytest.fixture(scope="module")
def raw_indices() -> dict[str, pd.DataFrame]:
    return {"SPX": _raw_arch("sp500.csv.gz"), "IXIC": _raw_arch("nasdaq.csv.gz")}


@pytest.fixture(scope="module")
def raw_stocks() -> pd.DataFrame:
    frame = pd.read_csv(raw_path("skfolio", "sp500_dataset.csv.gz"))
    return frame.set_index(pd.to_datetime(frame.pop("Date")).dt.tz_localize("UTC"))


@pytest.fixture(scope="module")
def extended() -> object:
    need("pmdarima")
    need("arch")
    return load_market_data("extended")


@pytest.fixture(scope="module")
def closes() -> object:
    need("skfolio")
    return load_market_data("extended-close-only")


def _ratio_on(series: pd.Series, day: str) -> float:
    """``close[day] / close[previous bar]``."""
    i = series.index.get_loc(pd.Timestamp(day, tz="UTC"))
    return float(series.iloc[i] / series.iloc[i - 1])


# ----------------------------------------------------------------------------- golden values


def test_msft_golden_values_match_the_raw_file(extended, raw_msft) -> None:
    msft = extended.close["MSFT"].dropna()
    assert len(msft) == len(raw_msft) == 7983
    assert msft.index[0] == raw_msft.index[0] == pd.Timestamp("1986-03-13", tz="UTC")
    assert msft.index[-1] == raw_msft.index[-1] == pd.Timestamp("2017-11-10", tz="UTC")
    day = pd.Timestamp("2000-03-01", tz="UTC")
    assert extended.close.at[day, "MSFT"] == raw_msft.at[day, "Close"] == 34.164
    for field in ("open", "high", "low", "close", "volume"):
        got = getattr(extended, field)["MSFT"].dropna().to_numpy()
        np.testing.assert_array_equal(got, raw_msft[field.capitalize()].to_numpy(dtype=float))


def test_index_golden_values_match_the_raw_files(extended, raw_indices) -> None:
    for symbol, raw in raw_indices.items():
        bars = extended.close[symbol].dropna()
        assert len(bars) == len(raw) == 5031
        assert bars.index[0] == pd.Timestamp("1999-01-04", tz="UTC")
        assert bars.index[-1] == pd.Timestamp("2018-12-31", tz="UTC")
        # The adjustment factor Adj Close / Close is 1 on every row: OHLC as shipped.
        assert (raw["Adj Close"] == raw["Close"]).all()
        for field in ("open", "high", "low", "close", "volume"):
            got = getattr(extended, field)[symbol].dropna().to_numpy()
            np.testing.assert_array_equal(got, raw[field.capitalize()].to_numpy(dtype=float))
    day = pd.Timestamp("2008-10-15", tz="UTC")
    assert extended.close.at[day, "SPX"] == pytest.approx(907.840027)
    assert extended.close.at[day, "IXIC"] == pytest.approx(1628.329956)
    assert extended.shape == (8268, 3)  # MSFT's days to 2017-11-10, then the indices' to 2018
    assert extended.symbols == EXTENDED_SYMBOLS and not extended.close_only


def test_close_only_golden_values_match_the_raw_file(closes, raw_stocks) -> None:
    assert closes.shape == raw_stocks.shape == (8313, 20)
    assert closes.symbols == CLOSE_ONLY_SYMBOLS == tuple(sorted(raw_stocks.columns))
    assert closes.dates[0] == pd.Timestamp("1990-01-02", tz="UTC")
    assert closes.dates[-1] == pd.Timestamp("2022-12-28", tz="UTC")
    np.testing.assert_array_equal(
        closes.close.to_numpy(), raw_stocks[list(CLOSE_ONLY_SYMBOLS)].to_numpy(dtype=float)
    )
    assert closes.close.at[pd.Timestamp("2000-01-03", tz="UTC"), "AAPL"] == 0.849
    assert closes.close.at[pd.Timestamp("2000-03-01", tz="UTC"), "MSFT"] == 28.267
    assert closes.close.notna().all().all()


def test_close_only_market_is_flagged_and_labelled(closes) -> None:
    assert closes.close_only and closes.source == "extended-close-only"
    assert "close-only" in closes.description
    for field in NOT_IN_CLOSE_ONLY:
        assert getattr(closes, field).isna().all().all()


# ----------------------------------------------------------------------------- adjustment

#: MSFT's splits 1987-2003 (2:1 unless marked): an unadjusted close halves (or drops a third).
MSFT_SPLITS = (
    "1987-09-21",
    "1990-04-16",
    "1991-06-27",  # 3:2
    "1992-06-15",  # 3:2
    "1994-05-23",
    "1996-12-09",
    "1998-02-23",
    "1999-03-29",
    "2003-02-18",
)


@pytest.mark.parametrize("day", MSFT_SPLITS)
def test_pmdarima_msft_is_split_adjusted(extended, raw_msft, day: str) -> None:
    # A 3:2 split would show as a close ratio of about 0.67 if the file were unadjusted.
    assert 0.8 < _ratio_on(raw_msft["Close"], day) < 1.25
    assert 0.8 < _ratio_on(extended.close["MSFT"].dropna(), day) < 1.25


@pytest.mark.parametrize(
    ("symbol", "day"),
    [
        ("AAPL", "2000-06-21"),
        ("AAPL", "2005-02-28"),
        ("AAPL", "2014-06-09"),  # 7:1
        ("AAPL", "2020-08-31"),  # 4:1
        ("MSFT", "1999-03-29"),
        ("MSFT", "2003-02-18"),
    ],
)
def test_skfolio_closes_are_split_adjusted(closes, symbol: str, day: str) -> None:
    assert 0.8 < _ratio_on(closes.close[symbol], day) < 1.25


@pytest.mark.parametrize(("source", "symbol"), [("extended", "MSFT"), ("closes", "MSFT")])
def test_extended_returns_agree_with_the_adjusted_bokeh_sample(
    request, source: str, symbol: str
) -> None:
    """Daily log returns match the sample's (adj_close-scaled) MSFT over 2000-2013.

    The price levels differ (each provider folds in dividends to its own date), the
    returns must not: correlation 0.999 and a median gap below 0.01 % a day measured.
    """
    market = request.getfixturevalue(source)
    sample = load_market_data("sample", symbols=[symbol])
    ours = np.log(market.close[symbol]).diff()
    theirs = np.log(sample.close[symbol]).diff()
    both = pd.concat([ours, theirs], axis=1, join="inner").dropna()
    assert len(both) == 3269
    assert both.corr().iloc[0, 1] > 0.995
    assert (both.iloc[:, 0] - both.iloc[:, 1]).abs().median() < 5e-4


def test_ohlc_bars_are_consistent(extended) -> None:
    o, h, lo, c = (getattr(extended, f).to_numpy() for f in ("open", "high", "low", "close"))
    has = ~np.isnan(c)
    assert (lo[has] <= np.minimum(o, c)[has] + 1e-9).all()
    assert (h[has] >= np.maximum(o, c)[has] - 1e-9).all()
    assert (lo[has] > 0).all()


# ----------------------------------------------------------------------------- selection, errors


def test_symbols_and_dates_select(extended, closes) -> None:
    part = load_extended(symbols=["spx"], start="2008-01-01", end="2008-12-31")
    assert part.symbols == ("SPX",) and part.shape == (253, 1)
    part = load_extended_close_only(symbols=["xom", "AAPL"], start="2022-12-01")
    assert part.symbols == ("AAPL", "XOM") and part.close_only and part.shape == (19, 2)


def test_unknown_symbols_list_what_is_available(extended, closes) -> None:
    with pytest.raises(DataSourceError, match=r"unknown symbol\(s\) \['NDX'\]; available: IXIC"):
        load_market_data("extended", symbols=["NDX"])
    with pytest.raises(DataSourceError, match=r"unknown symbol\(s\) \['SPX'\]; available: AAPL"):
        load_market_data("extended-close-only", symbols=["SPX"])


@pytest.mark.parametrize(
    ("source", "missing"),
    [("extended", "pmdarima"), ("extended", "arch"), ("extended-close-only", "skfolio")],
)
def test_missing_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, source: str, missing: str
) -> None:
    for other in {"extended": ("pmdarima", "arch"), "extended-close-only": ()}[source]:
        if other != missing:
            need(other)  # the loader reads the other package's file first
    real = metadata.distribution

    def distribution(name: str):
        if name == missing:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(extended_module.metadata, "distribution", distribution)
    extended_module._extended_market.cache_clear()
    extended_module._close_only_market.cache_clear()
    try:
        with pytest.raises(DataSourceError, match=rf"{missing} package, which is not installed"):
            load_market_data(source)
        with pytest.raises(DataSourceError, match=r"pip install 'signal-lab\[data\]'"):
            load_market_data(source)
    finally:
        extended_module._extended_market.cache_clear()
        extended_module._close_only_market.cache_clear()


def test_a_moved_file_is_found_through_the_record_or_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need("arch")
    spec = extended_module.EXTENDED_FILES["sp500"]
    moved = extended_module.ShippedFile(spec.distribution, "arch/elsewhere/sp500.csv.gz", "NCSA")
    monkeypatch.setitem(extended_module.EXTENDED_FILES, "sp500", moved)
    assert extended_module.shipped_path("sp500").name == "sp500.csv.gz"
    gone = extended_module.ShippedFile(spec.distribution, "arch/data/gone.csv.gz", "NCSA")
    monkeypatch.setitem(extended_module.EXTENDED_FILES, "sp500", gone)
    with pytest.raises(DataSourceError, match=r"arch .* is installed but has no arch/data/gone"):
        extended_module.shipped_path("sp500")


# ----------------------------------------------------------------------------- end to end


def test_close_only_backtest_end_to_end(closes, tmp_path: Path) -> None:
    config = BacktestConfig(
        source="extended-close-only",
        symbols=("AAPL", "MSFT", "XOM"),
        start="2000-01-01",
        end="2009-12-31",
        stop_loss_pct=5.0,
        take_profit_pct=10.0,
        data_dir=str(tmp_path),
    )
    result = run_backtest(config)
    assert result.source == "extended-close-only" and not result.synthetic
    assert result.n_signals > 100 and result.n_trades > 100
    assert result.events_recorded > 2 * result.n_trades
    ex = result.executions
    data = load_extended_close_only(symbols=config.symbols, start=config.start, end=config.end)
    close = data.close.to_numpy()
    col = data.close.columns.get_indexer(ex["symbol"].astype(str))
    # Every fill is at a close: entries, time exits and stop / take-profit exits alike.
    np.testing.assert_array_equal(ex["entry_price"], close[ex["entry_bar"], col])
    np.testing.assert_array_equal(ex["exit_price"], close[ex["exit_bar"], col])
    assert set(ex["exit_reason"]) == {"time", "stop_loss", "take_profit"}
    assert (ex["release_bar"] == ex["exit_bar"]).all()
    with Store(tmp_path) as store:
        run = store.get_run(result.run_id)
    assert run.source == "extended-close-only"
    assert "close-only" in (run.name or "")
    assert run.n_outcomes == result.n_trades


def test_loading_never_imports_the_data_packages() -> None:
    """The files are read from disk: pmdarima, arch, skfolio (and statsmodels) stay unimported."""
    for distribution in ("pmdarima", "arch", "skfolio"):
        need(distribution)
    code = (
        "import sys\n"
        "from core.data import load_market_data\n"
        "load_market_data('extended'); load_market_data('extended-close-only')\n"
        "heavy = {'pmdarima', 'arch', 'skfolio', 'statsmodels', 'cvxpy'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
