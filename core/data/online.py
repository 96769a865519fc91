"""Daily bars from Yahoo Finance through the optional ``yfinance`` package.

Install with ``pip install 'signal-lab[online]'``. Downloads are cached on disk
as one Parquet file per (symbol, start, end) under the cache folder, so a
second load is offline. Bars are split-adjusted from Yahoo's ``Adj Close``
like every other source, and dated by the exchange's calendar day (UTC
midnight).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from core.data.files import normalise_bars
from core.data.market import FIELDS, MarketData, to_utc_timestamp
from core.errors import DataSourceError

__all__ = ["default_cache_dir", "load_yfinance"]

_INSTALL_HINT = "pip install 'signal-lab[online]'"


def default_cache_dir() -> Path:
    """``$SIGNAL_LAB_CACHE/yfinance`` or ``~/.cache/signal-lab/yfinance``."""
    root = os.environ.get("SIGNAL_LAB_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "signal-lab"
    return base / "yfinance"


def _import_yfinance() -> Any:
    try:
        import yfinance
    except ImportError as exc:
        raise DataSourceError(
            f"the yfinance source needs the optional 'online' extra; install it with {_INSTALL_HINT}"
            " (or use source='sample', 'csv' or 'parquet')"
        ) from exc
    return yfinance


def _download(
    yf: Any, symbol: str, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pd.DataFrame:
    kwargs: dict[str, Any] = {
        "interval": "1d",
        "auto_adjust": False,
        "actions": False,
        "progress": False,
    }
    if start is None and end is None:
        kwargs["period"] = "max"
    if start is not None:
        kwargs["start"] = start.strftime("%Y-%m-%d")
    if end is not None:
        # yfinance's end is exclusive; ours is inclusive.
        kwargs["end"] = (end + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    try:
        raw = yf.download(symbol, **kwargs)
    except Exception as exc:  # yfinance surfaces many transport error types
        raise DataSourceError(
            f"yfinance could not download {symbol}: {type(exc).__name__}: {exc}; check the "
            "network connection (Yahoo Finance must be reachable) or load the sample/CSV data"
        ) from exc
    if raw is None or len(raw) == 0:
        raise DataSourceError(
            f"yfinance returned no bars for {symbol}; the symbol may be wrong or Yahoo Finance "
            "unreachable (check the network), or the date range holds no trading days"
        )
    if isinstance(raw.columns, pd.MultiIndex):  # recent yfinance: (field, ticker)
        raw = raw.droplevel(-1, axis=1) if raw.columns.nlevels > 1 else raw
    frame = raw.reset_index()
    date_col = frame.columns[0]
    dates = pd.to_datetime(frame[date_col])
    if dates.dt.tz is not None:  # exchange-local midnight -> that calendar day
        dates = dates.dt.tz_localize(None)
    frame[date_col] = dates.dt.normalize()
    return frame


def load_yfinance(
    symbols: Iterable[str],
    *,
    start: Any = None,
    end: Any = None,
    cache_dir: str | Path | None = None,
    refresh: bool = False,
) -> MarketData:
    """Download (or read from the cache) daily bars from Yahoo Finance.

    Parameters
    ----------
    symbols : iterable of str
        Yahoo tickers, e.g. ``["AAPL", "MSFT"]``.
    start, end : date-like, optional
        Inclusive bounds; the full history when both are None.
    cache_dir : str or pathlib.Path, optional
        Folder of the Parquet cache; :func:`default_cache_dir` by default.
    refresh : bool, default False
        Download again even when a cached file exists.

    Returns
    -------
    MarketData
        ``source="yfinance"``, split-adjusted.

    Raises
    ------
    DataSourceError
        yfinance is not installed (the message gives the ``pip install``
        command), the download failed (network), or a symbol has no bars.
    """
    yf = _import_yfinance()
    wanted = [str(s).strip().upper() for s in ([symbols] if isinstance(symbols, str) else symbols)]
    if not wanted:
        raise DataSourceError("symbols is empty; pass Yahoo tickers such as ['AAPL', 'MSFT']")
    lo = to_utc_timestamp(start, name="start") if start is not None else None
    hi = to_utc_timestamp(end, name="end") if end is not None else None
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    parts: list[pd.DataFrame] = []
    for symbol in dict.fromkeys(wanted):
        key = f"{symbol}|{lo}|{hi}"
        cached = folder / f"{symbol}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.parquet"
        if cached.exists() and not refresh:
            bars = pd.read_parquet(cached)
        else:
            raw = _download(yf, symbol, lo, hi)
            bars, _ = normalise_bars(raw, label=f"yfinance {symbol}", symbol=symbol)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                bars.to_parquet(cached, index=False)
            except OSError as exc:
                raise DataSourceError(
                    f"cannot write the yfinance cache {str(cached)!r}: {exc}; pass a writable "
                    "cache_dir"
                ) from exc
        parts.append(bars)
    long = pd.concat(parts, ignore_index=True)
    return MarketData.from_long(long[["date", "symbol", *FIELDS]], source="yfinance")
