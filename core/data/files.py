"""The user's own daily bars from CSV or Parquet files.

Two layouts are accepted, alone or mixed in one folder:

- one file per symbol, the symbol being the file stem (``aapl.csv`` → ``AAPL``);
- one long file with a symbol column (``symbol`` or ``ticker``).

Column names are matched case-insensitively, ignoring spaces, ``_`` and ``-``
(see :data:`COLUMN_ALIASES`). ``date``, ``open``, ``high``, ``low`` and
``close`` are required; ``volume`` is optional (NaN when absent). When an
adjusted close is present (``Adj Close``, ``adj_close``, ``adjclose``, ...),
open/high/low/close are scaled by ``adj_close / close`` and volume by the
inverse, so the bars are split-adjusted like the bundled sample.

Every error names the file, the row as a spreadsheet shows it (the header is
row 1, the first data row is row 2; Parquet rows are counted the same way) and
the fix. Naive dates are taken as UTC; dates with an offset are converted.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.data.market import FIELDS, MarketData
from core.errors import DataSourceError

__all__ = ["COLUMN_ALIASES", "FILE_SUFFIXES", "load_files", "normalise_bars"]

#: Canonical column → accepted spellings (after lower-casing and removing
#: spaces, ``_`` and ``-``).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "timestamp", "datetime", "time", "day"),
    "symbol": ("symbol", "ticker"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "adj_close": ("adjclose", "adjustedclose", "adjclosing"),
    "volume": ("volume", "vol"),
}

#: File suffixes read for each source.
FILE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "parquet": (".parquet", ".pq"),
}

_REQUIRED: tuple[str, ...] = ("date", "open", "high", "low", "close")
_PRICES: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")


def _key(name: object) -> str:
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def _rows_text(rows: np.ndarray) -> str:
    """'row 5' or 'row 5 (and 3 more rows)' from 1-based spreadsheet rows."""
    first = int(rows[0])
    more = len(rows) - 1
    return f"row {first}" + (f" (and {more} more row{'s' if more > 1 else ''})" if more else "")


def _show(value: object) -> str:
    """A cell value as a person reads it: ``0``, ``'abc'``, ``empty``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "empty"
    return repr(value) if isinstance(value, str) else str(value)


def _match_columns(frame: pd.DataFrame, label: str) -> dict[str, str]:
    """Map canonical names to the frame's own column names."""
    lookup: dict[str, str] = {}
    for col in frame.columns:
        lookup.setdefault(_key(col), str(col))
    found: dict[str, str] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in lookup:
                found[canonical] = lookup[alias]
                break
    missing = [c for c in _REQUIRED if c not in found]
    if missing:
        spell = "; ".join(
            f"{c}: {', '.join(repr(a) for a in COLUMN_ALIASES[c][:4])}" for c in missing
        )
        raise DataSourceError(
            f"{label}: row 1 (header) has no {', '.join(repr(c) for c in missing)} column "
            f"(found {[str(c) for c in frame.columns]}); add a header with one of the "
            f"accepted names ({spell}), case-insensitive"
        )
    return found


