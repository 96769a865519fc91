"""The confidence distribution: storable summary, histogram, PSI and the KS test.

A baseline's confidence values are kept as a :class:`DistributionSummary` (bin
edges and shares for the population stability index, quantiles for an
approximate two-sample Kolmogorov-Smirnov test), so a later check needs only
the current values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from core.analytics.drift._common import _f, _nan
from core.errors import ConfigError, InsufficientDataError, ValidationError


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
    method : str
        ``"exact"`` (:func:`scipy.stats.ks_2samp` on raw values) or
        ``"conservative-bound"`` (from stored quantiles; the p-value is an upper
        bound of the asymptotic one, see :func:`ks_test`).
    """

    statistic: float
    p_value: float
    n_baseline: int
    n_current: int
    approximate: bool
    method: str = "exact"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ks_test(baseline: Any, current: Any) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test of ``current`` against ``baseline``.

    With raw baseline values this is :func:`scipy.stats.ks_2samp` (two-sided,
    ``method="auto"``: exact for small samples, asymptotic otherwise).

    With a :class:`DistributionSummary` the baseline ECDF is rebuilt from its
    stored quantiles (:meth:`DistributionSummary.cdf`, error < ``1/(q − 1)``, i.e.
    0.001 with 1001 quantiles), ``D`` is the supremum over the current values
    and the stored quantiles (both one-sided limits), so ``|D − D_exact| < 1/(q−1)``.
    The p-value is a *conservative bound*: the asymptotic p-value scipy uses,
    ``kstwo.sf(D', round(n·m/(n+m)))`` with ``n`` the summary's size, evaluated at
    ``D' = max(D − 1/(q−1), 0) < D_exact``; since ``kstwo.sf`` decreases in its
    argument, it is at least the asymptotic p-value of the exact statistic, so
    a false alarm is never more likely than with the exact ``D``.
    (:class:`~core.analytics.drift.DriftBaseline` now stores raw scores, so
    checks use the exact test; the bound serves older baselines.)

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
        return KSResult(
            float(res.statistic), float(res.pvalue), base.size, cur.size, False, "exact"
        )
    c = np.sort(cur)
    m = c.size
    z = np.unique(np.r_[c, np.asarray(baseline.quantiles, dtype=np.float64)])
    d_right = np.abs(np.searchsorted(c, z, side="right") / m - baseline.cdf(z, side="right"))
    d_left = np.abs(np.searchsorted(c, z, side="left") / m - baseline.cdf(z, side="left"))
    d = float(min(1.0, max(d_right.max(), d_left.max())))
    n = baseline.n
    en = round(n * m / (n + m))
    err = 1.0 / (len(baseline.quantiles) - 1)
    p = float(np.clip(stats.kstwo.sf(max(d - err, 0.0), max(en, 1)), 0.0, 1.0))
    return KSResult(d, p, n, m, True, "conservative-bound")
