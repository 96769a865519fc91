"""Trades windows: the validated, time-ordered arrays every check works on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ConfigError, InsufficientDataError
from core.trades import validate_trades

DEFAULT_MIN_TRADES = 30


@dataclass(frozen=True)
class _Window:
    conf: np.ndarray
    win: np.ndarray
    ret: np.ndarray
    times: pd.DatetimeIndex | None  # entry times (UTC), in order

    @property
    def n(self) -> int:
        return self.conf.size


def _window(trades: pd.DataFrame, *, key: str, min_trades: int, label: str) -> _Window:
    try:
        usable = validate_trades(trades, key=key, min_rows=min_trades)
    except InsufficientDataError as exc:
        raise InsufficientDataError(f"{label} window: {exc}") from None
    times = None
    if "entry_time" in usable.columns:
        # int64 nanoseconds to order by, never an object array of tz-aware Timestamps
        t = pd.DatetimeIndex(usable["entry_time"])
        if not t.is_monotonic_increasing:
            order = np.argsort(t.asi8, kind="stable")
            usable, t = usable.iloc[order], t[order]
        times = t
    return _Window(
        conf=usable[key].to_numpy(dtype=np.float64),
        win=usable["win"].to_numpy().astype(bool),
        ret=usable["return_pct"].to_numpy(dtype=np.float64),
        times=times,
    )


def _check_min_trades(min_trades: Any) -> int:
    if isinstance(min_trades, bool) or not isinstance(min_trades, (int, np.integer)):
        raise ConfigError(f"min_trades must be an integer >= 2, got {min_trades!r}; use 30")
    if min_trades < 2:
        raise ConfigError(f"min_trades must be an integer >= 2, got {min_trades!r}; use 30")
    return int(min_trades)
