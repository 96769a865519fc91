"""The portfolio engine: daily positions and equity of books of trades.

Accounting (deliberately simple, stated so the numbers can be checked)
----------------------------------------------------------------------
Each trade ``i`` of a book carries a weight ``w_i`` (its ``position_size``,
a fraction of equity). Its value relative to the entry notional is marked at
every close it is held through, and at its exit fill on the exit bar::

    V_i(k) = side_i * (mark_i(k) / entry_price_i - 1) - c - [k is the exit day] * c

where ``k = 0 .. L_i`` counts days from the entry bar, ``mark_i(k)`` is the
close of bar ``entry + k`` (forward-filled over missing bars) for ``k <
L_i`` and the exit price for ``k = L_i``, and ``c`` is the cost of one side
(``cost_pct / 200``). The book's return on day ``d`` is the weighted sum of
the day's changes, and equity compounds::

    r(d) = sum_i w_i * (V_i(k_d) - V_i(k_d - 1)),   V_i(-1) = 0
    equity(d) = equity(d - 1) * (1 + r(d)),          equity(-1) = initial_equity

(``r`` of the first date is 0: trades enter the bar after their signal.)

So each trade's daily P&L is booked at ``w_i`` of the *current* equity (a
book rebalanced daily to its target weights), and the daily changes of a
trade sum to ``w_i * return_pct / 100`` exactly. The (days × trades)
contributions are accumulated with ``numpy.bincount``; there is no loop over
days or trades.

``open_positions(d)`` counts the trades held at the close of day ``d``
(entered on or before ``d``, exiting after it; a trade entered and stopped
out on the same day counts for that day). Exposure is the share of days
where it is positive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.data.market import MarketData
from core.errors import ConfigError, ValidationError

__all__ = ["PortfolioEngine", "PortfolioResult"]

_NEEDED = (
    "symbol",
    "side",
    "entry_bar",
    "exit_bar",
    "entry_price",
    "exit_price",
    "cost_pct",
    "position_size",
)


@dataclass(frozen=True, eq=False)
class PortfolioResult:
    """Daily state of each book.

    Attributes
    ----------
    equity : DataFrame, shape (n_dates, n_books)
        Equity per book (index: the data's dates, UTC; columns: book names),
        starting at ``initial_equity``.
    daily_returns : DataFrame, shape (n_dates, n_books)
        ``r(d)`` of the module notes, a fraction (0 on the first day).
    open_positions : DataFrame, shape (n_dates, n_books)
        Positions held at each close (int64).
    books : mapping of str to ndarray of bool, shape (n_trades,)
        Which trades each book holds.
    """

    equity: pd.DataFrame
    daily_returns: pd.DataFrame
    open_positions: pd.DataFrame
    books: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class PortfolioEngine:
    """Mark books of trades to market every day (see the module notes).

    Parameters
    ----------
    initial_equity : float, default 1.0
        Equity on the first date, before any trade.
    """

    initial_equity: float = 1.0

    def __post_init__(self) -> None:
        value = self.initial_equity
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float | np.integer | np.floating)
            or not math.isfinite(float(value))
            or float(value) <= 0
        ):
            raise ConfigError(f"PortfolioEngine.initial_equity={value!r} must be a number > 0")

    def build(
        self, trades: pd.DataFrame, data: MarketData, *, books: Mapping[str, np.ndarray]
    ) -> PortfolioResult:
        """Equity, daily returns and open positions of each book.

        Parameters
        ----------
        trades : DataFrame, shape (n_trades, ...)
            Executed trades with columns ``symbol``, ``side``, ``entry_bar``,
            ``exit_bar``, ``entry_price``, ``exit_price``, ``cost_pct`` (as
            :class:`~core.engines.execution.ExecutionEngine` returns them) and
            ``position_size`` (fraction of equity).
        data : MarketData
            The bars the trades were executed on.
        books : mapping of str to array of bool, shape (n_trades,) each
            Book name -> which trades it holds.

        Returns
        -------
        PortfolioResult
        """
        missing = [c for c in _NEEDED if c not in trades]
        if missing:
            raise ValidationError(
                f"trades lack column(s) {missing}; pass the execution engine's trades "
                "with a position_size column"
            )
        dates = data.dates
        n_dates = len(dates)
        close = data.close.to_numpy(dtype=np.float64)
        if np.isnan(close).any():  # a full-frame ffill costs 30 ms at 500 x 2,520
            close = data.close.ffill().to_numpy(dtype=np.float64)
        n = len(trades)
        col = data.close.columns.get_indexer(trades["symbol"].astype(str).to_numpy(dtype=object))
        if n and (col < 0).any():
            raise ValidationError("a trade's symbol is not in the market data; use the same data")
        entry = trades["entry_bar"].to_numpy(dtype=np.int64)
        exit_ = trades["exit_bar"].to_numpy(dtype=np.int64)
        side = trades["side"].to_numpy(dtype=np.float64)
        p_in = trades["entry_price"].to_numpy(dtype=np.float64)
        p_out = trades["exit_price"].to_numpy(dtype=np.float64)
        side_cost = trades["cost_pct"].to_numpy(dtype=np.float64) / 200.0
        weight = trades["position_size"].to_numpy(dtype=np.float64)

        # Per-trade daily value changes, shape (n_trades, width): day k = entry + k.
        length = exit_ - entry
        width = int(length.max()) + 1 if n else 1
        k = np.arange(width, dtype=np.int64)
        rows = np.minimum(entry[:, None] + k[None, :], n_dates - 1)
        valid = k[None, :] <= length[:, None]
        mark = close[rows, col[:, None]]
        is_exit = k[None, :] == length[:, None]
        mark = np.where(is_exit, p_out[:, None], mark)
        value = side[:, None] * (mark / p_in[:, None] - 1.0) - side_cost[:, None]
        value = value - np.where(is_exit, side_cost[:, None], 0.0)
        value = np.where(valid, value, 0.0)
        change = np.diff(value, axis=1, prepend=0.0)
        change = np.where(valid, change, 0.0)
        if n and not np.isfinite(change).all():
            raise ValidationError(
                "a held trade has no price to mark it with (missing closes before its entry); "
                "drop symbols without bars, or repair the data"
            )
        day = rows

        eq_cols: dict[str, np.ndarray] = {}
        ret_cols: dict[str, np.ndarray] = {}
        pos_cols: dict[str, np.ndarray] = {}
        clean_books: dict[str, np.ndarray] = {}
        for name, mask in books.items():
            m = np.asarray(mask, dtype=bool)
            if m.shape != (n,):
                raise ValidationError(
                    f"book {name!r} has a mask of shape {m.shape}; expected ({n},), one per trade"
                )
            clean_books[name] = m
            contrib = (change[m] * weight[m, None])[valid[m]]
            r = np.bincount(day[m][valid[m]], weights=contrib, minlength=n_dates)[:n_dates]
            ret_cols[name] = r
            eq_cols[name] = float(self.initial_equity) * np.cumprod(1.0 + r)
            held_until = np.maximum(exit_[m], entry[m] + 1)
            diff = np.bincount(entry[m], minlength=n_dates + 1)[: n_dates + 1].astype(np.int64)
            diff -= np.bincount(np.minimum(held_until, n_dates), minlength=n_dates + 1)[
                : n_dates + 1
            ]
            pos_cols[name] = np.cumsum(diff)[:n_dates]
        index = dates.rename("date")
        return PortfolioResult(
            equity=pd.DataFrame(eq_cols, index=index),
            daily_returns=pd.DataFrame(ret_cols, index=index),
            open_positions=pd.DataFrame(pos_cols, index=index),
            books=clean_books,
        )
