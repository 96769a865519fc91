"""Performance metrics of a book of trades: one pure function.

:func:`performance_metrics` takes the per-trade returns (percent, net of
costs) and, optionally, the book's daily equity curve and open-position
counts, and returns a frozen :class:`PerformanceMetrics`. Nothing here reads
a store, a config or a global; the same inputs always give the same numbers.

Units
-----
- Trade statistics (``mean_return_pct``, ``median_return_pct``,
  ``avg_win_pct``, ``avg_loss_pct``, ``expectancy_pct``) are in **percent**
  per trade, like ``return_pct`` (1.5 = +1.5 %).
- Equity statistics (``total_return``, ``cagr``, ``max_drawdown``,
  ``volatility_daily``) and the rates (``win_rate``, ``exposure``) are
  **fractions** (0.25 = 25 %).
- Ratios (Sharpe, Sortino, profit factor) are unitless.

Definitions that differ between libraries are stated where they are computed
(see :func:`performance_metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ValidationError

__all__ = [
    "DISPERSION_RTOL",
    "HIGHER_IS_BETTER",
    "PerformanceMetrics",
    "improvement",
    "is_win",
    "performance_metrics",
    "profit_factor",
    "return_std",
    "sharpe_ratio",
    "win_rate",
]

#: A standard deviation at or below this fraction of ``|mean|`` counts as zero
#: dispersion. Equal returns that are not representable in binary (0.1, 0.1,
#: 0.1) have a floating-point ``std`` near 1e-17, not 0, and a moment-based
#: variance (sums of squares) carries a relative error near 1e-8; a per-trade
#: Sharpe above a million is numerical noise, not an edge.
DISPERSION_RTOL = 1e-6


# ----------------------------------------------------------------------------
# Kernels: the one definition of each per-trade formula. They take sums, counts
# or moments (scalars or arrays, broadcast together), so a vectorised caller --
# the threshold sweep over suffix sums, its bootstrap, the PBO matrix -- applies
# the same formula as :func:`performance_metrics` without a scalar call per book.


def _out(values: np.ndarray) -> Any:
    """A 0-d result as a Python float, anything else as the array."""
    return float(values) if values.ndim == 0 else values


def is_win(returns_pct: Any) -> np.ndarray:
    """Which trades are wins: ``return_pct > 0`` (a flat trade is not a win).

    Parameters
    ----------
    returns_pct : array_like of float, shape (n,)
        Trade returns, percent.

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    return np.asarray(returns_pct, dtype=np.float64) > 0.0


