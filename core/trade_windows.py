"""Trades of a time window: selecting them from a frame and loading them from the store.

Sits next to the trades contract (:mod:`core.trades`): the registry, training
jobs and drift monitor all score or summarise "the trades of run R entering in
[start, end)", and this is the one place that selects them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ConfigError, RunNotFoundError, ValidationError
from core.events import to_utc
from core.store import Store

__all__ = ["Window", "load_trades", "trades_in_window", "window_bounds"]

#: A time window ``(start, end)``; either bound may be None; None is every trade.
Window = tuple[Any, Any] | Sequence[Any] | None


def trades_in_window(trades: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Trades whose ``entry_time`` lies in ``[start, end)`` (either bound may be None).

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``entry_time`` (UTC).
    window : (start, end) or None
        Datetime-likes (naive values are UTC); None keeps every trade.
    """
    if window is None:
        return trades
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise ConfigError(
            f"window must be a pair (start, end) of times, either may be None; got {window!r}"
        )
    if "entry_time" not in trades.columns:
        raise ValidationError("trades need an entry_time column to select a time window")
    start, end = window
    mask = np.ones(len(trades), dtype=bool)
    times = trades["entry_time"]
    if start is not None:
        mask &= (times >= to_utc(start, field_name="window start")).to_numpy()
    if end is not None:
        mask &= (times < to_utc(end, field_name="window end")).to_numpy()
    return trades.loc[mask]


def load_trades(store: Store, run_id: str | None, window: Window = None) -> pd.DataFrame:
    """The trades frame of ``run_id`` (the newest completed run when None), in ``window``."""
    if run_id is None:
        run_id = store.latest_run_id()
        if run_id is None:
            raise RunNotFoundError(
                f"no completed run in {store.path}; run a backtest or import a signal log first"
            )
    return trades_in_window(store.trades_frame(run_id), window)


def window_bounds(trades: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last ``entry_time`` of ``trades`` (None, None when there are none)."""
    if "entry_time" not in trades.columns or trades.empty:
        return None, None
    t = trades["entry_time"]
    return t.min(), t.max()
