"""Is the confidence calibrated? Reliability curves and calibration metrics.

Every function takes a predicted probability ``prob`` (shape ``(n,)``, values in
[0, 1]) and the realised outcome ``win`` (shape ``(n,)``, 0/1 or bool; for
trades ``win = return_pct > 0``) and works on whole arrays: binning is a
``searchsorted`` and per-bin sums are ``bincount``, so a million trades take a
few tens of milliseconds.

Binning
-------
``strategy="uniform"`` uses ``n_bins`` equal-width bins on [0, 1];
``strategy="quantile"`` uses edges at the ``np.percentile`` of ``prob`` (equal
mass). A value is assigned with ``searchsorted(edges[1:-1], p, side="left")``:
bins are ``[e0, e1], (e1, e2], ..., (e_{k-1}, e_k]``, so a value exactly on an
inner edge falls in the lower bin. This is the rule of
:func:`sklearn.calibration.calibration_curve`, which :func:`reliability_curve`
reproduces to floating-point precision. With ties in ``prob`` quantile edges
can coincide, leaving some bins empty; empty bins are skipped by every metric.

JSON
----
``to_dict()`` of every result here returns plain Python floats, ints, strings
and lists; NaN becomes ``None`` and +/-inf the strings ``"inf"``/``"-inf"``
(see :func:`json_safe`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from core.analytics.stats import wilson_interval
from core.errors import CalibrationError, InsufficientDataError
from core.jsonsafe import json_safe

__all__ = [
    "MIN_BIN_COUNT",
    "BrierDecomposition",
    "CalibrationMetrics",
    "EceInterval",
    "ReliabilityCurve",
    "SpiegelhalterResult",
    "adaptive_calibration_error",
    "assign_bins",
    "bin_edges",
    "brier_decomposition",
    "brier_score",
    "calibration_report",
    "check_prob_win",
    "ece_confidence_interval",
    "expected_calibration_error",
    "json_safe",
    "log_loss",
    "maximum_calibration_error",
    "quick_scores",
    "reliability_curve",
    "spiegelhalter_test",
]

#: Bins holding fewer forecasts than this are left out of the MCE and flagged
#: in the reliability table: one trade's win or loss is not a calibration error.
MIN_BIN_COUNT = 10

Strategy = Literal["uniform", "quantile"]
_STRATEGIES = ("uniform", "quantile")

#: Above this many resampled draws (n * n_boot) the ECE bootstrap switches to
#: the cell-multinomial approximation (see :func:`ece_confidence_interval`).
EXACT_BOOTSTRAP_MAX_DRAWS = 10_000_000


# --------------------------------------------------------------------------- helpers


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    a.setflags(write=False)
    return a


def _check_strategy(strategy: str) -> None:
    if strategy not in _STRATEGIES:
        raise CalibrationError(
            f"strategy must be 'uniform' or 'quantile', got {strategy!r}; use 'uniform' "
            "for equal-width bins on [0, 1] or 'quantile' for equal-mass bins"
        )


def _check_n_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise CalibrationError(f"n_bins must be a positive integer, got {n_bins!r}; use 10")


def check_prob_win(
    prob: Any,
    win: Any,
    *,
    prob_name: str = "prob",
    win_name: str = "win",
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a probability and an outcome array and return float64 copies.

    Parameters
    ----------
    prob : array_like, shape (n,)
        Predicted probabilities; finite, in [0, 1].
    win : array_like, shape (n,)
        Outcomes: bool or numbers that are exactly 0 or 1.
    prob_name, win_name : str
        Names used in error messages.

    Returns
    -------
    prob, win : ndarray of float64, shape (n,)

    Raises
    ------
    CalibrationError
        Shapes differ, ``prob`` holds NaN or values outside [0, 1], or ``win`` is
        not 0/1.
    InsufficientDataError
        The arrays are empty.
    """
    try:
        p = np.asarray(prob, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"{prob_name} must be numeric: {exc}") from exc
    w_raw = np.asarray(win)
    if p.ndim != 1 or w_raw.ndim != 1:
        raise CalibrationError(
            f"{prob_name} and {win_name} must be 1-D, got shapes {p.shape} and {w_raw.shape}"
        )
    if p.shape != w_raw.shape:
        raise CalibrationError(
            f"{prob_name} and {win_name} must have the same length, got {p.size} and {w_raw.size}"
        )
    if p.size == 0:
        raise InsufficientDataError(
            f"{prob_name} and {win_name} are empty; at least one scored trade is needed"
        )
    bad = np.isnan(p)
    if bad.any():
        i = int(np.argmax(bad))
        raise CalibrationError(
            f"{prob_name} has NaN at index {i} ({int(bad.sum())} such value(s)); drop rows "
            "without a score first"
        )
    if p.min() < 0.0 or p.max() > 1.0:
        i = int(np.flatnonzero((p < 0.0) | (p > 1.0))[0])
        raise CalibrationError(
            f"{prob_name} has values outside [0, 1] (index {i} is {float(p[i])!r}); rescale the "
            "score to a probability first"
        )
    if w_raw.dtype == np.bool_:
        w = w_raw.astype(np.float64)
    else:
        try:
            w = np.asarray(w_raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"{win_name} must hold 0/1 or True/False: {exc}") from exc
        wrong = (w != 0.0) & (w != 1.0)
        if wrong.any():
            i = int(np.argmax(wrong))
            raise CalibrationError(
                f"{win_name} must hold only 0/1 or True/False; index {i} has {w_raw[i].item()!r}; "
                "use win = return_pct > 0"
            )
    return p, w


