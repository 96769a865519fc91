"""The analytics engine: baseline vs filtered metrics, calibration summary, validation.

The *baseline* book trades every signal, the *filtered* book only those whose
confidence passes the threshold (both subject to the same concurrency limit
and sizing). Metrics come from :func:`core.metrics.performance_metrics`; the
improvement is the per-metric difference filtered − baseline
(:func:`core.metrics.improvement`).

Validation rule
---------------
A run *validates* the confidence score when the filtered book beats the
baseline on **both** win rate and per-trade Sharpe (strictly greater), with at
least ``min_filtered_trades`` (default 30) trades in the filtered book. Thirty
is the usual minimum for a mean and a standard deviation to mean much; it is
a sanity gate, not a significance test (the threshold page does the
statistics, with confidence bands and the deflated Sharpe).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.analytics.calibration import brier_score
from core.engines.portfolio import PortfolioResult
from core.errors import ConfigError, ValidationError
from core.metrics import PerformanceMetrics, improvement, is_win, performance_metrics, win_rate

__all__ = ["AnalyticsEngine", "AnalyticsResult", "CalibrationSummary", "validation_rule_text"]


def validation_rule_text(min_filtered_trades: int = 30) -> str:
    """The validation rule in words (stored in every report)."""
    return (
        "filtered.win_rate > baseline.win_rate AND filtered.sharpe_per_trade > "
        f"baseline.sharpe_per_trade AND filtered.n_trades >= {min_filtered_trades}"
    )


@dataclass(frozen=True)
class CalibrationSummary:
    """How the confidence relates to outcomes, over every trade with an outcome.

    Attributes
    ----------
    confidence_key : str
        The score analysed.
    n : int
        Trades with a score (NaN scores are left out).
    mean_confidence : float
        Mean score, in [0, 1].
    win_rate : float
        Share of those trades with ``return_pct > 0``.
    pearson_return : float
        Pearson correlation of the score with ``return_pct`` (NaN when either
        is constant or ``n < 2``).
    pearson_win : float
        Pearson correlation of the score with the win indicator (the
        point-biserial correlation).
    brier : float
        ``mean((score - win)^2)``, in [0, 1]; lower is better. 0.25 is what a
        constant 0.5 scores.
    """

    confidence_key: str
    n: int
    mean_confidence: float
    win_rate: float
    pearson_return: float
    pearson_win: float
    brier: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2:
        return math.nan
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    return float(np.dot(da, db) / den) if den > 0 else math.nan


def calibration_summary(
    score: np.ndarray, return_pct: np.ndarray, *, confidence_key: str
) -> CalibrationSummary:
    """Correlations and Brier score of ``score`` against outcomes.

    Parameters
    ----------
    score : ndarray of float, shape (n,)
        Confidence in [0, 1]; NaN rows are left out.
    return_pct : ndarray of float, shape (n,)
        Net trade returns, percent.
    confidence_key : str
        Name of the score (recorded in the result).
    """
    s = np.asarray(score, dtype=np.float64)
    r = np.asarray(return_pct, dtype=np.float64)
    keep = ~np.isnan(s)
    s, r = s[keep], r[keep]
    if s.size == 0:
        nan = math.nan
        return CalibrationSummary(confidence_key, 0, nan, nan, nan, nan, nan)
    wins = is_win(r)
    win = wins.astype(np.float64)
    return CalibrationSummary(
        confidence_key=confidence_key,
        n=int(s.size),
        mean_confidence=float(s.mean()),
        win_rate=win_rate(np.count_nonzero(wins), s.size),
        pearson_return=_pearson(s, r),
        pearson_win=_pearson(s, win),
        brier=brier_score(s, win),
    )


@dataclass(frozen=True, eq=False)
class AnalyticsResult:
    """Metrics of the two books and the verdict.

    Attributes
    ----------
    baseline, filtered : PerformanceMetrics
    improvement : mapping of str to float
        ``filtered - baseline`` per metric (differences; see :func:`core.metrics.improvement`).
    calibration : CalibrationSummary
    validation_passed : bool
    validation_rule : str
    """

    baseline: PerformanceMetrics
    filtered: PerformanceMetrics
    improvement: Mapping[str, float]
    calibration: CalibrationSummary
    validation_passed: bool
    validation_rule: str


@dataclass(frozen=True)
class AnalyticsEngine:
    """Compute the metrics of the ``baseline`` and ``filtered`` books.

    Parameters
    ----------
    periods_per_year : int, default 252
        Trading days per year, for the annualised daily statistics.
    min_filtered_trades : int, default 30
        Fewest filtered trades for the run to validate (see the module notes).
    """

    periods_per_year: int = 252
    min_filtered_trades: int = 30

    def __post_init__(self) -> None:
        for name, low in (("periods_per_year", 1), ("min_filtered_trades", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ConfigError(
                    f"AnalyticsEngine.{name}={value!r} must be a whole number >= {low}"
                )

    def evaluate(
        self,
        trades: pd.DataFrame,
        portfolio: PortfolioResult,
        *,
        confidence_key: str,
    ) -> AnalyticsResult:
        """Metrics of both books, their difference, calibration and the verdict.

        Parameters
        ----------
        trades : DataFrame, shape (n_trades, ...)
            Every executed trade, with ``return_pct`` (percent, net) and the
            column ``confidence_key`` (or ``score``).
        portfolio : PortfolioResult
            With books named ``"baseline"`` and ``"filtered"``.
        confidence_key : str
            The score column used for the filtered book.
        """
        for name in ("baseline", "filtered"):
            if name not in portfolio.books:
                raise ValidationError(
                    f"the portfolio has no {name!r} book (books: {list(portfolio.books)}); "
                    "build it with books={'baseline': ..., 'filtered': ...}"
                )
        returns = trades["return_pct"].to_numpy(dtype=np.float64)
        metrics: dict[str, PerformanceMetrics] = {}
        for name in ("baseline", "filtered"):
            mask = portfolio.books[name]
            metrics[name] = performance_metrics(
                returns[mask],
                portfolio.equity[name],
                open_positions=portfolio.open_positions[name],
                periods_per_year=self.periods_per_year,
            )
        base, filt = metrics["baseline"], metrics["filtered"]
        column = confidence_key if confidence_key in trades else "score"
        calibration = calibration_summary(
            trades[column].to_numpy(dtype=np.float64, na_value=np.nan),
            returns,
            confidence_key=confidence_key,
        )
        passed = bool(
            filt.n_trades >= self.min_filtered_trades
            and filt.win_rate > base.win_rate
            and filt.sharpe_per_trade > base.sharpe_per_trade
        )
        return AnalyticsResult(
            baseline=base,
            filtered=filt,
            improvement=improvement(filt, base),
            calibration=calibration,
            validation_passed=passed,
            validation_rule=validation_rule_text(self.min_filtered_trades),
        )
