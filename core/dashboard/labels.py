"""How things read on screen: confidence keys, metrics, books, stages, objectives."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from core import figures
from core.analytics.stats import format_p_value
from core.lifecycle.gates import DEFAULT_GATES

__all__ = [
    "BOOK_NAMES",
    "DEFAULT_GATE_TEXT",
    "KEY_LABELS",
    "METRIC_LABELS",
    "OBJECTIVE_LABELS",
    "STAGE_LABELS",
    "SWEEP_METRICS",
    "fmt_number",
    "format_p_value",
    "readable_p_values",
]


#: How the confidence keys are named on screen.
KEY_LABELS: dict[str, str] = {
    "confidence": "Raw confidence",
    "calibrated_probability": "Calibrated probability",
}

#: Display name and kind of every headline metric (the kind drives the number
#: format): ``count``, ``share`` (a fraction, shown as a percentage), ``pct``
#: (already percent or percentage points) or ``ratio``. Keys of
#: :mod:`core.metrics` and of :func:`book_stats`.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "n_trades": ("Trades", "count"),
    "coverage": ("Coverage", "share"),
    "win_rate": ("Win rate", "share"),
    "mean_return_pct": ("Mean return / trade (%)", "pct"),
    "median_return_pct": ("Median return / trade (%)", "pct"),
    "avg_win_pct": ("Average win (%)", "pct"),
    "avg_loss_pct": ("Average loss (%)", "pct"),
    "expectancy_pct": ("Expectancy / trade (%)", "pct"),
    "sharpe_per_trade": ("Sharpe / trade", "ratio"),
    "sortino_per_trade": ("Sortino / trade", "ratio"),
    "profit_factor": ("Profit factor", "ratio"),
    "sum_return_pct": ("Summed return (%)", "pct"),
    "max_drawdown_pts": ("Max drawdown of summed return (pts)", "pct"),
    "sharpe_daily": ("Sharpe (daily, annualised)", "ratio"),
    "sortino_daily": ("Sortino (daily, annualised)", "ratio"),
    "volatility_daily": ("Volatility (annualised)", "share"),
    "max_drawdown": ("Max drawdown of equity", "share"),
    "exposure": ("Exposure", "share"),
    "total_return": ("Total return of equity", "share"),
    "cagr": ("CAGR", "share"),
    "n_days": ("Days", "count"),
}

#: Row names of a metrics table.
BOOK_NAMES: dict[str, str] = {
    "baseline": "All trades",
    "filtered": "Kept by the threshold",
    "improvement": "Difference (kept − all)",
}

#: How the backtest's stages read in the progress line.
STAGE_LABELS: dict[str, str] = {
    "data": "Loading market data",
    "signals": "Generating ensemble signals",
    "risk": "Applying the threshold and limits",
    "execution": "Filling orders with costs",
    "portfolio": "Building the equity curves",
    "analytics": "Computing metrics",
    "learning": "Recording events",
    "report": "Writing the report",
}

#: Objectives a threshold can be chosen by, as they read on screen.
OBJECTIVE_LABELS: dict[str, str] = {
    "sharpe": "Sharpe per trade",
    "profit_factor": "Profit factor",
    "win_rate": "Win rate",
    "expectancy_x_trades": "Total return (expectancy × trades)",
}

#: Metrics the sweep chart can draw, with their labels.
SWEEP_METRICS: dict[str, str] = {name: m.label for name, m in figures.SWEEP_METRICS.items()}

#: Default promotion gates, as text (one per line).
DEFAULT_GATE_TEXT = "\n".join(str(g) for g in DEFAULT_GATES)


def fmt_number(value: Any, fmt: str = "{:.2f}") -> str:
    """``value`` formatted, or ``"—"`` when it is None or not finite."""
    if value is None or not isinstance(value, int | float) or not math.isfinite(float(value)):
        return "—"
    return fmt.format(value)


def readable_p_values(
    frame: pd.DataFrame, *, columns: tuple[str, ...] = ("p_value",)
) -> pd.DataFrame:
    """A copy of ``frame`` with its p-value columns as text (:func:`format_p_value`:
    ``"< 1e-16"`` below the floor, never ``"0"``)."""
    out = frame.copy()
    for col in columns:
        if col in out:
            out[col] = [format_p_value(p) for p in out[col]]
    return out