def bin_edges(prob: np.ndarray, *, n_bins: int = 10, strategy: Strategy = "uniform") -> np.ndarray:
    """Bin edges, shape ``(n_bins + 1,)``, as ``sklearn.calibration.calibration_curve``.

    ``"uniform"``: ``linspace(0, 1, n_bins + 1)``. ``"quantile"``: the
    ``np.percentile`` of ``prob`` at ``linspace(0, 100, n_bins + 1)`` (linear
    interpolation); edges can repeat when ``prob`` has ties.
    """
    _check_n_bins(n_bins)
    _check_strategy(strategy)
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    return np.percentile(np.asarray(prob, dtype=np.float64), np.linspace(0, 1, n_bins + 1) * 100)


def assign_bins(prob: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value, shape ``(n,)``, in ``[0, len(edges) - 2]``.

    ``searchsorted(edges[1:-1], prob, side="left")``: a value on an inner edge goes
    to the lower bin; values below the first edge go to bin 0 and above the last
    to the last bin (for fitted quantile edges applied to new data).
    """
    p = np.asarray(prob, dtype=np.float64)
    inner = np.asarray(edges, dtype=np.float64)[1:-1]
    n_bins = inner.size + 1
    uniform = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    if inner.size and np.array_equal(inner, uniform) and p.size > 4096:
        # Arithmetic guess, then a one-step correction against the exact edges:
        # identical to searchsorted (the guess is off by at most one bin) and 3x faster.
        b = np.minimum((p * n_bins).astype(np.intp), n_bins - 1)
        np.maximum(b, 0, out=b)
        padded = np.concatenate(([-np.inf], inner, [np.inf]))
        b -= p <= padded[b]
        b += p > padded[b + 1]
        return b
    return np.searchsorted(inner, p, side="left")


def _bin_sums(
    p: np.ndarray, w: np.ndarray, *, n_bins: int, strategy: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    edges = bin_edges(p, n_bins=n_bins, strategy=strategy)
    ids = assign_bins(p, edges)
    count = np.bincount(ids, minlength=n_bins)
    sum_p = np.bincount(ids, weights=p, minlength=n_bins)
    sum_w = np.bincount(ids, weights=w, minlength=n_bins)
    return edges, ids, count, sum_p, sum_w


# --------------------------------------------------------------------------- reliability


@dataclass(frozen=True, eq=False)
class ReliabilityCurve:
    """Per-bin predicted probability against observed win frequency.

    All arrays have shape ``(n_bins,)`` and include empty bins, where
    ``count == 0`` and the means and bounds are NaN; ``nonempty`` selects the
    others (the bins ``sklearn.calibration.calibration_curve`` returns).

    Attributes
    ----------
    n_bins, strategy, level
        Binning and the Wilson interval's confidence level.
    n : int
        Number of forecasts.
    edges : ndarray, shape (n_bins + 1,)
    count : ndarray of int64
    mean_predicted : ndarray
        Mean ``prob`` in the bin.
    observed_frequency : ndarray
        Share of wins in the bin.
    win_low, win_high : ndarray
        Wilson score interval of the observed frequency.
    min_count : int
        Bins with fewer forecasts are flagged ``small`` (see :attr:`small`).
    """

    n_bins: int
    strategy: str
    level: float
    n: int
    edges: np.ndarray
    count: np.ndarray
    mean_predicted: np.ndarray
    observed_frequency: np.ndarray
    win_low: np.ndarray
    win_high: np.ndarray
    min_count: int = MIN_BIN_COUNT

    @property
    def nonempty(self) -> np.ndarray:
        """Boolean mask of bins holding at least one forecast."""
        return self.count > 0

    @property
    def small(self) -> np.ndarray:
        """Boolean mask of non-empty bins holding fewer than ``min_count`` forecasts:
        their frequencies are shown but not to be read as calibration errors."""
        return (self.count > 0) & (self.count < self.min_count)

    def to_frame(self) -> pd.DataFrame:
        """One row per bin: bin, bin_low, bin_high, count, mean_predicted, ..."""
        return pd.DataFrame(
            {
                "bin": np.arange(self.n_bins),
                "bin_low": self.edges[:-1],
                "bin_high": self.edges[1:],
                "count": self.count,
                "mean_predicted": self.mean_predicted,
                "observed_frequency": self.observed_frequency,
                "win_low": self.win_low,
                "win_high": self.win_high,
                "small": self.small,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: scalars plus one list per array (NaN -> None)."""
        return json_safe({f.name: getattr(self, f.name) for f in fields(self)})


def reliability_curve(
    prob: Any,
    win: Any,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
    level: float = 0.95,
) -> ReliabilityCurve:
    """Reliability diagram data with Wilson intervals.

    Parameters
    ----------
    prob : array_like, shape (n,)
        Predicted probability of a win, in [0, 1].
    win : array_like, shape (n,)
        Outcome, 0/1 or bool.
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}, default "uniform"
        Equal-width bins on [0, 1] or equal-mass bins (see the module docstring).
    level : float, default 0.95
        Confidence level of the Wilson interval on the observed frequency.

    Returns
    -------
    ReliabilityCurve
        On the non-empty bins ``observed_frequency`` and ``mean_predicted`` equal
        ``sklearn.calibration.calibration_curve(win, prob, n_bins=n_bins,
        strategy=strategy)``.

    References
    ----------
    A. H. Murphy and R. L. Winkler, "Reliability of subjective probability
    forecasts of precipitation and temperature", Applied Statistics 26 (1977) 41-47.
    """
    p, w = check_prob_win(prob, win)
    edges, _, count, sum_p, sum_w = _bin_sums(p, w, n_bins=n_bins, strategy=strategy)
    nonempty = count > 0
    safe = np.where(nonempty, count, 1)
    mean_pred = np.where(nonempty, sum_p / safe, np.nan)
    freq = np.where(nonempty, sum_w / safe, np.nan)
    low, high = wilson_interval(sum_w, count, level=level)
    return ReliabilityCurve(
        n_bins=int(n_bins),
        strategy=strategy,
        level=float(level),
        n=int(p.size),
        edges=_readonly(edges),
        count=_readonly(count.astype(np.int64)),
        mean_predicted=_readonly(mean_pred),
        observed_frequency=_readonly(freq),
        win_low=_readonly(np.where(nonempty, low, np.nan)),
        win_high=_readonly(np.where(nonempty, high, np.nan)),
    )


# --------------------------------------------------------------------------- scalar metrics


def _ece_from_sums(count: np.ndarray, sum_p: np.ndarray, sum_w: np.ndarray, n: int) -> float:
    # sum_b (n_b / n) |freq_b - conf_b| == sum_b |sum_w_b - sum_p_b| / n
    return float(np.abs(sum_w - sum_p).sum() / n)


def expected_calibration_error(
    prob: Any,
    win: Any,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
) -> float:
    """Expected calibration error (ECE) of binary forecasts.

    ``ECE = sum_b (n_b / n) * |observed_frequency_b - mean_predicted_b|`` over the
    non-empty bins of :func:`reliability_curve`. In [0, 1].

    Parameters
    ----------
    prob : array_like, shape (n,)
        Predicted win probability in [0, 1].
    win : array_like, shape (n,)
        Outcome 0/1.
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}, default "uniform"

    Returns
    -------
    float

    References
    ----------
    M. P. Naeini, G. F. Cooper and M. Hauskrecht, "Obtaining well calibrated
    probabilities using Bayesian binning", AAAI 2015.
    """
    p, w = check_prob_win(prob, win)
    _, _, count, sum_p, sum_w = _bin_sums(p, w, n_bins=n_bins, strategy=strategy)
    return _ece_from_sums(count, sum_p, sum_w, p.size)


def maximum_calibration_error(
    prob: Any,
    win: Any,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
    min_count: int = MIN_BIN_COUNT,
) -> float:
    """Maximum calibration error: ``max_b |observed_frequency_b - mean_predicted_b|``.

    Taken over the bins holding at least ``min_count`` forecasts (default
    :data:`MIN_BIN_COUNT`): a bin of one trade has an error of about 0.5 by
    construction. NaN when no bin holds ``min_count`` (say so rather than
    report noise); ``min_count=1`` gives Naeini et al.'s definition. Same
    other arguments as :func:`expected_calibration_error`.
    """
    p, w = check_prob_win(prob, win)
    _, _, count, sum_p, sum_w = _bin_sums(p, w, n_bins=n_bins, strategy=strategy)
    return _mce_from_sums(count, sum_p, sum_w, min_count)


def _mce_from_sums(
    count: np.ndarray, sum_p: np.ndarray, sum_w: np.ndarray, min_count: int
) -> float:
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise CalibrationError(f"min_count must be a positive integer, got {min_count!r}; use 10")
    ok = count >= min_count
    if not ok.any():
        return float("nan")
    return float(np.max(np.abs(sum_w[ok] - sum_p[ok]) / count[ok]))


@dataclass(frozen=True)
class SpiegelhalterResult:
    """Spiegelhalter's calibration test: z and its two-sided p-value.

    Attributes
    ----------
    z : float
        Standard normal under perfect calibration.
    p_value : float
        ``2 (1 - Phi(|z|))``.
    n : int
    """

    z: float
    p_value: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return json_safe(self.__dict__)


def spiegelhalter_test(prob: Any, win: Any) -> SpiegelhalterResult:
    """Spiegelhalter's z test of calibration (no binning).

    .. math::

        Z = \frac{\\sum_i (y_i - p_i)(1 - 2 p_i)}{\\sqrt{\\sum_i (1 - 2 p_i)^2 p_i (1 - p_i)}}

    is standard normal when every ``p_i`` is the true win probability, so a
    small p-value says the forecasts are miscalibrated. Unlike the ECE it
    needs no bins and has a known null law; it complements the ECE's
    interval.

    Parameters
    ----------
    prob, win : array_like, shape (n,)

    Returns
    -------
    SpiegelhalterResult
        z NaN (p-value NaN) when every forecast is 0, 1/2 or 1 (zero variance).

    References
    ----------
    D. J. Spiegelhalter, "Probabilistic prediction in patient management and
    clinical trials", Statistics in Medicine 5 (1986) 421-433.
    """
    p, w = check_prob_win(prob, win)
    return _spiegelhalter(p, w)


def _spiegelhalter(p: np.ndarray, w: np.ndarray) -> SpiegelhalterResult:
    a = 1.0 - 2.0 * p
    var = float(np.sum(a * a * p * (1.0 - p)))
    if not var > 0:
        return SpiegelhalterResult(z=float("nan"), p_value=float("nan"), n=int(p.size))
    z = float(np.dot(w - p, a) / np.sqrt(var))
    return SpiegelhalterResult(z=z, p_value=float(2.0 * stats.norm.sf(abs(z))), n=int(p.size))


def adaptive_calibration_error(prob: Any, win: Any, *, n_bins: int = 10) -> float:
    """Adaptive calibration error (ACE): the ECE over equal-mass (quantile) bins.

    Bins are weighted by their counts, which equals the unweighted mean of
    Nixon et al. when every bin holds the same number of forecasts (ties in
    ``prob`` can make them unequal).

    References
    ----------
    J. Nixon, M. Dusenberry, L. Zhang, G. Jerfel and D. Tran, "Measuring
    calibration in deep learning", CVPR Workshops 2019.
    """
    return expected_calibration_error(prob, win, n_bins=n_bins, strategy="quantile")


def brier_score(prob: Any, win: Any) -> float:
    """Brier score ``mean((prob - win) ** 2)``; in [0, 1], lower is better.

    Equals ``sklearn.metrics.brier_score_loss(win, prob)``.

    References
    ----------
    G. W. Brier, "Verification of forecasts expressed in terms of probability",
    Monthly Weather Review 78 (1950) 1-3.
    """
    p, w = check_prob_win(prob, win)
    d = p - w
    return float(np.dot(d, d) / p.size)


def log_loss(prob: Any, win: Any, *, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood (natural log) of the outcomes.

    ``-mean(win * ln(p) + (1 - win) * ln(1 - p))`` with ``p`` clipped to
    ``[eps, 1 - eps]`` so a confident miss costs ``-ln(eps)`` instead of infinity.
    Equals ``sklearn.metrics.log_loss(win, prob, labels=[0, 1])`` whenever no
    probability is closer to 0 or 1 than either ``eps``.
    """
    p, w = check_prob_win(prob, win)
    if not 0.0 < eps < 0.5:
        raise CalibrationError(f"eps must lie in (0, 0.5), got {eps!r}; use 1e-15")
    q = np.clip(np.where(w > 0.5, p, 1.0 - p), eps, 1.0 - eps)
    return float(-np.log(q).mean())


class BrierDecomposition(NamedTuple):
    """Murphy's (1973) partition of the Brier score (unpacks as a 3-tuple)."""

    reliability: float
    resolution: float
    uncertainty: float


def _decomposition_from_sums(
    count: np.ndarray, sum_p: np.ndarray, sum_w: np.ndarray, n: int
) -> BrierDecomposition:
    nz = count > 0
    m = count[nz].astype(np.float64)
    pbar = sum_p[nz] / m
    obar = sum_w[nz] / m
    base = float(sum_w.sum() / n)
    rel = float(np.sum(m * (pbar - obar) ** 2) / n)
    res = float(np.sum(m * (obar - base) ** 2) / n)
    return BrierDecomposition(rel, res, base * (1.0 - base))


def brier_decomposition(
    prob: Any,
    win: Any,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
) -> BrierDecomposition:
    """Reliability, resolution and uncertainty of binned forecasts (Murphy 1973).

    With bins ``b`` holding ``n_b`` forecasts of mean ``pbar_b`` and win frequency
    ``obar_b``, and overall win rate ``obar``::

        REL = sum_b n_b (pbar_b - obar_b)^2 / n      (lower is better)
        RES = sum_b n_b (obar_b - obar)^2 / n        (higher is better)
        UNC = obar (1 - obar)

    ``REL - RES + UNC`` equals :func:`brier_score` exactly only when the forecasts
    are constant within each bin. Otherwise the Brier score exceeds it by the
    within-bin variance of the forecasts minus twice their within-bin covariance
    with the outcome (Stephenson, Coelho & Jolliffe 2008), usually a small term.

    Returns
    -------
    BrierDecomposition
        ``(reliability, resolution, uncertainty)``.

    References
    ----------
    A. H. Murphy, "A new vector partition of the probability score", Journal of
    Applied Meteorology 12 (1973) 595-600.
    D. B. Stephenson, C. A. S. Coelho and I. T. Jolliffe, "Two extra components
    in the Brier score decomposition", Weather and Forecasting 23 (2008) 752-757.
    """
    p, w = check_prob_win(prob, win)
    _, _, count, sum_p, sum_w = _bin_sums(p, w, n_bins=n_bins, strategy=strategy)
    return _decomposition_from_sums(count, sum_p, sum_w, p.size)


def quick_scores(
    p: np.ndarray, w: np.ndarray, *, n_bins: int = 10, eps: float = 1e-15
) -> tuple[float, float, float]:
    """``(ece, brier, log_loss)`` of already validated float arrays (no checks).

    For callers that score many slices of arrays they have validated once (the
    walk-forward loop); same definitions as :func:`expected_calibration_error`
    (uniform bins), :func:`brier_score` and :func:`log_loss`. Empty input gives
    NaN for all three.
    """
    n = p.size
    if n == 0:
        return (float("nan"), float("nan"), float("nan"))
    ids = assign_bins(p, np.linspace(0.0, 1.0, n_bins + 1))
    d = w - p
    ece = float(np.abs(np.bincount(ids, weights=d, minlength=n_bins)).sum() / n)
    brier = float(np.dot(d, d) / n)
    q = np.clip(np.where(w > 0.5, p, 1.0 - p), eps, 1.0 - eps)
    return (ece, brier, float(-np.log(q).mean()))


# --------------------------------------------------------------------------- ECE interval


@dataclass(frozen=True)
class EceInterval:
    """Percentile bootstrap interval of the ECE.

    Attributes
    ----------
    ece : float
        ECE of the sample.
    low, high : float
        Two-sided percentile interval at ``level``; ``high`` is the bound to gate
        on ("ECE upper 95 % bound" is ``high`` with ``level=0.95``, the 97.5th
        percentile of the bootstrap distribution).
    level, n_boot, seed, n_bins, strategy, n
        How it was computed.
    method : {"exact", "cells"}
        Resampling of trades, or the cell approximation used for big samples.
    """

    ece: float
    low: float
    high: float
    level: float
    n_boot: int
    seed: int
    n_bins: int
    strategy: str
    n: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return json_safe({f.name: getattr(self, f.name) for f in fields(self)})


def ece_confidence_interval(
    prob: Any,
    win: Any,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    method: Literal["auto", "exact", "cells"] = "auto",
) -> EceInterval:
    """Bootstrap interval of the expected calibration error.

    The bin edges are held fixed at those of the full sample (for the quantile
    strategy this conditions on the observed edges). Two resampling schemes:

    ``"exact"``
        Resample trades with replacement ``n_boot`` times (seeded), recompute
        ``ECE = sum_b |sum_{i in b} (win_i - prob_i)| / n`` with one ``bincount``
        per chunk of replicates.
    ``"cells"``
        For big samples: the counts of the ``2 * n_bins`` (bin, outcome) cells
        are drawn from their exact bootstrap law (a multinomial), and the sum of
        the forecasts drawn in a cell from the normal law the central limit
        theorem gives (mean and variance of ``prob`` in the cell). The forecasts
        vary little within a bin, so this matches the exact bootstrap closely.
    ``"auto"`` (default)
        ``"exact"`` while ``n * n_boot <= 1e7`` draws, else ``"cells"``.

    The plug-in ECE is biased upward when bins hold few forecasts, so the
    interval is conservative as a gate on "ECE upper bound below x".

    Parameters
    ----------
    prob, win : array_like, shape (n,)
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}, default "uniform"
    n_boot : int, default 200
        Number of bootstrap replicates.
    level : float, default 0.95
        Two-sided level of the percentile interval.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.
    method : {"auto", "exact", "cells"}, default "auto"

    Returns
    -------
    EceInterval

    References
    ----------
    B. Efron and R. J. Tibshirani, An Introduction to the Bootstrap, Chapman &
    Hall (1993), ch. 13 (percentile intervals).
    """
    p, w = check_prob_win(prob, win)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise CalibrationError(f"n_boot must be a positive integer, got {n_boot!r}; use 200")
    if not 0.0 < level < 1.0:
        raise CalibrationError(f"level must lie in (0, 1), got {level!r}; use 0.95")
    if method not in ("auto", "exact", "cells"):
        raise CalibrationError(
            f"method must be 'auto', 'exact' or 'cells', got {method!r}; use 'auto'"
        )
    n = p.size
    _, ids, count, sum_p, sum_w = _bin_sums(p, w, n_bins=n_bins, strategy=strategy)
    ece = _ece_from_sums(count, sum_p, sum_w, n)
    if method == "auto":
        method = "exact" if n * n_boot <= EXACT_BOOTSTRAP_MAX_DRAWS else "cells"
    rng = np.random.default_rng(seed)
    if method == "exact":
        d = w - p
        boot = np.empty(n_boot)
        chunk = max(1, 4_000_000 // n)
        for start in range(0, n_boot, chunk):  # loop over replicate chunks, not trades
            r = min(chunk, n_boot - start)
            idx = rng.integers(0, n, size=(r, n))
            keys = ids[idx] + (np.arange(r) * n_bins)[:, None]
            s = np.bincount(keys.ravel(), weights=d[idx].ravel(), minlength=r * n_bins)
            boot[start : start + r] = np.abs(s.reshape(r, n_bins)).sum(axis=1) / n
    else:
        cell = ids * 2 + (w > 0.5)
        k = 2 * n_bins
        c_n = np.bincount(cell, minlength=k).astype(np.float64)
        c_sum = np.bincount(cell, weights=p, minlength=k)
        c_sq = np.bincount(cell, weights=p * p, minlength=k)
        nz = c_n > 0
        c_mean = np.where(nz, c_sum / np.where(nz, c_n, 1.0), 0.0)
        c_var = np.where(nz, np.maximum(c_sq / np.where(nz, c_n, 1.0) - c_mean**2, 0.0), 0.0)
        m = rng.multinomial(n, c_n / n, size=n_boot).astype(np.float64)
        sum_prob = m * c_mean + np.sqrt(m * c_var) * rng.standard_normal((n_boot, k))
        wins = m * np.tile([0.0, 1.0], n_bins)
        s = (wins - sum_prob).reshape(n_boot, n_bins, 2).sum(axis=2)
        boot = np.abs(s).sum(axis=1) / n
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return EceInterval(
        ece=ece,
        low=float(low),
        high=float(high),
        level=float(level),
        n_boot=int(n_boot),
        seed=int(seed),
        n_bins=int(n_bins),
        strategy=strategy,
        n=int(n),
        method=method,
    )


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class CalibrationMetrics:
    """Every calibration figure of one set of forecasts.

    Attributes
    ----------
    n : int
        Number of forecasts.
    base_rate : float
        Share of wins.
    ece, mce : float
        Expected and maximum calibration error on ``n_bins`` bins of
        ``strategy``; the MCE only over bins holding ``min_bin_count``
        forecasts (NaN when none does).
    ace : float
        Adaptive calibration error (ECE on ``n_bins`` equal-mass bins).
    brier : float
        Brier score.
    rel, res, unc : float
        Murphy's reliability, resolution and uncertainty (same bins as ``ece``).
    log_loss : float
        Mean negative log-likelihood (natural log, clipped at 1e-15).
    n_bins, strategy
        Binning of ``ece``, ``mce``, ``rel`` and ``res``.
    ece_low, ece_high : float or None
        Bootstrap interval of the ECE (``ece_interval=True``, the default).
    spiegelhalter_z, spiegelhalter_p : float
        Spiegelhalter's (1986) calibration z and its two-sided p-value
        (:func:`spiegelhalter_test`).
    min_bin_count : int
        Fewest forecasts a bin needs to count in the MCE.
    n_small_bins : int
        Non-empty bins below ``min_bin_count`` (left out of the MCE).
    """

    n: int
    base_rate: float
    ece: float
    mce: float
    ace: float
    brier: float
    rel: float
    res: float
    unc: float
    log_loss: float
    n_bins: int = 10
    strategy: str = "uniform"
    ece_low: float | None = None
    ece_high: float | None = None
    spiegelhalter_z: float = float("nan")
    spiegelhalter_p: float = float("nan")
    min_bin_count: int = MIN_BIN_COUNT
    n_small_bins: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return json_safe({f.name: getattr(self, f.name) for f in fields(self)})


def calibration_report(
    prob: Any,
    win: Any,
    *,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
    ece_interval: bool = True,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    min_bin_count: int = MIN_BIN_COUNT,
) -> CalibrationMetrics:
    """All calibration metrics of ``prob`` against ``win`` in one pass.

    Parameters
    ----------
    prob, win : array_like, shape (n,)
        Forecast in [0, 1] and outcome 0/1.
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}, default "uniform"
        Binning of ECE, MCE and the Brier decomposition (ACE always uses
        equal-mass bins).
    ece_interval : bool, default True
        Also compute :func:`ece_confidence_interval` (``n_boot``, ``level``,
        ``seed``) into ``ece_low``/``ece_high``: an ECE comes with its interval.
    min_bin_count : int, default :data:`MIN_BIN_COUNT`
        Fewest forecasts a bin needs to count in the MCE.

    Returns
    -------
    CalibrationMetrics
    """
    p, w = check_prob_win(prob, win)
    n = p.size
    _, _, count, sum_p, sum_w = _bin_sums(p, w, n_bins=n_bins, strategy=strategy)
    ece = _ece_from_sums(count, sum_p, sum_w, n)
    mce = _mce_from_sums(count, sum_p, sum_w, min_bin_count)
    if strategy == "quantile":
        ace = ece
    else:
        _, _, qc, qp, qw = _bin_sums(p, w, n_bins=n_bins, strategy="quantile")
        ace = _ece_from_sums(qc, qp, qw, n)
    rel, res, unc = _decomposition_from_sums(count, sum_p, sum_w, n)
    d = p - w
    q = np.clip(np.where(w > 0.5, p, 1.0 - p), 1e-15, 1.0 - 1e-15)
    sp = _spiegelhalter(p, w)
    low = high = None
    if ece_interval:
        ci = ece_confidence_interval(
            p, w, n_bins=n_bins, strategy=strategy, n_boot=n_boot, level=level, seed=seed
        )
        low, high = ci.low, ci.high
    return CalibrationMetrics(
        n=int(n),
        base_rate=float(sum_w.sum() / n),
        ece=ece,
        mce=mce,
        ace=ace,
        brier=float(np.dot(d, d) / n),
        rel=rel,
        res=res,
        unc=unc,
        log_loss=float(-np.log(q).mean()),
        n_bins=int(n_bins),
        strategy=strategy,
        ece_low=low,
        ece_high=high,
        spiegelhalter_z=sp.z,
        spiegelhalter_p=sp.p_value,
        min_bin_count=int(min_bin_count),
        n_small_bins=int(((count > 0) & (count < min_bin_count)).sum()),
    )
