"""Guards against backtest overfitting: PSR, deflated Sharpe ratio and PBO.

Choosing the best of many thresholds inflates its Sharpe ratio: the maximum of
``N`` noisy estimates is biased upwards even when none has an edge. This module
measures that selection bias.

- :func:`probabilistic_sharpe_ratio` -- the probability that the true Sharpe ratio
  exceeds a benchmark, given the estimate, the sample length and the skewness and
  kurtosis of the returns (Bailey & López de Prado 2012).
- :func:`expected_max_sharpe` and :func:`deflated_sharpe_ratio` -- the PSR against
  the Sharpe ratio the best of ``N`` skill-less trials is expected to reach
  (Bailey & López de Prado 2014).
- :func:`selection_benchmark` -- the one rule every caller uses to deflate a
  choice among correlated trials: ``V`` from the Sharpe estimator's variance
  under no skill, ``N_eff`` from the eigenvalues of the trials' correlation
  (see "Selection benchmark" below).
- :func:`probability_of_backtest_overfitting` -- combinatorially symmetric
  cross-validation (CSCV): how often the in-sample winner ranks in the bottom half
  out of sample (Bailey, Borwein, López de Prado & Zhu 2017), with
  :func:`sweep_return_matrix` to build its input from a threshold sweep.

Every Sharpe ratio here is *per observation* (per trade or per period), not
annualised; the variance of the trials' Sharpe ratios must be on the same scale.

Selection benchmark
-------------------
Bailey & López de Prado (2014) deflate the best of ``N`` trials against
``SR* = sqrt(V) E[max of N standard normals]`` with ``V`` the *observed* variance
of the trials' Sharpe ratios. For the thresholds of one sweep that estimate
fails both ways: the kept sets are nested, so the trials are far from
independent (N is overstated), and when the edge is real the true Sharpe
ratio rises with the threshold, so the cross-sectional ``V`` grows with the
edge itself (the benchmark runs away from the strategy it judges).

:func:`selection_benchmark` keeps the paper's formula and changes its inputs:

- ``V`` is what the cross-sectional variance of the trials' Sharpe ratios
  would be *without skill*: under ``SR = 0`` the estimator of trial ``k`` has
  variance ``(1 - g3 SR + (g4 - 1)/4 SR^2) / (n_k - 1) = 1 / (n_k - 1)``
  (the skewness and kurtosis terms vanish at ``SR = 0``; Mertens 2002,
  Bailey & López de Prado 2012), so ``V = mean_k 1 / (n_k - 1)`` over the
  trials that could be chosen. It does not depend on the outcome of the
  search, so a real edge no longer inflates its own benchmark.
- ``N_eff``, the effective number of independent trials, from the
  eigenvalues ``lambda_i`` of the trials' correlation matrix:
  ``N_eff = (sum_i sqrt(lambda_i))^2 / sum_i lambda_i`` (Galwey 2009; 1 for
  perfectly correlated trials, N for independent ones). For nested kept sets
  the null correlation of two trials' Sharpe estimators is
  ``sqrt(n_small / n_large)`` (:func:`nested_trial_correlation`); for any other
  family (grid cells, calibrators) :func:`trial_correlation` takes it from the
  trials' return series. This is the role the clustering of López de Prado &
  Lewis (2019) plays: count clusters of similar trials, not trials.
- ``N`` (reported) is every trial made: the thresholds evaluated, or the
  trial ledger's count for the signal when it is larger; the extra trials are
  assumed as dependent as the ones measured (``N_eff`` scales by ``N / K``).

Measured on seeded simulations (``bench/bench_dsr.py``): pure noise is
called significant in about 5 % of seeds, a planted edge in all of them.

References
----------
D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio", Journal of
Portfolio Management 40(5) (2014) 94-107.
M. López de Prado and M. J. Lewis, "Detection of false investment strategies
using unsupervised learning methods", Quantitative Finance 19(9) (2019)
1555-1565.
C. Mertens, "Comments on variance of the IID estimator in Lo (2002)", working
paper (2002).
N. W. Galwey, "A new measure of the effective number of tests, a practical
tool for comparing families of non-independent significance tests", Genetic
Epidemiology 33(7) (2009) 559-568.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from core.analytics.sweep import (
    _ascending_order,
    _bin_right,
    _blas_controller,
    _check_mode,
    _check_thresholds,
    _keep_count,
)
from core.errors import ConfigError, InsufficientDataError, ValidationError
from core.jsonsafe import json_safe
from core.metrics import return_std, sharpe_ratio
from core.trades import validate_trades

__all__ = [
    "BENCHMARK_METHOD",
    "EULER_GAMMA",
    "DeflatedSharpeResult",
    "PBOResult",
    "SelectionBenchmark",
    "SharpeMoments",
    "deflate_selection",
    "deflated_sharpe_ratio",
    "effective_number_of_trials",
    "expected_max_sharpe",
    "nested_trial_correlation",
    "null_sharpe_variance",
    "probabilistic_sharpe_ratio",
    "probabilistic_sharpe_ratio_from_returns",
    "probability_of_backtest_overfitting",
    "selection_benchmark",
    "sharpe_moments",
    "sweep_return_matrix",
    "trial_correlation",
]

#: How :func:`selection_benchmark` sets N and V (recorded on every result).
BENCHMARK_METHOD = "null variance 1/(n-1), Galwey N_eff of the trials' correlation"

#: The Euler-Mascheroni constant.
EULER_GAMMA: float = 0.5772156649015329

# Combinations scored per vectorised block of the CSCV (bounds memory at
# block x n_configs floats per array).
_COMBO_BLOCK = 4096


# ----------------------------------------------------------------------------
# Probabilistic and deflated Sharpe ratio


@dataclass(frozen=True)
class SharpeMoments:
    """Sharpe ratio and higher moments of one return series.

    Attributes
    ----------
    sharpe : float
        mean / std (ddof=1), per observation.
    n : int
        Observations.
    skew : float
        Sample skewness, bias-corrected (``scipy.stats.skew(bias=False)``).
    kurtosis : float
        Pearson (non-excess) kurtosis, bias-corrected
        (``scipy.stats.kurtosis(fisher=False, bias=False)``); 3 for a normal law.
    """

    sharpe: float
    n: int
    skew: float
    kurtosis: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return json_safe(self.__dict__)


def sharpe_moments(returns: np.ndarray | pd.Series | list[float]) -> SharpeMoments:
    """Per-observation Sharpe ratio, skewness and Pearson kurtosis of ``returns``.

    Parameters
    ----------
    returns : array_like, shape (n,)
        Finite returns (any unit: the Sharpe ratio is unit-free), n >= 4.

    Returns
    -------
    SharpeMoments
        Skewness and kurtosis are the bias-corrected sample estimates
        (``bias=False`` in :mod:`scipy.stats`), which need four observations.

    Raises
    ------
    ValidationError
        ``returns`` is not one-dimensional or holds NaN / inf.
    InsufficientDataError
        Fewer than four returns, or all returns equal (no dispersion).
    """
    x = _finite_1d(returns, "returns")
    if x.size < 4:
        raise InsufficientDataError(
            f"the Sharpe ratio's skewness and kurtosis need at least 4 returns, got {x.size}"
        )
    sharpe = sharpe_ratio(float(np.mean(x)), return_std(x))
    if math.isnan(sharpe):
        raise InsufficientDataError(
            "all returns are equal: the Sharpe ratio is undefined (no dispersion)"
        )
    return SharpeMoments(
        sharpe=sharpe,
        n=int(x.size),
        skew=float(stats.skew(x, bias=False)),
        kurtosis=float(stats.kurtosis(x, fisher=False, bias=False)),
    )


def probabilistic_sharpe_ratio(
    sharpe: float,
    n: int,
    *,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    benchmark: float = 0.0,
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark`` (PSR).

    .. math::

        \\mathrm{PSR}(SR^*) = \\Phi\\left( \\frac{(\\widehat{SR} - SR^*)\\sqrt{n - 1}}
        {\\sqrt{1 - \\gamma_3 \\widehat{SR} + \\frac{\\gamma_4 - 1}{4}\\widehat{SR}^2}} \\right)

    Parameters
    ----------
    sharpe : float
        Estimated Sharpe ratio, per observation (not annualised).
    n : int
        Number of return observations behind ``sharpe`` (>= 2).
    skew : float, default 0.0
        Skewness of the returns, gamma_3.
    kurtosis : float, default 3.0
        Pearson (non-excess) kurtosis of the returns, gamma_4 (3 for normal).
    benchmark : float, default 0.0
        Benchmark Sharpe ratio SR*, same scale as ``sharpe``.

    Returns
    -------
    float
        PSR in [0, 1].

    Raises
    ------
    ValidationError
        A non-finite input or ``n < 2``.
    InsufficientDataError
        The variance term ``1 - gamma_3 SR + (gamma_4 - 1) / 4 SR^2`` is not
        positive (moments inconsistent with the Sharpe ratio).

    References
    ----------
    D. H. Bailey and M. López de Prado, "The Sharpe ratio efficient frontier",
    Journal of Risk 15(2) (2012) 3-44.
    """
    for name, value in (
        ("sharpe", sharpe),
        ("skew", skew),
        ("kurtosis", kurtosis),
        ("benchmark", benchmark),
    ):
        if not isinstance(value, int | float | np.number) or not math.isfinite(value):
            raise ValidationError(f"{name} must be a finite number, got {value!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValidationError(f"n must be an integer >= 2 (observations), got {n!r}")
    sr = float(sharpe)
    denom = 1.0 - float(skew) * sr + (float(kurtosis) - 1.0) / 4.0 * sr * sr
    if not denom > 0:
        raise InsufficientDataError(
            f"PSR variance term 1 - skew*SR + (kurtosis-1)/4*SR^2 = {denom!r} is not positive "
            f"(SR={sr!r}, skew={skew!r}, kurtosis={kurtosis!r}); check that kurtosis is "
            "Pearson (non-excess) and SR is per observation, not annualised"
        )
    z = (sr - float(benchmark)) * math.sqrt(n - 1.0) / math.sqrt(denom)
    return float(stats.norm.cdf(z))


def probabilistic_sharpe_ratio_from_returns(
    returns: np.ndarray | pd.Series | list[float],
    *,
    benchmark: float = 0.0,
) -> float:
    """PSR of a return series, with moments from :func:`sharpe_moments`.

    Skewness and kurtosis are the bias-corrected sample estimates
    (``scipy.stats.skew(bias=False)``, ``scipy.stats.kurtosis(fisher=False,
    bias=False)``). See :func:`probabilistic_sharpe_ratio`.
    """
    m = sharpe_moments(returns)
    return probabilistic_sharpe_ratio(
        m.sharpe, m.n, skew=m.skew, kurtosis=m.kurtosis, benchmark=benchmark
    )


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` skill-less trials.

    .. math::

        E[\\max SR] \\approx \\sqrt{V}\\left((1 - \\gamma)\\Phi^{-1}(1 - 1/N)
        + \\gamma\\Phi^{-1}(1 - 1/(N e))\\right)

    with gamma the Euler-Mascheroni constant: the expected maximum of ``N``
    independent normal Sharpe estimates of mean 0 and variance ``V``.

    Parameters
    ----------
    n_trials : int or float
        Number of independent trials N (>= 1); with N = 1 the result is 0. A
        real number is accepted for an effective number of trials.
    sharpe_variance : float
        Variance V of the trials' Sharpe ratios (>= 0), per observation squared.

    Returns
    -------
    float
        SR* on the scale of the trials' Sharpe ratios.

    References
    ----------
    D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
    Selection Bias, Backtest Overfitting, and Non-Normality", Journal of Portfolio
    Management 40(5) (2014) 94-107, eq. (1)-(2).
    """
    if (
        isinstance(n_trials, bool)
        or not isinstance(n_trials, int | float | np.integer | np.floating)
        or not math.isfinite(n_trials)
        or n_trials < 1
    ):
        raise ValidationError(f"n_trials must be a number >= 1 (trials), got {n_trials!r}")
    if (
        not isinstance(sharpe_variance, int | float | np.number)
        or not math.isfinite(sharpe_variance)
        or sharpe_variance < 0
    ):
        raise ValidationError(
            f"sharpe_variance must be a finite number >= 0, got {sharpe_variance!r}"
        )
    if n_trials <= 1:
        return 0.0
    n = float(n_trials)
    z1 = stats.norm.ppf(1.0 - 1.0 / n)
    z2 = stats.norm.ppf(1.0 - 1.0 / (n * math.e))
    return float(math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


@dataclass(frozen=True)
class DeflatedSharpeResult:
    """Deflated Sharpe ratio of a selected strategy.

    Attributes
    ----------
    psr : float
        PSR against a zero benchmark (no correction for the number of trials).
    dsr : float
        PSR against ``sr_star`` (the deflated Sharpe ratio); >= 0.95 is the
        usual bar for significance at 5 %.
    sr : float
        Observed Sharpe ratio, per observation.
    sr_star : float
        Expected maximum Sharpe ratio of ``n_trials`` skill-less trials.
    n : int
        Observations behind ``sr``.
    n_trials : int
        Trials the strategy was selected from.
    sharpe_variance : float
        Variance of the trials' Sharpe ratios.
    skew, kurtosis : float
        Skewness and Pearson kurtosis used.
    n_effective : float or None
        Effective number of independent trials the benchmark used (None: the
        benchmark used ``n_trials`` as independent, the paper's reading).
    method : str
        How N and V were set: ``"given"`` (by the caller) or
        :data:`BENCHMARK_METHOD` (:func:`selection_benchmark`).
    """

    psr: float
    dsr: float
    sr: float
    sr_star: float
    n: int
    n_trials: int
    sharpe_variance: float
    skew: float
    kurtosis: float
    n_effective: float | None = None
    method: str = "given"

    @property
    def significant(self) -> bool:
        """``dsr >= 0.95``."""
        return self.dsr >= 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields and ``significant``."""
        return json_safe({**self.__dict__, "significant": self.significant})


def deflated_sharpe_ratio(
    returns: np.ndarray | pd.Series | list[float] | None = None,
    *,
    sharpe: float | None = None,
    n: int | None = None,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    n_trials: int,
    sharpe_variance: float,
    n_effective: float | None = None,
    method: str = "given",
) -> DeflatedSharpeResult:
    """Deflated Sharpe ratio: PSR against the expected maximum of ``n_trials``.

    DSR = PSR(SR*) with SR* = :func:`expected_max_sharpe` (``n_effective`` or
    ``n_trials``, ``sharpe_variance``). To deflate a choice among correlated
    trials use :func:`deflate_selection` with a :func:`selection_benchmark`,
    which sets ``n_effective`` and ``sharpe_variance`` by the module's rule.

    Parameters
    ----------
    returns : array_like, shape (n,), optional
        Returns of the selected strategy; Sharpe ratio, skewness and kurtosis are
        estimated from them (:func:`sharpe_moments`, bias-corrected). Give either
        ``returns`` or ``sharpe`` and ``n``.
    sharpe : float, optional
        Observed per-observation Sharpe ratio (with ``n``, ``skew``, ``kurtosis``).
    n : int, optional
        Observations behind ``sharpe``.
    skew : float, default 0.0
        Skewness used with ``sharpe`` (ignored with ``returns``).
    kurtosis : float, default 3.0
        Pearson kurtosis used with ``sharpe`` (ignored with ``returns``).
    n_trials : int
        Number of (independent) trials the strategy was selected from.
    sharpe_variance : float
        Variance across the trials of their Sharpe ratios (same scale as SR).
    n_effective : float, optional
        Effective number of independent trials (>= 1) used in place of
        ``n_trials`` for SR*; ``n_trials`` is still reported.
    method : str, default "given"
        Label of how N and V were set, carried to the result.

    Returns
    -------
    DeflatedSharpeResult

    Notes
    -----
    Thresholds of one sweep keep nested sets of trades, so their Sharpe ratios
    are strongly correlated: the count of thresholds overstates the number of
    independent trials while their cross-sectional variance understates the
    variance of independent ones. The paper recommends estimating an effective
    number of trials (e.g. by clustering) when trials are correlated.

    References
    ----------
    D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
    Selection Bias, Backtest Overfitting, and Non-Normality", Journal of Portfolio
    Management 40(5) (2014) 94-107.
    """
    if returns is not None:
        if sharpe is not None or n is not None:
            raise ConfigError("give either returns or sharpe and n, not both")
        m = sharpe_moments(returns)
        sr, n_obs, g3, g4 = m.sharpe, m.n, m.skew, m.kurtosis
    else:
        if sharpe is None or n is None:
            raise ConfigError("give returns, or both sharpe and n (observations)")
        sr, n_obs, g3, g4 = float(sharpe), n, float(skew), float(kurtosis)
    if n_effective is not None and not (
        isinstance(n_effective, int | float | np.number)
        and math.isfinite(n_effective)
        and 1 <= n_effective <= max(float(n_trials), 1.0) * (1 + 1e-9)
    ):
        raise ValidationError(
            f"n_effective must be a number in [1, n_trials={n_trials!r}], got {n_effective!r}"
        )
    sr_star = expected_max_sharpe(
        n_trials if n_effective is None else float(n_effective), sharpe_variance
    )
    return DeflatedSharpeResult(
        psr=probabilistic_sharpe_ratio(sr, n_obs, skew=g3, kurtosis=g4, benchmark=0.0),
        dsr=probabilistic_sharpe_ratio(sr, n_obs, skew=g3, kurtosis=g4, benchmark=sr_star),
        sr=float(sr),
        sr_star=float(sr_star),
        n=int(n_obs),
        n_trials=int(n_trials),
        sharpe_variance=float(sharpe_variance),
        skew=float(g3),
        kurtosis=float(g4),
        n_effective=None if n_effective is None else float(n_effective),
        method=str(method),
    )


# ----------------------------------------------------------------------------
# Selection benchmark: N_eff and V under no skill


def null_sharpe_variance(n_obs: np.ndarray | list[int]) -> float:
    """Mean variance of the trials' Sharpe estimators under no skill: ``mean 1/(n_k - 1)``.

    At a true Sharpe ratio of 0 the variance of the per-observation Sharpe
    estimator of ``n_k`` observations is ``1 / (n_k - 1)`` whatever the skewness
    and kurtosis of the returns (their terms in the PSR variance are
    multiplied by SR). Averaged over the trials, it is the expected
    cross-sectional variance of their Sharpe ratios around 0 when nothing has
    an edge: the ``V`` of :func:`expected_max_sharpe` under the null.

    Parameters
    ----------
    n_obs : array_like of int, shape (K,)
        Observations (kept trades) of each trial; trials with fewer than 2 are
        ignored (no Sharpe ratio).

    Returns
    -------
    float
        V, per observation squared; NaN when no trial has 2 observations.

    References
    ----------
    D. H. Bailey and M. López de Prado, "The Sharpe ratio efficient frontier",
    Journal of Risk 15(2) (2012) 3-44 (the estimator's variance).
    """
    n = np.asarray(n_obs, dtype=np.float64).ravel()
    n = n[np.isfinite(n) & (n >= 2)]
    if n.size == 0:
        return float("nan")
    return float(np.mean(1.0 / (n - 1.0)))


def nested_trial_correlation(n_obs: np.ndarray | list[int]) -> np.ndarray:
    """Null correlation of the Sharpe estimators of trials that keep nested sets.

    Thresholds of one sweep keep nested sets of trades. Under no skill the
    Sharpe estimator of a set is (nearly) the sum of its standardised returns
    over ``sqrt(n)``, so two nested sets of ``n_a >= n_b`` trades have
    correlation ``sqrt(n_b / n_a)`` -- the Pearson correlation of the trials'
    per-trade return series ``r * 1[kept]`` when returns have mean 0.

    Parameters
    ----------
    n_obs : array_like of int, shape (K,)
        Trades kept by each trial (> 0).

    Returns
    -------
    ndarray, shape (K, K)
        Symmetric, unit diagonal.
    """
    n = np.asarray(n_obs, dtype=np.float64).ravel()
    if n.size == 0 or not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise ValidationError(
            f"n_obs must hold positive trade counts, one per trial; got {n_obs!r}"
        )
    small = np.minimum(n[:, None], n[None, :])
    large = np.maximum(n[:, None], n[None, :])
    return np.sqrt(small / large)


def trial_correlation(returns_matrix: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Pearson correlation of the trials' return series (columns), shape (K, K).

    For families of trials that are not nested thresholds (grid cells,
    calibrators, parameter variants): each column is one trial's return per
    period (0 when it did not trade, as :func:`sweep_return_matrix` builds
    them). A column without dispersion is uncorrelated with the others.

    Parameters
    ----------
    returns_matrix : array_like or DataFrame, shape (T, K)
        Finite returns, T >= 2 time-ordered rows, K >= 2 trials.
    """
    matrix = _performance_matrix(returns_matrix)
    if matrix.shape[0] < 2:
        raise InsufficientDataError(
            f"the trials' correlation needs at least 2 rows, got {matrix.shape[0]}"
        )
    centred = matrix - matrix.mean(axis=0)
    norm = np.sqrt((centred * centred).sum(axis=0))
    flat = norm <= 1e-12 * np.maximum(np.abs(matrix).max(axis=0), 1e-300)
    safe = np.where(flat, 1.0, norm)
    corr = (centred.T @ centred) / np.outer(safe, safe)
    corr[flat, :] = 0.0
    corr[:, flat] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def effective_number_of_trials(correlation: np.ndarray) -> float:
    """Effective number of independent trials from their correlation matrix.

    ``N_eff = (sum_i sqrt(lambda_i))^2 / sum_i lambda_i`` over the eigenvalues
    ``lambda_i`` (negative round-off clipped to 0) of the K x K correlation
    matrix: K for independent trials, 1 for perfectly correlated ones, and in
    between a smooth count of the independent directions the family spans.

    Parameters
    ----------
    correlation : array_like, shape (K, K)
        Symmetric correlation matrix with unit diagonal.

    Returns
    -------
    float
        In [1, K].

    References
    ----------
    N. W. Galwey, "A new measure of the effective number of tests, a practical
    tool for comparing families of non-independent significance tests",
    Genetic Epidemiology 33(7) (2009) 559-568.
    """
    c = np.asarray(correlation, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ValidationError(f"correlation must be a square matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValidationError("correlation must be finite; check the trials' return series")
    k = c.shape[0]
    if k == 1:
        return 1.0
    # One BLAS thread: a 100 x 100 problem gains nothing from two, and on a loaded
    # host their hand-offs made each call 30x slower (0.3 -> 10 ms).
    with _blas_controller().limit(limits=1, user_api="blas"):
        lam = np.clip(np.linalg.eigvalsh((c + c.T) / 2.0), 0.0, None)
    total = float(lam.sum())
    if not total > 0:
        return 1.0
    return float(min(max(np.sqrt(lam).sum() ** 2 / total, 1.0), float(k)))


@dataclass(frozen=True)
class SelectionBenchmark:
    """N, N_eff and V of a choice among trials: the inputs of its deflated Sharpe.

    Attributes
    ----------
    n_trials : int
        Trials counted (N): every trial evaluated, or the trial ledger's count
        when larger.
    n_candidates : int
        Trials the choice could fall on (eligible) and whose correlation was
        measured (K).
    n_effective : float
        Effective number of independent trials behind the choice:
        Galwey's N_eff of the candidates' correlation, times ``n_trials /
        n_evaluated`` when the ledger counts more trials than were evaluated.
    n_evaluated : int
        Trials evaluated in the search at hand (e.g. the sweep's thresholds).
    sharpe_variance : float
        V = mean over the candidates of ``1 / (n_k - 1)``, per trade squared.
    sr_star : float
        Expected maximum Sharpe ratio of ``n_effective`` skill-less trials.
    correlation : str
        ``"nested"`` (thresholds) or ``"returns"`` (from return series).
    method : str
        :data:`BENCHMARK_METHOD`.
    """

    n_trials: int
    n_candidates: int
    n_effective: float
    n_evaluated: int
    sharpe_variance: float
    sr_star: float
    correlation: str
    method: str = BENCHMARK_METHOD

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return json_safe(self.__dict__)


def selection_benchmark(
    n_obs: np.ndarray | list[int],
    *,
    n_evaluated: int | None = None,
    n_trials: int | None = None,
    correlation: np.ndarray | None = None,
) -> SelectionBenchmark:
    """The one rule for N, N_eff and V of a selection (see the module docstring).

    Parameters
    ----------
    n_obs : array_like of int, shape (K,)
        Observations (kept trades) of each candidate trial: those the choice
        could fall on (e.g. thresholds keeping ``min_trades`` trades).
    n_evaluated : int, optional
        Trials evaluated in this search (>= K; default K), e.g. every threshold
        of the sweep, including those keeping too few trades.
    n_trials : int, optional
        Trials to count, e.g. :meth:`core.lifecycle.ledger.TrialLedger.count`
        for the signal. Used when larger than ``n_evaluated``; N_eff is then
        scaled by ``n_trials / n_evaluated``.
    correlation : array_like, shape (K, K), optional
        The candidates' correlation; default :func:`nested_trial_correlation`
        of ``n_obs`` (thresholds of one sweep). Give :func:`trial_correlation`
        of the return series for trials that are not nested.

    Returns
    -------
    SelectionBenchmark

    Raises
    ------
    InsufficientDataError
        No candidate keeps 2 observations (V undefined).
    ValidationError
        Bad counts or a correlation of the wrong shape.

    References
    ----------
    D. H. Bailey and M. López de Prado (2014); M. López de Prado and M. J. Lewis
    (2019); N. W. Galwey (2009) -- see the module docstring.
    """
    n = np.asarray(n_obs, dtype=np.float64).ravel()
    if n.size == 0 or not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValidationError(f"n_obs must hold trade counts >= 0, one per trial; got {n_obs!r}")
    usable = n >= 2
    if not usable.any():
        raise InsufficientDataError(
            "no candidate trial keeps 2 trades: the variance of their Sharpe ratios is "
            "undefined; raise min_trades or use more trades"
        )
    k = int(n.size)
    evaluated = k if n_evaluated is None else n_evaluated
    for name, value in (("n_evaluated", evaluated), ("n_trials", n_trials)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValidationError(f"{name} must be an integer >= 1, got {value!r}")
    if evaluated < k:
        raise ValidationError(
            f"n_evaluated={evaluated} is smaller than the {k} candidate trials; pass every "
            "trial evaluated"
        )
    counted = int(max(evaluated, n_trials or 0))
    if correlation is None:
        corr = nested_trial_correlation(n[usable])
        kind = "nested"
    else:
        corr = np.asarray(correlation, dtype=np.float64)
        if corr.shape != (k, k):
            raise ValidationError(
                f"correlation must be {k} x {k} (one row per candidate), got {corr.shape}"
            )
        corr = corr[np.ix_(usable, usable)]
        kind = "returns"
    n_eff = effective_number_of_trials(corr) * counted / evaluated
    n_eff = float(min(max(n_eff, 1.0), counted))
    variance = null_sharpe_variance(n[usable])
    return SelectionBenchmark(
        n_trials=counted,
        n_candidates=k,
        n_effective=n_eff,
        n_evaluated=int(evaluated),
        sharpe_variance=variance,
        sr_star=expected_max_sharpe(n_eff, variance),
        correlation=kind,
    )


def deflate_selection(
    returns: np.ndarray | pd.Series | list[float],
    benchmark: SelectionBenchmark,
) -> DeflatedSharpeResult:
    """Deflated Sharpe ratio of the chosen trial's ``returns`` against ``benchmark``.

    :func:`deflated_sharpe_ratio` with ``n_trials``, ``n_effective`` and
    ``sharpe_variance`` from :func:`selection_benchmark`: the call every
    selection (``select_threshold``, ``analyze_thresholds``, the ledger's
    records) makes, so one choice always gets one DSR.
    """
    return deflated_sharpe_ratio(
        returns,
        n_trials=benchmark.n_trials,
        sharpe_variance=benchmark.sharpe_variance,
        n_effective=benchmark.n_effective,
        method=benchmark.method,
    )


# ----------------------------------------------------------------------------
# Probability of backtest overfitting (CSCV)


@dataclass(frozen=True)
class PBOResult:
    """Probability of backtest overfitting by CSCV.

    Attributes
    ----------
    pbo : float
        Share of combinations whose logit ``lambda <= 0``: the in-sample best
        configuration ranked at or below the median out of sample.
    logits : ndarray, shape (n_combinations,)
        lambda = ln(omega / (1 - omega)), omega = OOS rank / (N + 1) of the
        in-sample best (rank 1 = worst, ties given their average rank).
    relative_rank : ndarray, shape (n_combinations,)
        omega per combination.
    selected : ndarray of int, shape (n_combinations,)
        Column of the in-sample best per combination (first column on ties).
    is_performance, oos_performance : ndarray, shape (n_combinations,)
        In-sample and out-of-sample metric of the selected column.
    degradation_slope, degradation_intercept : float
        Least-squares fit ``oos = intercept + slope * is`` over combinations (NaN
        when the in-sample values do not vary); a negative slope is the paper's
        sign of overfitting.
    prob_oos_loss : float
        Share of combinations whose selected column has OOS metric < 0.
    n_splits : int
        S, the number of blocks.
    n_combinations : int
        C(S, S/2).
    n_configs : int
        N, the columns.
    n_observations : int
        Rows used (a multiple of S).
    n_dropped_rows : int
        Oldest rows dropped so the rows split into S equal blocks.
    metric : str
        ``"sharpe"`` or ``"mean"``.
    """

    pbo: float
    logits: np.ndarray
    relative_rank: np.ndarray
    selected: np.ndarray
    is_performance: np.ndarray
    oos_performance: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float
    n_splits: int
    n_combinations: int
    n_configs: int
    n_observations: int
    n_dropped_rows: int
    metric: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (arrays as lists; inf -> "inf")."""
        return json_safe(self.__dict__)


def probability_of_backtest_overfitting(
    performance_matrix: np.ndarray | pd.DataFrame,
    *,
    n_splits: int = 16,
    metric: Literal["sharpe", "mean"] = "sharpe",
) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric CV.

    The T rows (time-ordered observations) are cut into ``S = n_splits`` equal
    blocks. For each of the C(S, S/2) ways of choosing half the blocks as the
    in-sample set (the other half out of sample), the configuration with the best
    in-sample metric is found and its relative rank omega among the N
    configurations out of sample is turned into the logit
    ``lambda = ln(omega / (1 - omega))``. PBO is the share of ``lambda <= 0``.

    Parameters
    ----------
    performance_matrix : array_like or DataFrame, shape (T, N)
        Returns of N configurations over T time-ordered observations (e.g.
        :func:`sweep_return_matrix`: period returns of each threshold's book, 0
        when it did not trade). Finite values; ``T >= n_splits``.
    n_splits : int, default 16
        S, an even number >= 2 (16 gives 12,870 combinations). When T is not a
        multiple of S the oldest ``T mod S`` rows are dropped.
    metric : {"sharpe", "mean"}, default "sharpe"
        Performance of a column over a set of rows: mean / std (ddof=1) or the
        mean. A column with zero dispersion has Sharpe 0 when its mean is 0
        (a book that never traded) and +/-inf otherwise.

    Returns
    -------
    PBOResult

    Raises
    ------
    ValidationError
        Not a finite 2-D matrix with at least two columns.
    ConfigError
        Bad ``n_splits`` or ``metric``.
    InsufficientDataError
        Fewer rows than the split needs (Sharpe needs two rows per half).

    Notes
    -----
    Vectorised over combinations: per-block sums, sums of centred squares and
    counts are combined by a (combinations x S) indicator matrix product, so the
    cost is O(C(S, S/2) x (S + N)) after one pass over the data. Memory is
    bounded by scoring 4,096 combinations at a time.

    References
    ----------
    D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The Probability
    of Backtest Overfitting", Journal of Computational Finance 20(4) (2017) 39-69.
    """
    matrix = _performance_matrix(performance_matrix)
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer):
        raise ConfigError(f"n_splits must be an even integer >= 2, got {n_splits!r}")
    if n_splits < 2 or n_splits % 2:
        raise ConfigError(f"n_splits must be an even integer >= 2, got {n_splits!r}; 16 is usual")
    if metric not in ("sharpe", "mean"):
        raise ConfigError(f"metric must be 'sharpe' or 'mean', got {metric!r}")
    t_all, n_cfg = matrix.shape
    rows_per_block = t_all // n_splits
    if rows_per_block == 0:
        raise InsufficientDataError(
            f"{t_all} rows cannot be cut into {n_splits} blocks; give at least {n_splits} rows "
            "or lower n_splits"
        )
    if metric == "sharpe" and rows_per_block * (n_splits // 2) < 2:
        raise InsufficientDataError(
            f"with {t_all} rows and n_splits={n_splits} each half has fewer than 2 rows: "
            "the Sharpe ratio needs 2; give more rows or use metric='mean'"
        )
    dropped = t_all - rows_per_block * n_splits
    used = matrix[dropped:]
    centre = used.mean(axis=0)
    blocks = (used - centre).reshape(n_splits, rows_per_block, n_cfg)
    block_dev = blocks.sum(axis=1)  # (S, N) sums of centred values
    block_sq = (blocks * blocks).sum(axis=1)  # (S, N) sums of centred squares
    total_dev = block_dev.sum(axis=0)
    total_sq = block_sq.sum(axis=0)
    half_rows = rows_per_block * (n_splits // 2)

    combos = np.array(list(itertools.combinations(range(n_splits), n_splits // 2)), dtype=np.intp)
    n_comb = combos.shape[0]
    selected = np.empty(n_comb, dtype=np.int64)
    omega = np.empty(n_comb)
    is_perf = np.empty(n_comb)
    oos_perf = np.empty(n_comb)
    for lo in range(0, n_comb, _COMBO_BLOCK):
        part = combos[lo : lo + _COMBO_BLOCK]
        ind = np.zeros((part.shape[0], n_splits))
        np.put_along_axis(ind, part, 1.0, axis=1)
        is_dev = ind @ block_dev
        is_sq = ind @ block_sq
        perf_is = _perf(is_dev, is_sq, half_rows, centre, metric)
        perf_oos = _perf(total_dev - is_dev, total_sq - is_sq, half_rows, centre, metric)
        best = np.argmax(perf_is, axis=1)  # first column on ties
        rows = np.arange(part.shape[0])
        chosen_oos = perf_oos[rows, best]
        below = np.count_nonzero(perf_oos < chosen_oos[:, None], axis=1)
        equal = np.count_nonzero(perf_oos == chosen_oos[:, None], axis=1)
        rank = below + (equal + 1) / 2.0  # average rank, 1 = worst
        selected[lo : lo + part.shape[0]] = best
        omega[lo : lo + part.shape[0]] = rank / (n_cfg + 1.0)
        is_perf[lo : lo + part.shape[0]] = perf_is[rows, best]
        oos_perf[lo : lo + part.shape[0]] = chosen_oos
    logits = np.log(omega / (1.0 - omega))
    finite = np.isfinite(is_perf) & np.isfinite(oos_perf)
    slope = intercept = float("nan")
    if finite.sum() >= 2 and np.ptp(is_perf[finite]) > 0:
        slope, intercept = (float(v) for v in np.polyfit(is_perf[finite], oos_perf[finite], 1))
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        relative_rank=omega,
        selected=selected,
        is_performance=is_perf,
        oos_performance=oos_perf,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_perf < 0)),
        n_splits=int(n_splits),
        n_combinations=int(n_comb),
        n_configs=int(n_cfg),
        n_observations=int(used.shape[0]),
        n_dropped_rows=int(dropped),
        metric=metric,
    )


def _perf(dev: np.ndarray, sq: np.ndarray, m: int, centre: np.ndarray, metric: str) -> np.ndarray:
    """Metric from centred sums over ``m`` rows (arrays of shape (C, N))."""
    # In-place steps: the same operations in the same order as
    # ``mean = dev / m + centre``, ``var = (sq - dev * dev / m) / (m - 1)``, with
    # fewer (C, N) temporaries (this runs on 12,870 x N cells).
    mean = dev / m
    mean += centre
    if metric == "mean":
        return mean
    var = dev * dev
    var /= m
    np.subtract(sq, var, out=var)
    var /= m - 1.0
    # Round-off sized variances are zero dispersion.
    floor = sq / m
    np.maximum(floor, 1e-300, out=floor)
    floor *= 1e-12
    var[~(var > floor)] = 0.0
    sharpe = sharpe_ratio(mean, np.sqrt(var, out=var))
    # Zero dispersion: the Sharpe ratio is undefined, but a ranking needs an order;
    # a riskless gain ranks first, a riskless loss last.
    flat = np.isnan(sharpe)
    sharpe[flat] = np.copysign(np.inf, mean[flat])
    sharpe[flat & (mean == 0)] = 0.0
    return sharpe


def _performance_matrix(values: np.ndarray | pd.DataFrame) -> np.ndarray:
    try:
        matrix = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"performance_matrix must be numeric (T x N), got {type(values).__name__}"
        ) from exc
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValidationError(
            f"performance_matrix must be 2-D with one column per configuration and at least "
            f"two columns, got shape {matrix.shape}"
        )
    bad = np.argwhere(~np.isfinite(matrix))
    if bad.size:
        i, j = bad[0]
        raise ValidationError(
            f"performance_matrix must be finite; row {i}, column {j} holds {matrix[i, j]!r} "
            "(use 0 for a period in which a configuration did not trade)"
        )
    return matrix


def sweep_return_matrix(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    thresholds: np.ndarray | list[float] | None = None,
    n_periods: int | None = None,
    mode: Literal["absolute", "percentile"] = "absolute",
    aggregate: Literal["sum", "mean"] = "sum",
    cost_bps: float = 0.0,
) -> pd.DataFrame:
    """Returns of every threshold's filtered book, one row per period: the PBO input.

    Trades are put in time order (``entry_time`` when present, else frame order);
    which trades a threshold keeps is decided exactly as in the sweep.
    With ``n_periods=None`` each trade is a row: the threshold's column holds the
    trade's ``return_pct`` when the threshold keeps it and 0 otherwise. With
    ``n_periods=P`` the trades are cut into P consecutive groups of (nearly)
    equal count and each cell aggregates the kept trades of the group: their
    sum (the P&L, in percent of one position, of a book staking one unit per
    trade) or their mean, 0 when no trade is kept.

    Parameters
    ----------
    trades : DataFrame
        A trades frame; rows with a NaN ``key`` are dropped.
    key : str, default "confidence"
    thresholds : array_like of float, optional
        As in :func:`core.analytics.sweep.threshold_sweep` (sorted, unique).
    n_periods : int, optional
        Number of row groups (<= number of trades); None for one row per trade.
    mode : {"absolute", "percentile"}, default "absolute"
        Percentile mode keeps the top q % of *all* trades by score (the same
        set as the sweep), ties broken by time order.
    aggregate : {"sum", "mean"}, default "sum"
    cost_bps : float, default 0.0
        Extra round-trip cost subtracted from every trade, basis points.

    Returns
    -------
    DataFrame, shape (T, N)
        Columns: the thresholds; index: the trades' index labels (per trade) or
        the first ``entry_time`` of each period (``period`` number if there is no
        ``entry_time``). Values in percent.
    """
    _check_mode(mode)
    grid = _check_thresholds(thresholds, mode)
    if aggregate not in ("sum", "mean"):
        raise ConfigError(f"aggregate must be 'sum' or 'mean', got {aggregate!r}")
    if not isinstance(cost_bps, int | float) or not math.isfinite(cost_bps) or cost_bps < 0:
        raise ConfigError(f"cost_bps must be a finite number >= 0, got {cost_bps!r}")
    usable = validate_trades(trades, key=key)
    score = usable[key].to_numpy(dtype=np.float64)
    ret = usable["return_pct"].to_numpy(dtype=np.float64) - cost_bps / 100.0
    n = score.size
    n_thr = grid.size
    # For each trade, the threshold columns that keep it -- computed in frame order,
    # where percentile ties are broken exactly as in the sweep.
    if mode == "absolute":
        # kept by columns j < bound (the thresholds <= score)
        bound = _bin_right(score, grid)  # np.searchsorted(grid, score, side="right")
    else:
        # rank 0 = highest score (earlier row first on ties); kept where rank < k_q,
        # and k_q is non-decreasing in q, so kept by columns j >= bound.
        order = _ascending_order(score, mode)[::-1]
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        bound = np.searchsorted(_keep_count(grid, n), rank, side="right")
    # Rows in time order.
    # Rows in time order by positions (``rows``), never a reordered copy of the frame.
    rows: np.ndarray | None = None
    if "entry_time" in usable:
        entry_ns = _utc_ns(usable["entry_time"])
        if (np.diff(entry_ns) < 0).any():
            rows = np.argsort(entry_ns, kind="stable")
            ret, bound = ret[rows], bound[rows]
    if n_periods is None:
        period = np.arange(n)
        n_rows = n
    else:
        if isinstance(n_periods, bool) or not isinstance(n_periods, int | np.integer):
            raise ConfigError(f"n_periods must be an integer or None, got {n_periods!r}")
        if not 1 <= n_periods <= n:
            raise ConfigError(f"n_periods must lie in [1, {n}] (the trades), got {n_periods!r}")
        period = (np.arange(n) * n_periods) // n
        n_rows = int(n_periods)
    cells = period * (n_thr + 1) + bound
    size = n_rows * (n_thr + 1)
    grid_sum = np.bincount(cells, weights=ret, minlength=size).reshape(n_rows, n_thr + 1)
    grid_cnt = np.bincount(cells, minlength=size).reshape(n_rows, n_thr + 1)
    if mode == "absolute":
        # column j sums the trades with bound > j: reverse cumulative sum
        sums = np.cumsum(grid_sum[:, ::-1], axis=1)[:, ::-1][:, 1:]
        counts = np.cumsum(grid_cnt[:, ::-1], axis=1)[:, ::-1][:, 1:]
    else:
        # column j sums the trades with bound <= j: cumulative sum
        sums = np.cumsum(grid_sum, axis=1)[:, :-1]
        counts = np.cumsum(grid_cnt, axis=1)[:, :-1]
    if aggregate == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    else:
        values = sums
    if n_periods is None:
        index = usable.index if rows is None else usable.index[rows]
    elif "entry_time" in usable:
        starts = np.searchsorted(period, np.arange(n_rows), side="left")
        at = starts if rows is None else rows[starts]
        index = pd.Index(usable["entry_time"].iloc[at], name="period_start")
    else:
        index = pd.RangeIndex(n_rows, name="period")
    return pd.DataFrame(values, index=index, columns=pd.Index(grid, name="threshold"))


def _finite_1d(values: Any, name: str) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be numbers, got {type(values).__name__}") from exc
    if x.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValidationError(
            f"{name} must be finite; position {bad[0]} holds {x[bad[0]]!r} "
            f"({bad.size} such value(s)); drop or repair them"
        )
    return x


def _utc_ns(times: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of a datetime series (naive taken as UTC).

    The int64 values of the tz-aware series: no converted copy, no Python objects.
    """
    return np.asarray(pd.to_datetime(times, utc=True).dt.as_unit("ns").array.asi8)
