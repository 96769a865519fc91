"""Expected win rate of the open signals, and a check once their outcomes arrive.

Open signals with calibrated win probabilities ``p_1 .. p_n`` win
independently (an assumption: signals on the same day and symbol family are
correlated, which widens the real spread). The number of wins then follows the
**Poisson-binomial** distribution; its probability mass function is computed
exactly as the product of the generating polynomials ``(1 - p_i + p_i x)``.
The product is formed as a balanced tree of batched convolutions: all pairs of
one level are convolved at once (directly while that is cheap, by real FFT
above), so there are ``log2(n)`` numpy steps and no loop over signals.

From the distribution: the expected number and share of wins, a band of the
sampling error (equal-tailed quantiles), and, once the outcomes are known, the
two-sided p-value of the realised count (the probability of an outcome no more
likely than the one seen, the rule of :func:`scipy.stats.binomtest`). A small
p-value says the calibrated probabilities no longer describe the live signals:
a confidence-based performance estimate (CBPE) check that is itself a drift
signal.

References
----------
Y. Hong, "On computing the distribution function for the Poisson binomial
distribution", Computational Statistics & Data Analysis 59 (2013) 41-51.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from core.errors import ValidationError
from core.jsonsafe import json_safe

__all__ = [
    "OpenBookCheck",
    "OpenBookForecast",
    "check_open_book",
    "open_book_forecast",
    "poisson_binomial_pmf",
]

#: Relative tolerance of "no more likely than" in the two-sided p-value (as scipy).
_REL_TOL = 1 + 1e-7
#: Longest polynomials convolved directly; longer levels of the tree use a real FFT.
_DIRECT_MAX_LENGTH = 32


def _as_probabilities(prob: Any, name: str = "prob") -> np.ndarray:
    try:
        p = np.asarray(prob, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be numbers in [0, 1]: {exc}") from exc
    if p.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {p.shape}")
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0.0) | (p > 1.0))
    if bad.size:
        raise ValidationError(
            f"{name} must be probabilities in [0, 1]; position {bad[0]} holds {p[bad[0]]!r} "
            f"({bad.size} such value(s)); calibrate the scores and drop NaN first"
        )
    return p


def poisson_binomial_pmf(prob: Any) -> np.ndarray:
    """Probability of ``k`` wins, ``k = 0 .. n``, for independent win probabilities.

    Parameters
    ----------
    prob : array_like of float, shape (n,)
        Win probability of each signal, in [0, 1]. May be empty (then the pmf
        is ``[1.0]``).

    Returns
    -------
    ndarray of float64, shape (n + 1,)
        Non-negative, sums to 1.

    Notes
    -----
    Exact up to rounding: the polynomial product ``prod_i (1 - p_i + p_i x)``
    by a balanced tree of convolutions. Levels of polynomials longer than 32
    coefficients (n > 32) are convolved by real FFT, whose rounding error
    (~1e-16 of the largest mass) is clipped at 0 before the result is
    renormalised.

    References
    ----------
    Y. Hong (2013), Computational Statistics & Data Analysis 59, 41-51.

    Examples
    --------
    >>> poisson_binomial_pmf([0.5, 0.5]).tolist()
    [0.25, 0.5, 0.25]
    """
    p = _as_probabilities(prob)
    if p.size == 0:
        return np.ones(1)
    polys = np.column_stack([1.0 - p, p])  # (m, L): one polynomial per row
    while polys.shape[0] > 1:  # log2(n) levels, each vectorised over all pairs
        m, length = polys.shape
        if m % 2:
            one = np.zeros((1, length))
            one[0, 0] = 1.0
            polys = np.vstack([polys, one])
            m += 1
        a, b = polys[0::2], polys[1::2]
        out_len = 2 * length - 1
        if length <= _DIRECT_MAX_LENGTH:
            # Direct: shift-and-add over the (short) polynomial length, all pairs at once.
            out = np.zeros((m // 2, out_len))
            for j in range(length):
                out[:, j : j + length] += a[:, j : j + 1] * b
        else:
            size = 1 << (out_len - 1).bit_length()
            spectrum = np.fft.rfft(a, size, axis=1) * np.fft.rfft(b, size, axis=1)
            out = np.fft.irfft(spectrum, size, axis=1)[:, :out_len]
            np.clip(out, 0.0, None, out=out)
        # The degree of a product of k factors is k; trailing zeros are padding.
        polys = out
    pmf = polys[0, : p.size + 1]
    pmf = np.clip(pmf, 0.0, None)
    return pmf / pmf.sum()


def _two_sided_p(pmf: np.ndarray, k: int) -> float:
    """P(outcome no more likely than ``k``), the ``minlike`` rule of scipy's binomtest."""
    return float(min(1.0, pmf[pmf <= pmf[k] * _REL_TOL].sum()))


