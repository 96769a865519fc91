"""The market-data container every source returns.

:class:`MarketData` holds five *wide* frames (dates × symbols) of daily bars and
a content fingerprint. Sources build it from a long frame with
:meth:`MarketData.from_long`; the signal engine reads the wide frames as 2-D
arrays.

Conventions
-----------
- Index: tz-aware UTC :class:`pandas.DatetimeIndex` (``datetime64[ns, UTC]``)
  named ``"date"``, sorted and unique: one row per trading day on which at
  least one symbol has a bar.
- Columns: symbols (``str``), sorted, named ``"symbol"``.
- Values: ``float64``. Prices are split-adjusted, in the listing currency;
  ``volume`` is in (split-adjusted) shares. A symbol without a bar on a date
  (before its listing, say) holds NaN there.
- Close-only data (:attr:`MarketData.close_only`): a source that ships daily
  closes only (``"extended-close-only"``) holds NaN in ``open``, ``high``,
  ``low`` and ``volume`` everywhere: those were not observed. The signal and
  execution engines read the flag and switch to their close-only rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataSourceError

__all__ = [
    "FIELDS",
    "NOT_IN_CLOSE_ONLY",
    "SOURCES",
    "MarketData",
    "select_symbols",
    "to_utc_timestamp",
]

#: The five price/volume fields, in the order the fingerprint hashes them.
FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

#: The values :attr:`MarketData.source` may take.
SOURCES: tuple[str, ...] = (
    "sample",
    "csv",
    "parquet",
    "synthetic",
    "yfinance",
    "extended",
    "extended-close-only",
)

#: The fields a close-only market does not observe (NaN throughout).
NOT_IN_CLOSE_ONLY: tuple[str, ...] = ("open", "high", "low", "volume")

_FINGERPRINT_VERSION = b"signal-lab/market-data/v1\x00"


def to_utc_timestamp(value: Any, *, name: str) -> pd.Timestamp:
    """Parse ``value`` as a UTC timestamp; a naive value is taken as UTC.

    Parameters
    ----------
    value : str, datetime, numpy.datetime64 or pandas.Timestamp
        The time to parse.
    name : str
        The argument's name, used in the error message.

    Raises
    ------
    DataSourceError
        When ``value`` cannot be parsed.
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise DataSourceError(
            f"{name}={value!r} is not a date; pass a date such as '2005-01-31'"
        ) from exc
    if ts is pd.NaT:
        raise DataSourceError(f"{name}={value!r} is not a date; pass a date such as '2005-01-31'")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True, eq=False)
