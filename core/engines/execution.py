"""The execution engine: when each signal's trade enters and exits, at what price, net of costs.

Timing (one rule, used everywhere, hand-tested in ``tests/test_execution.py``)
-------------------------------------------------------------------------------
A signal dated at bar ``t`` is known at the *close* of ``t``. Its trade

- **enters at the open of bar** ``e = t + 1`` (the next bar: no look-ahead);
- **exits at the open of bar** ``x = e + holding_days``, so it is exposed to
  exactly ``holding_days`` bars (``e`` .. ``e + holding_days - 1``, open to
  open). With ``holding_days=5`` on daily bars: in on Monday's open, out on
  the next Monday's open;
- or earlier, at a **stop loss / take profit**, checked against the high and
  low of the held bars ``e`` .. ``x - 1``. The level fills at its price, or at
  the bar's open when the open has already gapped through it. When both
  levels lie inside the same bar, the stop is assumed hit first (the path
  inside a bar is unknown; assuming the worse is the conservative choice)
  unless the open gapped through the take-profit. An intraday exit frees the
  book's slot at the next bar's open (``release_bar = exit_bar + 1``); an exit
  at the open frees it at once (``release_bar = exit_bar``).

A trade whose scheduled exit bar ``x`` lies beyond the last bar is **dropped**
(reason ``"beyond_data"``), stops or not: keeping only the late trades that
happened to stop out early would bias the sample towards losers. A trade
whose entry open (or, for an exit at the open, exit open) is missing or not
positive is dropped too (``"missing_price"``). Dropped trades have no outcome.

Costs
-----
``commission_bps`` and ``slippage_bps`` are charged per side on the entry
notional, so a round trip costs exactly ``2 * (commission_bps +
slippage_bps) / 100`` percent::

    gross_return_pct = side * (exit_price / entry_price - 1) * 100
    cost_pct         = 2 * (commission_bps + slippage_bps) / 100
    return_pct       = gross_return_pct - cost_pct

``entry_price`` and ``exit_price`` are the market prices (the open, or the
stop/take-profit level) before costs.

Close-only data
---------------
On a :attr:`~core.data.market.MarketData.close_only` market there is no open,
high or low, so every fill is **at a close**, with the same bars as above:

- entry at the **close** of ``e = t + 1`` (the signal is known at the close of
  ``t``; filling at that same close would use a price not yet known when the
  order is sent), time exit at the **close** of ``x = e + holding_days``: the
  trade is exposed to exactly ``holding_days`` close-to-close moves;
- stop loss / take profit are checked on the **closes** of bars ``e + 1`` ..
  ``x`` only (a stop-on-close order): the first close at or past a level
  exits there, *at that close* (not at the level, which may never have
  traded); one close cannot reach both levels;
- every exit is at a close, so the slot is free for an entry at that same
  close: ``release_bar = exit_bar``;
- ``"missing_price"``: a missing or non-positive entry close (or time-exit
  close). ``"beyond_data"`` is unchanged.

:attr:`ExecutionResult.close_only` records the mode. On OHLCV data nothing
changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from core.data.market import MarketData
from core.errors import ConfigError, ValidationError

__all__ = ["DROP_REASONS", "EXIT_REASONS", "ExecutionEngine", "ExecutionResult"]

#: Why a trade closed.
EXIT_REASONS: tuple[str, ...] = ("time", "stop_loss", "take_profit")

#: Why a signal's trade was dropped (no outcome recorded).
DROP_REASONS: tuple[str, ...] = ("beyond_data", "missing_price")

_NEVER = np.iinfo(np.int64).max


def take_strings(column: pd.Series, at: np.ndarray | None = None) -> Any:
    """``column``'s values (at positions ``at``) for a new frame, staying in Arrow for a
    ``str`` column: a round trip through Python objects costs ~10 ms per 100k strings."""
    if isinstance(column.dtype, pd.StringDtype):
        return column.array if at is None else column.array[at]
    values = column.to_numpy(dtype=object)
    return values if at is None else values[at]


def _check_bps(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"ExecutionEngine.{name}={value!r} must be a number of basis points")
    if not (math.isfinite(float(value)) and 0.0 <= float(value) <= 1000.0):
        raise ConfigError(
            f"ExecutionEngine.{name}={value!r} is out of range; use [0, 1000] basis points per side"
        )


def _check_pct(name: str, value: object, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"ExecutionEngine.{name}={value!r} must be a percentage or None")
    if not (math.isfinite(float(value)) and 0.0 < float(value) <= high):
        raise ConfigError(
            f"ExecutionEngine.{name}={value!r} is out of range; use (0, {high:g}] percent, "
            "or None for no level"
        )


@dataclass(frozen=True, eq=False)
class ExecutionResult:
    """Trades of one run.

    Attributes
    ----------
    trades : DataFrame, shape (n_trades, 17)
        One row per executed signal, in signal order. Columns:
        ``signal_index`` (int64, row position in the signal frame),
        ``signal_id`` (str, when the signals had one), ``symbol``, ``side``
        (int8), ``signal_bar``, ``entry_bar``, ``exit_bar``, ``release_bar``
        (int64 bar positions), ``signal_time``, ``entry_fill_time``,
        ``exit_time`` (datetime64[ns, UTC]), ``entry_price``, ``exit_price``
        (float64, before costs), ``exit_reason`` (str, one of
        :data:`EXIT_REASONS`), ``gross_return_pct``, ``cost_pct``,
        ``return_pct`` (float64, percent).
    executed : ndarray of bool, shape (n_signals,)
        Which signals became trades.
    dropped_by_reason : mapping of str to int
        Counts of dropped trades per :data:`DROP_REASONS` entry.
    close_only : bool, default False
        True when every fill was at a close because the data had closes only
        (see the module notes).
    """

    trades: pd.DataFrame
    executed: np.ndarray
    dropped_by_reason: Mapping[str, int] = field(default_factory=dict)
    close_only: bool = False

    @property
    def n_dropped(self) -> int:
        """Signals without a trade."""
        return int(sum(self.dropped_by_reason.values()))


@dataclass(frozen=True)
class ExecutionEngine:
    """Simulate every signal's trade on daily bars (see the module notes for the rules).

    Parameters
    ----------
    commission_bps : float, default 1.0
        Commission per side, basis points of the entry notional, in [0, 1000].
    slippage_bps : float, default 2.0
        Slippage per side, basis points of the entry notional, in [0, 1000].
    stop_loss_pct : float or None, default None
        Exit when the price moves this many percent against the trade, in (0, 100].
    take_profit_pct : float or None, default None
        Exit when the price moves this many percent in favour, in (0, 1000].

    Notes
    -----
    Vectorised: prices of all held bars are gathered into an ``(n_trades,
    max_holding_days)`` array and the first stop / take-profit bar is found
    with ``argmax``; there is no loop over trades or bars.
    """

    commission_bps: float = 1.0
    slippage_bps: float = 2.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None

    def __post_init__(self) -> None:
        _check_bps("commission_bps", self.commission_bps)
        _check_bps("slippage_bps", self.slippage_bps)
        _check_pct("stop_loss_pct", self.stop_loss_pct, 100.0)
        _check_pct("take_profit_pct", self.take_profit_pct, 1000.0)

    @property
    def round_trip_cost_pct(self) -> float:
        """Cost of entering and exiting, percent of the entry notional."""
        return 2.0 * (float(self.commission_bps) + float(self.slippage_bps)) / 100.0

    def execute(self, signals: pd.DataFrame, data: MarketData) -> ExecutionResult:
        """One trade per signal.

        Parameters
        ----------
        signals : DataFrame, shape (n_signals, ...)
            Columns ``symbol`` (str, a column of ``data``), ``bar`` (int, the
            signal bar's position in ``data.dates``), ``side`` (+1/-1) and
            ``holding_days`` (int >= 1); ``signal_id`` is carried over when
            present. Rows in time order (non-decreasing ``bar``).
        data : MarketData
            The bars the signals were generated on. When ``data.close_only``,
            fills are at closes (see the module notes).

        Returns
        -------
        ExecutionResult

        Raises
        ------
        ValidationError
            A missing column, an unknown symbol, a bar outside the data, a side
            other than +1/-1, a holding period below 1, or rows out of time order.
        """
        missing = [c for c in ("symbol", "bar", "side", "holding_days") if c not in signals]
        if missing:
            raise ValidationError(
                f"signals lack column(s) {missing}; columns present: "
                f"{', '.join(map(str, signals.columns))}"
            )
        dates = data.dates
        n_dates = len(dates)
        close_only = data.close_only
        # The price every fill uses: the open, or on close-only data the close.
        fills = (data.close if close_only else data.open).to_numpy(dtype=np.float64)
        n = len(signals)

        col = data.close.columns.get_indexer(signals["symbol"].astype(str).to_numpy(dtype=object))
        if n and (col < 0).any():
            i = int(np.flatnonzero(col < 0)[0])
            raise ValidationError(
                f"signal row {i} has symbol {signals['symbol'].iloc[i]!r}, which is not in the "
                f"market data ({', '.join(data.symbols[:20])}...); generate signals on the same data"
            )
        bar = signals["bar"].to_numpy(dtype=np.int64)
        if n and ((bar < 0) | (bar >= n_dates)).any():
            i = int(np.flatnonzero((bar < 0) | (bar >= n_dates))[0])
            raise ValidationError(
                f"signal row {i} has bar {bar[i]}, outside the data's 0..{n_dates - 1}; "
                "bar is the signal's position in data.dates"
            )
        if n > 1 and (np.diff(bar) < 0).any():
            raise ValidationError("signals must be in time order (non-decreasing bar); sort them")
        side = signals["side"].to_numpy(dtype=np.float64)
        if n and not np.isin(side, (1.0, -1.0)).all():
            i = int(np.flatnonzero(~np.isin(side, (1.0, -1.0)))[0])
            raise ValidationError(f"signal row {i} has side {side[i]!r}; expected 1 or -1")
        hold = signals["holding_days"].to_numpy(dtype=np.float64)
        if n and (~np.isfinite(hold) | (hold < 1) | (hold != np.round(hold))).any():
            i = int(np.flatnonzero(~np.isfinite(hold) | (hold < 1) | (hold != np.round(hold)))[0])
            raise ValidationError(
                f"signal row {i} has holding_days {hold[i]!r}; expected a whole number >= 1"
            )
        hold_i = hold.astype(np.int64)
        side_i = side.astype(np.int8)

        entry = bar + 1
        scheduled_exit = entry + hold_i
        beyond = scheduled_exit > n_dates - 1
        ok = ~beyond
        idx_ok = np.flatnonzero(ok)
        e, x, c = entry[idx_ok], scheduled_exit[idx_ok], col[idx_ok]
        entry_price = fills[e, c]
        exit_open = fills[x, c]  # the scheduled exit's price (a close on close-only data)
        s = side[idx_ok]

        exit_bar = x.copy()
        exit_price = exit_open.copy()
        reason = np.zeros(idx_ok.size, dtype=np.int8)  # index into EXIT_REASONS
        if idx_ok.size and (self.stop_loss_pct is not None or self.take_profit_pct is not None):
            apply = self._apply_close_levels if close_only else self._apply_levels
            apply(data, e, c, s, hold_i[idx_ok], entry_price, exit_bar, exit_price, reason)

        with np.errstate(invalid="ignore"):
            bad_price = ~(entry_price > 0) | ((reason == 0) & ~(exit_open > 0))
        keep = ~bad_price
        executed = np.zeros(n, dtype=bool)
        executed[idx_ok[keep]] = True
        dropped = {
            "beyond_data": int(beyond.sum()),
            "missing_price": int(bad_price.sum()),
        }

        sel = idx_ok[keep]
        e, c, s = e[keep], c[keep], s[keep]
        entry_price, exit_price = entry_price[keep], exit_price[keep]
        exit_bar, reason = exit_bar[keep], reason[keep]
        gross = s * (exit_price / entry_price - 1.0) * 100.0
        cost = np.full(sel.size, self.round_trip_cost_pct)
        if close_only:  # every exit is at a close: the slot frees at that close
            release = exit_bar.copy()
        else:
            release = np.where(reason == 0, exit_bar, exit_bar + 1)

        frame = {
            "signal_index": sel.astype(np.int64),
            **(
                {"signal_id": take_strings(signals["signal_id"], sel)}
                if "signal_id" in signals
                else {}
            ),
            "symbol": take_strings(signals["symbol"], sel),
            "side": side_i[sel],
            "signal_bar": bar[sel],
            "entry_bar": e,
            "exit_bar": exit_bar,
            "release_bar": release,
            "signal_time": dates[bar[sel]],
            "entry_fill_time": dates[e],
            "exit_time": dates[exit_bar],
            "entry_price": entry_price,
            "exit_price": exit_price,
            "exit_reason": np.asarray(EXIT_REASONS, dtype=object)[reason],
            "gross_return_pct": gross,
            "cost_pct": cost,
            "return_pct": gross - cost,
        }
        trades = pd.DataFrame(frame)
        return ExecutionResult(
            trades=trades,
            executed=executed,
            dropped_by_reason=MappingProxyType(dropped),
            close_only=close_only,
        )

    def _apply_close_levels(
        self,
        data: MarketData,
        entry: np.ndarray,
        col: np.ndarray,
        side: np.ndarray,
        hold: np.ndarray,
        entry_price: np.ndarray,
        exit_bar: np.ndarray,
        exit_price: np.ndarray,
        reason: np.ndarray,
    ) -> None:
        """Close-only levels (in place): the first close of bars ``e+1 .. x`` at or past one.

        Shapes as in :meth:`_apply_levels`; the exit fills at that close.
        """
        width = int(hold.max())
        k = np.arange(1, width + 1, dtype=np.int64)
        held = k[None, :] <= hold[:, None]
        rows = np.minimum(entry[:, None] + k[None, :], len(data.dates) - 1)
        px = data.close.to_numpy(dtype=np.float64)[rows, col[:, None]]
        long = (side > 0)[:, None]
        hit_sl = np.zeros(px.shape, dtype=bool)
        hit_tp = np.zeros(px.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            if self.stop_loss_pct is not None:
                sl = (entry_price * (1.0 - side * self.stop_loss_pct / 100.0))[:, None]
                hit_sl = np.where(long, px <= sl, px >= sl)
            if self.take_profit_pct is not None:
                tp = (entry_price * (1.0 + side * self.take_profit_pct / 100.0))[:, None]
                hit_tp = np.where(long, px >= tp, px <= tp)
        hit = (hit_sl | hit_tp) & held
        r = np.flatnonzero(hit.any(axis=1))
        if r.size:
            j = hit[r].argmax(axis=1)
            exit_price[r] = px[r, j]
            exit_bar[r] = entry[r] + k[j]
            reason[r] = np.where(hit_sl[r, j], 1, 2)  # one close cannot reach both levels

    def _apply_levels(
        self,
        data: MarketData,
        entry: np.ndarray,
        col: np.ndarray,
        side: np.ndarray,
        hold: np.ndarray,
        entry_price: np.ndarray,
        exit_bar: np.ndarray,
        exit_price: np.ndarray,
        reason: np.ndarray,
    ) -> None:
        """Find the first stop-loss / take-profit bar of each trade (in place)."""
        width = int(hold.max())
        k = np.arange(width, dtype=np.int64)
        rows = entry[:, None] + k[None, :]
        held = k[None, :] < hold[:, None]
        rows = np.minimum(rows, len(data.dates) - 1)  # masked by `held` anyway
        cols = col[:, None]
        hi = data.high.to_numpy(dtype=np.float64)[rows, cols]
        lo = data.low.to_numpy(dtype=np.float64)[rows, cols]
        op = data.open.to_numpy(dtype=np.float64)[rows, cols]
        long = (side > 0)[:, None]
        sd = side[:, None]

        def first(hit: np.ndarray) -> np.ndarray:
            hit &= held
            return np.where(hit.any(axis=1), hit.argmax(axis=1), _NEVER)

        never = np.full(entry.size, _NEVER, dtype=np.int64)
        sl_first, tp_first = never, never
        with np.errstate(invalid="ignore"):
            if self.stop_loss_pct is not None:
                sl_level = entry_price * (1.0 - side * self.stop_loss_pct / 100.0)
                sl_hit = np.where(long, lo <= sl_level[:, None], hi >= sl_level[:, None])
                sl_first = first(sl_hit)
            if self.take_profit_pct is not None:
                tp_level = entry_price * (1.0 + side * self.take_profit_pct / 100.0)
                tp_hit = np.where(long, hi >= tp_level[:, None], lo <= tp_level[:, None])
                tp_first = first(tp_hit)
                # Gap through the take-profit at a bar's open: it fills at the open.
                tp_gap = sd * (op - tp_level[:, None]) >= 0

        rows_i = np.arange(entry.size)
        same = (sl_first == tp_first) & (sl_first != _NEVER)
        if same.any():
            j = sl_first[same]
            # Both levels inside one bar: the stop comes first unless the open gapped
            # through the take-profit (then the open filled before any intraday move).
            gap = tp_gap[rows_i[same], j]
            sl_first = sl_first.copy()
            sl_first[np.flatnonzero(same)[gap]] = _NEVER
        use_sl = (sl_first != _NEVER) & (sl_first <= tp_first)
        use_tp = (tp_first != _NEVER) & (tp_first < sl_first)

        if use_sl.any():
            r = np.flatnonzero(use_sl)
            j = sl_first[r]
            o = op[r, j]
            level = sl_level[r]
            with np.errstate(invalid="ignore"):
                gapped = side[r] * (o - level) < 0  # the open is already past the stop
            exit_price[r] = np.where(gapped, o, level)
            exit_bar[r] = entry[r] + j
            reason[r] = 1
        if use_tp.any():
            r = np.flatnonzero(use_tp)
            j = tp_first[r]
            o = op[r, j]
            level = tp_level[r]
            with np.errstate(invalid="ignore"):
                gapped = side[r] * (o - level) > 0  # the open is already past the target
            exit_price[r] = np.where(gapped, o, level)
            exit_bar[r] = entry[r] + j
            reason[r] = 2