def win_rate(wins: Any, trades: Any) -> Any:
    """Share of trades won, ``wins / trades``; NaN where there is no trade.

    Parameters
    ----------
    wins, trades : int or ndarray
        Counts of winning trades (:func:`is_win`) and of trades; broadcast together.

    Returns
    -------
    float or ndarray
        A fraction in [0, 1], NaN where ``trades`` is 0.

    Examples
    --------
    >>> win_rate(2, 3)
    0.6666666666666666
    >>> import math; math.isnan(win_rate(0, 0))
    True
    """
    w = np.asarray(wins, dtype=np.float64)
    n = np.asarray(trades, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(np.where(n > 0, w / np.where(n > 0, n, 1.0), np.nan))


def profit_factor(gains: Any, losses: Any) -> Any:
    """Profit factor ``gains / losses`` from the summed gains and |summed losses|.

    Parameters
    ----------
    gains, losses : float or ndarray
        Sum of the positive returns and minus the sum of the negative returns
        (both >= 0), percent; broadcast together.

    Returns
    -------
    float or ndarray
        ``gains / losses``; ``inf`` where there are gains and no losses (the
        architecture's convention: reported as ``inf`` and flagged, never NaN);
        NaN where there are neither.

    Examples
    --------
    >>> profit_factor(5.0, 1.0), profit_factor(5.0, 0.0)
    (5.0, inf)
    """
    g = np.asarray(gains, dtype=np.float64)
    lo = np.asarray(losses, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(
            np.where(lo > 0, g / np.where(lo > 0, lo, 1.0), np.where(g > 0, np.inf, np.nan))
        )


def return_std(returns_pct: Any) -> float:
    """Sample standard deviation (ddof=1) of trade returns, percent.

    Parameters
    ----------
    returns_pct : array_like of float, shape (n,)

    Returns
    -------
    float
        NaN with fewer than two trades (a dispersion needs two); exactly 0 when
        every return is the same (floating point would leave ~1e-17 for 0.1,
        0.1, 0.1), as the threshold sweep reports it.
    """
    r = np.asarray(returns_pct, dtype=np.float64)
    if r.size < 2:
        return math.nan
    std = float(r.std(ddof=1))
    # Only a near-zero std can come from equal returns: test those exactly.
    if std <= DISPERSION_RTOL * abs(float(r[0])) + np.finfo(np.float64).tiny and np.ptp(r) == 0:
        return 0.0
    return std


def sharpe_ratio(mean: Any, std: Any) -> Any:
    """Per-trade Sharpe ``mean / std``: the one kernel every caller shares.

    Also the per-period kernel of the daily Sharpe (before annualising) and of
    the bootstrap and PBO Sharpe ratios computed from moments.

    Parameters
    ----------
    mean, std : float or ndarray
        Mean and standard deviation (ddof=1) of trade (or period) returns, in
        the same unit; broadcast together.

    Returns
    -------
    float or ndarray
        ``mean / std``; NaN where ``std`` is NaN, not positive, or at most
        :data:`DISPERSION_RTOL` ``* |mean|`` (zero dispersion: undefined).

    Examples
    --------
    >>> sharpe_ratio(1.0, 2.0)
    0.5
    >>> import math; math.isnan(sharpe_ratio(0.1, 1.3877787807814457e-17))
    True
    """
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(std, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(s) & (s > 0) & (s > DISPERSION_RTOL * np.abs(m))
        return _out(np.where(ok, m / np.where(ok, s, 1.0), np.nan))


@dataclass(frozen=True)
class PerformanceMetrics:
    """Performance of one book (see :func:`performance_metrics` for definitions).

    Attributes
    ----------
    n_trades : int
        Trades in the book.
    win_rate : float
        Share of trades with ``return_pct > 0`` (a flat trade is not a win),
        a fraction; NaN without trades.
    mean_return_pct, median_return_pct : float
        Mean and median trade return, percent.
    avg_win_pct, avg_loss_pct : float
        Mean return of the winning / non-winning trades, percent (NaN when
        there are none).
    expectancy_pct : float
        ``win_rate * avg_win_pct + (1 - win_rate) * avg_loss_pct``, percent per
        trade (equal to the mean return by construction; reported under the
        name traders look for).
    sharpe_per_trade : float
        ``mean / std(ddof=1)`` of trade returns, *not annualised*.
    sortino_per_trade : float
        ``mean / sqrt(mean(min(r, 0)^2))`` of trade returns, not annualised.
    profit_factor : float
        Sum of gains / |sum of losses|; ``inf`` when there are gains and no
        losses (flagged in ``notes``), NaN without any non-zero trade.
    sharpe_daily, sortino_daily : float
        Of the daily equity returns, annualised by ``sqrt(periods_per_year)``.
    volatility_daily : float
        Standard deviation (ddof=1) of daily equity returns, annualised, a fraction.
    max_drawdown : float
        Largest peak-to-trough fall of equity, a positive fraction (0.2 = 20 %
        below the running peak); 0 when equity never falls.
    exposure : float
        Share of days with at least one position open at the close.
    total_return : float
        ``equity[-1] / equity[0] - 1``, a fraction.
    cagr : float
        Compound annual growth rate, a fraction.
    n_days : int
        Daily equity observations (0 without an equity curve).
    notes : tuple of str
        Flags for values that need a word of explanation (an infinite profit
        factor, a degenerate Sharpe).
    """

    n_trades: int
    win_rate: float
    mean_return_pct: float
    median_return_pct: float
    avg_win_pct: float
    avg_loss_pct: float
    expectancy_pct: float
    sharpe_per_trade: float
    sortino_per_trade: float
    profit_factor: float
    sharpe_daily: float
    sortino_daily: float
    volatility_daily: float
    max_drawdown: float
    exposure: float
    total_return: float
    cagr: float
    n_days: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``notes`` as a list; inf/NaN kept as floats)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["notes"] = list(self.notes)
        return out

    def numeric(self) -> dict[str, float]:
        """Every numeric metric (``notes`` left out), as floats."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self) if f.name != "notes"}


#: Whether a larger value of each metric is better (``max_drawdown``,
#: ``volatility_daily``: smaller is better; counts are neutral and absent).
HIGHER_IS_BETTER: Mapping[str, bool] = {
    "win_rate": True,
    "mean_return_pct": True,
    "median_return_pct": True,
    "avg_win_pct": True,
    "avg_loss_pct": True,
    "expectancy_pct": True,
    "sharpe_per_trade": True,
    "sortino_per_trade": True,
    "profit_factor": True,
    "sharpe_daily": True,
    "sortino_daily": True,
    "volatility_daily": False,
    "max_drawdown": False,
    "exposure": True,
    "total_return": True,
    "cagr": True,
}


def _as_returns(trade_returns_pct: Any) -> np.ndarray:
    if isinstance(trade_returns_pct, pd.Series | pd.Index):
        values = trade_returns_pct.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            values = np.asarray(trade_returns_pct, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError(
                "trade_returns_pct must be numbers (percent per trade), got "
                f"{type(trade_returns_pct).__name__}; pass trades['return_pct']"
            ) from None
    if values.ndim != 1:
        raise ValidationError(
            f"trade_returns_pct must be one-dimensional, got shape {values.shape}; "
            "pass one column of returns"
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValidationError(
            f"trade_returns_pct must be finite; position {bad[0]} holds {values[bad[0]]!r} "
            f"({bad.size} such value(s)); drop trades without an outcome first"
        )
    return values


def _as_equity(equity: Any) -> np.ndarray:
    values = (
        equity.to_numpy(dtype=np.float64, na_value=np.nan)
        if isinstance(equity, pd.Series)
        else np.asarray(equity, dtype=np.float64)
    )
    if values.ndim != 1:
        raise ValidationError(
            f"equity must be one-dimensional (one value per day), got shape {values.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        raise ValidationError(
            f"equity must be finite and positive; day {bad[0]} holds {values[bad[0]]!r} "
            f"({bad.size} such value(s)); reduce the position size if the book was ruined"
        )
    return values


def _ratio(num: float, den: float) -> float:
    """``num / den`` or NaN when the denominator is zero or undefined."""
    if not math.isfinite(den) or den == 0.0 or not math.isfinite(num):
        return math.nan
    return num / den


def _downside_deviation(r: np.ndarray) -> float:
    """``sqrt(mean(min(r, 0)^2))`` over *all* observations (empyrical's definition)."""
    neg = np.minimum(r, 0.0)
    return float(np.sqrt(np.mean(neg * neg))) if r.size else math.nan


def performance_metrics(
    trade_returns_pct: Any,
    equity: pd.Series | np.ndarray | None = None,
    *,
    open_positions: pd.Series | np.ndarray | None = None,
    periods_per_year: int = 252,
) -> PerformanceMetrics:
    """Trade and equity statistics of one book.

    Parameters
    ----------
    trade_returns_pct : array_like of float, shape (n_trades,)
        Each trade's return net of costs, in percent (1.5 = +1.5 %), signed for
        the side. May be empty.
    equity : Series or ndarray of float, shape (n_days,), optional
        Daily equity (any positive starting value, usually 1.0 on the first
        day, before any trade). Without it the equity statistics are NaN.
    open_positions : Series or ndarray of int, shape (n_days,), optional
        Positions open at each day's close, aligned with ``equity``; gives
        ``exposure`` (NaN when not given).
    periods_per_year : int, default 252
        Daily observations per year, for annualising.

    Returns
    -------
    PerformanceMetrics

    Raises
    ------
    ValidationError
        Returns not finite or not one-dimensional; equity not finite or not
        positive; ``open_positions`` not aligned with ``equity``.

    Notes
    -----
    Two Sharpe ratios, because they answer different questions:

    - ``sharpe_per_trade = mean(r) / std(r, ddof=1)`` of the trade returns, not
      annualised (the project convention): trades overlap and have no fixed
      frequency, so there is no honest annualisation factor. It is the
      statistic the threshold sweep and the deflated Sharpe work with.
    - ``sharpe_daily = mean(d) / std(d, ddof=1) * sqrt(periods_per_year)`` of
      the daily equity returns ``d`` (flat days included, zero risk-free rate),
      as empyrical's ``sharpe_ratio`` computes it: the book's risk-adjusted
      return per year, which is what an allocator compares.

    Sortino uses empyrical's downside deviation,
    ``DD = sqrt(mean(min(r, 0)^2))`` averaged over *all* observations (not only
    the losing ones) with a zero target; ``sortino_daily = mean(d) / DD(d) *
    sqrt(periods_per_year)``, ``sortino_per_trade = mean(r) / DD(r)``. When
    there is no downside at all the ratio is NaN (undefined), not inf.

    ``max_drawdown`` is reported as a positive fraction (empyrical reports the
    same number negated). ``cagr = (equity[-1] / equity[0]) ** (ppy / (n_days -
    1)) - 1``: the first equity value is the starting capital, so ``n_days - 1``
    daily returns span the period.

    Degenerate inputs give NaN, never an exception: no trades, a single trade
    (no standard deviation), zero dispersion. ``profit_factor`` is ``inf`` with
    a note when there are gains and no losses, as the architecture requires.

    References
    ----------
    W. F. Sharpe, "The Sharpe Ratio", Journal of Portfolio Management 21 (1994) 49-58.
    F. A. Sortino and L. N. Price, "Performance measurement in a downside risk
    framework", Journal of Investing 3 (1994) 59-64.

    Examples
    --------
    >>> m = performance_metrics([2.0, -1.0, 3.0])
    >>> m.win_rate, m.mean_return_pct, m.profit_factor
    (0.6666666666666666, 1.3333333333333333, 5.0)
    """
    r = _as_returns(trade_returns_pct)
    notes: list[str] = []
    n = int(r.size)

    if n:
        wins = is_win(r)
        n_wins = int(np.count_nonzero(wins))
        win_frac = win_rate(n_wins, n)
        mean = float(r.mean())
        median = float(np.median(r))
        gains = float(r[wins].sum())
        avg_win = gains / n_wins if n_wins else math.nan
        avg_loss = float(r[~wins].sum()) / (n - n_wins) if n_wins < n else math.nan
        expectancy = win_frac * (avg_win if n_wins else 0.0) + (1.0 - win_frac) * (
            avg_loss if n_wins < n else 0.0
        )
        sharpe_trade = sharpe_ratio(mean, return_std(r))
        if n > 1 and math.isnan(sharpe_trade):
            notes.append("sharpe_per_trade is NaN: every trade returned the same")
        sortino_trade = _ratio(mean, _downside_deviation(r))
        pf = profit_factor(gains, float(-r[r < 0].sum()))
        if math.isinf(pf):
            notes.append("profit_factor is inf: no losing trades")
    else:
        win_frac = mean = median = avg_win = avg_loss = expectancy = math.nan
        sharpe_trade = sortino_trade = pf = math.nan
        notes.append("no trades")

    sharpe_day = sortino_day = vol_day = mdd = total = cagr = exposure = math.nan
    n_days = 0
    if equity is not None:
        eq = _as_equity(equity)
        n_days = int(eq.size)
        if n_days >= 1:
            total = float(eq[-1] / eq[0] - 1.0)
            peak = np.maximum.accumulate(eq)
            mdd = float(np.max(1.0 - eq / peak))
        if n_days >= 2:
            d = eq[1:] / eq[:-1] - 1.0
            years = (n_days - 1) / periods_per_year
            cagr = float((eq[-1] / eq[0]) ** (1.0 / years) - 1.0)
            if d.size > 1:
                sd = float(d.std(ddof=1))
                vol_day = sd * math.sqrt(periods_per_year)
                sharpe_day = sharpe_ratio(float(d.mean()), sd) * math.sqrt(periods_per_year)
                sortino_day = _ratio(float(d.mean()), _downside_deviation(d)) * math.sqrt(
                    periods_per_year
                )
        if open_positions is not None:
            pos = np.asarray(open_positions, dtype=np.float64)
            if pos.shape != eq.shape:
                raise ValidationError(
                    f"open_positions has shape {pos.shape} but equity has {eq.shape}; "
                    "pass one count per equity day"
                )
            exposure = float(np.mean(pos > 0)) if pos.size else math.nan
    elif open_positions is not None:
        pos = np.asarray(open_positions, dtype=np.float64)
        exposure = float(np.mean(pos > 0)) if pos.size else math.nan

    return PerformanceMetrics(
        n_trades=n,
        win_rate=win_frac,
        mean_return_pct=mean,
        median_return_pct=median,
        avg_win_pct=avg_win,
        avg_loss_pct=avg_loss,
        expectancy_pct=expectancy,
        sharpe_per_trade=sharpe_trade,
        sortino_per_trade=sortino_trade,
        profit_factor=pf,
        sharpe_daily=sharpe_day,
        sortino_daily=sortino_day,
        volatility_daily=vol_day,
        max_drawdown=mdd,
        exposure=exposure,
        total_return=total,
        cagr=cagr,
        n_days=n_days,
        notes=tuple(notes),
    )


def improvement(filtered: PerformanceMetrics, baseline: PerformanceMetrics) -> dict[str, float]:
    """Per-metric *difference* ``filtered - baseline``.

    Differences, not ratios, for every metric: ratios blow up or flip sign
    when the baseline is near zero or negative (a Sharpe of -0.01), and the
    difference keeps the metric's unit (percentage points for ``*_pct``,
    fraction points for rates). For ``max_drawdown`` and ``volatility_daily`` a
    *negative* difference is the improvement (see :data:`HIGHER_IS_BETTER`);
    ``n_trades`` and ``n_days`` differences are counts. ``inf - inf`` and
    anything involving NaN are NaN (undefined).

    Returns
    -------
    dict of str to float
        One entry per numeric field of :class:`PerformanceMetrics`.
    """
    a, b = filtered.numeric(), baseline.numeric()
    out: dict[str, float] = {}
    for key, value in a.items():
        other = b[key]
        if math.isinf(value) and math.isinf(other) and (value > 0) == (other > 0):
            out[key] = math.nan
        else:
            out[key] = value - other
    return out
