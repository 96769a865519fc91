"""Small private helpers shared by the drift-statistics modules.

JSON-safe floats (:func:`_f`, :func:`_nan`), UTC timestamps (:func:`_time`,
:func:`_iso`) and the per-trade Sharpe ratio (:func:`_sharpe`).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from core.metrics import sharpe_ratio


def _f(value: Any) -> float | None:
    """JSON-safe float: NaN and None become None, infinities stay floats."""
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def _nan(value: Any) -> float:
    """Inverse of :func:`_f` for reading stored figures."""
    return math.nan if value is None else float(value)


def _time(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso(value: pd.Timestamp | None) -> str | None:
    return None if value is None else value.isoformat()


def _sharpe(mean: float, std: float) -> float:
    """Per-trade Sharpe: :func:`core.metrics.sharpe_ratio`, the one shared kernel."""
    return float(sharpe_ratio(mean, std))