class MarketData:
    """Daily OHLCV bars of several symbols as aligned wide frames.

    Parameters
    ----------
    open, high, low, close : pandas.DataFrame
        Prices, shape (n_dates, n_symbols), split-adjusted.
    volume : pandas.DataFrame
        Shares traded, shape (n_dates, n_symbols).
    source : str
        Where the bars came from: one of :data:`SOURCES`.
    synthetic : bool, default False
        True when the prices were generated, not observed. Anything derived
        from synthetic data must say so.
    close_only : bool, default False
        True when only daily closes were observed: ``open``, ``high``, ``low``
        and ``volume`` must then be all NaN (build such data with
        :meth:`from_closes`). The signal engine disables what needs a bar's
        range and the execution engine fills at closes; anything derived
        must say "close-only" (see :attr:`description`).

    Attributes
    ----------
    fingerprint : str
        SHA-256 hex digest of the contents (dates, symbols and the five float64
        arrays). Stable across runs, processes and platforms (little-endian
        bytes are hashed); changes when any value changes. ``source`` is not part of it;
        ``close_only`` is (only when True, so the digest of OHLCV data is unchanged).

    Notes
    -----
    The frames are normalised on construction (float64, UTC nanosecond index
    named ``"date"``, sorted symbol columns named ``"symbol"``); treat them as
    read-only: :meth:`slice` returns new frames, and the fingerprint is not
    recomputed if you mutate one in place. Two instances compare equal when
    their fingerprints do.
    """

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame
    source: str
    synthetic: bool = False
    close_only: bool = False
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise DataSourceError(
                f"source={self.source!r} is not a known market-data source; use one of {SOURCES}"
            )
        frames = {name: getattr(self, name) for name in FIELDS}
        for name, frame in frames.items():
            if not isinstance(frame, pd.DataFrame):
                raise DataSourceError(
                    f"MarketData.{name} must be a pandas DataFrame (dates × symbols), "
                    f"got {type(frame).__name__}"
                )
        ref = frames["close"]
        index = ref.index
        if not isinstance(index, pd.DatetimeIndex):
            raise DataSourceError(
                "MarketData frames need a DatetimeIndex of trading days; "
                f"got {type(index).__name__}; convert with pd.to_datetime"
            )
        if index.tz is None:
            raise DataSourceError(
                "MarketData index is tz-naive; localise it with .tz_localize('UTC')"
            )
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            raise DataSourceError(
                f"MarketData index has a duplicate date {dup.date()}; keep one bar per day"
            )
        if not index.is_monotonic_increasing:
            raise DataSourceError("MarketData index is not sorted; call .sort_index() first")
        columns = ref.columns
        if not columns.is_unique:
            raise DataSourceError("MarketData columns (symbols) must be unique")
        for name, frame in frames.items():
            if not frame.index.equals(index) or not frame.columns.equals(columns):
                raise DataSourceError(
                    f"MarketData.{name} is not aligned with MarketData.close: every frame "
                    "needs the same dates (index) and symbols (columns)"
                )
        new_index = index.tz_convert("UTC").as_unit("ns").rename("date")
        symbols = [str(c) for c in columns]
        order = np.argsort(np.asarray(symbols, dtype=object), kind="stable")
        new_columns = pd.Index([symbols[i] for i in order], dtype=object, name="symbol")
        in_order = bool((order == np.arange(order.size)).all())
        for name, frame in frames.items():
            values = frame.to_numpy(dtype=np.float64)
            # Always a C-ordered copy: the caller's frames stay theirs.
            values = np.array(values, order="C") if in_order else values[:, order]
            values = np.ascontiguousarray(values)
            frame = pd.DataFrame(values, index=new_index, columns=new_columns, copy=False)
            object.__setattr__(self, name, frame)  # ``values`` is this object's own copy
        object.__setattr__(self, "synthetic", bool(self.synthetic))
        object.__setattr__(self, "close_only", bool(self.close_only))
        if self.close_only:
            for name in NOT_IN_CLOSE_ONLY:
                if not np.isnan(getattr(self, name).to_numpy()).all():
                    raise DataSourceError(
                        f"close_only=True but MarketData.{name} holds values; a close-only "
                        "market has NaN open/high/low/volume: build it with "
                        "MarketData.from_closes(close, source=...), or pass close_only=False"
                    )
        object.__setattr__(self, "fingerprint", self._compute_fingerprint())

    # ------------------------------------------------------------------ build
    @classmethod
    def from_long(cls, frame: pd.DataFrame, *, source: str, synthetic: bool = False) -> MarketData:
        """Build from a long frame with one row per (date, symbol).

        Parameters
        ----------
        frame : pandas.DataFrame
            Columns ``date`` (tz-aware UTC), ``symbol`` (str), ``open``,
            ``high``, ``low``, ``close``, ``volume``. Rows must be unique per
            (date, symbol); validation of the values is the source's job.
        source : str
            One of :data:`SOURCES`.
        synthetic : bool, default False
            Whether the bars are generated.

        Returns
        -------
        MarketData
            Wide frames over the union of the dates; a symbol without a bar
            on a date holds NaN there.
        """
        missing = [c for c in ("date", "symbol", *FIELDS) if c not in frame.columns]
        if missing:
            raise DataSourceError(f"long market frame lacks columns {missing}")
        if frame.empty:
            raise DataSourceError("no bars to load: the market data is empty")
        dup = frame.duplicated(["date", "symbol"])
        if dup.any():
            first = frame.loc[dup].iloc[0]
            raise DataSourceError(
                f"two bars for {first['symbol']} on {first['date']}; keep one bar per "
                "(date, symbol)"
            )
        wide = frame.pivot(index="date", columns="symbol", values=list(FIELDS)).sort_index()
        return cls(
            **{name: wide[name] for name in FIELDS},
            source=source,
            synthetic=synthetic,
        )

    @classmethod
    def from_closes(cls, close: pd.DataFrame, *, source: str) -> MarketData:
        """Build a close-only market from a wide frame of closes.

        Parameters
        ----------
        close : pandas.DataFrame
            Closes, shape (n_dates, n_symbols): a tz-aware UTC DatetimeIndex of
            trading days and one column per symbol; NaN where a symbol has no
            close.
        source : str
            One of :data:`SOURCES`.

        Returns
        -------
        MarketData
            ``close_only=True``; ``open``, ``high``, ``low`` and ``volume`` are
            all NaN (not observed).
        """
        if not isinstance(close, pd.DataFrame):
            raise DataSourceError(
                f"close must be a pandas DataFrame (dates × symbols), got {type(close).__name__}"
            )
        if close.empty:
            raise DataSourceError("no closes to load: the close frame is empty")
        missing = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
        return cls(
            **{name: missing for name in NOT_IN_CLOSE_ONLY},
            close=close,
            source=source,
            close_only=True,
        )

    # ---------------------------------------------------------------- helpers
    @property
    def description(self) -> str:
        """Where the bars come from and what they lack, e.g. ``"extended-close-only (close-only)"``.

        The source, then in brackets ``synthetic`` and/or ``close-only`` when they
        apply; results built on the data should carry this label.
        """
        tags = [
            t for t, on in (("synthetic", self.synthetic), ("close-only", self.close_only)) if on
        ]
        return f"{self.source} ({', '.join(tags)})" if tags else self.source

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols in column order (sorted)."""
        return tuple(self.close.columns)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """Trading days, ``datetime64[ns, UTC]``, sorted and unique."""
        return self.close.index  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_dates, n_symbols)``."""
        return self.close.shape

    def slice(
        self,
        start: Any = None,
        end: Any = None,
        symbols: Iterable[str] | None = None,
    ) -> MarketData:
        """A copy restricted to a date range and/or symbols.

        Parameters
        ----------
        start, end : date-like, optional
            Inclusive bounds; naive values are taken as UTC.
        symbols : iterable of str, optional
            Symbols to keep (case-insensitive). Unknown ones raise.

        Returns
        -------
        MarketData
            New frames and a recomputed fingerprint. Dates on which none of
            the kept symbols has a bar are dropped.

        Raises
        ------
        DataSourceError
            Unknown symbol, ``start`` after ``end``, or nothing left.
        """
        cols = list(self.symbols)
        if symbols is not None:
            cols = select_symbols(self.symbols, symbols)
        mask = np.ones(len(self.dates), dtype=bool)
        lo = to_utc_timestamp(start, name="start") if start is not None else None
        hi = to_utc_timestamp(end, name="end") if end is not None else None
        if lo is not None and hi is not None and lo > hi:
            raise DataSourceError(f"start={lo.date()} is after end={hi.date()}; swap them")
        if lo is not None:
            mask &= self.dates >= lo
        if hi is not None:
            mask &= self.dates <= hi
        close = self.close.loc[mask, cols]
        mask_rows = close.notna().any(axis=1).to_numpy()
        if not mask_rows.any():
            first, last = self.dates[0].date(), self.dates[-1].date()
            raise DataSourceError(
                f"no bars for symbols {cols} between {lo and lo.date()} and {hi and hi.date()}; "
                f"the data covers {first} to {last}"
            )
        keep = np.flatnonzero(mask)[mask_rows]
        return MarketData(
            **{name: getattr(self, name).iloc[keep][cols].copy() for name in FIELDS},
            source=self.source,
            synthetic=self.synthetic,
            close_only=self.close_only,
        )

    def to_long(self) -> pd.DataFrame:
        """One row per (date, symbol) with a bar.

        Returns
        -------
        pandas.DataFrame
            Columns ``date`` (datetime64[ns, UTC]), ``symbol`` (str),
            ``open``, ``high``, ``low``, ``close``, ``volume`` (float64),
            sorted by date then symbol; cells without a close are dropped.
            On a close-only market ``open``, ``high``, ``low`` and ``volume`` are NaN.
        """
        present = self.close.notna().to_numpy()
        rows, cols = np.nonzero(present)
        out = pd.DataFrame(
            {
                "date": self.dates[rows],
                "symbol": np.asarray(self.symbols, dtype=object)[cols],
                **{name: getattr(self, name).to_numpy()[rows, cols] for name in FIELDS},
            }
        )
        return out.reset_index(drop=True)

    # ----------------------------------------------------------------- dunder
    def _compute_fingerprint(self) -> str:
        h = hashlib.sha256(_FINGERPRINT_VERSION)
        n_dates, n_symbols = self.close.shape
        h.update(np.asarray([n_dates, n_symbols], dtype="<i8").tobytes())
        h.update(np.asarray(self.dates.asi8, dtype="<i8").tobytes())
        h.update("\x1f".join(self.symbols).encode("utf-8") + b"\x00")
        for name in FIELDS:
            values = getattr(self, name).to_numpy(dtype=np.float64)
            # One bit pattern for every NaN, so the digest depends on values only.
            if np.isnan(values).any():
                values = np.where(np.isnan(values), np.nan, values)
            values = np.ascontiguousarray(values.astype("<f8", copy=False))
            h.update(name.encode("ascii") + b"\x00")
            h.update(memoryview(values).cast("B"))
        if self.close_only:  # appended only when set: OHLCV digests stay as they were
            h.update(b"close-only\x00")
        return h.hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarketData):
            return NotImplemented
        return self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        n_dates, n_symbols = self.shape
        span = f"{self.dates[0].date()}..{self.dates[-1].date()}" if n_dates else "empty"
        return (
            f"MarketData(source={self.source!r}, synthetic={self.synthetic}, "
            + (f"close_only={self.close_only}, " if self.close_only else "")
            + f"symbols={n_symbols}, dates={n_dates} [{span}], "
            f"fingerprint={self.fingerprint[:12]!r})"
        )


def select_symbols(available: Iterable[str], wanted: Iterable[str] | str) -> list[str]:
    """Match ``wanted`` against ``available`` case-insensitively, in sorted order.

    Raises
    ------
    DataSourceError
        When a wanted symbol is missing; the message lists the available ones.
    """
    if isinstance(wanted, str):
        wanted = [wanted]
    by_upper = {s.upper(): s for s in available}
    chosen: list[str] = []
    unknown: list[str] = []
    for sym in wanted:
        key = str(sym).strip().upper()
        if key in by_upper:
            if by_upper[key] not in chosen:
                chosen.append(by_upper[key])
        else:
            unknown.append(str(sym))
    if unknown:
        shown = ", ".join(sorted(by_upper.values())[:50])
        more = len(by_upper) - 50
        raise DataSourceError(
            f"unknown symbol(s) {unknown}; available: {shown}"
            + (f" ... and {more} more" if more > 0 else "")
        )
    if not chosen:
        raise DataSourceError("symbols is empty; pass at least one symbol or None for all")
    return sorted(chosen)
