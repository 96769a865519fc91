"""The stored baseline: :class:`DriftBaseline` and :func:`baseline_from_trades`.

Besides the confidence distribution and the performance figures, a baseline
keeps its calibration map (trades and wins per score bin), against which
:func:`_calibration_map_test` tests a later window.
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
from core.errors import DriftError
from core.analytics.drift._common import _f, _iso, _nan, _sharpe, _time
from core.analytics.drift.distribution import DistributionSummary, summarize_distribution
from core.analytics.drift.windows import (
    DEFAULT_MIN_TRADES,
    _check_min_trades,
    _Window,
    _window,
)


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


def _calibration_map_test(baseline: DriftBaseline, w: _Window) -> tuple[float, float]:
    """Chi-square test that the current window's P(win | score bin) equals the baseline's.

    Per bin with trades in both windows, the current wins O are compared with
    n·p, p the baseline's smoothed win rate (wins + 1) / (count + 2); the
    variance adds the baseline estimate's own noise, n·p(1-p)·(1 + n/N).
    Degrees of freedom: the bins compared. Returns (nan, nan) when the baseline
    has no per-bin record (older baselines).
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
    variance = n * p * (1.0 - p) * (1.0 + n / big_n)
    chi2 = float(np.sum((wins_c[use] - n * p) ** 2 / variance))
    return chi2, float(stats.chi2.sf(chi2, df=int(use.sum())))


def _baseline_from_window(
    w: _Window, *, key: str, bins: int | Sequence[float], n_quantiles: int, ece_bins: int
) -> DriftBaseline:
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
    )


def baseline_from_trades(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    bins: int | Sequence[float] = 10,
    n_quantiles: int = 1001,
    ece_bins: int = 10,
    min_trades: int = DEFAULT_MIN_TRADES,
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
    return _baseline_from_window(w, key=key, bins=bins, n_quantiles=n_quantiles, ece_bins=ece_bins)
