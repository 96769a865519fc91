"""A threshold with a guaranteed win rate: "with 90 % confidence, kept trades win >= X %".

:func:`guaranteed_threshold` chooses the threshold by Learn-then-Test
(Angelopoulos, Bates, Candès, Jordan & Lei 2021): each threshold ``t`` is a
hypothesis ``H_t: win rate of trades kept at t < X``; its p-value is the exact
Clopper-Pearson (binomial) tail of the kept trades' wins, and the thresholds are
tested in a fixed sequence, from the most selective down, stopping at the first
that cannot be rejected at level ``delta``. Fixed-sequence testing controls the
family-wise error at ``delta`` without any multiplicity correction, so the
lowest rejected threshold keeps the most trades while "win rate >= X" holds
with probability at least ``1 - delta`` (over the draw of the fitting data).

Trades are not independent: outcomes of trades entered close together move
together (one market, overlapping holding periods). The binomial p-value is
made valid under serial dependence by an effective sample size: the kept
trades' outcomes in time order have autocorrelations ``rho_k``, and the counts
enter the binomial law scaled by ``n_eff / n`` with
``n_eff = n / (1 + 2 sum_{k=1}^{L} rho_k)`` (:func:`effective_sample_size`;
the sum runs over the initial positive autocorrelations up to
``L = floor(sqrt(n))``, Geyer 1992). With ``dependence="none"`` the naive
i.i.d. test is used (kept for comparison: it fails more often than ``delta``
on autocorrelated outcomes).

The threshold is fitted on the earlier part of the trades and scored on the
later part: the result reports the out-of-sample win rate of the kept trades
and whether it met the target.

References
----------
A. N. Angelopoulos, S. Bates, E. J. Candès, M. I. Jordan and L. Lei, "Learn
then Test: calibrating predictive algorithms to achieve risk control",
arXiv:2110.01052 (2021).
C. J. Clopper and E. S. Pearson, "The use of confidence or fiducial limits
illustrated in the case of the binomial", Biometrika 26 (1934) 404-413.
C. J. Geyer, "Practical Markov chain Monte Carlo", Statistical Science 7(4)
(1992) 473-483 (initial positive sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from core.analytics.sweep import _bin_right, _reverse_cumsum, default_thresholds
from core.errors import ConfigError, InsufficientDataError, TradesFrameError
from core.jsonsafe import json_safe
from core.trades import validate_trades

__all__ = [
    "GuaranteeResult",
    "binomial_p_value",
    "clopper_pearson_lower",
    "effective_sample_size",
    "guaranteed_threshold",
    "learn_then_test",
]

Dependence = Literal["ess", "none"]

#: Autocorrelation lags computed as direct products before switching to an FFT.
_DIRECT_LAGS = 32


def clopper_pearson_lower(
    successes: np.ndarray | float, trials: np.ndarray | float, *, delta: float = 0.1
) -> np.ndarray | float:
    """One-sided Clopper-Pearson lower bound of a binomial proportion at level ``1 - delta``.

    ``Beta.ppf(delta, k, n - k + 1)`` (0 when ``k = 0``); real-valued counts
    are accepted (effective counts). Equals the lower end of
    ``scipy.stats.binomtest(k, n).proportion_ci(1 - 2 delta, method="exact")``.

    Parameters
    ----------
    successes, trials : array_like
        Wins ``k`` and trades ``n`` (``0 <= k <= n``, ``n > 0``), broadcast together.
    delta : float, default 0.1
        One-sided error level in (0, 1).
    """
    _check_delta(delta)
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, stats.beta.ppf(delta, np.maximum(k, 1e-300), n - k + 1.0), 0.0)
    return float(low) if low.ndim == 0 else low


def binomial_p_value(
    successes: np.ndarray | float, trials: np.ndarray | float, target: float
) -> np.ndarray | float:
    """p-value of ``H0: p < target`` against ``p >= target`` from ``k`` wins in ``n``.

    ``P(Binomial(n, target) >= k) = I_target(k, n - k + 1)`` (regularised
    incomplete beta; 1 when ``k = 0``), the exact test whose inversion is
    :func:`clopper_pearson_lower`: ``p <= delta`` exactly when the lower bound
    is ``>= target``. Real-valued (effective) counts are accepted.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        p = np.where(k > 0, special.betainc(np.maximum(k, 1e-300), n - k + 1.0, target), 1.0)
    return float(p) if p.ndim == 0 else p


