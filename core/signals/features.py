"""Causal features on wide price arrays.

Every function takes 2-D ``float64`` arrays of shape ``(n_dates, n_symbols)``
(rows in time order) and returns an array of the same shape whose row ``t``
depends only on rows ``0..t`` of the input. A window that reaches before a
symbol's first bar, or that contains a NaN, gives NaN.

Rolling means and standard deviations use prefix sums along time (vectorised
across symbols; a prefix sum at row ``t`` only involves rows ``<= t``); rolling
extremes double a span of rows per pass (``log2(window)`` passes); trailing ranks
compare each row with its lagged rows.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

__all__ = [
    "TRADING_DAYS",
    "annualised_volatility",
    "daily_volatility",
    "log_returns",
    "rolling_max",
    "rolling_mean",
    "rolling_min",
    "rolling_std",
    "shift",
    "trailing_percentile",
    "wilder_rsi",
]

#: Trading days per year used to annualise.
TRADING_DAYS = 252


def shift(x: np.ndarray, periods: int) -> np.ndarray:
    """Row ``t`` holds row ``t - periods`` of ``x`` (NaN for the first ``periods`` rows)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full_like(x, np.nan)
    if periods < len(x):
        out[periods:] = x[: len(x) - periods]
    return out


def log_returns(close: np.ndarray) -> np.ndarray:
    """Daily log returns ``log(close[t] / close[t-1])``; row 0 is NaN."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full_like(close, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = np.log(close[1:] / close[:-1])
    return out


def _window_sums(x: np.ndarray, window: int, power: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sum of ``x**power`` over each trailing window and whether the window is full.

    Prefix sums along time (rows): row ``t`` only involves rows ``<= t``. A NaN
    in the window, or fewer than ``window`` rows, makes the window not full.
    """
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    vals = np.where(finite, x, 0.0)
    if power == 2:
        np.multiply(vals, vals, out=vals)  # what ** 2 computes
    elif power != 1:
        vals **= power
    csum = np.cumsum(vals, axis=0, out=vals)
    ccount = np.cumsum(finite, axis=0, dtype=np.int64)
    total = np.empty_like(csum)
    total[:window] = csum[:window]
    np.subtract(csum[window:], csum[:-window], out=total[window:])
    full = ccount == window  # rows before ``window`` (only row window - 1 can be full)
    np.equal(ccount[window:] - ccount[:-window], window, out=full[window:])
    return total, full


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of rows ``t-window+1..t`` (NaN unless all ``window`` values are finite).

    Computed from prefix sums (vectorised across symbols); the rounding error
    is about 1e-16 of the largest prefix sum, far below price precision.
    """
    total, full = _window_sums(x, window)
    return np.where(full, total / window, np.nan)


def _rolling_extreme(x: np.ndarray, window: int, op: np.ufunc) -> np.ndarray:
    """``op`` (``np.maximum`` or ``np.minimum``) over rows ``t-window+1..t``.

    Doubling: after ``k`` passes row ``t`` holds the extreme of the ``2**k`` rows
    ending at ``t``; two overlapping such spans then cover the window. NaN in the
    window propagates, and so does +-inf, which pandas'
    ``rolling(window, min_periods=window)`` counts as missing too.
    """
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.all():
        x = np.where(finite, x, np.nan)
    out = np.full_like(x, np.nan)
    if window > len(x):
        return out
    span, ext = 1, x
    while 2 * span <= window:
        wider = ext.copy()  # rows before 2 * span - 1 are never read
        op(ext[span:], ext[:-span], out=wider[span:])
        span, ext = 2 * span, wider
    rest = window - span
    op(ext[window - 1 :], ext[window - 1 - rest : len(x) - rest], out=out[window - 1 :])
    return out


def rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    """Maximum of rows ``t-window+1..t`` (NaN if one is NaN or the window is short)."""
    return _rolling_extreme(x, window, np.maximum)


def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    """Minimum of rows ``t-window+1..t`` (NaN if one is NaN or the window is short)."""
    return _rolling_extreme(x, window, np.minimum)


def rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) of rows ``t-window+1..t``.

    From prefix sums of ``x`` and ``x**2`` (``var = (S2 - S1**2 / n) / (n - 1)``),
    with each symbol's values first shifted by its first finite value to limit
    cancellation (a constant, so row ``t`` still only involves rows ``<= t``).
    NaN unless all ``window`` values are finite.
    """
    x = np.asarray(x, dtype=np.float64)
    if window < 2:
        return np.full_like(x, np.nan)
    # Centre by each symbol's first finite value: a constant, so causal.
    has = np.isfinite(x)
    first_idx = np.where(has.any(axis=0), has.argmax(axis=0), 0)
    centre = x[first_idx, np.arange(x.shape[1])]
    centre = np.where(np.isfinite(centre), centre, 0.0)
    xc = x - centre
    s1, full = _window_sums(xc, window, 1)
    s2, _ = _window_sums(xc, window, 2)
    var = (s2 - s1 * s1 / window) / (window - 1)
    return np.where(full, np.sqrt(np.maximum(var, 0.0)), np.nan)


