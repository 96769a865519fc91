"""Option choices of the ``signal-lab`` parser whose engine home is slow to import.

Building the parser (``--help``, argument errors, and every command before its
handler runs) must not import scikit-learn, SciPy, plotly or jinja2: an import of a
signal log would pay a second or more of start-up for nothing. The engine modules
that own these constants import them at module level, so the parser keeps copies
here, and ``tests/test_cli_startup.py`` asserts each copy equals the engine's
constant (they cannot drift apart). Constants with a light home (``core.trades``,
``core.store.registry``, ``core.importer``) are imported from it instead.
"""

from __future__ import annotations

__all__ = [
    "CALIBRATION_METHODS",
    "DEFAULT_THRESHOLD",
    "EVALUATION_METRICS",
    "KEY_ALIASES",
    "KEY_CHOICES",
    "OBJECTIVES",
    "REPORT_FORMATS",
    "SEGMENTS",
    "SIZING_METHODS",
    "SOURCES",
]

#: :data:`core.analytics.calibrators.CALIBRATION_METHODS` (imports scikit-learn).
CALIBRATION_METHODS: tuple[str, ...] = ("platt", "isotonic", "beta", "histogram")

#: :data:`core.analytics.selection.OBJECTIVES` (imports SciPy).
OBJECTIVES: tuple[str, ...] = ("sharpe", "profit_factor", "win_rate", "expectancy_x_trades")

#: :data:`core.reports.html_report.REPORT_FORMATS` (imports jinja2 and plotly).
REPORT_FORMATS: tuple[str, ...] = ("html", "json", "csv")

#: :data:`core.reports.keys.KEY_CHOICES` (imports scikit-learn).
KEY_CHOICES: tuple[str, ...] = ("raw", "platt", "isotonic", "beta", "histogram", "production")

#: :data:`core.reports.keys.KEY_ALIASES`: old key names, the score column names.
KEY_ALIASES: dict[str, str] = {"confidence": "raw", "calibrated_probability": "isotonic"}

#: :data:`core.data.market.SOURCES` (the ``core.data`` package imports SciPy).
SOURCES: tuple[str, ...] = (
    "sample",
    "csv",
    "parquet",
    "synthetic",
    "yfinance",
    "extended",
    "extended-close-only",
)

#: :data:`core.engines.risk.SIZING_METHODS` (the ``core.engines`` package imports the
#: learning engine).
SIZING_METHODS: tuple[str, ...] = ("fixed", "volatility")

#: :data:`core.backtest.DEFAULT_THRESHOLD`: the filtered book's confidence threshold.
DEFAULT_THRESHOLD: float = 0.6

#: The names of :data:`core.lifecycle.gates.EVALUATION_METRICS`, in its order (imports
#: scikit-learn).
EVALUATION_METRICS: tuple[str, ...] = (
    "n_trades",
    "brier",
    "ece",
    "ece_upper",
    "mce",
    "log_loss",
    "baseline_brier",
    "baseline_ece",
    "production_brier",
    "production_ece",
    "brier_gain_vs_baseline",
    "brier_gain_vs_production",
    "ece_gain_vs_baseline",
    "threshold",
    "threshold_trades",
    "threshold_sharpe",
    "dsr",
)

#: The names of :data:`core.decisions.SEGMENTS`, in its order (imports plotly, SciPy and
#: scikit-learn).
SEGMENTS: tuple[str, ...] = ("volatility", "symbol", "side", "num_agreeing_models", "year")
