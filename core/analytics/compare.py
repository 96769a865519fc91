"""Version against version: two probability vectors on the same out-of-sample trades.

Two calibrator versions (or two runs' confidence keys) forecast the *same*
trades. Their ECE, Brier score and log loss are compared with a **paired**
bootstrap: every replicate draws one set of trade indices and scores both
forecasts on it, so the interval of the difference ``B - A`` reflects only the
disagreement between the two, not the luck of the sample they share. With
``block_size > 1`` the draw is a moving-block bootstrap over trades in time
order (overlapping trades are not independent).

All three scores are *lower is better*; a difference ``B - A`` whose interval
lies below 0 means B is better.

The module also holds :func:`moving_block_indices`, the seeded block bootstrap
the other decision analytics (sizing, decay) share.

References
----------
B. Efron and R. J. Tibshirani, An Introduction to the Bootstrap, Chapman &
Hall (1993), ch. 13 (percentile intervals).
H. R. Künsch, "The jackknife and the bootstrap for general stationary
observations", Annals of Statistics 17 (1989) 1217-1241 (moving blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from core.analytics.calibration import (
    ReliabilityCurve,
    assign_bins,
    check_prob_win,
    reliability_curve,
)
from core.analytics.sweep import SweepResult, threshold_sweep
from core.errors import ConfigError, InsufficientDataError, ValidationError
from core.jsonsafe import json_safe

__all__ = [
    "COMPARE_METRICS",
    "VersionComparison",
    "compare_keys",
    "compare_versions",
    "moving_block_indices",
]

#: Scores compared, all lower-is-better.
COMPARE_METRICS: tuple[str, ...] = ("ece", "brier", "log_loss")

_EPS = 1e-15


def _check_int(name: str, value: Any, low: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}; {fix}")
    return int(value)


def _check_level(level: Any) -> float:
    if not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise ConfigError(f"level must lie in (0, 1), got {level!r}; use 0.95")
    return float(level)


def moving_block_indices(
    n: int, *, n_boot: int, block_size: int = 1, rng: np.random.Generator
) -> np.ndarray:
    """Indices of a moving-block bootstrap, shape ``(n_boot, n)``.

    Each replicate concatenates ``ceil(n / block_size)`` blocks of
    ``block_size`` consecutive positions whose starts are drawn uniformly from
    ``0 .. n - block_size``, cut to ``n``. ``block_size=1`` is the ordinary
    (iid) bootstrap.

    Parameters
    ----------
    n : int
        Sample size (positions ``0 .. n - 1`` in time order).
    n_boot : int
        Replicates.
    block_size : int, default 1
        Consecutive positions per block; at most ``n``.
    rng : numpy.random.Generator
        The caller's seeded generator.

    Returns
    -------
    ndarray of intp, shape (n_boot, n)

    References
    ----------
    H. R. Künsch (1989), Annals of Statistics 17, 1217-1241.
    """
    _check_int("n", n, 1, "at least one observation is needed")
    _check_int("n_boot", n_boot, 1, "use 1000")
    _check_int("block_size", block_size, 1, "use 1 for the iid bootstrap")
    if block_size > n:
        raise ConfigError(
            f"block_size must be at most the sample size {n}, got {block_size}; use a smaller block"
        )
    if block_size == 1:
        return rng.integers(0, n, size=(n_boot, n))
    n_blocks = -(-n // block_size)
    starts = rng.integers(0, n - block_size + 1, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block_size)[None, None, :]).reshape(n_boot, -1)
    return idx[:, :n]


def _boot_scores(
    p: np.ndarray, w: np.ndarray, idx: np.ndarray, *, n_bins: int
) -> dict[str, np.ndarray]:
    """ECE (uniform bins), Brier and log loss of every replicate, each shape (n_boot,)."""
    r, n = idx.shape
    d = w - p
    q = np.clip(np.where(w > 0.5, p, 1.0 - p), _EPS, 1.0 - _EPS)
    nll = -np.log(q)
    ids = assign_bins(p, np.linspace(0.0, 1.0, n_bins + 1))
    keys = ids[idx] + (np.arange(r) * n_bins)[:, None]
    s = np.bincount(keys.ravel(), weights=d[idx].ravel(), minlength=r * n_bins)
    return {
        "ece": np.abs(s.reshape(r, n_bins)).sum(axis=1) / n,
        "brier": (d * d)[idx].mean(axis=1),
        "log_loss": nll[idx].mean(axis=1),
    }


@dataclass(frozen=True, eq=False)
class VersionComparison:
    """Two forecasts of the same trades, scored side by side with paired intervals.

    Attributes
    ----------
    names : tuple of str
        Labels of A and B.
    n : int
        Trades compared (out of sample: the caller's trades, not fitted here).
    table : DataFrame, shape (3, 7)
        Index :data:`COMPARE_METRICS`; columns ``a``, ``b``, ``diff`` (B - A),
        ``diff_low``, ``diff_high`` (paired bootstrap percentile interval),
        ``p_value`` (two-sided bootstrap p-value of ``diff == 0``: twice the
        smaller share of replicates on either side of 0, capped at 1) and
        ``verdict``. Lower is better for all three.
    verdict : str
        The verdict of ``primary``.
    primary : str
        Metric the headline verdict is about.
    curve_a, curve_b : ReliabilityCurve
        Reliability curves of each (uniform bins), for the overlay figure.
    sweep_a, sweep_b : SweepResult or None
        Threshold sweeps of each forecast (when returns were given).
    level, n_boot, block_size, seed, n_bins
        How the intervals were computed.
    """

    names: tuple[str, str]
    n: int
    table: pd.DataFrame
    verdict: str
    primary: str
    curve_a: ReliabilityCurve = field(repr=False)
    curve_b: ReliabilityCurve = field(repr=False)
    sweep_a: SweepResult | None = field(repr=False)
    sweep_b: SweepResult | None = field(repr=False)
    level: float
    n_boot: int
    block_size: int
    seed: int
    n_bins: int
    sample: str = "out_of_sample"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: settings, the table by metric, curves and sweeps."""
        out: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("table", "curve_a", "curve_b", "sweep_a", "sweep_b")
        }
        out["table"] = self.table.to_dict(orient="index")
        out["curve_a"] = self.curve_a.to_dict()
        out["curve_b"] = self.curve_b.to_dict()
        out["sweep_a"] = None if self.sweep_a is None else self.sweep_a.to_dict()
        out["sweep_b"] = None if self.sweep_b is None else self.sweep_b.to_dict()
        return json_safe(out)