def daily_volatility(close: np.ndarray, window: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) of the last ``window`` daily log returns.

    Returns
    -------
    ndarray, shape (n_dates, n_symbols)
        Volatility per day, a fraction (0.01 = 1 % a day); NaN for the first
        ``window`` rows of each symbol.
    """
    return rolling_std(log_returns(close), window)


def annualised_volatility(close: np.ndarray, window: int) -> np.ndarray:
    """:func:`daily_volatility` × sqrt(252): a fraction a year (0.2 = 20 %)."""
    return daily_volatility(close, window) * np.sqrt(TRADING_DAYS)


def trailing_percentile(
    x: np.ndarray, window: int, *, min_periods: int, step: int = 1
) -> np.ndarray:
    """Percentile rank of ``x[t]`` among its trailing values (itself included).

    The comparison set of row ``t`` is ``x[t - j]`` for ``j = 0, step,
    2 * step, ... < window`` (``step > 1`` thins it for speed); NaN members
    are skipped. The rank is the average rank of pandas'
    ``rank(pct=True)``: ``(n_less + (n_equal + 1) / 2) / n`` with ``n_equal``
    counting ``x[t]`` itself once.

    Returns
    -------
    ndarray, shape (n_dates, n_symbols)
        In (0, 1]; NaN where ``x[t]`` is NaN or fewer than ``min_periods``
        finite values are in the set.
    """
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    lags = range(step, window, step)
    # 2 * n_less + n_equal over the lags, in one small accumulator: (past < cur) +
    # (past <= cur) adds 2 for a smaller value, 1 for an equal one (0 for NaN).
    most = 2 * len(lags)
    dtype = next(t for t in (np.int8, np.int16, np.int64) if most <= np.iinfo(t).max)
    twice = np.zeros(x.shape, dtype=dtype)
    for lag in lags:
        past = x[:-lag]
        cur = x[lag:]
        twice[lag:] += past < cur
        twice[lag:] += past <= cur
    count = _strided_counts(finite, window, step)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = (twice + 2) / 2.0 / count
    return np.where(finite & (count >= min_periods), pct, np.nan)


def _strided_counts(finite: np.ndarray, window: int, step: int) -> np.ndarray:
    """Row ``t``: how many of rows ``t, t - step, t - 2 step, ... > t - window`` are True.

    A prefix sum along each residue class of the rows modulo ``step``, less the
    same sum ``ceil(window / step)`` members earlier.
    """
    members = -(-window // step)
    counts = np.empty(finite.shape, dtype=np.int64)
    for r in range(min(step, len(finite))):
        csum = np.cumsum(finite[r::step], axis=0, dtype=np.int64)
        csum[members:] -= csum[:-members].copy()
        counts[r::step] = csum
    return counts


def wilder_rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Relative Strength Index with Wilder's smoothing.

    The first average gain/loss of a symbol is the simple mean of its first
    ``period`` price changes; after that
    ``avg[t] = (avg[t-1] * (period - 1) + x[t]) / period``. A missing price
    change (NaN) leaves the averages unchanged and gives NaN at that row.

    Parameters
    ----------
    close : ndarray, shape (n_dates, n_symbols)
        Prices.
    period : int, default 14
        Smoothing length in bars.

    Returns
    -------
    ndarray, shape (n_dates, n_symbols)
        RSI in [0, 100]; NaN until a symbol has ``period`` price changes.
        100 when the average loss is 0 (50 when both averages are 0).

    References
    ----------
    J. W. Wilder, *New Concepts in Technical Trading Systems* (1978).
    """
    close = np.asarray(close, dtype=np.float64)
    delta = np.full_like(close, np.nan)
    delta[1:] = close[1:] - close[:-1]
    gain = np.where(delta > 0, delta, 0.0)
    loss = np.where(delta < 0, -delta, 0.0)
    valid = ~np.isnan(delta)
    # Columns whose price changes are one unbroken run: a linear filter.
    first = np.where(valid.any(axis=0), valid.argmax(axis=0), len(close))
    n_valid = valid.sum(axis=0)
    last = len(close) - np.where(valid.any(axis=0), valid[::-1].argmax(axis=0), len(close))
    contiguous = (last - first) == n_valid
    out = np.full_like(close, np.nan)
    fast = np.flatnonzero(contiguous & (n_valid >= period))
    if fast.size:
        out[:, fast] = _rsi_filter(
            gain[:, fast], loss[:, fast], valid[:, fast], first[fast], period
        )
    slow = np.flatnonzero(~contiguous & (n_valid >= period))
    if slow.size:
        out[:, slow] = _rsi_loop(gain[:, slow], loss[:, slow], valid[:, slow], period)
    return out