def effective_sample_size(outcomes: np.ndarray) -> float:
    """Effective number of independent observations of a time-ordered series.

    ``n_eff = n / (1 + 2 sum_{k=1}^{K} rho_k)`` with ``rho_k`` the sample
    autocorrelations, summed while positive (Geyer's initial positive
    sequence) up to ``floor(sqrt(n))`` lags; never more than ``n`` (negative
    dependence is not credited) and never below 1.

    Parameters
    ----------
    outcomes : array_like, shape (n,)
        The series in time order (e.g. 0/1 wins).

    Returns
    -------
    float
        ``n`` for a constant or i.i.d.-looking series; less under positive
        autocorrelation.

    Notes
    -----
    ``rho_k = sum_i d_i d_{i+k} / sum_i d_i^2`` with ``d`` the deviations from
    the mean. The first :data:`_DIRECT_LAGS` lags are direct products, stopping
    at the first lag that is not positive (one to three O(n) products for
    outcomes that are close to independent); a positive run longer than that
    takes the remaining lags from one FFT autocorrelation, O(n log n).
    """
    x = np.asarray(outcomes, dtype=np.float64)
    n = x.size
    if n < 3:
        return float(n)
    d = x - x.mean()
    var = float(d @ d)
    if var <= 0:
        return float(n)
    max_lag = math.isqrt(n)
    positive = 0.0
    direct = min(max_lag, _DIRECT_LAGS)
    for k in range(1, direct + 1):
        rho = float(d[:-k] @ d[k:]) / var
        if rho <= 0:
            return _ess(n, positive)
        positive += rho
    if direct < max_lag:
        size = 1 << math.ceil(math.log2(2 * n))
        f = np.fft.rfft(d, size)
        lags = np.fft.irfft(f * np.conj(f), size)[direct + 1 : max_lag + 1] / var
        stop = np.flatnonzero(lags <= 0)
        positive += float((lags[: stop[0]] if stop.size else lags).sum())
    return _ess(n, positive)


def _ess(n: int, positive: float) -> float:
    """``n / (1 + 2 * positive)``, at most ``n`` and at least 1."""
    return float(max(1.0, n / max(1.0, 1.0 + 2.0 * positive)))


def learn_then_test(
    scores: np.ndarray,
    wins: np.ndarray,
    *,
    target_win_rate: float,
    delta: float = 0.1,
    thresholds: np.ndarray | None = None,
    min_trades: int = 100,
    dependence: Dependence = "ess",
) -> tuple[int | None, pd.DataFrame]:
    """Fixed-sequence Learn-then-Test over thresholds (arrays in time order).

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Scores in time order.
    wins : ndarray, shape (n,)
        0/1 outcomes, same order.
    target_win_rate : float
        X in (0, 1).
    delta : float, default 0.1
        Error level: the guarantee holds with probability >= 1 - delta.
    thresholds : ndarray, optional
        Candidate thresholds (score >= t kept); default 0.00, 0.01, ..., 1.00.
    min_trades : int, default 100
        Thresholds keeping fewer trades are not tested (they are skipped
        before the sequence starts; the choice depends only on the scores, so
        the test stays valid). A sequence that starts on a handful of trades
        fails there by chance and certifies nothing, hence 100.
    dependence : {"ess", "none"}, default "ess"
        Scale the counts by :func:`effective_sample_size` of the kept outcomes,
        or treat trades as independent.

    Returns
    -------
    index : int or None
        Position in the (ascending) thresholds of the chosen threshold; None
        when not even the first tested threshold is certified.
    table : DataFrame
        One row per threshold (ascending): ``threshold``, ``trades``, ``wins``,
        ``win_rate``, ``n_effective``, ``lower_bound`` (one-sided at
        ``1 - delta``), ``p_value``, ``tested``, ``rejected`` (certified).
    """
    _check_delta(delta)
    if not 0.0 < target_win_rate < 1.0:
        raise ConfigError(
            f"target_win_rate must lie in (0, 1), got {target_win_rate!r}; e.g. 0.55 for 55 %"
        )
    if dependence not in ("ess", "none"):
        raise ConfigError(f"dependence must be 'ess' or 'none', got {dependence!r}")
    if isinstance(min_trades, bool) or not isinstance(min_trades, int) or min_trades < 1:
        raise ConfigError(f"min_trades must be an integer >= 1, got {min_trades!r}")
    grid = (
        default_thresholds("absolute")
        if thresholds is None
        else np.sort(np.unique(np.asarray(thresholds, dtype=np.float64)))
    )
    s = np.asarray(scores, dtype=np.float64)
    w = np.asarray(wins, dtype=np.float64)
    # Trades and wins kept at each threshold (score >= t) without sorting: bin every
    # score among the thresholds (bin #{t <= score}) and sum the bins from the top.
    m = grid.size
    b = _bin_right(s, grid)
    count = _reverse_cumsum(np.bincount(b, minlength=m + 1))[1 : m + 1]
    k = _reverse_cumsum(np.bincount(b, weights=w, minlength=m + 1))[1 : m + 1]
    n_eff = np.full(m, np.nan)
    p_val = np.full(m, np.nan)
    lower = np.full(m, np.nan)
    tested = np.zeros(m, dtype=bool)
    rejected = np.zeros(m, dtype=bool)
    chosen: int | None = None
    for j in range(m - 1, -1, -1):  # most selective first; stops at the first failure
        if count[j] < min_trades:
            continue
        kept = w[s >= grid[j]]  # time order
        ne = effective_sample_size(kept) if dependence == "ess" else float(count[j])
        scale = ne / count[j]
        n_eff[j] = ne
        p_val[j] = binomial_p_value(k[j] * scale, ne, target_win_rate)
        lower[j] = clopper_pearson_lower(k[j] * scale, ne, delta=delta)
        tested[j] = True
        if p_val[j] > delta:
            break
        rejected[j] = True
        chosen = j
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, k / np.maximum(count, 1), np.nan)
    table = pd.DataFrame(
        {
            "threshold": grid,
            "trades": count.astype(np.int64),
            "wins": k.astype(np.int64),
            "win_rate": rate,
            "n_effective": n_eff,
            "lower_bound": lower,
            "p_value": p_val,
            "tested": tested,
            "rejected": rejected,
        }
    )
    return chosen, table


