"""Is the signal still working? Drift between a baseline window and a current window.

Three kinds of drift are measured, all from trades frames (see :mod:`core.trades`):

- the **confidence distribution** (population stability index, two-sample
  Kolmogorov-Smirnov test) — the model scores differently;
- **realised performance** (win rate, mean return, per-trade Sharpe, each with a
  one-sided test for a drop) and **calibration** (Brier score, ECE) — the scores
  mean something else now;
- **streaming detectors** (Page-Hinkley, CUSUM from :mod:`core.lifecycle.detectors`)
  run over the current window's outcomes in time order — *when* it went wrong.

A baseline is stored compactly as a :class:`DriftBaseline` (a
:class:`DistributionSummary` of the confidence plus performance figures; JSON
through ``to_dict``/``from_dict``) so a later check needs only the current trades:
:func:`baseline_from_trades` then :func:`check_against_baseline`.
:func:`compare_windows` does both at once from two trades frames (and runs the KS
test on the raw baseline values). :func:`rolling_drift` walks a run window by
window for the dashboard's time series.

Each statistic becomes a :class:`DriftFinding` with a severity (``"ok"``,
``"warning"``, ``"critical"``) set by :class:`DriftThresholds`; a
:class:`DriftReport` holds them and lists the ``alerts`` (severity not ``"ok"``).

Units: ``return_pct`` in percent; win rates, PSI, Brier and ECE as fractions;
Sharpe per trade, not annualised (docs/architecture.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from core.analytics.calibration import (
    assign_bins,
    bin_edges,
    brier_score,
    expected_calibration_error,
)
from core.errors import ConfigError, DriftError, InsufficientDataError, ValidationError
from core.lifecycle.detectors import CUSUM, DriftDetector, PageHinkley, detect_changes
from core.trades import validate_trades

__all__ = [
    "METRICS",
    "DistributionSummary",
    "DriftBaseline",
    "DriftFinding",
    "DriftReport",
    "DriftThresholds",
    "KSResult",
    "WinRateChange",
    "baseline_from_trades",
    "check_against_baseline",
    "compare_windows",
    "confidence_histogram",
    "default_detectors",
    "ks_test",
    "population_stability_index",
    "rolling_drift",
    "summarize_distribution",
    "win_rate_change",
]

Severity = Literal["ok", "warning", "critical"]
_RANK: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2}

#: Metric names :meth:`DriftThresholds.severity` knows, with what ``value`` means.
METRICS: dict[str, str] = {
    "psi": "population stability index (larger is worse)",
    "ks": "two-sample KS p-value (smaller is worse)",
    "win_rate": "one-sided p-value of a drop in win rate (smaller is worse)",
    "brier": "increase of the Brier score, current - baseline (larger is worse)",
    "ece": "increase of the ECE, current - baseline (larger is worse)",
    "mean_return": "one-sided Welch p-value of a drop in mean return (smaller is worse)",
    "sharpe": "one-sided p-value of a drop in per-trade Sharpe (smaller is worse)",
    "detector": "number of detections of a streaming detector (larger is worse)",
}

DEFAULT_MIN_TRADES = 30


# --------------------------------------------------------------------------- helpers


def _f(value: Any) -> float | None:
    """JSON-safe float: NaN and None become None, infinities stay floats."""
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def _nan(value: Any) -> float:
    """Inverse of :func:`_f` for reading stored figures."""
    return math.nan if value is None else float(value)


def _time(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso(value: pd.Timestamp | None) -> str | None:
    return None if value is None else value.isoformat()


def _values(name: str, values: Any, *, min_size: int = 1) -> np.ndarray:
    """1-D finite float64 array, or a ValidationError naming ``name``."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be an array of real numbers") from None
    if x.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValidationError(
            f"{name} must be finite; position {bad[0]} holds {float(x[bad[0]])!r} "
            f"({bad.size} such value(s)); drop those rows first"
        )
    if x.size < min_size:
        raise InsufficientDataError(f"{name} has {x.size} value(s); at least {min_size} are needed")
    return x


