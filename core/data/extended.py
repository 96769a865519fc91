"""More real daily prices, offline: data files shipped inside three PyPI packages.

Installed by the optional extra ``signal-lab[data]`` (or, data files only and
cheapest, ``pip install --no-deps pmdarima arch skfolio``). The files are read
straight from the installed distributions through :mod:`importlib.metadata`;
the packages themselves are never imported (their modules pull in
statsmodels, cvxpy and the like), and nothing is downloaded at run time.

Sources
-------
``"extended"`` — daily OHLCV, three symbols:

======  =====================================  ========================  ======
symbol  what                                   span                      bars
======  =====================================  ========================  ======
MSFT    Microsoft, from ``pmdarima`` (MIT)     1986-03-13 .. 2017-11-10  7,983
SPX     S&P 500 index, from ``arch`` (NCSA)    1999-01-04 .. 2018-12-31  5,031
IXIC    NASDAQ Composite, from ``arch``        1999-01-04 .. 2018-12-31  5,031
======  =====================================  ========================  ======

``"extended-close-only"`` — adjusted daily closes (nothing else) of the 20
S&P 500 stocks :data:`CLOSE_ONLY_SYMBOLS`, from ``skfolio`` (BSD-3-Clause),
1990-01-02 .. 2022-12-28, 8,313 bars each. The market is
:attr:`~core.data.market.MarketData.close_only`: ``open``, ``high``, ``low``
and ``volume`` are NaN, the signal engine disables its range features and the
execution engine fills at closes (see :mod:`core.engines.execution`).

Adjustment
----------
- ``MSFT`` (pmdarima) ships prices already adjusted for splits and
  dividends, volume in split-adjusted shares, and no adjusted-close column:
  it is used as shipped. There is no close-to-close jump at any of MSFT's
  nine splits 1987-2003, and its daily returns match the bokeh sample's
  adjusted MSFT over 2000-2013 (both checked in
  ``tests/test_extended_data.py``).
- ``SPX`` and ``IXIC`` ship ``Adj Close``; open/high/low/close are scaled by
  ``Adj Close / Close`` and volume by its inverse, as for the bokeh sample
  (for these indices the factor is exactly 1 on every row). Volume is the
  index's total share volume; IXIC has 0 on 2015-05-12 and 2018-01-09, kept
  as shipped (nothing in the engines reads volume).
- The skfolio closes are adjusted for splits and dividends by the provider
  (no jump at AAPL's 2000, 2005, 2014 and 2020 splits or MSFT's 1999 and 2003
  ones) and rounded to 0.001 $: early, low-priced history (AAPL at 0.26 $
  in 1990) moves in ticks of 0.1-0.4 %. Nothing is adjusted here: with no
  unadjusted close there is no factor to apply. A few one-day moves beyond
  -35 % stay as shipped (AAPL 2000-09-29, AMD 1992-06-18, BBY 2000-11-09,
  RRC 1990-04-10, inside a 1990 stretch where RRC's close is stale for up to
  69 days). skfolio labels the set "for testing and example purposes".
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from core.data.market import FIELDS, MarketData, select_symbols
from core.errors import DataSourceError

__all__ = [
    "CLOSE_ONLY_SYMBOLS",
    "DATA_EXTRA",
    "EXTENDED_FILES",
    "EXTENDED_SYMBOLS",
    "ShippedFile",
    "load_extended",
    "load_extended_close_only",
    "shipped_path",
]

#: What to install when a file is missing.
DATA_EXTRA = (
    "pip install 'signal-lab[data]' (or, data files only: "
    "pip install --no-deps pmdarima arch skfolio)"
)

#: Symbols of ``source="extended"`` (daily OHLCV), sorted.
EXTENDED_SYMBOLS: tuple[str, ...] = ("IXIC", "MSFT", "SPX")

#: Symbols of ``source="extended-close-only"`` (adjusted closes), sorted.
CLOSE_ONLY_SYMBOLS: tuple[str, ...] = (
    "AAPL",
    "AMD",
    "BAC",
    "BBY",
    "CVX",
    "GE",
    "HD",
    "JNJ",
    "JPM",
    "KO",
    "LLY",
    "MRK",
    "MSFT",
    "PEP",
    "PFE",
    "PG",
    "RRC",
    "UNH",
    "WMT",
    "XOM",
)


@dataclass(frozen=True)
class ShippedFile:
    """One data file inside an installed distribution.

    Attributes
    ----------
    distribution : str
        The PyPI distribution that ships it.
    path : str
        Its path inside the installed distribution (``/``-separated).
    licence : str
        The distribution's licence (SPDX name).
    """

    distribution: str
    path: str
    licence: str


#: The files the two sources read, by key.
EXTENDED_FILES: dict[str, ShippedFile] = {
    "msft": ShippedFile("pmdarima", "pmdarima/datasets/data/msft.tar.gz", "MIT"),
    "sp500": ShippedFile("arch", "arch/data/sp500/sp500.csv.gz", "NCSA"),
    "nasdaq": ShippedFile("arch", "arch/data/nasdaq/nasdaq.csv.gz", "NCSA"),
    "sp500_stocks": ShippedFile(
        "skfolio", "skfolio/datasets/data/sp500_dataset.csv.gz", "BSD-3-Clause"
    ),
}

_INDEX_FILES: dict[str, str] = {"SPX": "sp500", "IXIC": "nasdaq"}


def shipped_path(key: str) -> Path:
    """Where an :data:`EXTENDED_FILES` entry lies in the installed distribution.

    The path is resolved from the distribution's metadata, without importing
    the package. When the file is not at its usual path (a newer layout), the
    distribution's file list (``RECORD``) is searched for its name.

    Parameters
    ----------
    key : str
        A key of :data:`EXTENDED_FILES`.

    Returns
    -------
    pathlib.Path
        An existing file.

    Raises
    ------
    DataSourceError
        The distribution is not installed, or it does not contain the file.
    """
    if key not in EXTENDED_FILES:
        raise DataSourceError(f"no shipped file {key!r}; known: {sorted(EXTENDED_FILES)}")
    spec = EXTENDED_FILES[key]
    try:
        dist = metadata.distribution(spec.distribution)
    except metadata.PackageNotFoundError as exc:
        raise DataSourceError(
            f"this market needs the data file {spec.path} of the {spec.distribution} "
            f"package, which is not installed; install it with {DATA_EXTRA}"
        ) from exc
    path = Path(str(dist.locate_file(spec.path)))
    if path.is_file():
        return path
    name = spec.path.rsplit("/", 1)[-1]
    for entry in dist.files or ():
        if entry.name == name:
            found = Path(str(entry.locate()))
            if found.is_file():
                return found
    raise DataSourceError(
        f"{spec.distribution} {dist.version} is installed but has no {spec.path}; "
        f"reinstall it ({DATA_EXTRA}) or pin the version signal-lab[data] names"
    )


def _read_csv(source: Path | IO[bytes], *, label: str) -> pd.DataFrame:
    try:
        return pd.read_csv(source)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataSourceError(
            f"cannot read {label}: {exc}; reinstall the package ({DATA_EXTRA})"
        ) from exc


def _require(frame: pd.DataFrame, columns: Iterable[str], *, path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataSourceError(
            f"{path} lacks column(s) {missing} (has {list(frame.columns)}); the package's "
            f"file layout changed: pin the version signal-lab[data] names"
        )


def _utc_dates(values: pd.Series, *, fmt: str, path: Path) -> pd.DatetimeIndex:
    try:
        dates = pd.to_datetime(values, format=fmt)
    except (TypeError, ValueError) as exc:
        raise DataSourceError(f"{path}: a date does not match {fmt!r}: {exc}") from exc
    return pd.DatetimeIndex(dates).tz_localize("UTC").as_unit("ns")


def _read_msft() -> pd.DataFrame:
    """pmdarima's MSFT bars as a long frame (as shipped: already adjusted)."""
    path = shipped_path("msft")
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            member = archive.getmember("msft.csv")
            handle = archive.extractfile(member)
            if handle is None:
                raise DataSourceError(f"{path}: msft.csv is not a regular file")
            raw = _read_csv(handle, label=f"msft.csv in {path}")
    except (OSError, KeyError, tarfile.TarError) as exc:
        raise DataSourceError(
            f"cannot read msft.csv from {path}: {exc}; reinstall pmdarima ({DATA_EXTRA})"
        ) from exc
    _require(raw, ("Date", "Open", "High", "Low", "Close", "Volume"), path=path)
    return pd.DataFrame(
        {
            "date": _utc_dates(raw["Date"], fmt="%Y-%m-%d", path=path),
            "symbol": "MSFT",
            **{name: raw[name.capitalize()].to_numpy(dtype=np.float64) for name in FIELDS},
        }
    )


