"""The Calibration page: is the score informative and calibrated; calibrators compared."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core import figures
from core.analytics.calibrators import CALIBRATION_METHODS
from core.analytics.confidence import BinTable
from core.analytics.report import ConfidenceAnalysis, analyze_run, calibrator_curves
from core.analytics.walkforward import WalkForwardResult
from core.errors import ValidationError
from core.trades import validate_trades

__all__ = [
    "BIN_TABLE_FORMATS",
    "CALIBRATION_METHODS",
    "CalibrationView",
    "CalibratorComparison",
    "bin_table_display",
    "calibration_view",
    "compare_calibrators",
]


@dataclass(frozen=True, eq=False)
class CalibrationView:
    """The Calibration page's top half: the analysis and its figures."""

    analysis: ConfidenceAnalysis
    reliability: go.Figure
    deciles: go.Figure
    over_time: go.Figure


def calibration_view(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> CalibrationView:
    """Is the score informative, and is it calibrated?

    :func:`core.analytics.report.analyze_run` (summary, correlations with
    intervals, decile and fixed-bin tables, reliability curve, ECE with its
    bootstrap interval, MCE, Brier, log loss) and the figures of
    :mod:`core.figures` drawn from it.
    """
    analysis = analyze_run(trades, key=key, n_bins=n_bins, reliability_strategy=strategy)
    usable = validate_trades(trades, key=key)
    return CalibrationView(
        analysis=analysis,
        reliability=figures.reliability_diagram(
            analysis.reliability, histogram_of=usable[key].to_numpy(dtype=np.float64), key=key
        ),
        deciles=figures.decile_bars(analysis.deciles),
        over_time=figures.confidence_over_time(usable, key=key),
    )


#: Display title and number format of the bin-table columns shown (shares in %).
BIN_TABLE_FORMATS: dict[str, tuple[str, str]] = {
    "bin_low": ("From", "%.3f"),
    "bin_high": ("To", "%.3f"),
    "count": ("Trades", "%d"),
    "share": ("Share (%)", "%.1f"),
    "conf_mean": ("Mean score", "%.3f"),
    "win_rate": ("Win rate (%)", "%.1f"),
    "win_low": ("Win low (%)", "%.1f"),
    "win_high": ("Win high (%)", "%.1f"),
    "mean_return": ("Mean return (%)", "%.3f"),
    "mean_return_low": ("Mean low (%)", "%.3f"),
    "mean_return_high": ("Mean high (%)", "%.3f"),
    "median_return": ("Median return (%)", "%.3f"),
    "profit_factor": ("Profit factor", "%.2f"),
    "sharpe": ("Sharpe / trade", "%.3f"),
}
_BIN_SHARES = ("share", "win_rate", "win_low", "win_high")


def bin_table_display(table: BinTable) -> pd.DataFrame:
    """The columns of a bin table worth reading, shares as percentages."""
    frame = table.table[[c for c in BIN_TABLE_FORMATS if c in table.table]].copy()
    for col in _BIN_SHARES:
        if col in frame:
            frame[col] = frame[col] * 100.0
    return frame


@dataclass(frozen=True, eq=False)
class CalibratorComparison:
    """Calibrators fitted walk-forward and scored out of sample, side by side.

    Attributes
    ----------
    results : dict of str to WalkForwardResult
    table : DataFrame
        One row per (method, sample): ``method``, ``sample`` (``raw``,
        ``in_sample``, ``out_of_sample``), ``n``, ``ece``, ``mce``, ``brier``,
        ``log_loss``.
    figure : Figure
        Out-of-sample reliability of each method against the raw score.
    best : str or None
        Method with the lowest out-of-sample Brier score.
    """

    results: dict[str, WalkForwardResult]
    table: pd.DataFrame
    figure: go.Figure
    best: str | None


def compare_calibrators(
    trades: pd.DataFrame,
    *,
    methods: Sequence[str] = ("platt", "isotonic"),
    n_windows: int = 8,
    min_train: int = 200,
    n_bins: int = 10,
) -> CalibratorComparison:
    """Fit each calibrator walk-forward on the raw confidence and compare them.

    Calls :func:`core.analytics.report.calibrator_curves` and draws
    :func:`core.figures.calibrator_comparison`. ``in_sample`` rows score a
    calibrator fitted on every trade on those same trades (optimistic);
    ``out_of_sample`` rows the walk-forward predictions.

    Raises
    ------
    ValidationError
        No method chosen.
    InsufficientDataError
        No method could be fitted (too little history for ``min_train``).
    """
    if not methods:
        raise ValidationError("choose at least one calibration method to compare")
    curves, results = calibrator_curves(
        trades, methods=tuple(methods), n_windows=n_windows, min_train=min_train, n_bins=n_bins
    )
    rows = []
    for method, res in results.items():
        for sample, m in (
            ("raw", res.raw),
            ("in_sample", res.in_sample),
            ("out_of_sample", res.out_of_sample),
        ):
            if m is not None:
                rows.append({"method": method, "sample": sample, "n": m.n, "ece": m.ece,
                             "mce": m.mce, "brier": m.brier, "log_loss": m.log_loss})  # fmt: skip
    table = pd.DataFrame(rows, columns=["method", "sample", "n", "ece", "mce", "brier", "log_loss"])
    oos = table[table["sample"] == "out_of_sample"]
    best = str(oos.loc[oos["brier"].idxmin(), "method"]) if len(oos) else None
    return CalibratorComparison(
        results=results,
        table=table,
        figure=figures.calibrator_comparison(
            curves, title="Calibrators compared out of sample (walk-forward)"
        ),
        best=best,
    )
