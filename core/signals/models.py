"""The five voting models of the ensemble.

Each model is a pure function of wide price arrays of shape
``(n_dates, n_symbols)`` (rows in time order, NaN where a symbol has no bar)
and returns a :class:`ModelOutput`: a vote in {-1, 0, +1} per bar and symbol
and a strength in [0, 1]. The vote and strength at row ``t`` use only rows
``0..t``: every window ends at the current bar, and the classifier is trained
walk-forward on labels already known when it is fitted.

Strengths put different models on a common [0, 1] scale. Several divide a
move by the symbol's daily volatility ``sigma`` (standard deviation of daily
log returns over the ensemble's ``vol_window``); where ``sigma`` is not yet
known (or is 0) a non-zero vote gets the neutral strength 0.5. A zero vote
always has strength 0.

Close-only mode
---------------
The two models that read a bar's range take ``high`` and ``low`` as
``None`` (both) when only closes were observed (a
:attr:`~core.data.market.MarketData.close_only` market): the breakout
channel is then built from prior *closes*, and the classifier drops its one
range feature, ``z_range`` (see :data:`CLASSIFIER_FEATURES_CLOSE_ONLY`).
Momentum, crossover and RSI read closes only and do not change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from core.errors import ConfigError
from core.signals.features import (
    TRADING_DAYS,
    daily_volatility,
    log_returns,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_std,
    shift,
    wilder_rsi,
)

__all__ = [
    "CLASSIFIER_FEATURES",
    "CLASSIFIER_FEATURES_CLOSE_ONLY",
    "BreakoutParams",
    "ClassifierParams",
    "CrossoverParams",
    "ModelOutput",
    "MomentumParams",
    "RSIParams",
    "breakout_model",
    "classifier_features",
    "classifier_model",
    "crossover_model",
    "momentum_model",
    "rsi_model",
]

_NEUTRAL_STRENGTH = 0.5
_DEFAULT_VOL_WINDOW = 20


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class ModelOutput:
    """Votes and strengths of one model.

    Attributes
    ----------
    votes : ndarray of int8, shape (n_dates, n_symbols)
        -1 (short), 0 (no view) or +1 (long).
    strength : ndarray of float64, shape (n_dates, n_symbols)
        In [0, 1]; 0 where the vote is 0.
    """

    votes: np.ndarray
    strength: np.ndarray


def _output(votes: np.ndarray, strength: np.ndarray) -> ModelOutput:
    votes = votes.astype(np.int8)
    strength = np.where(votes != 0, np.nan_to_num(strength, nan=_NEUTRAL_STRENGTH), 0.0)
    return ModelOutput(votes=votes, strength=np.clip(strength, 0.0, 1.0))


def _scaled_strength(move: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``tanh(|move| / scale)``; NaN where ``scale`` is not a positive number."""
    ok = np.isfinite(scale) & (scale > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, np.tanh(np.abs(move) / np.where(ok, scale, 1.0)), np.nan)


def _vol(close: np.ndarray, vol: np.ndarray | None) -> np.ndarray:
    return daily_volatility(close, _DEFAULT_VOL_WINDOW) if vol is None else vol


# --------------------------------------------------------------------------- params
def _check_int(owner: object, name: str, low: int, high: int) -> None:
    value = getattr(owner, name)
    label = f"{type(owner).__name__}.{name}"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(
            f"{label}={value!r} must be an integer in [{low}, {high}], not {type(value).__name__}"
        )
    if not low <= value <= high:
        raise ConfigError(f"{label}={value!r} is out of range; use an integer in [{low}, {high}]")


def _check_float(
    owner: object, name: str, low: float, high: float, *, open_low: bool = False
) -> None:
    value = getattr(owner, name)
    label = f"{type(owner).__name__}.{name}"
    bracket = "(" if open_low else "["
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(
            f"{label}={value!r} must be a number in {bracket}{low}, {high}], "
            f"not {type(value).__name__}"
        )
    bad = not math.isfinite(value) or value > high or (value <= low if open_low else value < low)
    if bad:
        raise ConfigError(
            f"{label}={value!r} is out of range; use a number in {bracket}{low}, {high}]"
        )


