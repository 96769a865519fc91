"""Small, vectorised interval estimators shared by the analytics modules.

Every function here works on arrays and never loops over trades in Python.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import stats

from core.errors import ConfigError

__all__ = [
    "P_VALUE_FLOOR",
    "bootstrap_ci",
    "fisher_z_interval",
    "format_p_value",
    "wilson_interval",
    "z_value",
]

#: p-values below this print as "< 1e-16": double precision cannot resolve
#: 1 - p for smaller values, so the digits would be noise (and 0 is a lie).
P_VALUE_FLOOR = 1e-16


def format_p_value(p: float | None, *, digits: int = 2) -> str:
    """A p-value for people: ``"< 1e-16"`` below the floor, never ``"0"``.

    Parameters
    ----------
    p : float or None
        In [0, 1]; None or NaN prints ``"n/a"``.
    digits : int, default 2
        Significant digits.

    Returns
    -------
    str
        ``"0.032"``, ``"3.2e-07"``, ``"< 1e-16"``, ``"1"``.

    Examples
    --------
    >>> format_p_value(0.0)
    '< 1e-16'
    >>> format_p_value(0.0321)
    '0.032'
    >>> format_p_value(3.2e-7)
    '3.2e-07'
    """
    if p is None or not np.isfinite(p):
        return "n/a"
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"a p-value lies in [0, 1], got {p!r}")
    if p < P_VALUE_FLOOR:
        return f"< {P_VALUE_FLOOR:.0e}"
    if p >= 1e-3:
        return f"{p:.{digits}g}"
    return f"{p:.{max(digits - 1, 0)}e}"


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for a confidence ``level`` (0.95 -> 1.96).

    Raises
    ------
    ConfigError
        ``level`` outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must lie in (0, 1), got {level!r}; use 0.95 for a 95 % interval")
    return _z_value(float(level))


@functools.lru_cache(maxsize=64)
def _z_value(level: float) -> float:
    # scipy's ppf costs about 1 ms of argument handling per call; a walk-forward
    # asks for the same level dozens of times.
    return float(stats.norm.ppf(0.5 + level / 2.0))


def wilson_interval(
    successes: np.ndarray | float,
    trials: np.ndarray | float,
    *,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes, trials : array_like
        Counts of wins and of trades; broadcast together. Where ``trials`` is 0
        the interval is (0, 1): nothing is known.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    low, high : ndarray
        Bounds in [0, 1], same shape as the broadcast inputs.

    References
    ----------
    E. B. Wilson, "Probable inference, the law of succession, and statistical
    inference", JASA 22 (1927) 209-212.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = z_value(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1.0), 0.5)
        denom = 1.0 + z * z / np.where(n > 0, n, 1.0)
        centre = (p + z * z / (2.0 * np.where(n > 0, n, 1.0))) / denom
        half = (
            z
            * np.sqrt(
                p * (1.0 - p) / np.where(n > 0, n, 1.0)
                + z * z / (4.0 * np.where(n > 0, n, 1.0) ** 2)
            )
            / denom
        )
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    return low, high


def fisher_z_interval(r: float, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval for a correlation coefficient by Fisher's z transform.

    ``atanh(r)`` is approximately normal with standard error ``1/sqrt(n - 3)``.
    Returns (nan, nan) when ``n <= 3`` or ``r`` is nan (the interval is undefined).

    References
    ----------
    R. A. Fisher, "On the probable error of a coefficient of correlation deduced
    from a small sample", Metron 1 (1921) 3-32.
    """
    if n <= 3 or not np.isfinite(r):
        return (float("nan"), float("nan"))
    z = np.arctanh(np.clip(r, -0.999999999999, 0.999999999999))
    half = z_value(level) / np.sqrt(n - 3.0)
    return (float(np.tanh(z - half)), float(np.tanh(z + half)))


def bootstrap_ci(
    values: np.ndarray,
    statistic: str = "mean",
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean or median of ``values``.

    Parameters
    ----------
    values : ndarray, shape (n,)
        Sample (finite floats).
    statistic : {"mean", "median"}
        Statistic to bootstrap.
    n_boot : int, default 1000
        Number of resamples.
    level : float, default 0.95
        Confidence level.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    low, high : float
        (nan, nan) for an empty sample; the single value twice for n == 1.

    Raises
    ------
    ConfigError
        ``statistic`` is neither "mean" nor "median" (checked when n >= 2).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return (float("nan"), float("nan"))
    if x.size == 1:
        return (float(x[0]), float(x[0]))
    if statistic not in ("mean", "median"):
        raise ConfigError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    rng = np.random.default_rng(seed)
    alpha = (1.0 - level) / 2.0
    # Draw in chunks so a million-row sample never needs n_boot * n memory at once.
    chunk = max(1, int(2_000_000 // x.size))
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        sample = x[idx]
        out[start:stop] = sample.mean(axis=1) if statistic == "mean" else np.median(sample, axis=1)
    low, high = np.quantile(out, [alpha, 1.0 - alpha])
    return (float(low), float(high))
