"""Real daily bars shipped by ``bokeh_sampledata``: the default market.

AAPL, IBM and MSFT from 2000-03-01 to 2013-03-01 (3,270 bars each), GOOG from
2004-08-19 (2,148 bars) and FB from 2012-05-18 (196 bars). The source is
Quandl's WIKI data set (public domain). Its open/high/low/close are *not*
split-adjusted (AAPL 2000-06-21 and 2005-02-28, MSFT 2003-02-18 jump); they
are scaled here by ``adj_close / close`` (volume by the inverse), the same
adjustment as Yahoo's adjusted close, which also folds in dividends.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import pandas as pd

from core.data.market import MarketData, select_symbols
from core.errors import DataSourceError

__all__ = ["SAMPLE_SYMBOLS", "load_sample"]

#: Symbols in the bundled sample, sorted.
SAMPLE_SYMBOLS: tuple[str, ...] = ("AAPL", "FB", "GOOG", "IBM", "MSFT")


@functools.lru_cache(maxsize=1)
def _sample_market() -> MarketData:
    """The whole adjusted sample, loaded once per process (the import is slow)."""
    try:
        from bokeh_sampledata.stocks import data as raw
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise DataSourceError(
            "the sample market needs the bokeh_sampledata package; "
            "install it with pip install bokeh_sampledata"
        ) from exc
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(raw["date"]).dt.tz_localize("UTC"),
            "symbol": raw["ticker"].astype(str).to_numpy(dtype=object),
        }
    )
    factor = raw["adj_close"].to_numpy(dtype=float) / raw["close"].to_numpy(dtype=float)
    for name in ("open", "high", "low", "close"):
        frame[name] = raw[name].to_numpy(dtype=float) * factor
    frame["volume"] = raw["volume"].to_numpy(dtype=float) / factor
    return MarketData.from_long(frame, source="sample")


def load_sample(
    *,
    symbols: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
) -> MarketData:
    """Load the bundled real sample, split-adjusted.

    Parameters
    ----------
    symbols : iterable of str, optional
        Subset of :data:`SAMPLE_SYMBOLS` (case-insensitive); all by default.
    start, end : date-like, optional
        Inclusive bounds; naive values are taken as UTC.

    Returns
    -------
    MarketData
        ``source="sample"``, ``synthetic=False``; fresh frames the caller may
        keep (the cached original is never handed out).

    Raises
    ------
    DataSourceError
        An unknown symbol (the message lists the available ones) or an empty
        date range.
    """
    market = _sample_market()
    if symbols is not None:
        select_symbols(market.symbols, symbols)  # raise early with the list
    return market.slice(start=start, end=end, symbols=symbols)