def _read_index(symbol: str) -> pd.DataFrame:
    """arch's index bars as a long frame, scaled by ``Adj Close / Close``."""
    key = _INDEX_FILES[symbol]
    path = shipped_path(key)
    raw = _read_csv(path, label=str(path))
    _require(raw, ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"), path=path)
    close = raw["Close"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = raw["Adj Close"].to_numpy(dtype=np.float64) / close
    frame = pd.DataFrame(
        {"date": _utc_dates(raw["Date"], fmt="%m/%d/%Y", path=path), "symbol": symbol}
    )
    for name in ("open", "high", "low", "close"):
        frame[name] = raw[name.capitalize()].to_numpy(dtype=np.float64) * factor
    frame["volume"] = raw["Volume"].to_numpy(dtype=np.float64) / factor
    return frame


@functools.lru_cache(maxsize=1)
def _extended_market() -> MarketData:
    """All three OHLCV series, loaded once per process."""
    parts = [_read_msft(), *(_read_index(symbol) for symbol in _INDEX_FILES)]
    return MarketData.from_long(pd.concat(parts, ignore_index=True), source="extended")


@functools.lru_cache(maxsize=1)
def _close_only_market() -> MarketData:
    """skfolio's 20 stocks' adjusted closes, loaded once per process."""
    path = shipped_path("sp500_stocks")
    raw = _read_csv(path, label=str(path))
    _require(raw, ("Date", *CLOSE_ONLY_SYMBOLS), path=path)
    close = raw.loc[:, list(CLOSE_ONLY_SYMBOLS)].astype(np.float64)
    close.index = _utc_dates(raw["Date"], fmt="%Y-%m-%d", path=path)
    close.columns = pd.Index(list(CLOSE_ONLY_SYMBOLS), dtype=object)
    return MarketData.from_closes(close, source="extended-close-only")


def _slice(market: MarketData, symbols: Iterable[str] | None, start: Any, end: Any) -> MarketData:
    if symbols is not None:
        select_symbols(market.symbols, symbols)  # raise early with the list
    return market.slice(start=start, end=end, symbols=symbols)


def load_extended(
    *,
    symbols: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
) -> MarketData:
    """Load the extended OHLCV sample: MSFT 1986-2017, S&P 500 and NASDAQ Composite 1999-2018.

    Parameters
    ----------
    symbols : iterable of str, optional
        Subset of :data:`EXTENDED_SYMBOLS` (case-insensitive); all by default.
    start, end : date-like, optional
        Inclusive bounds; naive values are taken as UTC.

    Returns
    -------
    MarketData
        ``source="extended"``; daily OHLCV, split-adjusted (see the module
        notes); a symbol holds NaN on dates before its first bar (SPX and
        IXIC before 1999) or after its last (MSFT after 2017-11-10).

    Raises
    ------
    DataSourceError
        pmdarima or arch not installed (the message names the install
        command), an unknown symbol (the message lists the available ones),
        or an empty date range.
    """
    return _slice(_extended_market(), symbols, start, end)


def load_extended_close_only(
    *,
    symbols: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
) -> MarketData:
    """Load the adjusted daily closes of 20 S&P 500 stocks, 1990-2022 (close-only).

    Parameters
    ----------
    symbols : iterable of str, optional
        Subset of :data:`CLOSE_ONLY_SYMBOLS` (case-insensitive); all by default.
    start, end : date-like, optional
        Inclusive bounds; naive values are taken as UTC.

    Returns
    -------
    MarketData
        ``source="extended-close-only"``, ``close_only=True``: ``close`` in
        dollars (adjusted by the provider), ``open``/``high``/``low``/
        ``volume`` all NaN.

    Raises
    ------
    DataSourceError
        skfolio not installed (the message names the install command), an
        unknown symbol (the message lists the available ones), or an empty
        date range.
    """
    return _slice(_close_only_market(), symbols, start, end)