@dataclass(frozen=True, eq=False)
class GuaranteeResult:
    """A threshold whose kept trades win at least ``target_win_rate`` with ``1 - delta`` confidence.

    Attributes
    ----------
    threshold : float or None
        The lowest certified threshold (keep ``score >= threshold``); None when
        no threshold could be certified on the fitting trades.
    target_win_rate, delta : float
    key, dependence : str
    fit_trades, test_trades : int
        Trades in the fitting (earlier) and test (later) parts.
    fit_end : Timestamp or None
        Entry time of the last fitting trade.
    fit_kept, fit_win_rate, fit_lower_bound, fit_n_effective : float
        At the chosen threshold on the fitting trades: trades kept, win rate,
        the one-sided lower bound at ``1 - delta`` and the effective sample size.
    oos_kept : int
        Test trades kept at the threshold.
    oos_win_rate : float
        Their win rate (NaN when none is kept).
    oos_met : bool or None
        ``oos_win_rate >= target_win_rate`` (None when nothing was certified or
        kept).
    table : DataFrame
        The Learn-then-Test table of :func:`learn_then_test` on the fitting trades.
    """

    threshold: float | None
    target_win_rate: float
    delta: float
    key: str
    dependence: str
    fit_trades: int
    test_trades: int
    fit_end: pd.Timestamp | None
    fit_kept: int
    fit_win_rate: float
    fit_lower_bound: float
    fit_n_effective: float
    oos_kept: int
    oos_win_rate: float
    oos_met: bool | None
    table: pd.DataFrame

    @property
    def statement(self) -> str:
        """The guarantee in words."""
        conf = f"{(1 - self.delta) * 100:g} %"
        target = f"{self.target_win_rate * 100:g} %"
        if self.threshold is None:
            return f"no threshold keeps trades winning >= {target} with {conf} confidence"
        return (
            f"keep trades with {self.key} >= {self.threshold:g}: with {conf} confidence "
            f"their win rate is >= {target}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (the table as a list of rows)."""
        out = {k: v for k, v in self.__dict__.items() if k != "table"}
        out["fit_end"] = None if self.fit_end is None else self.fit_end.isoformat()
        out["statement"] = self.statement
        out["table"] = [json_safe(r) for r in self.table.to_dict(orient="records")]
        return json_safe(out)


def guaranteed_threshold(
    trades: pd.DataFrame,
    *,
    target_win_rate: float,
    delta: float = 0.1,
    key: str = "confidence",
    thresholds: np.ndarray | list[float] | None = None,
    min_trades: int = 100,
    fit_fraction: float = 0.5,
    dependence: Dependence = "ess",
) -> GuaranteeResult:
    """Keep trades above ``t``: with ``1 - delta`` confidence they win >= ``target_win_rate``.

    The trades, in ``entry_time`` order (frame order without it), are split:
    the first ``fit_fraction`` choose ``t`` by :func:`learn_then_test`, the
    rest score it out of sample.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``key`` and ``win``; rows with a NaN ``key`` are dropped.
    target_win_rate : float
        X, a fraction in (0, 1).
    delta : float, default 0.1
        1 - confidence (0.1: 90 %).
    key : str, default "confidence"
    thresholds : array_like, optional
        Candidates (default 0.00, 0.01, ..., 1.00).
    min_trades : int, default 100
        Fewest fitting trades a candidate must keep to be tested.
    fit_fraction : float, default 0.5
        Share of the trades (earliest first) used to choose.
    dependence : {"ess", "none"}, default "ess"
        Effective-sample-size correction for serially dependent outcomes.

    Returns
    -------
    GuaranteeResult

    Raises
    ------
    ConfigError
        Bad options.
    InsufficientDataError
        Fewer than ``min_trades`` fitting trades or no test trade.
    TradesFrameError
        Missing columns.

    References
    ----------
    A. N. Angelopoulos et al., "Learn then Test" (2021); C. J. Clopper and
    E. S. Pearson (1934).
    """
    if not isinstance(fit_fraction, int | float) or not 0.0 < fit_fraction < 1.0:
        raise ConfigError(f"fit_fraction must lie in (0, 1), got {fit_fraction!r}; use 0.5")
    usable = validate_trades(trades, key=key, min_rows=2)
    # Positions of the trades in time order, as int64 nanoseconds: never one Python
    # Timestamp per trade (converting a tz-aware column to an object array took 2 s
    # for a million trades), and no reordered copy of the frame.
    order: np.ndarray | None = None
    if "entry_time" in usable:
        entry = pd.to_datetime(usable["entry_time"], utc=True)
        if entry.isna().any():
            raise TradesFrameError("entry_time has NaT; every trade needs an entry time")
        entry_ns = entry.dt.as_unit("ns").array.asi8
        if (np.diff(entry_ns) < 0).any():
            order = np.argsort(entry_ns, kind="stable")
    n = len(usable)
    n_fit = round(n * fit_fraction)
    if n_fit < min_trades or n_fit >= n:
        raise InsufficientDataError(
            f"{n} trades split at fit_fraction={fit_fraction} leave {n_fit} to fit (need "
            f"{min_trades}) and {n - n_fit} to test (need 1); use more trades or another split"
        )
    score = usable[key].to_numpy(dtype=np.float64)
    win = usable["win"].to_numpy().astype(np.float64)
    if order is not None:
        score, win = score[order], win[order]
    grid = None if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    chosen, table = learn_then_test(
        score[:n_fit],
        win[:n_fit],
        target_win_rate=target_win_rate,
        delta=delta,
        thresholds=grid,
        min_trades=min_trades,
        dependence=dependence,
    )
    fit_end = None
    if "entry_time" in usable:
        last = n_fit - 1 if order is None else int(order[n_fit - 1])
        fit_end = pd.Timestamp(usable["entry_time"].iloc[last])
    nan = float("nan")
    if chosen is None:
        return GuaranteeResult(
            threshold=None, target_win_rate=float(target_win_rate), delta=float(delta), key=key,
            dependence=dependence, fit_trades=n_fit, test_trades=n - n_fit, fit_end=fit_end,
            fit_kept=0, fit_win_rate=nan, fit_lower_bound=nan, fit_n_effective=nan,
            oos_kept=0, oos_win_rate=nan, oos_met=None, table=table,
        )  # fmt: skip
    row = table.iloc[chosen]
    t = float(row["threshold"])
    kept = win[n_fit:][score[n_fit:] >= t]
    oos_rate = float(kept.mean()) if kept.size else nan
    return GuaranteeResult(
        threshold=t,
        target_win_rate=float(target_win_rate),
        delta=float(delta),
        key=key,
        dependence=dependence,
        fit_trades=n_fit,
        test_trades=n - n_fit,
        fit_end=fit_end,
        fit_kept=int(row["trades"]),
        fit_win_rate=float(row["win_rate"]),
        fit_lower_bound=float(row["lower_bound"]),
        fit_n_effective=float(row["n_effective"]),
        oos_kept=int(kept.size),
        oos_win_rate=oos_rate,
        oos_met=None if not kept.size else bool(oos_rate >= target_win_rate),
        table=table,
    )


def _check_delta(delta: float) -> None:
    if not isinstance(delta, int | float) or not 0.0 < float(delta) < 1.0:
        raise ConfigError(f"delta must lie in (0, 1), got {delta!r}; 0.1 gives 90 % confidence")
