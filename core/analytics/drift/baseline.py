"""The stored baseline: :class:`DriftBaseline` and :func:`baseline_from_trades`.

Besides the confidence distribution and the performance figures, a baseline
keeps its calibration map (trades and wins per score bin), against which
:func:`_calibration_shortfall_test` tests a later window; a seeded sample of
its raw scores for an exact KS test; and the detector thresholds calibrated on
its own outcome stream (:mod:`core.analytics.drift.calibration`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from core.analytics.calibration import (
    assign_bins,
    bin_edges,
    brier_score,
    expected_calibration_error,
)
from core.analytics.drift._common import _f, _iso, _nan, _sharpe, _time
from core.analytics.drift.calibration import (
    DEFAULT_CRITICAL_LEVEL,
    DEFAULT_MONITOR_WINDOW,
    DEFAULT_WARNING_LEVEL,
    DetectorCalibration,
    calibrate_detectors,
)
from core.analytics.drift.distribution import DistributionSummary, summarize_distribution
from core.analytics.drift.windows import (
    DEFAULT_MIN_TRADES,
    _check_min_trades,
    _Window,
    _window,
)
from core.errors import ConfigError, DriftError


@dataclass(frozen=True)
class DriftBaseline:
    """What a later drift check compares against: stored per model as JSON.

    Attributes
    ----------
    key : str
        Confidence column summarised.
    distribution : DistributionSummary
        The baseline's ``key`` values.
    n : int
        Trades in the baseline.
    win_rate : float
        Fraction of winning trades.
    brier, ece : float
        Brier score and expected calibration error of ``key`` against ``win``
        (ECE with ``ece_bins`` uniform bins).
    brier_std : float
        Standard deviation (ddof=1) of the per-trade squared errors ``(p − win)²``,
        for the significance of a Brier increase.
    mean_return, return_std : float
        Mean and standard deviation (ddof=1) of ``return_pct``, in percent.
    sharpe : float
        Per-trade Sharpe, ``mean_return / return_std`` (NaN when ``return_std`` is 0).
    ece_bins : int
        Bins used for the ECE (the check uses the same).
    bin_count, bin_wins : tuple of int
        Trades and wins per uniform ECE bin of ``key``: the baseline's calibration
        map, against which a later window's calibration is tested.
    start, end : Timestamp or None
        First and last ``entry_time`` of the baseline window.
    ks_sample : tuple of float
        The baseline's raw ``key`` values (all of them up to ``ks_sample_size``,
        else a seeded random subsample of that size), sorted: the KS test of a
        check is then :func:`scipy.stats.ks_2samp`, exact, not a reconstruction
        from quantiles. Empty in baselines stored before it existed.
    calibration : tuple of DetectorCalibration
        Page-Hinkley and CUSUM thresholds calibrated on the baseline's own
        outcome streams (win and return) to a false-alarm rate per monitoring
        window (:func:`~core.analytics.drift.calibration.calibrate_detectors`).
        Empty when not calibrated (older baselines): a check then calibrates on
        an i.i.d. stream simulated from the stored win rate or mean and std.
    """

    key: str
    distribution: DistributionSummary
    n: int
    win_rate: float
    brier: float
    brier_std: float
    ece: float
    mean_return: float
    return_std: float
    sharpe: float
    ece_bins: int = 10
    bin_count: tuple[int, ...] = ()
    bin_wins: tuple[int, ...] = ()
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    ks_sample: tuple[float, ...] = ()
    calibration: tuple[DetectorCalibration, ...] = ()

    def calibration_for(self, outcome: str) -> dict[str, DetectorCalibration]:
        """Stored calibrations of the detectors watching ``outcome``, by detector name."""
        return {c.detector: c for c in self.calibration if c.outcome == outcome}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None, times as ISO 8601)."""
        return {
            "key": self.key,
            "distribution": self.distribution.to_dict(),
            "n": int(self.n),
            "win_rate": _f(self.win_rate),
            "brier": _f(self.brier),
            "brier_std": _f(self.brier_std),
            "ece": _f(self.ece),
            "mean_return": _f(self.mean_return),
            "return_std": _f(self.return_std),
            "sharpe": _f(self.sharpe),
            "ece_bins": int(self.ece_bins),
            "bin_count": [int(x) for x in self.bin_count],
            "bin_wins": [int(x) for x in self.bin_wins],
            "start": _iso(self.start),
            "end": _iso(self.end),
            "ks_sample": [float(x) for x in self.ks_sample],
            "calibration": [c.to_dict() for c in self.calibration],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftBaseline:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        DriftError
            ``data`` lacks a field (the message lists what a baseline holds).
        """
        try:
            return cls(
                key=str(data["key"]),
                distribution=DistributionSummary.from_dict(data["distribution"]),
                n=int(data["n"]),
                win_rate=_nan(data["win_rate"]),
                brier=_nan(data["brier"]),
                brier_std=_nan(data.get("brier_std")),
                ece=_nan(data["ece"]),
                mean_return=_nan(data["mean_return"]),
                return_std=_nan(data["return_std"]),
                sharpe=_nan(data["sharpe"]),
                ece_bins=int(data.get("ece_bins", 10)),
                bin_count=tuple(int(x) for x in data.get("bin_count", ())),
                bin_wins=tuple(int(x) for x in data.get("bin_wins", ())),
                start=_time(data.get("start")),
                end=_time(data.get("end")),
                ks_sample=tuple(float(x) for x in data.get("ks_sample", ())),
                calibration=tuple(
                    DetectorCalibration.from_dict(c) for c in data.get("calibration", ())
                ),
            )
        except (KeyError, TypeError) as exc:
            raise DriftError(
                f"stored drift baseline is incomplete or malformed ({exc!s}); it needs key, "
                "distribution, n, win_rate, brier, ece, mean_return, return_std, sharpe; "
                "set a new baseline with baseline_from_trades()"
            ) from None


def _bin_counts(conf: np.ndarray, win: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Trades and wins per uniform bin of the score."""
    idx = assign_bins(conf, bin_edges(conf, n_bins=n_bins))
    count = np.bincount(idx, minlength=n_bins)
    wins = np.bincount(idx, weights=win.astype(np.float64), minlength=n_bins).round().astype(int)
    return count, wins


def _chi_bar_square_sf(t: float, k: int) -> float:
    """P(T ≥ t) for ``T = Σ_{i≤k} max(0, Z_i)²`` with independent standard normal ``Z_i``.

    ``T`` is a chi-bar-square variable: a binomial(k, 1/2) mixture of χ²_j
    (χ²_0 a point mass at 0), Robertson, Wright & Dykstra (1988), §2.3.
    """
    if t <= 0:
        return 1.0
    j = np.arange(1, k + 1)
    weights = stats.binom.pmf(j, k, 0.5)
    return float(np.clip(np.sum(weights * stats.chi2.sf(t, j)), 0.0, 1.0))


def _calibration_shortfall_test(baseline: DriftBaseline, w: _Window) -> tuple[float, float]:
    """One-sided test that the current window wins *less* per score bin than the baseline.

    Per bin with trades in both windows, the current wins ``O`` are compared with
    ``n·p``, ``p`` the baseline's smoothed win rate (wins + 1) / (count + 2); the
    variance adds the baseline estimate's own noise, ``n·p(1−p)·(1 + n/N)``. Only
    shortfalls count: ``T = Σ max(0, (n·p − O)/sd)²``, whose null distribution is
    chi-bar-square (:func:`_chi_bar_square_sf`). Bins that win *more* than the
    baseline map says (the scores now underpredict: outcomes improved) never
    raise ``T``. Returns (T, p), or (nan, nan) when the baseline has no per-bin
    record (older baselines).

    References
    ----------
    T. Robertson, F. T. Wright and R. L. Dykstra, *Order Restricted Statistical
    Inference*, Wiley (1988), ch. 2.
    """
    if len(baseline.bin_count) != baseline.ece_bins:
        return (math.nan, math.nan)
    count_b = np.asarray(baseline.bin_count, dtype=np.float64)
    p_b = (np.asarray(baseline.bin_wins, dtype=np.float64) + 1.0) / (count_b + 2.0)
    count_c, wins_c = _bin_counts(w.conf, w.win, baseline.ece_bins)
    use = (count_b > 0) & (count_c > 0)
    if not use.any():
        return (math.nan, math.nan)
    n, big_n, p = count_c[use].astype(np.float64), count_b[use], p_b[use]
    sd = np.sqrt(n * p * (1.0 - p) * (1.0 + n / big_n))
    shortfall = np.maximum((n * p - wins_c[use]) / sd, 0.0)
    t = float(np.sum(shortfall**2))
    return t, _chi_bar_square_sf(t, int(use.sum()))


def _ks_sample(conf: np.ndarray, size: int, seed: int) -> tuple[float, ...]:
    if conf.size <= size:
        return tuple(np.sort(conf).tolist())
    rng = np.random.default_rng(seed)
    return tuple(np.sort(rng.choice(conf, size=size, replace=False)).tolist())


def _baseline_from_window(
    w: _Window,
    *,
    key: str,
    bins: int | Sequence[float],
    n_quantiles: int,
    ece_bins: int,
    calibrate: bool | tuple[str, ...] = True,
    monitor_window: int = DEFAULT_MONITOR_WINDOW,
    warning_level: float = DEFAULT_WARNING_LEVEL,
    critical_level: float = DEFAULT_CRITICAL_LEVEL,
    calibration_paths: int = 2000,
    ks_sample_size: int = 5000,
    seed: int = 0,
) -> DriftBaseline:
    if isinstance(ks_sample_size, bool) or not isinstance(ks_sample_size, (int, np.integer)):
        raise ConfigError(f"ks_sample_size must be an integer >= 0, got {ks_sample_size!r}")
    if ks_sample_size < 0:
        raise ConfigError(f"ks_sample_size must be an integer >= 0, got {ks_sample_size!r}")
    calibration: list[DetectorCalibration] = []
    outcomes = ("win", "return_pct") if calibrate is True else calibrate or ()
    for outcome in outcomes:
        found = calibrate_detectors(
            w.win, w.ret, outcome=outcome, window=monitor_window, warning_level=warning_level,
            critical_level=critical_level, n_paths=calibration_paths, seed=seed,
        )  # fmt: skip
        calibration.extend(found.values())
    mean = float(w.ret.mean())
    std = float(w.ret.std(ddof=1))
    count, wins = _bin_counts(w.conf, w.win, ece_bins)
    return DriftBaseline(
        key=key,
        distribution=summarize_distribution(w.conf, bins=bins, n_quantiles=n_quantiles),
        n=w.n,
        win_rate=float(w.win.mean()),
        brier=float(brier_score(w.conf, w.win)),
        brier_std=float(((w.conf - w.win) ** 2).std(ddof=1)),
        ece=float(expected_calibration_error(w.conf, w.win, n_bins=ece_bins)),
        bin_count=tuple(int(x) for x in count),
        bin_wins=tuple(int(x) for x in wins),
        mean_return=mean,
        return_std=std,
        sharpe=_sharpe(mean, std),
        ece_bins=ece_bins,
        start=_time(w.times[0]) if w.times is not None else None,
        end=_time(w.times[-1]) if w.times is not None else None,
        ks_sample=_ks_sample(w.conf, int(ks_sample_size), seed),
        calibration=tuple(calibration),
    )


def baseline_from_trades(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    bins: int | Sequence[float] = 10,
    n_quantiles: int = 1001,
    ece_bins: int = 10,
    min_trades: int = DEFAULT_MIN_TRADES,
    calibrate: bool = True,
    monitor_window: int = DEFAULT_MONITOR_WINDOW,
    warning_level: float = DEFAULT_WARNING_LEVEL,
    critical_level: float = DEFAULT_CRITICAL_LEVEL,
    calibration_paths: int = 2000,
    ks_sample_size: int = 5000,
    seed: int = 0,
) -> DriftBaseline:
    """Summarise a baseline window of trades for later drift checks.

    Parameters
    ----------
    trades : DataFrame
        Trades frame (:mod:`core.trades`); rows without a ``key`` value are dropped.
    key : str, default "confidence"
        Confidence column to summarise.
    bins : int or sequence of float, default 10
        PSI bins: quantile bins of the baseline, or explicit edges.
    n_quantiles : int, default 1001
        Quantiles stored for the approximate KS test.
    ece_bins : int, default 10
        Uniform bins of the ECE.
    min_trades : int, default 30
        Fewest usable trades accepted.
    calibrate : bool, default True
        Calibrate the Page-Hinkley and CUSUM thresholds on the baseline's own win
        and return streams (block bootstrap; about half a second per outcome).
    monitor_window : int, default 2000
        Trades per monitoring window the false-alarm levels refer to.
    warning_level, critical_level : float, default 0.01, 0.001
        Probability of any false detector alarm within one monitoring window.
    calibration_paths : int, default 2000
        Bootstrap paths per simulation.
    ks_sample_size : int, default 5000
        Raw scores kept for the exact KS test (a seeded subsample beyond it).
    seed : int, default 0
        Seeds the bootstrap and the KS subsample.

    Returns
    -------
    DriftBaseline

    Raises
    ------
    TradesFrameError, InsufficientDataError
        From :func:`core.trades.validate_trades`.
    """
    min_trades = _check_min_trades(min_trades)
    w = _window(trades, key=key, min_trades=min_trades, label="baseline")
    return _baseline_from_window(
        w, key=key, bins=bins, n_quantiles=n_quantiles, ece_bins=ece_bins, calibrate=calibrate,
        monitor_window=monitor_window, warning_level=warning_level,
        critical_level=critical_level, calibration_paths=calibration_paths,
        ks_sample_size=ks_sample_size, seed=seed,
    )  # fmt: skip