def _rsi_ratio(avg_gain: np.ndarray, avg_loss: np.ndarray) -> np.ndarray:
    # The filter's seed is a difference of cumulative sums: an average that is truly
    # 0 can come out at -1e-13; rounding can also leave the ratio a hair above 100.
    avg_gain = np.maximum(avg_gain, 0.0)
    avg_loss = np.maximum(avg_loss, 0.0)
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = np.where(total > 0, 100.0 * avg_gain / np.where(total > 0, total, 1.0), 50.0)
    return np.clip(rsi, 0.0, 100.0)  # (100 g) / g can round to 100 + 1e-14


def _rsi_filter(
    gain: np.ndarray, loss: np.ndarray, valid: np.ndarray, first: np.ndarray, period: int
) -> np.ndarray:
    """Wilder averages as ``y[t] = (1 - 1/p) y[t-1] + u[t]`` (scipy ``lfilter``).

    The input ``u`` is 0 before a column's seed row, the seed (simple mean of
    the first ``period`` changes) at the seed row, and ``x[t] / p`` after it:
    the filter reproduces the recursion exactly, causally.
    """
    n_dates, n_cols = gain.shape
    cols = np.arange(n_cols)
    seed_row = first + period - 1
    rows = np.arange(n_dates)[:, None]
    out = np.full(gain.shape, np.nan)
    averages = []
    for x in (gain, loss):
        csum = np.cumsum(x, axis=0)
        before = np.where(first > 0, csum[np.maximum(first - 1, 0), cols], 0.0)
        seed = (csum[seed_row, cols] - before) / period
        u = np.where(rows > seed_row, x / period, 0.0)
        u[seed_row, cols] = seed
        averages.append(lfilter([1.0], [1.0, -(1.0 - 1.0 / period)], u, axis=0))
    ready = (rows >= seed_row) & valid
    out[ready] = _rsi_ratio(averages[0], averages[1])[ready]
    return out


def _rsi_loop(gain: np.ndarray, loss: np.ndarray, valid: np.ndarray, period: int) -> np.ndarray:
    """Wilder averages row by row, skipping missing changes (columns with gaps)."""
    n_dates, n_cols = gain.shape
    count = np.zeros(n_cols, dtype=np.int64)
    avg_gain = np.zeros(n_cols)
    avg_loss = np.zeros(n_cols)
    out = np.full(gain.shape, np.nan)
    for t in range(n_dates):
        v = valid[t]
        if not v.any():
            continue
        warm = v & (count < period)
        ready = v & (count >= period)
        avg_gain[warm] += gain[t, warm] / period
        avg_loss[warm] += loss[t, warm] / period
        avg_gain[ready] = (avg_gain[ready] * (period - 1) + gain[t, ready]) / period
        avg_loss[ready] = (avg_loss[ready] * (period - 1) + loss[t, ready]) / period
        count[v] += 1
        show = v & (count >= period)
        out[t, show] = _rsi_ratio(avg_gain[show], avg_loss[show])
    return out
