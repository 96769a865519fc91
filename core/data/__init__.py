"""Market data sources: one container, one loader.

>>> from core.data import load_market_data
>>> market = load_market_data("sample", symbols=["AAPL", "MSFT"])  # doctest: +SKIP

Sources
-------
``"sample"`` (default)
    Real split-adjusted daily bars shipped by ``bokeh_sampledata`` (AAPL, IBM,
    MSFT, GOOG, FB; 2000-2013). See :mod:`core.data.sample`.
``"csv"`` / ``"parquet"``
    The user's files: a folder of one file per symbol, or a long file with a
    symbol column. See :mod:`core.data.files`.
``"synthetic"``
    A seeded GARCH/regime market for scale tests, labelled synthetic. See
    :mod:`core.data.synthetic`.
``"yfinance"``
    Yahoo Finance (optional extra ``signal-lab[online]``), cached on disk. See
    :mod:`core.data.online`.
``"extended"``
    More real OHLCV, offline (optional extra ``signal-lab[data]``): MSFT
    1986-2017 (pmdarima), S&P 500 ``SPX`` and NASDAQ Composite ``IXIC``
    1999-2018 (arch). See :mod:`core.data.extended`.
``"extended-close-only"``
    Adjusted daily closes, and nothing else, of 20 S&P 500 stocks 1990-2022
    (skfolio; extra ``signal-lab[data]``). The market is close-only: the
    engines switch to their close-only rules and results are labelled by this
    source name. See :mod:`core.data.extended`.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.data.extended import (
    CLOSE_ONLY_SYMBOLS,
    EXTENDED_SYMBOLS,
    load_extended,
    load_extended_close_only,
)
from core.data.files import _load_files, load_files
from core.data.market import FIELDS, SOURCES, MarketData
from core.data.online import load_yfinance
from core.data.sample import SAMPLE_SYMBOLS, load_sample
from core.data.synthetic import generate_synthetic
from core.errors import DataSourceError

__all__ = [
    "CLOSE_ONLY_SYMBOLS",
    "EXTENDED_SYMBOLS",
    "FIELDS",
    "SAMPLE_SYMBOLS",
    "SOURCES",
    "MarketData",
    "generate_synthetic",
    "load_extended",
    "load_extended_close_only",
    "load_files",
    "load_market_data",
    "load_sample",
    "load_yfinance",
]


def load_market_data(
    source: str = "sample",
    *,
    symbols: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
    path: str | Path | None = None,
    n_symbols: int = 50,
    n_days: int = 2520,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> MarketData:
    """Load daily bars from any source.

    Parameters
    ----------
    source : {"sample", "csv", "parquet", "synthetic", "yfinance", "extended", \
"extended-close-only"}, default "sample"
        Where the bars come from (see the module notes).
    symbols : iterable of str, optional
        Symbols to keep (case-insensitive); all available by default.
        Required for ``"yfinance"``.
    start, end : date-like, optional
        Inclusive bounds; naive values are taken as UTC.
    path : str or pathlib.Path, optional
        File or folder; required for ``"csv"`` and ``"parquet"``.
    n_symbols, n_days, seed : int
        Size and seed of the ``"synthetic"`` market (ignored otherwise).
    cache_dir : str or pathlib.Path, optional
        Download cache for ``"yfinance"`` (ignored otherwise).

    Returns
    -------
    MarketData
        Wide frames (dates × symbols), split-adjusted, with a content
        fingerprint; ``close_only=True`` for ``"extended-close-only"``.

    Raises
    ------
    DataSourceError
        Unknown source, missing ``path``, unknown symbol, bad file contents
        (file, row and fix named), yfinance not installed or unreachable, the
        ``[data]`` extra's packages not installed (the install command named).

    Warns
    -----
    UserWarning
        When a file's dates are not in increasing order (they are sorted).
    """
    if source not in SOURCES:
        close = difflib.get_close_matches(str(source), SOURCES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DataSourceError(f"source={source!r} is not known{hint} Use one of {SOURCES}")
    if source == "sample":
        return load_sample(symbols=symbols, start=start, end=end)
    if source == "extended":
        return load_extended(symbols=symbols, start=start, end=end)
    if source == "extended-close-only":
        return load_extended_close_only(symbols=symbols, start=start, end=end)
    if source in ("csv", "parquet"):
        if path is None:
            raise DataSourceError(
                f"source={source!r} needs path=: a {source} file or a folder of them"
            )
        market, notes = _load_files(path, kind=source, symbols=symbols, start=start, end=end)
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        return market
    if source == "synthetic":
        market = generate_synthetic(n_symbols=n_symbols, n_days=n_days, seed=seed)
        if symbols is None and start is None and end is None:
            return market
        return market.slice(start=start, end=end, symbols=symbols)
    if symbols is None:
        raise DataSourceError("source='yfinance' needs symbols=, e.g. symbols=['AAPL', 'MSFT']")
    return load_yfinance(symbols, start=start, end=end, cache_dir=cache_dir)
