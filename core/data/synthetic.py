"""A seeded synthetic market for scale tests (always labelled synthetic).

Daily log return of symbol ``i`` on day ``t``::

    r[t, i] = mu_regime[s_t] + mu_i + trend[t, i] + beta_i * m[t] + e[t, i]

- ``s_t``: a two-state Markov regime (0 calm, 1 stressed) shared by the
  market, with persistent states (expected stays of about 65 and 20 days);
  the stressed state has a negative drift and doubles the market volatility.
- ``m[t]``: the market factor, a GARCH(1,1) shock with Student-t innovations
  (5 degrees of freedom, scaled to unit variance): fat tails and volatility
  clustering. ``beta_i`` ~ U(0.6, 1.4).
- ``e[t, i]``: idiosyncratic GARCH(1,1) shocks with per-symbol parameters and
  Student-t innovations.
- ``mu_i`` a small constant drift and ``trend[t, i]`` a slowly mean-reverting
  AR(1) drift (persistence 0.99), which gives trend-following models
  something to find.

Open, high, low and volume are derived from the close path and the day's
volatility (the open carries part of the day's move as an overnight gap). The
loop runs over days, each step vectorised across symbols: 500 symbols × 2,520
days take about 0.35 s.

References
----------
T. Bollerslev, "Generalized autoregressive conditional heteroskedasticity",
Journal of Econometrics 31 (1986) 307-327.
J. D. Hamilton, "A new approach to the economic analysis of nonstationary time
series and the business cycle", Econometrica 57 (1989) 357-384.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from core.data.market import MarketData
from core.errors import DataSourceError

__all__ = ["SYNTHETIC_START", "generate_synthetic", "synthetic_symbols"]

#: First business day of every synthetic market.
SYNTHETIC_START = "2010-01-04"

_T_DF = 5.0
_TRANSITION = np.array([[0.985, 0.015], [0.05, 0.95]])  # rows: from calm, from stressed
_REGIME_DRIFT = np.array([0.0004, -0.0010])  # daily log drift
_REGIME_VOL = np.array([1.0, 2.0])  # multiplier of the market volatility


def synthetic_symbols(n_symbols: int) -> list[str]:
    """``["SYN000", "SYN001", ...]`` (at least three digits, sortable)."""
    width = max(3, len(str(n_symbols - 1)))
    return [f"SYN{i:0{width}d}" for i in range(n_symbols)]


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DataSourceError(f"{name}={value!r} must be an integer in [{low}, {high}]")
    if not low <= int(value) <= high:
        raise DataSourceError(
            f"{name}={value!r} is out of range; use an integer in [{low}, {high}]"
        )
    return int(value)


def generate_synthetic(
    *,
    n_symbols: int = 50,
    n_days: int = 2520,
    seed: int = 0,
) -> MarketData:
    """Generate a synthetic market of ``n_symbols`` × ``n_days`` business days.

    Parameters
    ----------
    n_symbols : int, default 50
        Number of symbols, 1 to 10,000; named ``SYN000``, ``SYN001``, ...
    n_days : int, default 2520
        Number of business days (2,520 ≈ 10 years) from
        :data:`SYNTHETIC_START`, 2 to 50,000.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives the same
        market (and the same fingerprint).

    Returns
    -------
    MarketData
        ``source="synthetic"``, ``synthetic=True``, prices in currency units
        (starting between about 20 and 200), volume in shares, no NaN.

    Raises
    ------
    DataSourceError
        When a size or the seed is out of range.
    """
    n = _check_int("n_symbols", n_symbols, 1, 10_000)
    t_len = _check_int("n_days", n_days, 2, 50_000)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    rng = np.random.default_rng(seed)
    t_scale = np.sqrt((_T_DF - 2.0) / _T_DF)  # unit-variance Student-t

    # Per-symbol parameters.
    beta = rng.uniform(0.6, 1.4, n)
    mu = rng.normal(0.0001, 0.0002, n)
    idio_vol = rng.uniform(0.008, 0.022, n)  # long-run daily
    idio_alpha = rng.uniform(0.03, 0.10, n)
    idio_beta = rng.uniform(0.85, 0.95, n)
    idio_beta = np.minimum(idio_beta, 0.985 - idio_alpha)
    idio_omega = idio_vol**2 * (1.0 - idio_alpha - idio_beta)
    price0 = np.exp(rng.uniform(np.log(20.0), np.log(200.0), n))
    volume0 = np.exp(rng.uniform(np.log(2e5), np.log(5e7), n))

    # Shocks, drawn in bulk.
    z_market = rng.standard_t(_T_DF, t_len) * t_scale
    z_idio = rng.standard_t(_T_DF, (t_len, n)) * t_scale
    u_regime = rng.random(t_len)
    trend = lfilter([1.0], [1.0, -0.99], rng.normal(0.0, 0.00006, (t_len, n)), axis=0)
    gap_noise = rng.normal(0.0, 1.0, (t_len, n))
    hl_noise = np.abs(rng.normal(0.0, 1.0, (2, t_len, n)))
    vol_noise = rng.normal(0.0, 0.3, (t_len, n))

    # Regime path (scalar chain).
    regime = np.empty(t_len, dtype=np.int64)
    state = 0
    for t in range(t_len):
        state = (
            int(u_regime[t] >= _TRANSITION[state, 0])
            if state == 0
            else int(u_regime[t] < _TRANSITION[state, 1])
        )
        regime[t] = state

    # GARCH recursions: loop over days, vectorised across symbols, in place (the
    # same operations in the same order as the textbook form in the comments).
    m_var_lr = 0.009**2
    m_alpha, m_beta = 0.08, 0.90
    m_omega = m_var_lr * (1.0 - m_alpha - m_beta)
    m_var = m_var_lr
    m_prev = 0.0
    i_var = idio_vol**2
    i_cap = 16.0 * idio_vol**2
    i_prev = np.zeros(n)
    scratch = np.empty(n)
    beta_mult = [beta * mult for mult in _REGIME_VOL]  # per regime
    beta_mult_sq = [b**2 for b in beta_mult]
    returns = np.empty((t_len, n))
    sigma = np.empty((t_len, n))
    for t in range(t_len):
        m_var = min(m_omega + m_alpha * m_prev**2 + m_beta * m_var, 16.0 * m_var_lr)
        m_prev = np.sqrt(m_var) * z_market[t]
        # Cap the variance at 16x its long-run level (a 4x vol spike): fat-tailed
        # shocks fed back through a persistent GARCH otherwise explode now and then.
        # i_var = min(idio_omega + idio_alpha * i_prev**2 + idio_beta * i_var, i_cap)
        np.multiply(i_prev, i_prev, out=i_prev)
        np.multiply(idio_alpha, i_prev, out=i_prev)
        np.add(idio_omega, i_prev, out=i_prev)
        np.multiply(idio_beta, i_var, out=scratch)
        np.add(i_prev, scratch, out=i_prev)
        np.minimum(i_prev, i_cap, out=i_var)
        # i_prev = sqrt(i_var) * z_idio[t]
        np.sqrt(i_var, out=i_prev)
        np.multiply(i_prev, z_idio[t], out=i_prev)
        r = regime[t]
        # returns[t] = drift + beta * mult * m_prev + i_prev
        row = returns[t]
        np.multiply(beta_mult[r], m_prev, out=row)
        np.add(_REGIME_DRIFT[r], row, out=row)
        np.add(row, i_prev, out=row)
        # sigma[t] = sqrt((beta * mult) ** 2 * m_var + i_var)
        row = sigma[t]
        np.multiply(beta_mult_sq[r], m_var, out=row)
        np.add(row, i_var, out=row)
        np.sqrt(row, out=row)
    returns += mu + trend
    np.clip(returns, -0.25, 0.25, out=returns)  # no daily log move beyond ±25 %

    log_close = np.log(price0) + np.cumsum(returns, axis=0)
    close = np.exp(log_close)
    prev_log_close = np.vstack([log_close[:1] - returns[:1], log_close[:-1]])
    gap = 0.25 * returns + 0.2 * sigma * gap_noise
    open_ = np.exp(prev_log_close + gap)
    high = np.maximum(open_, close) * np.exp(0.5 * sigma * hl_noise[0])
    low = np.minimum(open_, close) * np.exp(-0.5 * sigma * hl_noise[1])
    volume = np.round(volume0 * np.exp(vol_noise) * (1.0 + 2.0 * np.abs(returns) / sigma))

    index = pd.bdate_range(SYNTHETIC_START, periods=t_len, tz="UTC", name="date").as_unit("ns")
    columns = pd.Index(synthetic_symbols(n), dtype=object, name="symbol")
    frames = {
        name: pd.DataFrame(values, index=index, columns=columns, copy=False)  # MarketData copies
        for name, values in (
            ("open", open_),
            ("high", high),
            ("low", low),
            ("close", close),
            ("volume", volume),
        )
    }
    return MarketData(**frames, source="synthetic", synthetic=True)