@dataclass(frozen=True, eq=False)
class OpenBookForecast:
    """The distribution of wins among the open signals.

    Attributes
    ----------
    n : int
        Open signals.
    probabilities : ndarray, shape (n,)
        Their calibrated win probabilities (as given).
    pmf : ndarray, shape (n + 1,)
        ``pmf[k]`` = probability of exactly ``k`` wins.
    expected_wins, sd_wins : float
        ``sum p_i`` and ``sqrt(sum p_i (1 - p_i))``.
    expected_win_rate : float
        ``expected_wins / n``, a fraction (NaN when ``n`` is 0).
    level : float
        Coverage of the band.
    wins_low, wins_high : int
        Equal-tailed band: the ``(1 - level) / 2`` and ``(1 + level) / 2``
        quantiles of the number of wins (smallest ``k`` with CDF at least that).
    win_rate_low, win_rate_high : float
        The band divided by ``n``.
    expected_return_pct : float
        Mean of the given per-signal expected returns, percent per signal (NaN
        when none were given).
    expected_total_return_pct : float
        Their sum, percent of one unit position per signal.
    """

    n: int
    probabilities: np.ndarray = field(repr=False)
    pmf: np.ndarray = field(repr=False)
    expected_wins: float
    sd_wins: float
    expected_win_rate: float
    level: float
    wins_low: int
    wins_high: int
    win_rate_low: float
    win_rate_high: float
    expected_return_pct: float = math.nan
    expected_total_return_pct: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field (arrays as lists)."""
        return json_safe({f.name: getattr(self, f.name) for f in fields(self)})


def open_book_forecast(
    prob: Any,
    *,
    expected_returns_pct: Any = None,
    level: float = 0.9,
) -> OpenBookForecast:
    """Poisson-binomial forecast of how many open signals will win.

    Parameters
    ----------
    prob : array_like of float, shape (n,)
        Calibrated win probability of each open signal (out of sample: from a
        calibrator fitted on closed trades only).
    expected_returns_pct : array_like of float, shape (n,), optional
        Expected return of each signal, percent, e.g. ``p * avg_win + (1 - p) *
        avg_loss`` from closed trades.
    level : float, default 0.9
        Coverage of the sampling-error band, in (0, 1).

    Returns
    -------
    OpenBookForecast

    Raises
    ------
    ValidationError
        A probability outside [0, 1] or NaN, returns misaligned or not finite,
        ``level`` outside (0, 1).

    References
    ----------
    Y. Hong (2013), Computational Statistics & Data Analysis 59, 41-51.
    """
    p = _as_probabilities(prob)
    if not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise ValidationError(f"level must lie in (0, 1), got {level!r}; use 0.9")
    pmf = poisson_binomial_pmf(p)
    n = int(p.size)
    cdf = np.cumsum(pmf)
    alpha = (1.0 - float(level)) / 2.0
    # Smallest k with CDF >= q (a hair of tolerance for the rounding of cumsum).
    low = int(np.searchsorted(cdf, alpha - 1e-12, side="left"))
    high = int(min(np.searchsorted(cdf, 1.0 - alpha - 1e-12, side="left"), n))
    er_mean = er_total = math.nan
    if expected_returns_pct is not None:
        er = np.asarray(expected_returns_pct, dtype=np.float64)
        if er.shape != p.shape or not np.isfinite(er).all():
            raise ValidationError(
                f"expected_returns_pct must be {n} finite numbers (one per signal), got shape "
                f"{er.shape}; align it with prob"
            )
        er_total = float(er.sum())
        er_mean = er_total / n if n else math.nan
    p.setflags(write=False)
    pmf.setflags(write=False)
    return OpenBookForecast(
        n=n,
        probabilities=p,
        pmf=pmf,
        expected_wins=float(p.sum()),
        sd_wins=float(np.sqrt(np.sum(p * (1.0 - p)))),
        expected_win_rate=float(p.mean()) if n else math.nan,
        level=float(level),
        wins_low=low,
        wins_high=high,
        win_rate_low=low / n if n else math.nan,
        win_rate_high=high / n if n else math.nan,
        expected_return_pct=er_mean,
        expected_total_return_pct=er_total,
    )


@dataclass(frozen=True)
class OpenBookCheck:
    """Estimate against outcome once the open signals have closed.

    Attributes
    ----------
    n : int
    expected_wins, expected_win_rate : float
        From the forecast.
    realised_wins : int
    realised_win_rate : float
    p_value : float
        Two-sided: probability, under the forecast, of a count no more likely
        than the realised one.
    within_band : bool
        Realised count inside ``[wins_low, wins_high]``.
    z : float
        ``(realised - expected) / sd`` (NaN when the sd is 0).
    drift : bool
        ``p_value < alpha``.
    alpha : float
    """

    n: int
    expected_wins: float
    expected_win_rate: float
    realised_wins: int
    realised_win_rate: float
    p_value: float
    within_band: bool
    z: float
    drift: bool
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return json_safe({f.name: getattr(self, f.name) for f in fields(self)})


def check_open_book(forecast: OpenBookForecast, win: Any, *, alpha: float = 0.05) -> OpenBookCheck:
    """Compare the realised wins of the (now closed) signals with their forecast.

    Parameters
    ----------
    forecast : OpenBookForecast
        Made before the outcomes were known.
    win : array_like of bool or 0/1, shape (n,)
        Outcomes of the same signals, same order.
    alpha : float, default 0.05
        Level below which the p-value flags drift.

    Returns
    -------
    OpenBookCheck

    Raises
    ------
    ValidationError
        ``win`` has another length or holds values other than 0/1.
    """
    w = np.asarray(win)
    if w.shape != (forecast.n,):
        raise ValidationError(
            f"win must hold one outcome per forecast signal ({forecast.n}), got shape {w.shape}"
        )
    wf = w.astype(np.float64)
    if not np.isin(wf, (0.0, 1.0)).all():
        raise ValidationError("win must hold only 0/1 or True/False; use win = return_pct > 0")
    if not 0.0 < alpha < 1.0:
        raise ValidationError(f"alpha must lie in (0, 1), got {alpha!r}; use 0.05")
    k = int(wf.sum())
    sd = forecast.sd_wins
    return OpenBookCheck(
        n=forecast.n,
        expected_wins=forecast.expected_wins,
        expected_win_rate=forecast.expected_win_rate,
        realised_wins=k,
        realised_win_rate=k / forecast.n if forecast.n else math.nan,
        p_value=_two_sided_p(forecast.pmf, k),
        within_band=bool(forecast.wins_low <= k <= forecast.wins_high),
        z=(k - forecast.expected_wins) / sd if sd > 0 else math.nan,
        drift=bool(_two_sided_p(forecast.pmf, k) < alpha),
        alpha=float(alpha),
    )