def _verdict(name_a: str, name_b: str, metric: str, diff: float, low: float, high: float,
             level: float) -> str:  # fmt: skip
    band = f"({level:.0%} interval of {name_b} - {name_a}: [{low:.4g}, {high:.4g}])"
    if high < 0:
        return f"{name_b} better than {name_a} by {-diff:.4g} in {metric} {band}"
    if low > 0:
        return f"{name_b} worse than {name_a} by {diff:.4g} in {metric} {band}"
    return f"no significant difference in {metric} {band}"


def compare_versions(
    prob_a: Any,
    prob_b: Any,
    win: Any,
    *,
    returns_pct: Any = None,
    names: tuple[str, str] = ("A", "B"),
    primary: str = "brier",
    n_bins: int = 10,
    n_boot: int = 1000,
    level: float = 0.95,
    block_size: int = 1,
    seed: int = 0,
    thresholds: np.ndarray | list[float] | None = None,
) -> VersionComparison:
    """Compare two forecasts of the same trades with a paired bootstrap.

    Parameters
    ----------
    prob_a, prob_b : array_like, shape (n,)
        Win probabilities in [0, 1] of versions A and B for the same trades, in
        time order (the order matters only for ``block_size > 1``). They must be
        out of sample for these trades: nothing is fitted here.
    win : array_like, shape (n,)
        Outcomes 0/1 or bool.
    returns_pct : array_like, shape (n,), optional
        Trade returns (percent, net of costs); with them the threshold sweep of
        each forecast is added (:func:`core.analytics.sweep.threshold_sweep`).
    names : (str, str), default ("A", "B")
    primary : {"ece", "brier", "log_loss"}, default "brier"
        Metric of the headline verdict.
    n_bins : int, default 10
        Uniform bins of the ECE and the reliability curves.
    n_boot : int, default 1000
        Bootstrap replicates.
    level : float, default 0.95
        Two-sided level of the percentile interval.
    block_size : int, default 1
        Moving-block length in trades (1: iid bootstrap).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.
    thresholds : array_like, optional
        Sweep grid (default 0.00 .. 1.00).

    Returns
    -------
    VersionComparison
        With ``prob_a`` equal to ``prob_b`` every difference and its interval
        are exactly 0 and the verdict is "no significant difference".

    Raises
    ------
    CalibrationError
        A forecast outside [0, 1] or NaN, outcomes not 0/1, lengths differ.
    ConfigError
        An option out of range.
    """
    p_a, w = check_prob_win(prob_a, win, prob_name="prob_a")
    p_b, _ = check_prob_win(prob_b, win, prob_name="prob_b")
    if primary not in COMPARE_METRICS:
        raise ConfigError(
            f"primary must be one of {', '.join(COMPARE_METRICS)}, got {primary!r}; use 'brier'"
        )
    _check_int("n_bins", n_bins, 1, "use 10")
    _check_int("n_boot", n_boot, 1, "use 1000")
    level = _check_level(level)
    n = p_a.size
    rng = np.random.default_rng(seed)
    name_a, name_b = (str(names[0]), str(names[1]))
    # The full sample as the first "replicate" gives the point estimates with the
    # same code as the bootstrap.
    whole = np.arange(n)[None, :]
    point_a = _boot_scores(p_a, w, whole, n_bins=n_bins)
    point_b = _boot_scores(p_b, w, whole, n_bins=n_bins)
    diffs: dict[str, list[np.ndarray]] = {m: [] for m in COMPARE_METRICS}
    chunk = max(1, 4_000_000 // n)
    remaining = n_boot
    while remaining > 0:  # chunks of replicates, never a loop over trades
        r = min(chunk, remaining)
        idx = moving_block_indices(n, n_boot=r, block_size=block_size, rng=rng)
        sa = _boot_scores(p_a, w, idx, n_bins=n_bins)
        sb = _boot_scores(p_b, w, idx, n_bins=n_bins)
        for m in COMPARE_METRICS:
            diffs[m].append(sb[m] - sa[m])
        remaining -= r
    alpha = (1.0 - level) / 2.0
    rows = {}
    for m in COMPARE_METRICS:
        boot = np.concatenate(diffs[m])
        a, b = float(point_a[m][0]), float(point_b[m][0])
        diff = b - a
        low, high = (float(v) for v in np.quantile(boot, [alpha, 1.0 - alpha]))
        if np.array_equal(p_a, p_b):
            diff = low = high = 0.0  # identical forecasts: exactly no difference
        p_value = float(min(1.0, 2.0 * min(np.mean(boot <= 0.0), np.mean(boot >= 0.0))))
        rows[m] = {
            "a": a,
            "b": b,
            "diff": diff,
            "diff_low": low,
            "diff_high": high,
            "p_value": p_value,
            "verdict": _verdict(name_a, name_b, m, diff, low, high, level),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "metric"

    sweep_a = sweep_b = None
    if returns_pct is not None:
        r_pct = np.asarray(returns_pct, dtype=np.float64)
        if r_pct.shape != p_a.shape:
            raise ValidationError(
                f"returns_pct has shape {r_pct.shape} but the forecasts have {p_a.shape}; "
                "pass one return per trade"
            )
        frame = pd.DataFrame({"prob_a": p_a, "prob_b": p_b, "return_pct": r_pct, "win": w > 0.5})
        sweep_a = threshold_sweep(frame, key="prob_a", thresholds=thresholds)
        sweep_b = threshold_sweep(frame, key="prob_b", thresholds=thresholds)
    return VersionComparison(
        names=(name_a, name_b),
        n=int(n),
        table=table,
        verdict=str(rows[primary]["verdict"]),
        primary=primary,
        curve_a=reliability_curve(p_a, w, n_bins=n_bins, level=level),
        curve_b=reliability_curve(p_b, w, n_bins=n_bins, level=level),
        sweep_a=sweep_a,
        sweep_b=sweep_b,
        level=level,
        n_boot=int(n_boot),
        block_size=int(block_size),
        seed=int(seed),
        n_bins=int(n_bins),
    )


def compare_keys(
    trades: pd.DataFrame,
    key_a: str,
    key_b: str,
    **options: Any,
) -> VersionComparison:
    """:func:`compare_versions` of two score columns of one trades frame.

    Rows where either key is NaN are left out (both forecasts must score the
    same trades); the rest, in ``entry_time`` order when that column exists,
    are compared with their ``return_pct`` (for the sweeps). ``options`` are
    those of :func:`compare_versions`; ``names`` defaults to the two keys.

    Raises
    ------
    ValidationError
        A key or ``win``/``return_pct`` is missing.
    InsufficientDataError
        No row has both scores.
    """
    missing = [c for c in (key_a, key_b, "win", "return_pct") if c not in trades.columns]
    if missing:
        raise ValidationError(
            f"trades frame has no column {', '.join(map(repr, missing))}; columns present: "
            f"{', '.join(map(str, trades.columns))}"
        )
    frame = trades
    if "entry_time" in frame.columns:
        frame = frame.sort_values("entry_time", kind="stable")
    a = frame[key_a].to_numpy(dtype=np.float64, na_value=np.nan)
    b = frame[key_b].to_numpy(dtype=np.float64, na_value=np.nan)
    both = ~np.isnan(a) & ~np.isnan(b)
    if not both.any():
        raise InsufficientDataError(
            f"no trade has both {key_a!r} and {key_b!r}; score the same trades with both "
            "versions first"
        )
    options.setdefault("names", (key_a, key_b))
    return compare_versions(
        a[both],
        b[both],
        frame["win"].to_numpy()[both],
        returns_pct=frame["return_pct"].to_numpy(dtype=np.float64)[both],
        **options,
    )