def _parse_dates(raw: pd.Series, rows: np.ndarray, label: str, column: str) -> pd.Series:
    """Parse to datetime64[ns, UTC]; naive values are taken as UTC."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(raw):
        parsed = pd.to_datetime(raw, utc=True)
    else:
        text = raw.astype("string").str.strip()
        parsed = pd.to_datetime(text, utc=True, errors="coerce")
        retry = parsed.isna() & text.notna() & (text != "")
        if retry.any():
            # A file whose first date has another format than the rest.
            parsed.loc[retry] = pd.to_datetime(
                text[retry], utc=True, errors="coerce", format="mixed"
            )
    parsed = parsed.dt.as_unit("ns")
    bad = parsed.isna().to_numpy()
    if bad.any():
        where = rows[bad]
        value = raw.to_numpy()[bad][0]
        raise DataSourceError(
            f"{label}: {_rows_text(where)}: {column} {_show(value)} is not a date; "
            "write dates as YYYY-MM-DD (ISO 8601) or delete the row"
        )
    return parsed


def normalise_bars(
    frame: pd.DataFrame,
    *,
    label: str,
    symbol: str | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
) -> tuple[pd.DataFrame, bool]:
    """Validate and adjust a frame of daily bars read from a file.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw columns as read (any accepted spelling, see :data:`COLUMN_ALIASES`).
    label : str
        How errors name the origin (a file name, ``"yfinance AAPL"``).
    symbol : str, optional
        The symbol when the frame has no symbol column (a per-symbol file).
    rows : sequence of int, optional
        1-based spreadsheet row of each frame row; default ``2, 3, ...``.

    Returns
    -------
    bars : pandas.DataFrame
        Columns ``date`` (datetime64[ns, UTC]), ``symbol`` (str, upper case),
        ``open``, ``high``, ``low``, ``close``, ``volume`` (float64),
        split-adjusted when an adjusted close was present, sorted by symbol
        then date.
    was_unsorted : bool
        True when some symbol's dates were not in increasing order (the
        caller warns).

    Raises
    ------
    DataSourceError
        Missing column, unparsable date, non-positive or missing price,
        negative volume, ``high < low`` or a duplicate date; the message names
        ``label``, the row and the fix.
    """
    if frame.empty:
        raise DataSourceError(
            f"{label}: the file has no data rows; add bars below the header or remove the file"
        )
    row_no = np.arange(2, len(frame) + 2) if rows is None else np.asarray(rows, dtype=np.int64)
    cols = _match_columns(frame, label)
    if "symbol" in cols:
        sym = frame[cols["symbol"]].astype("string").str.strip().str.upper()
        bad = (sym.isna() | (sym == "")).to_numpy()
        if bad.any():
            raise DataSourceError(
                f"{label}: {_rows_text(row_no[bad])}: the {cols['symbol']} column is empty; "
                "fill in the symbol or delete the row"
            )
        symbols = sym.to_numpy(dtype=object)
    elif symbol is not None:
        symbols = np.full(len(frame), symbol.strip().upper(), dtype=object)
    else:
        raise DataSourceError(
            f"{label}: row 1 (header) has no symbol column; add a 'symbol' (or 'ticker') "
            "column, or use one file per symbol named after it"
        )
    dates = _parse_dates(frame[cols["date"]], row_no, label, cols["date"])
    values: dict[str, np.ndarray] = {}
    for name in _PRICES:
        if name not in cols:
            continue
        raw = frame[cols[name]]
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~(np.isfinite(num) & (num > 0))
        if bad.any():
            shown = raw.to_numpy()[bad][0]
            raise DataSourceError(
                f"{label}: {_rows_text(row_no[bad])}: {cols[name]} is {_show(shown)}; prices must be "
                "positive numbers: correct the value or delete the row"
            )
        values[name] = num
    if "volume" in cols:
        raw = frame[cols["volume"]]
        vol = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = vol < 0
        if bad.any():
            raise DataSourceError(
                f"{label}: {_rows_text(row_no[bad])}: {cols['volume']} is {_show(raw.to_numpy()[bad][0])}; "
                "volume cannot be negative: correct it or leave the cell empty"
            )
    else:
        vol = np.full(len(frame), np.nan)
    bad = values["high"] < values["low"]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataSourceError(
            f"{label}: {_rows_text(row_no[bad])}: high {_show(values['high'][i])} is below "
            f"low {_show(values['low'][i])}; swap the two values or correct the row"
        )
    if "adj_close" in values:
        factor = values["adj_close"] / values["close"]
        for name in ("open", "high", "low", "close"):
            values[name] = values[name] * factor
        vol = vol / factor
    bars = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(dates),
            "symbol": symbols,
            **{name: values[name] for name in ("open", "high", "low", "close")},
            "volume": vol,
            "_row": row_no,
        }
    )
    dup = bars.duplicated(["symbol", "date"], keep=False).to_numpy()
    if dup.any():
        first = bars.loc[dup].sort_values(["symbol", "date", "_row"]).iloc[:2]
        r1, r2 = (int(r) for r in first["_row"])
        day = first["date"].iloc[0]
        raise DataSourceError(
            f"{label}: rows {r1} and {r2} have the same date {day.date()} for "
            f"{first['symbol'].iloc[0]}; keep one bar per day and delete the other row"
        )
    was_unsorted = False
    for _, grp in bars.groupby("symbol", sort=False):
        if not grp["date"].is_monotonic_increasing:
            was_unsorted = True
            break
    bars = bars.sort_values(["symbol", "date"], kind="stable").drop(columns="_row")
    return bars.reset_index(drop=True), was_unsorted


def _read(path: Path, kind: str) -> pd.DataFrame:
    try:
        if kind == "csv":
            return pd.read_csv(path, skipinitialspace=True, encoding="utf-8-sig")
        return pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataSourceError(
            f"{path.name}: cannot be read as {kind}: {exc}; check the file is a valid {kind} file"
        ) from exc


def _files_in(path: Path, kind: str) -> list[Path]:
    suffixes = FILE_SUFFIXES[kind]
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not found:
            raise DataSourceError(
                f"folder {str(path)!r} holds no {'/'.join(suffixes)} files; put one file per "
                "symbol (or one long file with a symbol column) there"
            )
        return found
    raise DataSourceError(
        f"path {str(path)!r} does not exist; pass a file or a folder of {kind} files"
    )


def _load_files(
    path: str | Path, *, kind: str, symbols: Iterable[str] | None, start: Any, end: Any
) -> tuple[MarketData, list[str]]:
    """Load and return the market plus the warnings the public caller emits."""
    if kind not in FILE_SUFFIXES:
        raise DataSourceError(f"kind={kind!r} is not a file format; use 'csv' or 'parquet'")
    notes: list[str] = []
    parts: list[pd.DataFrame] = []
    owner: dict[str, str] = {}
    for file in _files_in(Path(path), kind):
        bars, unsorted = normalise_bars(_read(file, kind), label=file.name, symbol=file.stem)
        if unsorted:
            notes.append(f"{file.name}: dates were not in increasing order; sorted them")
        for sym in bars["symbol"].unique():
            if sym in owner:
                raise DataSourceError(
                    f"symbol {sym} appears in both {owner[sym]} and {file.name}; "
                    "keep each symbol in one file"
                )
            owner[sym] = file.name
        parts.append(bars)
    long = pd.concat(parts, ignore_index=True)
    market = MarketData.from_long(long[["date", "symbol", *FIELDS]], source=kind)
    if symbols is not None or start is not None or end is not None:
        market = market.slice(start=start, end=end, symbols=symbols)
    return market, notes


def load_files(
    path: str | Path,
    *,
    kind: str = "csv",
    symbols: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
) -> MarketData:
    """Load daily bars from a CSV/Parquet file or a folder of them.

    Parameters
    ----------
    path : str or pathlib.Path
        A file, or a folder whose ``*.csv`` (``kind="csv"``) or
        ``*.parquet``/``*.pq`` (``kind="parquet"``) files are read.
    kind : {"csv", "parquet"}, default "csv"
        File format, also recorded as :attr:`MarketData.source`.
    symbols : iterable of str, optional
        Keep only these symbols (case-insensitive).
    start, end : date-like, optional
        Inclusive bounds; naive values are taken as UTC.

    Returns
    -------
    MarketData
        Split-adjusted when the files have an adjusted close.

    Raises
    ------
    DataSourceError
        A missing file or column, a bad value (the message names the file,
        the spreadsheet row and the fix), a symbol in two files, an unknown
        symbol.

    Warns
    -----
    UserWarning
        When a file's dates are not in increasing order (they are sorted).
    """
    market, notes = _load_files(path, kind=kind, symbols=symbols, start=start, end=end)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return market
