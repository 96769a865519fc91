"""The trades frame: the one shape every analysis reads.

One row per entry signal joined to its outcome. Backtests and imported signal
logs both produce it (``Store.trades_frame(run_id)``), so every analysis and
page works on both.

Columns (dtype; meaning):

================================  ====================================================
``signal_id``                     str; unique within its run
``run_id``                        str
``entry_time``                    datetime64[ns, UTC]; when the signal was generated
                                  (market time of the signal bar's close)
``exit_time``                     datetime64[ns, UTC]; NaT when unknown (imports)
``symbol``                        str
``side``                          int8; +1 long, -1 short
``confidence``                    float64 in [0, 1]; the model's raw confidence
``calibrated_probability``        float64 in [0, 1] or NaN where no calibrator applied
``num_agreeing_models``           float64 (NaN when unknown)
``market_volatility``             float64; annualised volatility at the signal, a
                                  fraction (0.2 = 20 %), NaN when unknown
``signal_strength``               float64 (NaN when unknown)
``holding_days``                  float64; bars held (NaN when unknown)
``applied_threshold``             float64; the threshold in force in the run (NaN: none)
``return_pct``                    float64; the trade's return *net of costs*, in
                                  percent (1.5 means +1.5 %), signed for the side
``win``                           bool; ``return_pct > 0``
any other float64 column          an extra feature (from imports)
================================  ====================================================

The frame is sorted by ``entry_time`` then ``signal_id`` (time order: what
walk-forward code relies on).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from core.columns import COLUMNS, TRADES_COLUMNS, Column, Kind
from core.errors import InsufficientDataError, TradesFrameError

__all__ = [
    "CONFIDENCE_KEYS",
    "CORE_COLUMNS",
    "FEATURE_COLUMNS",
    "confidence_keys",
    "empty_trades_frame",
    "feature_columns",
    "validate_trades",
]

#: Columns every trades frame has, in this order (from :data:`core.columns.TRADES_COLUMNS`).
CORE_COLUMNS: tuple[str, ...] = tuple(c.name for c in TRADES_COLUMNS)

#: The standard features of a signal (used as covariates, not as scores).
FEATURE_COLUMNS: tuple[str, ...] = (
    "num_agreeing_models",
    "market_volatility",
    "signal_strength",
    "holding_days",
)

#: Columns that hold a score in [0, 1] a threshold can be applied to.
CONFIDENCE_KEYS: tuple[str, ...] = ("confidence", "calibrated_probability")


def empty_trades_frame() -> pd.DataFrame:
    """A trades frame with no rows and the right dtypes."""
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in TRADES_COLUMNS})


def confidence_keys(trades: pd.DataFrame) -> list[str]:
    """The confidence keys present in ``trades`` with at least one value."""
    return [k for k in CONFIDENCE_KEYS if k in trades and trades[k].notna().any()]


def feature_columns(trades: pd.DataFrame) -> list[str]:
    """Standard and extra feature columns present in ``trades``."""
    extra = [c for c in trades.columns if c not in CORE_COLUMNS]
    return [c for c in FEATURE_COLUMNS if c in trades] + extra


def validate_trades(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    min_rows: int = 1,
    columns: Iterable[str] = ("return_pct", "win"),
) -> pd.DataFrame:
    """Check a trades frame before analysis and return the usable rows.

    Rows where the score ``key`` is NaN are dropped (a calibrated probability
    is NaN before a calibrator has enough history); everything else that is
    wrong raises.

    Parameters
    ----------
    trades : DataFrame
        A trades frame (see the module docstring).
    key : str, default "confidence"
        The score column to analyse; its values must lie in [0, 1].
    min_rows : int, default 1
        Fewest usable rows the caller needs.
    columns : iterable of str
        Other columns that must be present and finite.

    Returns
    -------
    DataFrame
        ``trades`` restricted to the rows with a score (a view-free copy is not
        made; do not mutate it).

    Raises
    ------
    TradesFrameError
        A column is missing, a score is outside [0, 1], a return is NaN or
        infinite, or ``win`` contradicts the sign of ``return_pct``.
    InsufficientDataError
        Fewer than ``min_rows`` rows have a score.
    """
    if not isinstance(trades, pd.DataFrame):
        raise TradesFrameError(
            f"trades must be a pandas DataFrame, got {type(trades).__name__}; "
            "load one with Store.trades_frame(run_id)"
        )
    needed = [key, *columns]
    missing = [c for c in needed if c not in trades.columns]
    if missing:
        raise TradesFrameError(
            f"trades frame has no column {', '.join(map(repr, missing))}; "
            f"columns present: {', '.join(map(str, trades.columns))}"
        )
    score = trades[key].to_numpy(dtype=np.float64, na_value=np.nan)
    # One reduction each instead of a mask per check: min is NaN when a score is
    # NaN, and values lie within bounds when their extremes do.
    has_nan = score.size > 0 and np.isnan(score.min())
    usable = trades.loc[~np.isnan(score)] if has_nan else trades
    if len(usable) < min_rows:
        raise InsufficientDataError(
            f"{len(usable)} trade(s) have a {key!r} value but at least {min_rows} are "
            f"needed; run a longer backtest or pick another confidence key"
        )
    score_column = COLUMNS.get(key)
    if score_column is None or score_column.kind is not Kind.FLOAT:
        score_column = Column(key, Kind.FLOAT, low=0.0, high=1.0)  # any other score: [0, 1]
    values = usable[key].to_numpy(dtype=np.float64)
    extremes = np.array([values.min(), values.max()]) if values.size else values
    if score_column.out_of_bounds(extremes).any():
        bad = np.flatnonzero(score_column.out_of_bounds(values))
        i = bad[0]
        raise TradesFrameError(
            f"{key} must lie in {score_column.bounds}; row {i} ({usable.index[i]!r}) has "
            f"{float(values[i])} ({bad.size} such row(s)); rescale the score to a probability first"
        )
    for column in columns:
        if column == "win":
            continue
        col = usable[column].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(over="ignore", invalid="ignore"):
            total = col.sum()
        if np.isfinite(total):  # a NaN or inf makes the sum so (an overflow is looked at)
            continue
        nonfinite = np.flatnonzero(~np.isfinite(col))
        if nonfinite.size:
            i = nonfinite[0]
            raise TradesFrameError(
                f"{column} must be finite; row {i} ({usable.index[i]!r}) has {float(col[i])} "
                f"({nonfinite.size} such row(s)); drop or repair those trades"
            )
    if "win" in columns and "return_pct" in usable:
        win = usable["win"].to_numpy()
        ret = usable["return_pct"].to_numpy(dtype=np.float64)
        wrong = np.flatnonzero(win.astype(bool) != (ret > 0))
        if wrong.size:
            i = wrong[0]
            raise TradesFrameError(
                f"win contradicts return_pct at row {i} ({usable.index[i]!r}): "
                f"win={bool(win[i])} but return_pct={float(ret[i])}; win must be return_pct > 0"
            )
    return usable