def _bin_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``[e0, e1), [e1, e2), ..., [e_{k-1}, e_k]``, ends open-ended.

    Values below ``e0`` count in the first bin and above ``e_k`` in the last.
    """
    return np.searchsorted(edges[1:-1], x, side="right")


# --------------------------------------------------------------------------- distribution


@dataclass(frozen=True)
class DistributionSummary:
    """A compact, storable picture of a baseline distribution.

    Attributes
    ----------
    edges : tuple of float, length k + 1
        Bin edges, non-decreasing. For quantile bins ``edges[0]`` and ``edges[-1]``
        are the baseline's minimum and maximum; in PSI the end bins are
        open-ended (a current value beyond them counts in the end bin).
    proportions : tuple of float, length k
        Share of the baseline in each bin; sums to 1.
    quantiles : tuple of float, length q
        Baseline quantiles at the levels ``linspace(0, 1, q)`` (``"inverted_cdf"``
        definition: each is a baseline value), from which :meth:`cdf`
        reconstructs the empirical CDF within ``1 / (q - 1)``.
    n : int
        Number of baseline values summarised.
    mean, std : float
        Mean and standard deviation (ddof=1; NaN when ``n == 1``).
    """

    edges: tuple[float, ...]
    proportions: tuple[float, ...]
    quantiles: tuple[float, ...]
    n: int
    mean: float
    std: float

    def __post_init__(self) -> None:
        e = np.asarray(self.edges, dtype=np.float64)
        p = np.asarray(self.proportions, dtype=np.float64)
        q = np.asarray(self.quantiles, dtype=np.float64)
        problems = []
        if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) < 0):
            problems.append("edges must be >= 2 finite non-decreasing numbers")
        elif p.shape != (e.size - 1,):
            problems.append(f"proportions must have len(edges) - 1 = {e.size - 1} entries")
        if p.size and (np.any(~np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-6):
            problems.append("proportions must be >= 0 and sum to 1")
        if q.ndim != 1 or q.size < 2 or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
            problems.append("quantiles must be >= 2 finite non-decreasing numbers")
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            problems.append(f"n must be a positive integer, got {self.n!r}")
        if problems:
            raise ValidationError(
                "invalid DistributionSummary: " + "; ".join(problems) + " (build one with "
                "summarize_distribution(values))"
            )

    @property
    def quantile_levels(self) -> np.ndarray:
        """Levels of :attr:`quantiles`, shape (q,): ``linspace(0, 1, q)``."""
        return np.linspace(0.0, 1.0, len(self.quantiles))

    def cdf(self, x: Any, *, side: Literal["right", "left"] = "right") -> np.ndarray:
        """Approximate empirical CDF of the baseline, from the stored quantiles.

        Between consecutive stored quantiles ``(q_j, p_j)`` and ``(q_{j+1}, p_{j+1})``
        the CDF is interpolated linearly. Because each ``q_j`` is a baseline value
        with ``F(q_j) >= p_j`` and ``F(x) < p_{j+1}`` for ``x < q_{j+1}``, the error
        is below ``1 / (q - 1)`` (0.001 with the default 1001 quantiles),
        whatever the baseline size.

        Parameters
        ----------
        x : array_like, shape (m,)
        side : {"right", "left"}
            ``"right"``: ``F(x) = P(X <= x)``; ``"left"``: the left limit ``P(X < x)``.

        Returns
        -------
        ndarray, shape (m,), values in [0, 1]
        """
        q = np.asarray(self.quantiles, dtype=np.float64)
        p = self.quantile_levels
        x = np.asarray(x, dtype=np.float64)
        j = np.searchsorted(q, x, side=side) - 1
        jc = np.clip(j, 0, q.size - 2)
        q0, q1 = q[jc], q[jc + 1]
        span = q1 - q0
        t = np.clip((x - q0) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        inside = p[jc] + t * (p[jc + 1] - p[jc])
        return np.where(j < 0, 0.0, np.where(j >= q.size - 1, 1.0, inside))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists of floats; NaN as None)."""
        return {
            "edges": [float(v) for v in self.edges],
            "proportions": [float(v) for v in self.proportions],
            "quantiles": [float(v) for v in self.quantiles],
            "n": int(self.n),
            "mean": _f(self.mean),
            "std": _f(self.std),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DistributionSummary:
        """Rebuild from :meth:`to_dict` output (validated)."""
        try:
            return cls(
                edges=tuple(float(v) for v in data["edges"]),
                proportions=tuple(float(v) for v in data["proportions"]),
                quantiles=tuple(float(v) for v in data["quantiles"]),
                n=int(data["n"]),
                mean=_nan(data.get("mean")),
                std=_nan(data.get("std")),
            )
        except KeyError as exc:
            raise ValidationError(
                f"DistributionSummary dict lacks {exc.args[0]!r}; expected the keys "
                "edges, proportions, quantiles, n, mean, std (from to_dict())"
            ) from None


def _edges(values: np.ndarray, bins: int | Sequence[float]) -> np.ndarray:
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise ConfigError(f"bins must be a positive integer or a list of edges, got {bins}")
        inner = np.unique(np.quantile(values, np.linspace(0.0, 1.0, int(bins) + 1)[1:-1]))
        return np.r_[values.min(), inner, values.max()]
    try:
        e = np.asarray(bins, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"bins must be an integer or a list of edges, got {bins!r}") from None
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ConfigError(
            f"explicit bin edges must be >= 2 finite, strictly increasing numbers, got {bins!r}"
        )
    return e


def confidence_histogram(values: Any, *, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin of ``edges``.

    Bins are ``[e0, e1), [e1, e2), ..., [e_{k-1}, e_k]`` with open-ended end bins:
    a value below ``e0`` counts in the first bin, one above ``e_k`` in the last.

    Parameters
    ----------
    values : array_like, shape (n,)
        Finite values (confidences in [0, 1], say).
    edges : array_like, shape (k + 1,)
        Non-decreasing bin edges.

    Returns
    -------
    ndarray, shape (k,)
        Proportions summing to 1.
    """
    x = _values("values", values)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) < 0):
        raise ConfigError(f"edges must be >= 2 finite non-decreasing numbers, got {edges!r}")
    counts = np.bincount(_bin_index(x, e), minlength=e.size - 1)
    return counts / x.size


def summarize_distribution(
    values: Any, *, bins: int | Sequence[float] = 10, n_quantiles: int = 1001
) -> DistributionSummary:
    """Summarise a baseline distribution for storage (edges, proportions, quantiles).

    Parameters
    ----------
    values : array_like, shape (n,)
        The baseline values (e.g. the confidence of each baseline trade).
    bins : int or sequence of float, default 10
        Number of quantile bins of ``values``, or explicit edges. Quantile bins have
        the ``bins - 1`` inner quantiles as inner edges (ties merge equal edges, so
        tied data get fewer bins, and a bin below the lowest inner edge may be
        empty) and the minimum and maximum as outer edges.
    n_quantiles : int, default 1001
        Quantiles kept for the approximate KS test (levels 0, 0.001, ..., 1): about
        8 kB of JSON whatever ``n``.

    Returns
    -------
    DistributionSummary
    """
    x = _values("values", values)
    if isinstance(n_quantiles, bool) or not isinstance(n_quantiles, (int, np.integer)):
        raise ConfigError(f"n_quantiles must be an integer >= 2, got {n_quantiles!r}; use 1001")
    if n_quantiles < 2:
        raise ConfigError(f"n_quantiles must be an integer >= 2, got {n_quantiles!r}; use 1001")
    e = _edges(x, bins)
    q = np.quantile(x, np.linspace(0.0, 1.0, int(n_quantiles)), method="inverted_cdf")
    return DistributionSummary(
        edges=tuple(e.tolist()),
        proportions=tuple(confidence_histogram(x, edges=e).tolist()),
        quantiles=tuple(np.maximum.accumulate(q).tolist()),
        n=int(x.size),
        mean=float(x.mean()),
        std=float(x.std(ddof=1)) if x.size > 1 else math.nan,
    )


def population_stability_index(
    baseline: Any,
    current: Any,
    *,
    bins: int | Sequence[float] | None = None,
    eps: float = 1e-4,
) -> float:
    """Population stability index of ``current`` against ``baseline``.

    ``PSI = Σ_i (c_i − b_i) · ln(c_i / b_i)`` over bins, with ``b_i`` and ``c_i`` the
    shares of the baseline and of the current values in bin ``i``. Each term is
    ≥ 0, so PSI ≥ 0, and PSI = 0 when the shares agree. Conventions (credit
    scoring, Siddiqi 2006): below 0.1 no significant shift, 0.1-0.25 a moderate
    shift (warning), 0.25 and above a major shift (critical).

    Parameters
    ----------
    baseline : array_like, shape (n,), or DistributionSummary
        Baseline values, or a stored summary (its edges and proportions are used).
    current : array_like, shape (m,)
        Current values.
    bins : int or sequence of float, optional
        With raw baseline values: the number of quantile bins of the baseline
        (default 10) or explicit edges. Must be omitted with a summary.
    eps : float, default 1e-4
        Floor applied to empty shares so the logarithm is finite (shares are not
        renormalised after flooring, as in the usual implementation). A bin empty
        in one window and holding 10 % in the other adds about 0.1 · ln(1000) ≈ 0.69.

    Returns
    -------
    float
        PSI, ≥ 0 (dimensionless).

    References
    ----------
    N. Siddiqi, *Credit Risk Scorecards*, Wiley (2006), ch. 8. B. Yurdakul,
    "Statistical properties of population stability index", PhD thesis, Western
    Michigan University (2018).

    Examples
    --------
    >>> round(population_stability_index([0.1, 0.2, 0.6, 0.7], [0.1, 0.6, 0.7, 0.8],
    ...                                  bins=[0.0, 0.5, 1.0]), 6)  # 0.25 ln 3
    0.274653
    """
    if not (isinstance(eps, (int, float)) and 0.0 < eps < 1.0):
        raise ConfigError(f"eps must lie in (0, 1), got {eps!r}; use 1e-4")
    cur = _values("current", current)
    if isinstance(baseline, DistributionSummary):
        if bins is not None:
            raise ConfigError(
                "bins must be omitted when baseline is a DistributionSummary: the "
                "summary's edges are used"
            )
        e = np.asarray(baseline.edges, dtype=np.float64)
        b = np.asarray(baseline.proportions, dtype=np.float64)
    else:
        base = _values("baseline", baseline)
        e = _edges(base, 10 if bins is None else bins)
        b = confidence_histogram(base, edges=e)
    c = confidence_histogram(cur, edges=e)
    b = np.maximum(b, eps)
    c = np.maximum(c, eps)
    return float(np.sum((c - b) * np.log(c / b)))


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test.

    Attributes
    ----------
    statistic : float
        ``D = sup_x |F_current(x) − F_baseline(x)|`` in [0, 1].
    p_value : float
        Two-sided p-value.
    n_baseline, n_current : int
    approximate : bool
        True when computed from a :class:`DistributionSummary` (see :func:`ks_test`).
    """

    statistic: float
    p_value: float
    n_baseline: int
    n_current: int
    approximate: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ks_test(baseline: Any, current: Any) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test of ``current`` against ``baseline``.

    With raw baseline values this is :func:`scipy.stats.ks_2samp` (two-sided,
    ``method="auto"``: exact for small samples, asymptotic otherwise).

    With a :class:`DistributionSummary` the baseline ECDF is rebuilt from its
    stored quantiles (:meth:`DistributionSummary.cdf`, error < ``1/(q − 1)``, i.e.
    0.001 with 1001 quantiles), ``D`` is the supremum over the current values
    and the stored quantiles (both one-sided limits), so ``|D − D_exact| < 1/(q−1)``,
    and the p-value is the asymptotic one scipy uses,
    ``kstwo.sf(D, round(n·m/(n+m)))``, with ``n`` the summary's size.

    Parameters
    ----------
    baseline : array_like, shape (n,), or DistributionSummary
    current : array_like, shape (m,)

    Returns
    -------
    KSResult

    References
    ----------
    N. Smirnov, "Table for estimating the goodness of fit of empirical
    distributions", Ann. Math. Statist. 19 (1948) 279-281.
    """
    cur = _values("current", current)
    if not isinstance(baseline, DistributionSummary):
        base = _values("baseline", baseline)
        res = stats.ks_2samp(base, cur)
        return KSResult(float(res.statistic), float(res.pvalue), base.size, cur.size, False)
    c = np.sort(cur)
    m = c.size
    z = np.unique(np.r_[c, np.asarray(baseline.quantiles, dtype=np.float64)])
    d_right = np.abs(np.searchsorted(c, z, side="right") / m - baseline.cdf(z, side="right"))
    d_left = np.abs(np.searchsorted(c, z, side="left") / m - baseline.cdf(z, side="left"))
    d = float(min(1.0, max(d_right.max(), d_left.max())))
    n = baseline.n
    en = round(n * m / (n + m))
    p = float(np.clip(stats.kstwo.sf(d, max(en, 1)), 0.0, 1.0))
    return KSResult(d, p, n, m, True)


# --------------------------------------------------------------------------- win rate


@dataclass(frozen=True)
class WinRateChange:
    """Change of the win rate from a baseline to a current window.

    Attributes
    ----------
    baseline_rate, current_rate : float
        Win rates in [0, 1].
    difference : float
        ``current_rate − baseline_rate`` (negative: a drop).
    statistic : float
        Two-proportion z statistic with the pooled standard error (0 when both
        windows are all wins or all losses).
    p_value : float
        p-value of the test named by ``method`` for ``alternative``.
    method : {"z", "fisher"}
    alternative : {"less", "two-sided", "greater"}
    """

    baseline_rate: float
    current_rate: float
    difference: float
    statistic: float
    p_value: float
    method: str
    alternative: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return int(value)
        raise ValidationError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise ValidationError(f"{name} must be >= 0, got {value!r}")
    return int(value)


def win_rate_change(
    baseline_wins: int,
    baseline_n: int,
    current_wins: int,
    current_n: int,
    *,
    alternative: Literal["less", "two-sided", "greater"] = "less",
) -> WinRateChange:
    """Test whether the win rate changed (by default: dropped) between two windows.

    The two-proportion z-test (pooled standard error) is used when every
    expected cell count ``n_i · p̂`` and ``n_i · (1 − p̂)`` is at least 5; otherwise
    Fisher's exact test (:func:`scipy.stats.fisher_exact`, conditional on the
    margins, so conservative) is used, since the normal approximation is poor there.

    Parameters
    ----------
    baseline_wins, baseline_n, current_wins, current_n : int
        Counts of winning trades and of trades in each window.
    alternative : {"less", "two-sided", "greater"}, default "less"
        ``"less"``: H1 is that the current win rate is lower (a one-sided test for
        a drop).

    Returns
    -------
    WinRateChange

    Raises
    ------
    ValidationError
        A count is negative or not whole, or wins exceed trades.
    InsufficientDataError
        A window has no trades.

    References
    ----------
    A. Agresti, *Categorical Data Analysis*, 3rd ed., Wiley (2013), §3.1.3 (large
    sample) and §3.5.1 (Fisher's exact test).
    """
    kb, nb = _count("baseline_wins", baseline_wins), _count("baseline_n", baseline_n)
    kc, nc = _count("current_wins", current_wins), _count("current_n", current_n)
    for wins, n, label in ((kb, nb, "baseline"), (kc, nc, "current")):
        if n == 0:
            raise InsufficientDataError(f"the {label} window has no trades; a win rate needs one")
        if wins > n:
            raise ValidationError(f"{label}_wins ({wins}) exceeds {label}_n ({n})")
    if alternative not in ("less", "two-sided", "greater"):
        raise ConfigError(
            f"alternative must be 'less', 'two-sided' or 'greater', got {alternative!r}"
        )
    pb, pc = kb / nb, kc / nc
    pooled = (kb + kc) / (nb + nc)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / nb + 1.0 / nc))
    z = (pc - pb) / se if se > 0 else 0.0
    expected = min(nb, nc) * min(pooled, 1.0 - pooled)
    if expected >= 5.0:
        method = "z"
        if alternative == "less":
            p = stats.norm.cdf(z)
        elif alternative == "greater":
            p = stats.norm.sf(z)
        else:
            p = 2.0 * stats.norm.sf(abs(z))
    else:
        method = "fisher"
        table = [[kc, nc - kc], [kb, nb - kb]]
        p = stats.fisher_exact(table, alternative=alternative).pvalue
    return WinRateChange(pb, pc, pc - pb, float(z), float(min(1.0, p)), method, alternative)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class DriftThresholds:
    """Warning and critical levels of every drift metric.

    p-value metrics alert when ``p <= level``; the others when ``value >= level``.
    A drop smaller than the ``*_min_drop`` gate never alerts, however small its
    p-value (with tens of thousands of trades a trivial drop is significant).

    One check runs six significance tests (KS, win rate, Brier, ECE map, mean
    return, Sharpe). The default p-levels are Bonferroni-style, 0.05 / 6 ≈ 0.01
    for a warning and 0.001 for critical, so a window drawn like the baseline
    raises a false warning in about 5 % of checks in all, not 5 % per test.

    Attributes
    ----------
    psi_warning, psi_critical : float, default 0.1, 0.25
        PSI levels (the credit-scoring convention, Siddiqi 2006).
    ks_p_warning, ks_p_critical : float, default 0.01, 0.001
        KS p-value levels.
    win_rate_p_warning, win_rate_p_critical : float, default 0.01, 0.001
        One-sided p-value levels of a drop in win rate.
    win_rate_min_drop : float, default 0.02
        Smallest drop in win rate (2 percentage points) that can alert.
    brier_warning, brier_critical : float, default 0.01, 0.03
        Absolute increase of the Brier score. (A coin-flip forecaster scores 0.25.)
    brier_max_p : float, default 0.01
        The increase must also be significant: the one-sided Welch t-test on the
        per-trade squared errors must give ``p <= brier_max_p`` (the Brier score is
        their mean), so sampling noise in a small window does not alert.
    ece_warning, ece_critical : float, default 0.02, 0.05
        Absolute increase of the ECE. ECE is biased upwards in small samples, so
        the increase alerts only when the calibration map changed significantly
        too: a chi-square test of the current wins per score bin against the
        baseline's win rate per bin must give ``p <= brier_max_p``.
    mean_return_p_warning, mean_return_p_critical : float, default 0.01, 0.001
        One-sided Welch t-test p-value levels of a drop in mean ``return_pct``.
    mean_return_min_drop : float, default 0.0
        Smallest drop of the mean return, in percentage points, that can alert.
    sharpe_p_warning, sharpe_p_critical : float, default 0.01, 0.001
        One-sided p-value levels of a drop in per-trade Sharpe.
    sharpe_min_drop : float, default 0.02
        Smallest drop of per-trade Sharpe that can alert.
    detector_warning, detector_critical : int, default 1, 2
        Detections of a streaming detector in the current window. A second
        detection means the shift persisted after the detector restarted.
    """

    psi_warning: float = 0.10
    psi_critical: float = 0.25
    ks_p_warning: float = 0.01
    ks_p_critical: float = 0.001
    win_rate_p_warning: float = 0.01
    win_rate_p_critical: float = 0.001
    win_rate_min_drop: float = 0.02
    brier_warning: float = 0.01
    brier_critical: float = 0.03
    brier_max_p: float = 0.01
    ece_warning: float = 0.02
    ece_critical: float = 0.05
    mean_return_p_warning: float = 0.01
    mean_return_p_critical: float = 0.001
    mean_return_min_drop: float = 0.0
    sharpe_p_warning: float = 0.01
    sharpe_p_critical: float = 0.001
    sharpe_min_drop: float = 0.02
    detector_warning: int = 1
    detector_critical: int = 2

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"DriftThresholds.{f.name} must be a finite number, got {v!r}")
            if v < 0:
                raise ConfigError(f"DriftThresholds.{f.name} must be >= 0, got {v!r}")
        for m in ("ks", "win_rate", "mean_return", "sharpe"):
            w, c = getattr(self, f"{m}_p_warning"), getattr(self, f"{m}_p_critical")
            if not 0.0 < c <= w < 1.0:
                raise ConfigError(
                    f"DriftThresholds needs 0 < {m}_p_critical <= {m}_p_warning < 1, got "
                    f"{m}_p_critical={c!r} and {m}_p_warning={w!r}"
                )
        if not 0.0 < self.brier_max_p <= 1.0:
            raise ConfigError(
                f"DriftThresholds.brier_max_p must lie in (0, 1], got {self.brier_max_p!r}"
            )
        for m in ("psi", "brier", "ece", "detector"):
            w, c = getattr(self, f"{m}_warning"), getattr(self, f"{m}_critical")
            if not 0.0 < w <= c:
                raise ConfigError(
                    f"DriftThresholds needs 0 < {m}_warning <= {m}_critical, got "
                    f"{m}_warning={w!r} and {m}_critical={c!r}"
                )

    def severity(
        self,
        metric: str,
        value: float | None,
        *,
        drop: float | None = None,
        p_value: float | None = None,
    ) -> Severity:
        """Severity of one metric value.

        Parameters
        ----------
        metric : str
            One of :data:`METRICS` (``"psi"``, ``"ks"``, ``"win_rate"``, ``"brier"``,
            ``"ece"``, ``"mean_return"``, ``"sharpe"``, ``"detector"``).
        value : float or None
            What :data:`METRICS` says for that metric (a p-value, an increase, a
            PSI, a count). ``None`` or NaN (not computable) is ``"ok"``.
        drop : float, optional
            For ``win_rate``, ``mean_return`` and ``sharpe``: baseline − current.
            A drop below the metric's ``*_min_drop`` is ``"ok"``.
        p_value : float, optional
            For ``brier`` (p-value of the increase) and ``ece`` (p-value of the
            calibration-map change): above ``brier_max_p`` it is ``"ok"``.

        Returns
        -------
        {"ok", "warning", "critical"}
        """
        if metric not in METRICS:
            raise ConfigError(
                f"unknown drift metric {metric!r}; expected one of {', '.join(METRICS)}"
            )
        if value is None or math.isnan(float(value)):
            return "ok"
        v = float(value)
        if metric in ("ks", "win_rate", "mean_return", "sharpe"):
            gate = getattr(self, f"{metric}_min_drop", None)
            if gate is not None and drop is not None and not drop >= gate:
                return "ok"
            if v <= getattr(self, f"{metric}_p_critical"):
                return "critical"
            return "warning" if v <= getattr(self, f"{metric}_p_warning") else "ok"
        if (
            metric in ("brier", "ece")
            and p_value is not None
            and not math.isnan(p_value)
            and p_value > self.brier_max_p
        ):
            return "ok"
        if v >= getattr(self, f"{metric}_critical"):
            return "critical"
        return "warning" if v >= getattr(self, f"{metric}_warning") else "ok"

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftThresholds:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"DriftThresholds has no field {', '.join(map(repr, unknown))}; "
                f"fields: {', '.join(sorted(names))}"
            )
        return cls(**data)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DriftFinding:
    """One drift metric of a check.

    Attributes
    ----------
    metric : str
        ``psi``, ``ks``, ``win_rate``, ``brier``, ``ece``, ``mean_return``,
        ``sharpe`` or a detector's name and outcome (``page_hinkley_win``, ...).
    baseline_value, current_value : float or None
        The quantity in each window: mean confidence (psi, ks), win rate, Brier,
        ECE, mean return (percent), Sharpe, mean outcome (detectors).
    statistic : float or None
        PSI; KS D; z of the win rate; increase of Brier/ECE; Welch t; Sharpe z;
        number of detections.
    p_value : float or None
        One-sided for drops (win rate, mean return, Sharpe), two-sided for KS,
        None where there is no test.
    severity : {"ok", "warning", "critical"}
    message : str
        One line for people (alert lists, logs).
    detected_at : int or None
        Detectors: 0-based position in the current window (time order) of the
        first detection.
    detected_time : Timestamp or None
        Detectors: ``entry_time`` of that trade.
    """

    metric: str
    baseline_value: float | None
    current_value: float | None
    statistic: float | None
    p_value: float | None
    severity: Severity
    message: str
    detected_at: int | None = None
    detected_time: pd.Timestamp | None = None

    @property
    def is_alert(self) -> bool:
        return self.severity != "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None, time as ISO 8601)."""
        return {
            "metric": self.metric,
            "baseline_value": _f(self.baseline_value),
            "current_value": _f(self.current_value),
            "statistic": _f(self.statistic),
            "p_value": _f(self.p_value),
            "severity": self.severity,
            "message": self.message,
            "detected_at": self.detected_at,
            "detected_time": _iso(self.detected_time),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftFinding:
        if data.get("severity") not in _RANK:
            raise ValidationError(
                f"DriftFinding severity must be ok/warning/critical, got {data.get('severity')!r}"
            )
        at = data.get("detected_at")
        return cls(
            metric=str(data["metric"]),
            baseline_value=_f(data.get("baseline_value")),
            current_value=_f(data.get("current_value")),
            statistic=_f(data.get("statistic")),
            p_value=_f(data.get("p_value")),
            severity=data["severity"],
            message=str(data.get("message", "")),
            detected_at=None if at is None else int(at),
            detected_time=_time(data.get("detected_time")),
        )


@dataclass(frozen=True)
class DriftReport:
    """All findings of one drift check.

    Attributes
    ----------
    key : str
        Confidence column checked.
    n_baseline, n_current : int
        Trades in each window.
    findings : tuple of DriftFinding
        One per metric, in a fixed order (psi, ks, win_rate, brier, ece,
        mean_return, sharpe, then the detectors).
    current_start, current_end : Timestamp or None
        First and last ``entry_time`` of the current window.
    thresholds : DriftThresholds
        The levels used.
    """

    key: str
    n_baseline: int
    n_current: int
    findings: tuple[DriftFinding, ...]
    current_start: pd.Timestamp | None = None
    current_end: pd.Timestamp | None = None
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)

    @property
    def alerts(self) -> tuple[DriftFinding, ...]:
        """Findings whose severity is not ``"ok"``."""
        return tuple(f for f in self.findings if f.severity != "ok")

    @property
    def severity(self) -> Severity:
        """Worst severity over the findings."""
        worst = max((_RANK[f.severity] for f in self.findings), default=0)
        return ("ok", "warning", "critical")[worst]  # type: ignore[return-value]

    def finding(self, metric: str) -> DriftFinding:
        """The finding of ``metric``; KeyError naming the metrics present otherwise."""
        for f in self.findings:
            if f.metric == metric:
                return f
        raise KeyError(
            f"no finding {metric!r}; present: {', '.join(f.metric for f in self.findings)}"
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per finding (columns as :meth:`DriftFinding.to_dict`)."""
        names = [x.name for x in fields(DriftFinding)]
        rows = [{name: getattr(f, name) for name in names} for f in self.findings]
        return pd.DataFrame(rows, columns=names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "n_baseline": self.n_baseline,
            "n_current": self.n_current,
            "severity": self.severity,
            "current_start": _iso(self.current_start),
            "current_end": _iso(self.current_end),
            "thresholds": self.thresholds.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        return cls(
            key=str(data["key"]),
            n_baseline=int(data["n_baseline"]),
            n_current=int(data["n_current"]),
            findings=tuple(DriftFinding.from_dict(f) for f in data["findings"]),
            current_start=_time(data.get("current_start")),
            current_end=_time(data.get("current_end")),
            thresholds=DriftThresholds.from_dict(data.get("thresholds", {})),
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


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class _Window:
    conf: np.ndarray
    win: np.ndarray
    ret: np.ndarray
    times: np.ndarray | None

    @property
    def n(self) -> int:
        return self.conf.size


def _window(trades: pd.DataFrame, *, key: str, min_trades: int, label: str) -> _Window:
    try:
        usable = validate_trades(trades, key=key, min_rows=min_trades)
    except InsufficientDataError as exc:
        raise InsufficientDataError(f"{label} window: {exc}") from None
    times = None
    if "entry_time" in usable.columns:
        t = usable["entry_time"]
        if not t.is_monotonic_increasing:
            usable = usable.iloc[np.argsort(t.to_numpy(), kind="stable")]
        times = usable["entry_time"].to_numpy()
    return _Window(
        conf=usable[key].to_numpy(dtype=np.float64),
        win=usable["win"].to_numpy().astype(bool),
        ret=usable["return_pct"].to_numpy(dtype=np.float64),
        times=times,
    )


def _check_min_trades(min_trades: Any) -> int:
    if isinstance(min_trades, bool) or not isinstance(min_trades, (int, np.integer)):
        raise ConfigError(f"min_trades must be an integer >= 2, got {min_trades!r}; use 30")
    if min_trades < 2:
        raise ConfigError(f"min_trades must be an integer >= 2, got {min_trades!r}; use 30")
    return int(min_trades)


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


def _sharpe(mean: float, std: float) -> float:
    return mean / std if std > 0 else math.nan


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


def default_detectors() -> dict[str, DriftDetector]:
    """Detectors run by :func:`check_against_baseline` when none are given.

    They see the outcome standardised by the baseline, ``z = (x − μ_b) / σ_b``
    (for wins ``σ_b = sqrt(p_b (1 − p_b))``), so settings are in standard
    deviations: both watch for a drop, with a reference value of 0 (the baseline).
    ``k = δ = 0.1`` and ``h = λ = 30`` target a shift of 0.2 σ (a win rate falling
    from 0.55 to 0.45), found after about 260 trades on average, with an
    in-control average run length of about 25 000 trades (Siegmund's approximation
    for normal data; an estimated baseline mean shortens it).

    Returns
    -------
    dict of str to DriftDetector
        ``{"page_hinkley": PageHinkley(...), "cusum": CUSUM(...)}``.
    """
    return {
        "page_hinkley": PageHinkley(delta=0.1, threshold=30.0, mode="down"),
        "cusum": CUSUM(k=0.1, h=30.0, mode="down"),
    }


def _seeded(detector: DriftDetector, *, n_baseline: int) -> DriftDetector:
    """A fresh copy of ``detector`` with its unset reference taken from the baseline."""
    if not isinstance(detector, DriftDetector):
        raise ConfigError(
            f"detectors must map names to DriftDetector instances, got {type(detector).__name__}"
        )
    settings = detector.to_dict()
    if isinstance(detector, PageHinkley) and detector.prior_mean is None:
        settings.update(prior_mean=0.0, prior_weight=float(n_baseline))
    if isinstance(detector, CUSUM):
        settings.update(
            target=0.0 if detector.target is None else detector.target,
            sigma=1.0 if detector.sigma is None else detector.sigma,
        )
    return type(detector).from_dict(settings)


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f} %"


def _p(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3g}"


def _welch_less(
    mean_c: float, std_c: float, n_c: int, mean_b: float, std_b: float, n_b: int
) -> tuple[float, float]:
    """One-sided Welch t-test of H1: current mean < baseline mean; (t, p) or NaNs."""
    if math.isnan(std_b) or math.isnan(std_c) or not (std_b > 0 or std_c > 0):
        return math.nan, math.nan
    res = stats.ttest_ind_from_stats(
        mean_c, std_c, n_c, mean_b, std_b, n_b, equal_var=False, alternative="less"
    )
    return float(res.statistic), float(res.pvalue)


def _performance_findings(
    baseline: DriftBaseline,
    w: _Window,
    t: DriftThresholds,
    *,
    raw_baseline: np.ndarray | None,
) -> list[DriftFinding]:
    key, n_b = baseline.key, baseline.n
    mean_b, mean_c = baseline.distribution.mean, float(w.conf.mean())

    psi = population_stability_index(baseline.distribution, w.conf)
    psi_msg = (
        f"PSI of {key} = {psi:.3f} (warning >= {t.psi_warning:g}, critical >= "
        f"{t.psi_critical:g}); mean {key} {mean_b:.3f} -> {mean_c:.3f}"
    )
    ks = ks_test(baseline.distribution if raw_baseline is None else raw_baseline, w.conf)
    ks_msg = f"KS distance of {key} = {ks.statistic:.3f}, p = {_p(ks.p_value)}" + (
        " (from the stored quantiles)" if ks.approximate else ""
    )

    wr = win_rate_change(round(baseline.win_rate * n_b), n_b, int(w.win.sum()), w.n)
    wr_msg = (
        f"win rate {_pct(wr.baseline_rate)} -> {_pct(wr.current_rate)} "
        f"({100 * wr.difference:+.1f} pts), one-sided {wr.method} test p = {_p(wr.p_value)}"
    )

    sq = (w.conf - w.win) ** 2
    brier = float(brier_score(w.conf, w.win))
    # a rise in Brier is a drop in -Brier: test "baseline < current" as "-current < -baseline"
    _, p_brier = _welch_less(-brier, float(sq.std(ddof=1)), w.n, -baseline.brier,
                             baseline.brier_std, n_b)  # fmt: skip
    d_brier = brier - baseline.brier
    brier_msg = (
        f"Brier score of {key} {baseline.brier:.4f} -> {brier:.4f} ({d_brier:+.4f}), "
        f"one-sided Welch t-test p = {_p(p_brier)}"
    )
    ece = float(expected_calibration_error(w.conf, w.win, n_bins=baseline.ece_bins))
    d_ece = ece - baseline.ece
    # The plug-in ECE is biased upwards on small windows, so a window drawn like the
    # baseline would often show a higher ECE. An ECE rise alerts only when the
    # calibration map itself changed significantly: the current window's wins per
    # bin are tested against the baseline's win rate per bin (a chi-square test).
    chi2, p_ece = _calibration_map_test(baseline, w)
    ece_msg = (
        f"ECE ({baseline.ece_bins} bins) of {key} {baseline.ece:.4f} -> {ece:.4f} ({d_ece:+.4f}); "
        f"calibration-map change chi-square {chi2:.1f}, p = {_p(p_ece)}"
    )

    mean_r, std_r = float(w.ret.mean()), float(w.ret.std(ddof=1))
    t_ret, p_ret = _welch_less(mean_r, std_r, w.n, baseline.mean_return, baseline.return_std, n_b)
    ret_msg = (
        f"mean return {baseline.mean_return:+.3f} % -> {mean_r:+.3f} %, one-sided Welch "
        f"t-test p = {_p(p_ret)}"
    )

    s_b, s_c = baseline.sharpe, _sharpe(mean_r, std_r)
    z_s = p_s = math.nan
    sharpe_msg = "per-trade Sharpe undefined (constant returns in a window)"
    if math.isfinite(s_b) and math.isfinite(s_c):
        se = math.sqrt((1.0 + 0.5 * s_b**2) / n_b + (1.0 + 0.5 * s_c**2) / w.n)
        z_s = (s_c - s_b) / se
        p_s = float(stats.norm.cdf(z_s))
        sharpe_msg = f"per-trade Sharpe {s_b:.3f} -> {s_c:.3f}, one-sided z-test p = {_p(p_s)}"

    rows = [
        ("psi", mean_b, mean_c, psi, None, t.severity("psi", psi), psi_msg),
        ("ks", mean_b, mean_c, ks.statistic, ks.p_value, t.severity("ks", ks.p_value), ks_msg),
        ("win_rate", wr.baseline_rate, wr.current_rate, wr.statistic, wr.p_value,
         t.severity("win_rate", wr.p_value, drop=-wr.difference), wr_msg),
        ("brier", baseline.brier, brier, d_brier, p_brier,
         t.severity("brier", d_brier, p_value=_f(p_brier)), brier_msg),
        ("ece", baseline.ece, ece, d_ece, p_ece,
         t.severity("ece", d_ece, p_value=_f(p_ece)), ece_msg),
        ("mean_return", baseline.mean_return, mean_r, t_ret, p_ret,
         t.severity("mean_return", p_ret, drop=baseline.mean_return - mean_r), ret_msg),
        ("sharpe", s_b, s_c, z_s, p_s, t.severity("sharpe", p_s, drop=s_b - s_c), sharpe_msg),
    ]  # fmt: skip
    return [
        DriftFinding(m, _f(b), _f(c), _f(st), _f(p), sev, msg) for m, b, c, st, p, sev, msg in rows
    ]


def _detector_findings(
    baseline: DriftBaseline,
    w: _Window,
    t: DriftThresholds,
    detectors: Mapping[str, DriftDetector],
    outcome: str,
) -> list[DriftFinding]:
    if outcome == "win":
        mu = baseline.win_rate
        sd = math.sqrt(mu * (1.0 - mu))
        x = w.win.astype(np.float64)
        suffix = "win"
    else:
        mu, sd = baseline.mean_return, baseline.return_std
        x = w.ret
        suffix = "return"
    current_mean = float(x.mean())
    out: list[DriftFinding] = []
    for name, template in detectors.items():
        metric = f"{name}_{suffix}"
        detector = _seeded(template, n_baseline=baseline.n)
        if not sd > 0:
            msg = f"{name} not run: the baseline {outcome} has no variation to standardise by"
            out.append(DriftFinding(metric, mu, current_mean, None, None, "ok", msg))
            continue
        hits = detect_changes(detector, (x - mu) / sd)
        sev = t.severity("detector", len(hits))
        first = hits[0] if hits else None
        when = _time(w.times[first]) if first is not None and w.times is not None else None
        msg = (
            f"{name} found no change in {outcome} over {w.n} trades"
            if not hits
            else f"{name} signalled a change in {outcome} {len(hits)} time(s); first at trade "
            f"{first}" + (f" ({when.isoformat()})" if when is not None else "")
        )
        out.append(
            DriftFinding(metric, mu, current_mean, float(len(hits)), None, sev, msg, first, when)
        )
    return out


def _check(
    baseline: DriftBaseline,
    w: _Window,
    *,
    thresholds: DriftThresholds,
    detectors: Mapping[str, DriftDetector] | None,
    outcome: str,
    raw_baseline: np.ndarray | None,
    run_detectors: bool = True,
) -> DriftReport:
    if not isinstance(thresholds, DriftThresholds):
        raise ConfigError(f"thresholds must be a DriftThresholds, got {type(thresholds).__name__}")
    if outcome not in ("win", "return_pct"):
        raise ConfigError(f"outcome must be 'win' or 'return_pct', got {outcome!r}")
    findings = _performance_findings(baseline, w, thresholds, raw_baseline=raw_baseline)
    if run_detectors:
        dets = default_detectors() if detectors is None else detectors
        if not isinstance(dets, Mapping):
            raise ConfigError(
                "detectors must be a mapping of name to DriftDetector, e.g. "
                "{'page_hinkley': PageHinkley(mode='down')}, or None for the defaults"
            )
        findings += _detector_findings(baseline, w, thresholds, dets, outcome)
    return DriftReport(
        key=baseline.key,
        n_baseline=baseline.n,
        n_current=w.n,
        findings=tuple(findings),
        current_start=_time(w.times[0]) if w.times is not None else None,
        current_end=_time(w.times[-1]) if w.times is not None else None,
        thresholds=thresholds,
    )


def check_against_baseline(
    baseline: DriftBaseline,
    current_trades: pd.DataFrame,
    *,
    key: str | None = None,
    thresholds: DriftThresholds | None = None,
    detectors: Mapping[str, DriftDetector] | None = None,
    outcome: Literal["win", "return_pct"] = "win",
    min_trades: int = DEFAULT_MIN_TRADES,
) -> DriftReport:
    """Check current trades against a stored baseline.

    Findings, in order:

    ``psi``, ``ks``
        The current ``key`` values against the stored distribution (KS from the
        stored quantiles; see :func:`ks_test`).
    ``win_rate``
        :func:`win_rate_change`, one-sided for a drop.
    ``brier``, ``ece``
        Increase of the Brier score (with the p-value of a one-sided Welch t-test
        on the per-trade squared errors) and of the ECE (same bins as the baseline).
    ``mean_return``
        One-sided Welch t-test for a drop in mean ``return_pct`` (from the stored
        mean, standard deviation and count).
    ``sharpe``
        One-sided z-test for a drop in per-trade Sharpe with the iid standard
        error ``sqrt((1 + S²/2) / n)`` of each window (Lo 2002).
    ``<detector>_win`` (or ``_return``)
        Each streaming detector run over the current window in time order on
        the outcome standardised by the baseline (``z = (x − μ_b)/σ_b``); a
        Page-Hinkley without a prior gets the baseline mean (0) with the baseline's
        size as weight, a CUSUM without target/sigma gets 0 and 1. The statistic is
        the number of detections; ``detected_at``/``detected_time`` the first.

    Parameters
    ----------
    baseline : DriftBaseline
        From :func:`baseline_from_trades` (or :meth:`DriftBaseline.from_dict`).
    current_trades : DataFrame
        Trades frame of the current window.
    key : str, optional
        Must equal ``baseline.key`` if given (a baseline summarises one column).
    thresholds : DriftThresholds, optional
        Severity levels; the documented defaults when omitted.
    detectors : mapping of str to DriftDetector, optional
        Templates (copied, never mutated); :func:`default_detectors` when omitted,
        ``{}`` for none.
    outcome : {"win", "return_pct"}, default "win"
        Per-trade series the detectors watch.
    min_trades : int, default 30
        Fewest usable current trades accepted.

    Returns
    -------
    DriftReport

    Raises
    ------
    DriftError
        ``baseline`` is not a DriftBaseline or ``key`` differs from its key.
    TradesFrameError, InsufficientDataError
        The current trades are unusable or too few.

    References
    ----------
    A. W. Lo, "The statistics of Sharpe ratios", Financial Analysts Journal 58
    (2002) 36-52. B. L. Welch, "The generalization of Student's problem when
    several different population variances are involved", Biometrika 34 (1947) 28-35.
    """
    if not isinstance(baseline, DriftBaseline):
        raise DriftError(
            f"baseline must be a DriftBaseline, got {type(baseline).__name__}; build one "
            "with baseline_from_trades() or DriftBaseline.from_dict()"
        )
    if key is not None and key != baseline.key:
        raise DriftError(
            f"the baseline summarises {baseline.key!r}, not {key!r}; set a baseline for "
            f"{key!r} or check with key={baseline.key!r}"
        )
    min_trades = _check_min_trades(min_trades)
    w = _window(current_trades, key=baseline.key, min_trades=min_trades, label="current")
    return _check(
        baseline,
        w,
        thresholds=DriftThresholds() if thresholds is None else thresholds,
        detectors=detectors,
        outcome=outcome,
        raw_baseline=None,
    )


def compare_windows(
    baseline_trades: pd.DataFrame,
    current_trades: pd.DataFrame,
    *,
    key: str = "confidence",
    thresholds: DriftThresholds | None = None,
    detectors: Mapping[str, DriftDetector] | None = None,
    outcome: Literal["win", "return_pct"] = "win",
    min_trades: int = DEFAULT_MIN_TRADES,
) -> DriftReport:
    """Compare two trades frames: a baseline window and a current window.

    The same as ``check_against_baseline(baseline_from_trades(baseline_trades,
    key=key), current_trades, ...)`` except that the KS test uses the raw
    baseline values (:func:`scipy.stats.ks_2samp`) instead of stored quantiles.

    Parameters
    ----------
    baseline_trades, current_trades : DataFrame
        Trades frames (:mod:`core.trades`).
    key, thresholds, detectors, outcome, min_trades
        As :func:`check_against_baseline`.

    Returns
    -------
    DriftReport

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> def trades(n, p_win):
    ...     win = rng.random(n) < p_win
    ...     ret = np.where(win, 1.0, -1.0) * rng.uniform(0.5, 1.5, n)
    ...     return pd.DataFrame({"confidence": rng.beta(2, 5, n), "return_pct": ret,
    ...                          "win": ret > 0})
    >>> report = compare_windows(trades(2000, 0.55), trades(1000, 0.45))
    >>> [f.metric for f in report.alerts]  # doctest: +NORMALIZE_WHITESPACE
    ['win_rate', 'mean_return', 'sharpe', 'page_hinkley_win', 'cusum_win']
    >>> report.finding("cusum_win").detected_at  # position in the current window
    111
    """
    min_trades = _check_min_trades(min_trades)
    wb = _window(baseline_trades, key=key, min_trades=min_trades, label="baseline")
    wc = _window(current_trades, key=key, min_trades=min_trades, label="current")
    baseline = _baseline_from_window(wb, key=key, bins=10, n_quantiles=1001, ece_bins=10)
    return _check(
        baseline,
        wc,
        thresholds=DriftThresholds() if thresholds is None else thresholds,
        detectors=detectors,
        outcome=outcome,
        raw_baseline=wb.conf,
    )


# --------------------------------------------------------------------------- rolling


_ROLLING_METRICS = ("psi", "ks", "win_rate", "brier", "ece", "mean_return", "sharpe")


def rolling_drift(
    trades: pd.DataFrame,
    baseline: DriftBaseline | pd.DataFrame,
    *,
    window: int | str | pd.DateOffset = 500,
    step: int | str | pd.DateOffset | None = None,
    key: str | None = None,
    thresholds: DriftThresholds | None = None,
    min_trades: int = DEFAULT_MIN_TRADES,
) -> pd.DataFrame:
    """Drift statistics of a run, window by window, against one baseline.

    Windows are taken in ``entry_time`` order. With an integer ``window`` they
    are ``window`` consecutive trades starting every ``step`` trades (only full
    windows); with a pandas offset (``"90D"``) they are half-open time intervals
    ``[start, start + window)`` starting at the first ``entry_time`` and every
    ``step``, and windows with fewer than ``min_trades`` trades are skipped. The
    streaming detectors are not run per window (run them over the whole stream
    with :func:`check_against_baseline` instead).

    Parameters
    ----------
    trades : DataFrame
        Trades frame of the run (:mod:`core.trades`), with ``entry_time``.
    baseline : DriftBaseline or DataFrame
        A stored baseline, or a trades frame to build one from.
    window : int or offset, default 500
        Trades per window, or a time span.
    step : int or offset, optional
        Distance between window starts; defaults to ``window`` (non-overlapping).
    key : str, optional
        Confidence column; defaults to the baseline's key (``"confidence"`` when
        ``baseline`` is a frame).
    thresholds : DriftThresholds, optional
    min_trades : int, default 30

    Returns
    -------
    DataFrame
        One row per window: ``window_start``, ``window_end`` (the first and last
        ``entry_time`` for trade-count windows, the interval bounds for time
        windows), ``n``, ``psi``, ``ks_stat``, ``ks_p``, ``win_rate``,
        ``win_rate_p``, ``brier``, ``ece``, ``mean_return``, ``mean_return_p``,
        ``sharpe``, ``sharpe_p``, a ``<metric>_severity`` column per metric and
        ``severity`` (the worst).

    Raises
    ------
    ConfigError
        ``window``/``step`` invalid or of different kinds.
    InsufficientDataError
        Not one window has enough trades.
    """
    min_trades = _check_min_trades(min_trades)
    if isinstance(baseline, pd.DataFrame):
        baseline = baseline_from_trades(
            baseline, key="confidence" if key is None else key, min_trades=min_trades
        )
    elif not isinstance(baseline, DriftBaseline):
        raise DriftError(
            f"baseline must be a DriftBaseline or a trades frame, got {type(baseline).__name__}"
        )
    if key is not None and key != baseline.key:
        raise DriftError(f"the baseline summarises {baseline.key!r}, not {key!r}")
    key = baseline.key
    t = DriftThresholds() if thresholds is None else thresholds
    w = _window(trades, key=key, min_trades=min_trades, label="run")
    if w.times is None:
        raise ConfigError("rolling_drift needs an entry_time column to order and date windows")
    times = pd.DatetimeIndex(w.times)

    spans: list[tuple[int, int, pd.Timestamp, pd.Timestamp]] = []
    if isinstance(window, (int, np.integer)) and not isinstance(window, bool):
        stride = window if step is None else step
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise ConfigError(f"step must be a positive number of trades with window={window}")
        if window < min_trades:
            raise ConfigError(
                f"window must hold at least min_trades={min_trades} trades, got {window}"
            )
        for lo in range(0, w.n - int(window) + 1, int(stride)):
            hi = lo + int(window)
            spans.append((lo, hi, times[lo], times[hi - 1]))
    else:
        try:
            span = pd.tseries.frequencies.to_offset(window)
            stride = span if step is None else pd.tseries.frequencies.to_offset(step)
        except (TypeError, ValueError):
            raise ConfigError(
                f"window and step must both be trade counts or pandas offsets like '90D', "
                f"got window={window!r}, step={step!r}"
            ) from None
        start = times[0]
        if start + stride <= start or start + span <= start:
            raise ConfigError(f"window and step must be positive spans, got {window!r}, {step!r}")
        while start <= times[-1]:
            end = start + span
            lo, hi = times.searchsorted(start, "left"), times.searchsorted(end, "left")
            if hi - lo >= min_trades:
                spans.append((int(lo), int(hi), start, end))
            start = start + stride
    if not spans:
        raise InsufficientDataError(
            f"the run has {w.n} trades and no window of {window!r} holds min_trades="
            f"{min_trades}; use a smaller window"
        )

    rows = []
    for lo, hi, t0, t1 in spans:
        sub = _Window(w.conf[lo:hi], w.win[lo:hi], w.ret[lo:hi], w.times[lo:hi])
        report = _check(
            baseline,
            sub,
            thresholds=t,
            detectors={},
            outcome="win",
            raw_baseline=None,
            run_detectors=False,
        )
        f = {x.metric: x for x in report.findings}
        row: dict[str, Any] = {
            "window_start": t0,
            "window_end": t1,
            "n": hi - lo,
            "psi": f["psi"].statistic,
            "ks_stat": f["ks"].statistic,
            "ks_p": f["ks"].p_value,
            "win_rate": f["win_rate"].current_value,
            "win_rate_p": f["win_rate"].p_value,
            "brier": f["brier"].current_value,
            "ece": f["ece"].current_value,
            "mean_return": f["mean_return"].current_value,
            "mean_return_p": f["mean_return"].p_value,
            "sharpe": f["sharpe"].current_value,
            "sharpe_p": f["sharpe"].p_value,
        }
        for m in _ROLLING_METRICS:
            row[f"{m}_severity"] = f[m].severity
        row["severity"] = report.severity
        rows.append(row)
    frame = pd.DataFrame(rows)
    float_cols = [c for c in frame.columns if c not in ("window_start", "window_end", "n")]
    float_cols = [c for c in float_cols if not c.endswith("severity")]
    frame[float_cols] = frame[float_cols].astype(np.float64)
    return frame
