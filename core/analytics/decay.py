"""Signal decay across horizons: how long does the confidence keep predicting?

For every signal the forward return at holding periods ``h`` trading days
(default 1, 2, 3, 5, 10, 20) is read from daily closes and signed for the
side; at each horizon the confidence's **rank information coefficient** (IC,
Spearman's rank correlation with the forward return) and the **win-rate
spread** between the top and bottom deciles of confidence are computed with
bootstrap intervals. Plotted against ``h`` they give alphalens' IC-decay
curve, for the confidence of a signal.

Forward returns
---------------
A signal's ``entry_time`` is the close of its signal bar (see
:mod:`core.trades`). Its base bar is the last bar of the price frame at or
before ``entry_time``, moved ``entry_lag`` bars later (``entry_lag=1`` starts
from the next bar's close, which the signal could actually trade). Then, in
percent, signed for the side (+1 long, -1 short)::

    cumulative:   side * (close[t + h] / close[t] - 1) * 100
    incremental:  side * (close[t + h_k] / close[t + h_{k-1}] - 1) * 100,  h_0 = 0

``"cumulative"`` (default, alphalens' forward returns) answers "held h days,
what did the signal earn?"; ``"incremental"`` isolates the days between two
horizons, so a signal whose edge is spent after k days shows an IC near 0
beyond k. A forward return past the last bar, or from a missing price, is NaN
and that signal is left out of that horizon.

Intervals
---------
Percentile bootstrap over signals (seeded), the same draws for the IC and the
spread; ``block_size > 1`` resamples blocks of consecutive signals in entry
order (forward returns of nearby signals overlap). The decile cut points are
those of the full sample at each horizon.

References
----------
C. Spearman, "The proof and measurement of association between two things",
American Journal of Psychology 15 (1904) 72-101.
R. C. Grinold and R. N. Kahn, Active Portfolio Management, 2nd ed.,
McGraw-Hill (2000), ch. 6 (the information coefficient).
Quantopian, alphalens (2016-2020), ``factor_information_coefficient``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from core.analytics.compare import moving_block_indices
from core.data.market import MarketData
from core.errors import ConfigError, DataSourceError, InsufficientDataError, TradesFrameError
from core.jsonsafe import json_safe
from core.metrics import is_win, win_rate
from core.trades import validate_trades

__all__ = [
    "DECAY_COLUMNS",
    "DEFAULT_HORIZONS",
    "DecayResult",
    "forward_returns",
    "signal_decay",
]

#: Holding periods in trading days.
DEFAULT_HORIZONS: tuple[int, ...] = (1, 2, 3, 5, 10, 20)

#: Columns of :attr:`DecayResult.table`.
DECAY_COLUMNS: tuple[str, ...] = (
    "n",
    "ic",
    "ic_low",
    "ic_high",
    "top_win_rate",
    "bottom_win_rate",
    "spread",
    "spread_low",
    "spread_high",
    "top_mean_return",
    "bottom_mean_return",
)


def _closes(prices: MarketData | pd.DataFrame) -> pd.DataFrame:
    if isinstance(prices, MarketData):
        return prices.close
    if not isinstance(prices, pd.DataFrame):
        raise DataSourceError(
            f"prices must be MarketData or a DataFrame of closes (dates x symbols), got "
            f"{type(prices).__name__}"
        )
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise DataSourceError(
            "the price frame needs a DatetimeIndex of trading days (one row per date, one "
            f"column per symbol), got {type(prices.index).__name__}; use "
            "frame.set_index(pd.to_datetime(frame['date']))"
        )
    if not prices.index.is_monotonic_increasing or not prices.index.is_unique:
        raise DataSourceError("the price frame's dates must be unique and sorted; sort_index() it")
    out = prices
    if prices.index.tz is None:
        out = prices.tz_localize("UTC")
    return out


def _check_horizons(horizons: Sequence[int]) -> np.ndarray:
    h = np.asarray(list(horizons))
    if (
        h.ndim != 1
        or h.size == 0
        or not np.issubdtype(h.dtype, np.integer)
        or (h < 1).any()
        or (np.diff(h) <= 0).any()
    ):
        raise ConfigError(
            f"horizons must be increasing positive integers (trading days), got "
            f"{list(horizons)!r}; use {list(DEFAULT_HORIZONS)}"
        )
    return h.astype(np.int64)


def forward_returns(
    trades: pd.DataFrame,
    prices: MarketData | pd.DataFrame,
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    entry_lag: int = 0,
    kind: Literal["cumulative", "incremental"] = "cumulative",
) -> pd.DataFrame:
    """Side-signed forward returns of every signal, percent.

    Parameters
    ----------
    trades : DataFrame
        With ``entry_time``, ``symbol`` and ``side``.
    prices : MarketData or DataFrame
        Daily closes, dates (UTC or naive, taken as UTC) x symbols; a
        ``MarketData`` gives its ``close``.
    horizons : sequence of int, default (1, 2, 3, 5, 10, 20)
        Increasing holding periods, trading days (rows of ``prices``).
    entry_lag : int, default 0
        Bars between the signal bar and the base bar.
    kind : {"cumulative", "incremental"}, default "cumulative"

    Returns
    -------
    DataFrame, shape (n_trades, n_horizons)
        Index of ``trades``, columns the horizons; NaN where the symbol is not
        in ``prices``, the entry precedes the first date, the horizon runs past
        the last date or a price is missing.
    """
    h = _check_horizons(horizons)
    if kind not in ("cumulative", "incremental"):
        raise ConfigError(f"kind must be 'cumulative' or 'incremental', got {kind!r}")
    if isinstance(entry_lag, bool) or not isinstance(entry_lag, int) or entry_lag < 0:
        raise ConfigError(f"entry_lag must be an integer >= 0, got {entry_lag!r}; use 0")
    missing = [c for c in ("entry_time", "symbol", "side") if c not in trades.columns]
    if missing:
        raise TradesFrameError(
            f"trades frame has no column {', '.join(map(repr, missing))}; forward returns "
            "need each signal's entry time, symbol and side"
        )
    close = _closes(prices)
    dates = close.index.as_unit("ns").asi8
    entry = pd.to_datetime(trades["entry_time"], utc=True).dt.as_unit("ns").array.asi8
    pos = np.searchsorted(dates, entry, side="right") - 1 + entry_lag
    col = close.columns.get_indexer(trades["symbol"].astype(str).to_numpy(dtype=object))
    side = trades["side"].to_numpy(dtype=np.float64, na_value=np.nan)
    values = close.to_numpy(dtype=np.float64)
    n_dates = values.shape[0]
    ends = pos[:, None] + np.concatenate([[0], h])[None, :]  # (n, 1 + n_h)
    ok = (col[:, None] >= 0) & (pos[:, None] >= entry_lag) & (ends < n_dates)
    ok &= pd.notna(trades["entry_time"]).to_numpy()[:, None]
    px = np.where(ok, values[np.clip(ends, 0, n_dates - 1), np.maximum(col, 0)[:, None]], np.nan)
    px = np.where(px > 0, px, np.nan)
    base = px[:, :-1] if kind == "incremental" else px[:, :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = side[:, None] * (px[:, 1:] / base - 1.0) * 100.0
    return pd.DataFrame(out, index=trades.index, columns=pd.Index(h, name="horizon"))


@dataclass(frozen=True, eq=False)
class DecayResult:
    """The confidence's predictive power at every horizon.

    Attributes
    ----------
    table : DataFrame
        Index ``horizon`` (trading days); columns :data:`DECAY_COLUMNS`:
        ``n`` signals with a forward return; ``ic`` Spearman rank correlation
        of the score with the forward return and its bootstrap interval;
        ``top_win_rate`` / ``bottom_win_rate`` share of positive forward
        returns in the top / bottom ``decile`` of the score (fractions),
        ``spread`` their difference with its interval; mean forward returns
        of the two deciles (percent).
    key, kind : str
    entry_lag, n_boot, block_size, seed : int
    level, decile : float
    n_unmatched : int
        Signals whose symbol is not in the price frame.
    """

    table: pd.DataFrame
    key: str
    kind: str
    entry_lag: int
    n_boot: int
    block_size: int
    seed: int
    level: float
    decile: float
    n_unmatched: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: settings and ``table`` rows keyed by horizon."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "table"}
        out["table"] = {str(h): row for h, row in self.table.to_dict(orient="index").items()}
        return json_safe(out)


def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of matching rows of two (r, n) arrays (average ranks)."""
    ra = stats.rankdata(a, axis=1)
    rb = stats.rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def signal_decay(
    trades: pd.DataFrame,
    prices: MarketData | pd.DataFrame,
    *,
    key: str = "confidence",
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    kind: Literal["cumulative", "incremental"] = "cumulative",
    entry_lag: int = 0,
    decile: float = 0.1,
    n_boot: int = 500,
    block_size: int = 1,
    level: float = 0.95,
    seed: int = 0,
) -> DecayResult:
    """Rank IC and top-minus-bottom win-rate spread of the score at each horizon.

    Parameters
    ----------
    trades : DataFrame
        A trades frame (``key``, ``entry_time``, ``symbol``, ``side``); rows
        whose ``key`` is NaN are left out.
    prices : MarketData or DataFrame
        Daily closes (dates x symbols), e.g. ``BacktestConfig().load_data()`` or
        a user's price file read into a wide frame.
    key : str, default "confidence"
    horizons, kind, entry_lag
        See :func:`forward_returns`.
    decile : float, default 0.1
        Share of signals in the top and in the bottom group (cut points: the
        ``decile`` and ``1 - decile`` quantiles of the score at that horizon;
        ties at a cut point are included).
    n_boot : int, default 500
    block_size : int, default 1
        Moving-block length in signals (entry order); 1 is the iid bootstrap.
    level : float, default 0.95
    seed : int, default 0

    Returns
    -------
    DecayResult

    Raises
    ------
    TradesFrameError, DataSourceError, ConfigError
    InsufficientDataError
        Fewer than 3 signals have a forward return at every horizon (nothing to
        correlate: symbols or dates not covered by the prices).

    References
    ----------
    Spearman (1904); Grinold and Kahn (2000), ch. 6.
    """
    if not 0.0 < decile <= 0.5:
        raise ConfigError(f"decile must lie in (0, 0.5], got {decile!r}; use 0.1")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must lie in (0, 1), got {level!r}; use 0.95")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ConfigError(f"n_boot must be an integer >= 1, got {n_boot!r}; use 500")
    usable = validate_trades(trades, key=key, columns=())
    if "entry_time" in usable.columns:
        # Time order from the int64 nanoseconds: a tz-aware column's to_numpy() is an
        # object array of Timestamps (about 2 s per million trades to build and sort).
        entry_ns = pd.to_datetime(usable["entry_time"], utc=True).dt.as_unit("ns").array.asi8
        if (np.diff(entry_ns) < 0).any():
            usable = usable.iloc[np.argsort(entry_ns, kind="stable")]
    fwd = forward_returns(usable, prices, horizons=horizons, entry_lag=entry_lag, kind=kind)
    close = _closes(prices)
    n_unmatched = int(
        (close.columns.get_indexer(usable["symbol"].astype(str).to_numpy(dtype=object)) < 0).sum()
    )
    score_all = usable[key].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(seed)
    alpha = (1.0 - level) / 2.0
    rows = []
    for h in fwd.columns:  # one iteration per horizon (a handful), vectorised inside
        r_all = fwd[h].to_numpy()
        ok = np.isfinite(r_all)
        s, r = score_all[ok], r_all[ok]
        n = s.size
        row: dict[str, float] = dict.fromkeys(DECAY_COLUMNS, math.nan)
        row["n"] = n
        if n < 3:
            rows.append(row)
            continue
        lo_cut, hi_cut = np.quantile(s, [decile, 1.0 - decile])
        top, bottom, wins = s >= hi_cut, s <= lo_cut, is_win(r)
        row["ic"] = float(_row_spearman(s[None, :], r[None, :])[0])
        row["top_win_rate"] = win_rate(int(wins[top].sum()), int(top.sum()))
        row["bottom_win_rate"] = win_rate(int(wins[bottom].sum()), int(bottom.sum()))
        row["spread"] = row["top_win_rate"] - row["bottom_win_rate"]
        row["top_mean_return"] = float(r[top].mean())
        row["bottom_mean_return"] = float(r[bottom].mean())
        ics, spreads = [], []
        chunk = max(1, 2_000_000 // n)
        remaining = n_boot
        while remaining > 0:  # chunks of replicates
            k = min(chunk, remaining)
            idx = moving_block_indices(n, n_boot=k, block_size=min(block_size, n), rng=rng)
            ics.append(_row_spearman(s[idx], r[idx]))
            t, b, wi = top[idx], bottom[idx], wins[idx]
            spreads.append(
                np.asarray(win_rate((wi & t).sum(axis=1), t.sum(axis=1)))
                - np.asarray(win_rate((wi & b).sum(axis=1), b.sum(axis=1)))
            )
            remaining -= k
        for name, parts in (("ic", ics), ("spread", spreads)):
            dist = np.concatenate(parts)
            dist = dist[np.isfinite(dist)]
            if dist.size:
                row[f"{name}_low"], row[f"{name}_high"] = (
                    float(v) for v in np.quantile(dist, [alpha, 1.0 - alpha])
                )
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index(fwd.columns, name="horizon"))[list(DECAY_COLUMNS)]
    table["n"] = table["n"].astype(np.int64)
    if table["n"].max() < 3:
        raise InsufficientDataError(
            f"fewer than 3 signals have a forward return at any horizon ({n_unmatched} of "
            f"{len(usable)} signals have a symbol missing from the prices); check that the "
            "price frame covers the signals' symbols and dates"
        )
    return DecayResult(
        table=table,
        key=key,
        kind=kind,
        entry_lag=int(entry_lag),
        n_boot=int(n_boot),
        block_size=int(block_size),
        seed=int(seed),
        level=float(level),
        decile=float(decile),
        n_unmatched=n_unmatched,
    )