class _Params:
    """Mixin: ``to_dict`` for JSON export of model parameters."""

    def to_dict(self) -> dict[str, int | float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class MomentumParams(_Params):
    """Momentum model parameters.

    Attributes
    ----------
    lookback : int, default 20
        Bars of the return, 1 to 1,000.
    dead_band : float, default 0.02
        Minimum absolute ``lookback``-bar simple return (a fraction: 0.02 =
        2 %) for a vote, in [0, 1].
    """

    lookback: int = 20
    dead_band: float = 0.02

    def __post_init__(self) -> None:
        _check_int(self, "lookback", 1, 1000)
        _check_float(self, "dead_band", 0.0, 1.0)


@dataclass(frozen=True)
class CrossoverParams(_Params):
    """Moving-average crossover parameters.

    Attributes
    ----------
    fast : int, default 10
        Bars of the fast simple moving average, 1 to 999.
    slow : int, default 50
        Bars of the slow simple moving average, greater than ``fast``, up to 1,000.
    """

    fast: int = 10
    slow: int = 50

    def __post_init__(self) -> None:
        _check_int(self, "fast", 1, 999)
        _check_int(self, "slow", 2, 1000)
        if self.slow <= self.fast:
            raise ConfigError(
                f"CrossoverParams.slow={self.slow} must be greater than fast={self.fast}; "
                "make the slow window the longer one"
            )


@dataclass(frozen=True)
class BreakoutParams(_Params):
    """Breakout (Donchian channel) parameters.

    Attributes
    ----------
    window : int, default 20
        Bars of the prior channel (today excluded), 1 to 1,000.
    """

    window: int = 20

    def __post_init__(self) -> None:
        _check_int(self, "window", 1, 1000)


@dataclass(frozen=True)
class RSIParams(_Params):
    """RSI mean-reversion parameters.

    Attributes
    ----------
    period : int, default 14
        Wilder smoothing length in bars, 2 to 1,000.
    lower : float, default 30
        RSI below this votes +1 (oversold), in (0, 100).
    upper : float, default 70
        RSI above this votes -1 (overbought), greater than ``lower``, in (0, 100).
    """

    period: int = 14
    lower: float = 30.0
    upper: float = 70.0

    def __post_init__(self) -> None:
        _check_int(self, "period", 2, 1000)
        _check_float(self, "lower", 0.0, 100.0, open_low=True)
        _check_float(self, "upper", 0.0, 100.0, open_low=True)
        if not self.lower < self.upper < 100.0:
            raise ConfigError(
                f"RSIParams.upper={self.upper!r} must lie above lower={self.lower!r} and "
                "below 100; use e.g. lower=30, upper=70"
            )


@dataclass(frozen=True)
class ClassifierParams(_Params):
    """Walk-forward logistic-regression classifier parameters.

    Attributes
    ----------
    retrain_every : int, default 252
        Bars between refits, 1 to 10,000.
    min_train_bars : int, default 252
        Bar index of the first refit (bars before it vote 0), 1 to 100,000.
    max_train_rows : int, default 100_000
        Training rows kept per fit (a seeded random subsample of the eligible
        (bar, symbol) rows), 100 to 10,000,000.
    min_train_rows : int, default 200
        Fewer eligible rows than this: no fit (the previous model, if any,
        keeps predicting), 10 to 1,000,000.
    C : float, default 1.0
        Inverse L2 regularisation strength of the logistic regression, (0, 1e6].
    prob_margin : float, default 0.02
        Vote +1 when P(up) > 0.5 + margin, -1 when P(up) < 0.5 - margin,
        in [0, 0.5).
    """

    retrain_every: int = 252
    min_train_bars: int = 252
    max_train_rows: int = 100_000
    min_train_rows: int = 200
    C: float = 1.0
    prob_margin: float = 0.02

    def __post_init__(self) -> None:
        _check_int(self, "retrain_every", 1, 10_000)
        _check_int(self, "min_train_bars", 1, 100_000)
        _check_int(self, "max_train_rows", 100, 10_000_000)
        _check_int(self, "min_train_rows", 10, 1_000_000)
        _check_float(self, "C", 0.0, 1e6, open_low=True)
        _check_float(self, "prob_margin", 0.0, 0.4999)


# --------------------------------------------------------------------------- models
def momentum_model(
    close: np.ndarray,
    *,
    lookback: int = 20,
    dead_band: float = 0.02,
    vol: np.ndarray | None = None,
) -> ModelOutput:
    """Time-series momentum: the sign of the ``lookback``-bar return.

    ``ret = close[t] / close[t - lookback] - 1``; vote +1 when
    ``ret > dead_band``, -1 when ``ret < -dead_band``, else 0.
    Strength ``tanh(|log(1 + ret)| / (2 * sigma * sqrt(lookback)))``: half the
    move's z-score, squashed.

    Parameters
    ----------
    close : ndarray, shape (n_dates, n_symbols)
        Prices.
    lookback : int, default 20
        Bars.
    dead_band : float, default 0.02
        Fraction.
    vol : ndarray, shape (n_dates, n_symbols), optional
        Daily volatility ``sigma`` (fraction); 20-bar by default.

    Returns
    -------
    ModelOutput

    References
    ----------
    T. J. Moskowitz, Y. H. Ooi, L. H. Pedersen, "Time series momentum",
    Journal of Financial Economics 104 (2012) 228-250.
    """
    close = np.asarray(close, dtype=np.float64)
    past = shift(close, lookback)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = close / past - 1.0
        move = np.log(close / past)
    votes = np.where(ret > dead_band, 1, np.where(ret < -dead_band, -1, 0))
    strength = _scaled_strength(move, 2.0 * _vol(close, vol) * np.sqrt(lookback))
    return _output(votes, strength)


def crossover_model(
    close: np.ndarray,
    *,
    fast: int = 10,
    slow: int = 50,
    vol: np.ndarray | None = None,
) -> ModelOutput:
    """Moving-average crossover: the side of the fast SMA against the slow SMA.

    Vote +1 when ``SMA_fast > SMA_slow``, -1 when below, 0 when equal or
    not yet defined. Strength ``tanh(|log(SMA_fast / SMA_slow)| / (sigma * sqrt(fast)))``.

    Parameters
    ----------
    close : ndarray, shape (n_dates, n_symbols)
        Prices.
    fast, slow : int
        Window lengths in bars (both end at the current bar).
    vol : ndarray, shape (n_dates, n_symbols), optional
        Daily volatility ``sigma``; 20-bar by default.

    Returns
    -------
    ModelOutput
    """
    close = np.asarray(close, dtype=np.float64)
    sma_fast = rolling_mean(close, fast)
    sma_slow = rolling_mean(close, slow)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.log(sma_fast / sma_slow)
    votes = np.where(gap > 0, 1, np.where(gap < 0, -1, 0))
    strength = _scaled_strength(gap, _vol(close, vol) * np.sqrt(fast))
    return _output(votes, strength)


def _range_inputs(
    model: str, high: np.ndarray | None, low: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(high, low)`` as arrays, or None in close-only mode (both None)."""
    if high is None and low is None:
        return None
    if high is None or low is None:
        raise ConfigError(
            f"{model}: pass both high and low, or neither (None, None) for close-only data"
        )
    return np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)


def breakout_model(
    close: np.ndarray,
    high: np.ndarray | None,
    low: np.ndarray | None,
    *,
    window: int = 20,
    vol: np.ndarray | None = None,
) -> ModelOutput:
    """Channel breakout: close beyond the prior ``window``-bar high or low.

    ``prior_high[t] = max(high[t-window .. t-1])`` (today excluded), likewise
    ``prior_low``. Vote +1 when ``close[t] > prior_high[t]``, -1 when
    ``close[t] < prior_low[t]``, else 0. Strength
    ``tanh(log(close / prior_high) / sigma)`` (resp. ``prior_low / close``).

    Parameters
    ----------
    close : ndarray, shape (n_dates, n_symbols)
        Prices.
    high, low : ndarray, shape (n_dates, n_symbols), or None
        Bar extremes. ``None`` for both on close-only data: the channel is
        then the prior ``window`` *closes* (``prior_high[t] = max(close[t-window
        .. t-1])``), a close-to-close breakout.
    window : int, default 20
        Bars of the prior channel.
    vol : ndarray, shape (n_dates, n_symbols), optional
        Daily volatility ``sigma``; 20-bar by default.

    Returns
    -------
    ModelOutput

    References
    ----------
    R. Donchian, "High finance in copper", Financial Analysts Journal 16 (1960).
    """
    close = np.asarray(close, dtype=np.float64)
    bars = _range_inputs("breakout_model", high, low)
    high_, low_ = bars if bars is not None else (close, close)
    prior_high = shift(rolling_max(high_, window), 1)
    prior_low = shift(rolling_min(low_, window), 1)
    up = close > prior_high
    down = close < prior_low
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.where(
            up, np.log(close / prior_high), np.where(down, np.log(prior_low / close), 0.0)
        )
    votes = np.where(up, 1, np.where(down, -1, 0))
    strength = _scaled_strength(excess, _vol(close, vol))
    return _output(votes, strength)


def rsi_model(
    close: np.ndarray,
    *,
    period: int = 14,
    lower: float = 30.0,
    upper: float = 70.0,
    rsi: np.ndarray | None = None,
) -> ModelOutput:
    """RSI mean reversion: buy oversold, sell overbought.

    Vote +1 when ``RSI < lower``, -1 when ``RSI > upper`` (Wilder's RSI, see
    :func:`core.signals.features.wilder_rsi`). Strength
    ``(lower - RSI) / lower`` resp. ``(RSI - upper) / (100 - upper)``.

    Parameters
    ----------
    close : ndarray, shape (n_dates, n_symbols)
        Prices.
    period : int, default 14
        Bars.
    lower, upper : float
        RSI thresholds in (0, 100).
    rsi : ndarray, shape (n_dates, n_symbols), optional
        ``wilder_rsi(close, period)`` when the caller already has it (the
        ensemble shares it with the classifier).

    Returns
    -------
    ModelOutput
    """
    if rsi is None:
        rsi = wilder_rsi(close, period)
    votes = np.where(rsi < lower, 1, np.where(rsi > upper, -1, 0))
    strength = np.where(votes > 0, (lower - rsi) / lower, (rsi - upper) / (100.0 - upper))
    return _output(votes, strength)


#: Names of the classifier's features, in column order.
CLASSIFIER_FEATURES: tuple[str, ...] = (
    "z_ret_1",
    "z_ret_5",
    "z_ret_20",
    "z_sma_gap",
    "log_vol_ratio",
    "log_ann_vol",
    "z_range",
    "rsi",
)

#: The classifier's features on close-only data: :data:`CLASSIFIER_FEATURES`
#: without ``z_range``, which needs each bar's high and low.
CLASSIFIER_FEATURES_CLOSE_ONLY: tuple[str, ...] = tuple(
    name for name in CLASSIFIER_FEATURES if name != "z_range"
)


def classifier_features(
    close: np.ndarray,
    high: np.ndarray | None,
    low: np.ndarray | None,
    *,
    sigma20: np.ndarray | None = None,
    rsi14: np.ndarray | None = None,
) -> np.ndarray:
    """Causal features of the classifier, pooled-comparable across symbols.

    Parameters
    ----------
    close : ndarray, shape (n_dates, n_symbols)
        Prices.
    high, low : ndarray, shape (n_dates, n_symbols), or None
        Bar extremes; ``None`` for both on close-only data, which drops the
        range feature ``z_range``.
    sigma20, rsi14 : ndarray, shape (n_dates, n_symbols), optional
        ``daily_volatility(close, 20)`` and ``wilder_rsi(close, 14)`` when the
        caller already has them (the ensemble computes both for its other
        models); computed here otherwise.

    Returns
    -------
    ndarray, shape (n_dates, n_symbols, 8), or (n_dates, n_symbols, 7) close-only
        Columns :data:`CLASSIFIER_FEATURES` (close-only:
        :data:`CLASSIFIER_FEATURES_CLOSE_ONLY`): 1-, 5- and 20-bar log returns
        over ``sigma * sqrt(bars)`` (``sigma`` = 20-bar daily volatility),
        ``log(SMA10 / SMA50) / (sigma * sqrt(10))``,
        ``log(sigma_20 / sigma_60)``, ``log(sigma_20 * sqrt(252))``, the
        10-bar mean of ``log(high / low)`` over ``sigma``, and
        ``RSI14 / 100 - 0.5``; clipped to [-10, 10]. NaN until about 60 bars
        of history.
    """
    return np.stack(_feature_list(close, high, low, sigma20=sigma20, rsi14=rsi14), axis=-1)


def _feature_list(
    close: np.ndarray,
    high: np.ndarray | None,
    low: np.ndarray | None,
    *,
    sigma20: np.ndarray | None,
    rsi14: np.ndarray | None,
) -> list[np.ndarray]:
    """The columns of :func:`classifier_features`, each of shape (n_dates, n_symbols)."""
    close = np.asarray(close, dtype=np.float64)
    bars = _range_inputs("classifier_features", high, low)
    returns = log_returns(close)  # daily_volatility(close, w) is rolling_std(returns, w)
    sigma = rolling_std(returns, 20) if sigma20 is None else sigma20
    sigma60 = rolling_std(returns, 60)
    rsi = wilder_rsi(close, 14) if rsi14 is None else rsi14
    with np.errstate(invalid="ignore", divide="ignore"):
        sig = np.where(sigma > 0, sigma, np.nan)
        log_close = np.log(close)
        feats = [
            returns / sig,
            (log_close - shift(log_close, 5)) / (sig * np.sqrt(5)),
            (log_close - shift(log_close, 20)) / (sig * np.sqrt(20)),
            np.log(rolling_mean(close, 10) / rolling_mean(close, 50)) / (sig * np.sqrt(10)),
            np.log(sig / sigma60),
            np.log(sig * np.sqrt(TRADING_DAYS)),
            None if bars is None else rolling_mean(np.log(bars[0] / bars[1]), 10) / sig,
            rsi / 100.0 - 0.5,
        ]
    out = [f for f in feats if f is not None]
    for f in out:
        np.clip(f, -10.0, 10.0, out=f)
    return out


def _new_classifier(c: float) -> Pipeline:
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=c, solver="newton-cholesky", max_iter=100)
    )


def classifier_model(
    close: np.ndarray,
    high: np.ndarray | None,
    low: np.ndarray | None,
    *,
    holding_days: int = 5,
    retrain_every: int = 252,
    min_train_bars: int = 252,
    max_train_rows: int = 100_000,
    min_train_rows: int = 200,
    C: float = 1.0,
    prob_margin: float = 0.02,
    seed: int = 0,
    sigma20: np.ndarray | None = None,
    rsi14: np.ndarray | None = None,
) -> ModelOutput:
    """Walk-forward logistic regression on lagged returns and volatility.

    Label of row ``(s, i)``: ``close[s + holding_days, i] > close[s, i]``
    (known at bar ``s + holding_days``). Refit bars are
    ``f = min_train_bars, min_train_bars + retrain_every, ...``. The model
    fitted at the close of bar ``f`` is trained on the rows whose label is
    known by then (``s + holding_days <= f``: the holding period is purged),
    pooled across symbols, at most ``max_train_rows`` of them drawn with
    ``numpy.random.default_rng((seed, f))``; it scores bars
    ``f .. f + retrain_every - 1``. Bars before the first fit vote 0.

    Vote +1 when ``P(up) > 0.5 + prob_margin``, -1 when
    ``P(up) < 0.5 - prob_margin``; strength ``|2 P(up) - 1|``.

    Parameters
    ----------
    close : ndarray, shape (n_dates, n_symbols)
        Prices.
    high, low : ndarray, shape (n_dates, n_symbols), or None
        Bar extremes; ``None`` for both on close-only data (the classifier
        then uses :data:`CLASSIFIER_FEATURES_CLOSE_ONLY`).
    holding_days : int, default 5
        Label horizon in bars.
    retrain_every, min_train_bars, max_train_rows, min_train_rows, C, prob_margin
        See :class:`ClassifierParams`.
    seed : int, default 0
        Seed of the training-row subsample.
    sigma20, rsi14 : ndarray, optional
        Passed to :func:`classifier_features`.

    Returns
    -------
    ModelOutput

    Notes
    -----
    Fits and predictions run with BLAS and OpenMP held to one thread
    (``threadpoolctl``): the solves have a handful of features, so more
    threads only contend, which on a loaded 2-core host made the model 1.5×
    slower; the probabilities are identical.
    """
    close = np.asarray(close, dtype=np.float64)
    n_dates, n_symbols = close.shape
    # Feature columns apart, gathered into (rows, features) for each fit and block:
    # one (n_dates, n_symbols, n_features) array would be 80 MB at 500 x 2,520.
    columns = [f.reshape(-1) for f in _feature_list(close, high, low, sigma20=sigma20, rsi14=rsi14)]
    valid_x = np.logical_and.reduce([np.isfinite(f) for f in columns])

    def features_of(rows: np.ndarray) -> np.ndarray:
        return np.stack([f[rows] for f in columns], axis=1)

    future = np.full_like(close, np.nan)
    if holding_days < n_dates:
        future[: n_dates - holding_days] = close[holding_days:]
    up = (future > close).reshape(-1)
    labelled = (valid_x & np.isfinite(future).reshape(-1)).reshape(n_dates, n_symbols)
    # Rows with a (future) label, in time order; row s is usable from bar s + holding_days.
    train_rows = np.flatnonzero(labelled.reshape(-1))
    train_bar = train_rows // n_symbols

    prob = np.full(n_dates * n_symbols, np.nan)
    model: Pipeline | None = None
    with threadpool_limits(limits=1):  # small solves: extra threads only contend
        for fit_bar in range(min_train_bars, n_dates, retrain_every):
            n_elig = int(np.searchsorted(train_bar, fit_bar - holding_days, side="right"))
            if n_elig >= min_train_rows:
                rows = train_rows[:n_elig]
                if n_elig > max_train_rows:
                    rng = np.random.default_rng((seed, fit_bar))
                    rows = rows[np.sort(rng.choice(n_elig, size=max_train_rows, replace=False))]
                y = up[rows]
                if y.any() and not y.all():
                    model = _new_classifier(C).fit(features_of(rows), y)
            if model is None:
                continue
            lo = fit_bar * n_symbols
            hi = min(fit_bar + retrain_every, n_dates) * n_symbols
            block = np.flatnonzero(valid_x[lo:hi]) + lo
            if block.size:
                prob[block] = model.predict_proba(features_of(block))[:, 1]
    prob = prob.reshape(n_dates, n_symbols)
    votes = np.where(prob > 0.5 + prob_margin, 1, np.where(prob < 0.5 - prob_margin, -1, 0))
    return _output(votes, np.abs(2.0 * prob - 1.0))
