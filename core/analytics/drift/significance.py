"""Significance tests of a drop between two windows.

:func:`win_rate_change` (two-proportion z-test, or Fisher's exact test for small
counts) and the one-sided Welch t-test from summary statistics used for the mean
return and the Brier score.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from core.errors import ConfigError, InsufficientDataError, ValidationError


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
