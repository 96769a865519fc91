"""How stable is the threshold choice? Spread of the walk-forward choices and a stable region.

A threshold chosen once, in sample, hides how much the choice moves when the
data change. :func:`threshold_stability` reads the per-window choices of
:func:`core.analytics.selection.walk_forward_threshold` and reports:

- the **spread**: each window's threshold, their range and median;
- the **median choice out of sample**: the median of the windows' choices
  applied to every test trade (pooled). The median uses every window's choice,
  so it is a summary of the procedure, not a result tradable at the first
  window (the walk-forward result itself is that);
- the **stable region**: the thresholds whose out-of-sample objective (on the
  pooled test trades) lies within the bootstrap band of the best one. A
  Poisson bootstrap of the trades the best threshold keeps gives the band of
  its objective; any threshold at or above the band's lower end is as good as
  the best within the noise of the data.

Units as :mod:`core.analytics.selection`: thresholds are scores (absolute) or
percentages of trades kept (percentile); returns in percent; Sharpe per trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.analytics.selection import WalkForwardThresholdResult, objective_values
from core.analytics.sweep import _check_thresholds, kept_mask, sweep_arrays
from core.errors import ConfigError, InsufficientDataError
from core.jsonsafe import json_safe
from core.metrics import sharpe_ratio
from core.trades import validate_trades

__all__ = ["ThresholdStability", "threshold_stability", "weighted_objective"]


@dataclass(frozen=True)
class ThresholdStability:
    """The spread of the walk-forward threshold choices and the stable region.

    Attributes
    ----------
    key, mode, objective : str
    window_thresholds : tuple of float
        The threshold each test window was traded at (chosen on earlier trades).
    low, high, median : float
        Range and median of ``window_thresholds``.
    spread : float
        ``high - low``.
    median_oos : dict
        The median choice on the pooled test trades: ``trades``, ``win_rate``,
        ``mean_return`` (%), ``sharpe`` (per trade), ``objective``.
    best_threshold : float
        The threshold with the best objective on the pooled test trades (among
        those keeping ``min_trades``).
    best_value, band_low, band_high : float
        Its objective and the bootstrap band (``level``) of that objective.
    stable_thresholds : tuple of float
        Grid thresholds (keeping ``min_trades``) whose out-of-sample objective
        is at least ``band_low``.
    stable_low, stable_high : float
        Their range.
    n_oos_trades : int
        Pooled test trades.
    level : float
    n_boot : int
    """

    key: str
    mode: str
    objective: str
    window_thresholds: tuple[float, ...]
    low: float
    high: float
    median: float
    spread: float
    median_oos: dict[str, float]
    best_threshold: float
    best_value: float
    band_low: float
    band_high: float
    stable_thresholds: tuple[float, ...]
    stable_low: float
    stable_high: float
    n_oos_trades: int
    level: float
    n_boot: int

    @property
    def median_in_stable_region(self) -> bool:
        """Whether the median choice lies inside the stable region's range."""
        return bool(self.stable_low <= self.median <= self.stable_high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples as lists)."""
        out = dict(self.__dict__)
        out["window_thresholds"] = list(self.window_thresholds)
        out["stable_thresholds"] = list(self.stable_thresholds)
        out["median_in_stable_region"] = self.median_in_stable_region
        return json_safe(out)


def weighted_objective(returns: np.ndarray, weights: np.ndarray, objective: str) -> np.ndarray:
    """Objective of one book of trade returns under each row of bootstrap ``weights``.

    Parameters
    ----------
    returns : ndarray, shape (n,)
        Trade returns in percent.
    weights : ndarray, shape (b, n)
        Non-negative weights (e.g. Poisson(1) counts) per replicate.
    objective : {"sharpe", "profit_factor", "win_rate", "expectancy_x_trades"}

    Returns
    -------
    ndarray, shape (b,)
        NaN where a replicate keeps fewer than 2 trades (Sharpe) or none.
    """
    r = np.asarray(returns, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if objective == "expectancy_x_trades":
            return w @ r
        if objective == "win_rate":
            return np.where(total > 0, w @ (r > 0).astype(np.float64) / total, np.nan)
        if objective == "profit_factor":
            gains = w @ np.where(r > 0, r, 0.0)
            losses = -(w @ np.where(r < 0, r, 0.0))
            return np.where(losses > 0, gains / losses, np.where(gains > 0, np.inf, np.nan))
        if objective == "sharpe":
            mean = (w @ r) / total
            var = (w @ r**2 - total * mean**2) / (total - 1.0)
            std = np.sqrt(np.maximum(var, 0.0))
            return np.where(total >= 2, sharpe_ratio(mean, std), np.nan)
    raise ConfigError(
        "objective must be one of sharpe, profit_factor, win_rate, expectancy_x_trades; "
        f"got {objective!r}"
    )


def threshold_stability(
    trades: pd.DataFrame,
    walk: WalkForwardThresholdResult,
    *,
    thresholds: np.ndarray | list[float] | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> ThresholdStability:
    """Spread of the walk-forward choices, the median choice out of sample, the stable region.

    Parameters
    ----------
    trades : DataFrame
        The trades ``walk`` was computed on (``walk.key``, ``return_pct``,
        ``win``, ``entry_time``).
    walk : WalkForwardThresholdResult
        Its key, mode, objective, ``min_trades`` and ``cost_bps`` are used.
    thresholds : array_like, optional
        Grid of the stable region (default: the sweep's default grid).
    n_boot : int, default 200
        Poisson bootstrap replicates of the best threshold's objective.
    level : float, default 0.95
        Two-sided level of the band.
    seed : int, default 0

    Returns
    -------
    ThresholdStability

    Raises
    ------
    InsufficientDataError
        No window was traded, or no threshold keeps ``min_trades`` pooled test
        trades.
    ConfigError
        Bad ``n_boot`` or ``level``.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 20:
        raise ConfigError(f"n_boot must be an integer >= 20, got {n_boot!r}; use 200")
    if not isinstance(level, int | float) or not 0.5 <= float(level) < 1.0:
        raise ConfigError(f"level must lie in [0.5, 1), got {level!r}; use 0.95")
    chosen = walk.windows["threshold"].to_numpy(dtype=np.float64)
    chosen = chosen[np.isfinite(chosen)]
    if chosen.size == 0:
        raise InsufficientDataError(
            "no walk-forward window chose a threshold; use fewer windows or a lower min_trades"
        )
    key, mode, objective = walk.key, walk.mode, walk.objective
    first_test = pd.Timestamp(walk.windows["test_start"].min())
    entry = pd.to_datetime(trades["entry_time"], utc=True)
    in_test = (entry >= first_test).to_numpy() & trades[key].notna().to_numpy()
    n_oos = int(np.count_nonzero(in_test))
    if n_oos < walk.min_trades:
        raise InsufficientDataError(
            f"{n_oos} test trades with a {key}; need {walk.min_trades} (min_trades)"
        )
    # Only the numeric columns the figures need, validated once; the rest of the frame
    # (its text columns) is never copied.
    needed = list(dict.fromkeys((key, "return_pct", "win")))
    columns = trades[needed] if trades.columns.isin(needed).sum() == len(needed) else trades
    oos = validate_trades(columns.loc[in_test], key=key)  # a missing column raises here
    score = oos[key].to_numpy(dtype=np.float64)
    cost = walk.cost_bps / 100.0
    ret = oos["return_pct"].to_numpy(dtype=np.float64) - cost

    median = float(np.median(chosen))
    r = ret[kept_mask(score, median, mode)]
    one = np.ones((1, r.size))
    median_oos = {
        "threshold": median,
        "trades": float(r.size),
        "win_rate": float(np.mean(r > 0)) if r.size else float("nan"),
        "mean_return": float(np.mean(r)) if r.size else float("nan"),
        "sharpe": float(weighted_objective(r, one, "sharpe")[0]) if r.size else float("nan"),
        "objective": float(weighted_objective(r, one, objective)[0]) if r.size else float("nan"),
    }

    grid = _check_thresholds(thresholds, mode)
    sweep = sweep_arrays(score, ret, grid, key=key, mode=mode, cost_bps=walk.cost_bps)
    table = sweep.table
    values = objective_values(table, objective).astype(np.float64)
    eligible = (table["trades"].to_numpy() >= walk.min_trades) & ~np.isnan(values)
    if not eligible.any():
        raise InsufficientDataError(
            f"no threshold keeps {walk.min_trades} of the {len(oos)} pooled test trades"
        )
    best = int(np.flatnonzero(eligible)[np.argmax(values[eligible])])
    rb = ret[kept_mask(score, float(grid[best]), mode)]
    rng = np.random.default_rng(seed)
    boot = weighted_objective(rb, rng.poisson(1.0, size=(n_boot, rb.size)), objective)
    boot = boot[~np.isnan(boot)]
    alpha = (1.0 - float(level)) / 2.0
    band_low, band_high = (
        (float(np.quantile(boot, alpha)), float(np.quantile(boot, 1.0 - alpha)))
        if boot.size
        else (float(values[best]), float(values[best]))
    )
    stable = grid[eligible & (values >= band_low)]
    return ThresholdStability(
        key=key,
        mode=mode,
        objective=objective,
        window_thresholds=tuple(float(x) for x in walk.windows["threshold"]),
        low=float(chosen.min()),
        high=float(chosen.max()),
        median=median,
        spread=float(chosen.max() - chosen.min()),
        median_oos=median_oos,
        best_threshold=float(grid[best]),
        best_value=float(values[best]),
        band_low=band_low,
        band_high=band_high,
        stable_thresholds=tuple(float(x) for x in stable),
        stable_low=float(stable.min()),
        stable_high=float(stable.max()),
        n_oos_trades=n_oos,
        level=float(level),
        n_boot=n_boot,
    )
