"""The ensemble signal engine: five models vote, agreement makes an entry.

At every bar and symbol each enabled model votes -1, 0 or +1 (see
:mod:`core.signals.models`). The ensemble side is the majority sign of the
non-zero votes (a tie is no side). A bar is an *entry signal* when

1. at least ``min_agree`` models vote that side,
2. the symbol's annualised volatility over ``vol_window`` is known, and
3. the symbol is not inside the holding period of its previous entry: after
   an entry at bar ``b`` the next one can come at bar ``b + holding_days`` at
   the earliest, so a symbol's trades never overlap.

The signal is dated at the close of its bar; the trade would enter at the
next bar's open, which is the execution engine's business.

Close-only data
---------------
On a :attr:`~core.data.market.MarketData.close_only` market (closes, no
open/high/low/volume) the breakout model uses a channel of prior closes and
the classifier drops its range feature (see :mod:`core.signals.models`);
everything else already reads closes only. :attr:`EnsembleResult.close_only`
records the mode. On OHLCV data nothing changes.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from core.data.market import MarketData
from core.errors import ConfigError
from core.signals.features import (
    TRADING_DAYS,
    daily_volatility,
    trailing_percentile,
    wilder_rsi,
)
from core.signals.models import (
    BreakoutParams,
    ClassifierParams,
    CrossoverParams,
    ModelOutput,
    MomentumParams,
    RSIParams,
    breakout_model,
    classifier_model,
    crossover_model,
    momentum_model,
    rsi_model,
)

__all__ = [
    "MODEL_NAMES",
    "SIGNAL_COLUMNS",
    "EnsembleConfig",
    "EnsembleResult",
    "EnsembleSignalEngine",
    "empty_signals_frame",
]

#: The five models, in vote-column order.
MODEL_NAMES: tuple[str, ...] = ("momentum", "crossover", "breakout", "rsi", "classifier")

#: Columns of the signals frame before the per-model ``vote_<model>`` columns.
SIGNAL_COLUMNS: tuple[str, ...] = (
    "symbol",
    "ts",
    "bar",
    "side",
    "confidence",
    "num_agreeing_models",
    "signal_strength",
    "market_volatility",
    "holding_days",
)

#: Weights of the raw confidence: agreement share, mean strength, calm market.
CONFIDENCE_WEIGHTS: tuple[float, float, float] = (0.5, 0.35, 0.15)

#: Bars of the trailing window ranking a symbol's volatility against its own past,
#: the spacing of the bars compared (every 5th: 51 values) and the fewest needed.
VOL_RANK_WINDOW = 252
VOL_RANK_STEP = 5
VOL_RANK_MIN_PERIODS = 5

_PARAM_TYPES: dict[str, type] = {
    "momentum": MomentumParams,
    "crossover": CrossoverParams,
    "breakout": BreakoutParams,
    "rsi": RSIParams,
    "classifier": ClassifierParams,
}


def _int_field(cfg: object, name: str, low: int, high: int, hint: str = "") -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(
            f"EnsembleConfig.{name}={value!r} must be an integer in [{low}, {high}], "
            f"not {type(value).__name__}"
        )
    if not low <= value <= high:
        raise ConfigError(
            f"EnsembleConfig.{name}={value!r} is out of range; use an integer in "
            f"[{low}, {high}]{hint}"
        )


@dataclass(frozen=True)
class EnsembleConfig:
    """Configuration of :class:`EnsembleSignalEngine`.

    Attributes
    ----------
    min_agree : int, default 3
        Models that must vote the ensemble side for an entry, 1 to the number
        of enabled models.
    holding_days : int, default 5
        Bars a trade is held: the per-symbol cooldown between entries and the
        classifier's label horizon, 1 to 252.
    vol_window : int, default 20
        Bars of the volatility estimate (``market_volatility`` and the
        models' strength scale), 2 to 1,000.
    seed : int, default 0
        Seed of every random draw (the classifier's training subsample), ≥ 0.
    models : tuple of str, default all of :data:`MODEL_NAMES`
        Enabled models; a list is accepted and stored as a tuple in
        :data:`MODEL_NAMES` order.
    momentum, crossover, breakout, rsi, classifier : params dataclasses
        Per-model parameters (see :mod:`core.signals.models`); a mapping is
        accepted and converted.

    Raises
    ------
    ConfigError
        Naming the field, the value and the allowed range.
    """

    min_agree: int = 3
    holding_days: int = 5
    vol_window: int = 20
    seed: int = 0
    models: tuple[str, ...] = MODEL_NAMES
    momentum: MomentumParams = field(default_factory=MomentumParams)
    crossover: CrossoverParams = field(default_factory=CrossoverParams)
    breakout: BreakoutParams = field(default_factory=BreakoutParams)
    rsi: RSIParams = field(default_factory=RSIParams)
    classifier: ClassifierParams = field(default_factory=ClassifierParams)

    def __post_init__(self) -> None:
        models = self.models
        if isinstance(models, str) or not isinstance(models, tuple | list):
            raise ConfigError(
                f"EnsembleConfig.models={models!r} must be a list of model names from {MODEL_NAMES}"
            )
        for name in models:
            if name not in MODEL_NAMES:
                close = difflib.get_close_matches(str(name), MODEL_NAMES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"EnsembleConfig.models contains unknown model {name!r}{hint} "
                    f"Choose from {MODEL_NAMES}"
                )
        if len(set(models)) != len(models):
            raise ConfigError(f"EnsembleConfig.models={list(models)!r} lists a model twice")
        if not models:
            raise ConfigError(
                f"EnsembleConfig.models is empty; enable at least one of {MODEL_NAMES}"
            )
        object.__setattr__(self, "models", tuple(m for m in MODEL_NAMES if m in models))
        for name, kind in _PARAM_TYPES.items():
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, _params_from_mapping(kind, value, name))
            elif not isinstance(value, kind):
                raise ConfigError(
                    f"EnsembleConfig.{name} must be a {kind.__name__} (or a dict of its fields), "
                    f"got {type(value).__name__}"
                )
        _int_field(
            self,
            "min_agree",
            1,
            len(self.models),
            f" (the number of enabled models, {len(self.models)})",
        )
        _int_field(self, "holding_days", 1, 252)
        _int_field(self, "vol_window", 2, 1000)
        _int_field(self, "seed", 0, 2**63 - 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every setting (the run records it)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _PARAM_TYPES:
                out[f.name] = value.to_dict()
            elif f.name == "models":
                out[f.name] = list(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EnsembleConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"EnsembleConfig has no setting {key!r}{hint} Known: {known}")
        return cls(**dict(values))


def _params_from_mapping(kind: type, values: Mapping[str, Any], name: str) -> Any:
    known = [f.name for f in fields(kind)]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"EnsembleConfig.{name} has no setting {key!r}{hint} Known: {known}")
    return kind(**dict(values))


@dataclass(frozen=True, eq=False)
class EnsembleResult:
    """Every intermediate array of one :meth:`EnsembleSignalEngine.compute` call.

    All arrays are indexed ``[bar, symbol]`` (``votes`` and ``strengths`` add
    a leading model axis in :attr:`models` order).

    Attributes
    ----------
    dates : pandas.DatetimeIndex
        The bars, UTC.
    symbols : tuple of str
    models : tuple of str
        Enabled models.
    votes : ndarray of int8, shape (n_models, n_dates, n_symbols)
    strengths : ndarray of float64, shape (n_models, n_dates, n_symbols)
        In [0, 1].
    side : ndarray of int8, shape (n_dates, n_symbols)
        Majority sign of the non-zero votes (0 on a tie or no votes).
    num_agreeing : ndarray of int64, shape (n_dates, n_symbols)
        Models voting ``side`` (0 where side is 0).
    signal_strength : ndarray of float64, shape (n_dates, n_symbols)
        Mean strength of the agreeing models, in [0, 1].
    market_volatility : ndarray of float64, shape (n_dates, n_symbols)
        Annualised volatility of daily log returns over ``vol_window``, a fraction.
    vol_rank : ndarray of float64, shape (n_dates, n_symbols)
        Percentile of ``market_volatility`` within the symbol's trailing
        252 bars (every 5th), in (0, 1]; 0.5 where unknown.
    confidence : ndarray of float64, shape (n_dates, n_symbols)
        Raw confidence in [0, 1] (0 where side is 0); see
        :class:`EnsembleSignalEngine`.
    entries : ndarray of bool, shape (n_dates, n_symbols)
        Entry signals.
    holding_days : int
    close_only : bool, default False
        True when the signals were computed in close-only mode (the data had
        closes only; see the module notes).
    """

    dates: pd.DatetimeIndex
    symbols: tuple[str, ...]
    models: tuple[str, ...]
    votes: np.ndarray
    strengths: np.ndarray
    side: np.ndarray
    num_agreeing: np.ndarray
    signal_strength: np.ndarray
    market_volatility: np.ndarray
    vol_rank: np.ndarray
    confidence: np.ndarray
    entries: np.ndarray
    holding_days: int
    close_only: bool = False

    def to_frame(self) -> pd.DataFrame:
        """The entry signals as a frame (see :meth:`EnsembleSignalEngine.generate`)."""
        bars, cols = np.nonzero(self.entries)  # row-major: sorted by bar then symbol
        symbols = np.asarray(self.symbols, dtype=object)
        data: dict[str, Any] = {
            "symbol": pd.array(symbols[cols], dtype="str"),
            "ts": self.dates[bars].as_unit("ns"),
            "bar": bars.astype(np.int64),
            "side": self.side[bars, cols].astype(np.int8),
            "confidence": self.confidence[bars, cols].astype(np.float64),
            "num_agreeing_models": self.num_agreeing[bars, cols].astype(np.int64),
            "signal_strength": self.signal_strength[bars, cols].astype(np.float64),
            "market_volatility": self.market_volatility[bars, cols].astype(np.float64),
            "holding_days": np.full(bars.size, self.holding_days, dtype=np.int64),
        }
        for k, name in enumerate(self.models):
            data[f"vote_{name}"] = self.votes[k, bars, cols].astype(np.int8)
        return pd.DataFrame(data)


def empty_signals_frame(models: tuple[str, ...] = MODEL_NAMES) -> pd.DataFrame:
    """A signals frame with no rows and the right dtypes."""
    n_sym = 0
    result = EnsembleResult(
        dates=pd.DatetimeIndex([], tz="UTC", name="date").as_unit("ns"),
        symbols=(),
        models=models,
        votes=np.zeros((len(models), 0, n_sym), dtype=np.int8),
        strengths=np.zeros((len(models), 0, n_sym)),
        side=np.zeros((0, n_sym), dtype=np.int8),
        num_agreeing=np.zeros((0, n_sym), dtype=np.int64),
        signal_strength=np.zeros((0, n_sym)),
        market_volatility=np.zeros((0, n_sym)),
        vol_rank=np.zeros((0, n_sym)),
        confidence=np.zeros((0, n_sym)),
        entries=np.zeros((0, n_sym), dtype=bool),
        holding_days=1,
    )
    return result.to_frame()


class EnsembleSignalEngine:
    """Five-model voting ensemble that emits entry signals with a raw confidence.

    Parameters
    ----------
    config : EnsembleConfig, optional
        Defaults to ``EnsembleConfig()``.

    Notes
    -----
    Raw confidence of an entry (deliberately simple, and *not* a probability;
    calibrating it is what the rest of Signal Lab is for)::

        confidence = clip(0.5 * agreement_share
                          + 0.35 * mean_strength
                          + 0.15 * (1 - vol_rank), 0, 1)

    - ``agreement_share`` = models voting the side / enabled models;
    - ``mean_strength`` = mean strength of the agreeing models (each in [0, 1]);
    - ``vol_rank`` = percentile of the symbol's current annualised volatility
      among its own values at every 5th bar of the last 252 (itself
      included; 0.5 until 5 such values exist), so calm markets score a
      little higher.

    Each term lies in [0, 1] and the weights sum to 1, so the confidence does
    too. Everything at bar ``t`` uses data up to and including ``t`` only;
    the result is a deterministic function of the data and the config.

    The engine keeps no state between calls: :meth:`generate` on the same
    data and config returns the same frame.
    """

    def __init__(self, config: EnsembleConfig | None = None) -> None:
        if config is None:
            config = EnsembleConfig()
        if not isinstance(config, EnsembleConfig):
            raise ConfigError(
                f"config must be an EnsembleConfig, got {type(config).__name__}; "
                "build one with EnsembleConfig(...) or EnsembleConfig.from_dict(...)"
            )
        self.config = config

    def __repr__(self) -> str:
        return f"EnsembleSignalEngine({self.config!r})"

    def _run_model(
        self,
        name: str,
        close: np.ndarray,
        high: np.ndarray | None,
        low: np.ndarray | None,
        vol: np.ndarray,
        shared: dict[tuple[str, int], np.ndarray],
    ) -> ModelOutput:
        """One model's output; ``shared`` holds features two models use, computed once."""
        cfg = self.config

        def rsi(period: int) -> np.ndarray:
            if ("rsi", period) not in shared:
                shared["rsi", period] = wilder_rsi(close, period)
            return shared["rsi", period]

        if name == "momentum":
            return momentum_model(close, **cfg.momentum.to_dict(), vol=vol)
        if name == "crossover":
            return crossover_model(close, **cfg.crossover.to_dict(), vol=vol)
        if name == "breakout":
            return breakout_model(close, high, low, **cfg.breakout.to_dict(), vol=vol)
        if name == "rsi":
            return rsi_model(close, **cfg.rsi.to_dict(), rsi=rsi(cfg.rsi.period))
        return classifier_model(
            close,
            high,
            low,
            holding_days=cfg.holding_days,
            seed=cfg.seed,
            **cfg.classifier.to_dict(),
            sigma20=vol if cfg.vol_window == 20 else None,
            rsi14=rsi(14),
        )

    def compute(self, data: MarketData) -> EnsembleResult:
        """Votes, agreement, confidence and entries as arrays.

        Parameters
        ----------
        data : MarketData
            Daily bars; only ``close``, ``high`` and ``low`` are read (only
            ``close`` when ``data.close_only``).

        Returns
        -------
        EnsembleResult
            ``close_only`` set from ``data.close_only``.
        """
        if not isinstance(data, MarketData):
            raise ConfigError(
                f"data must be a MarketData, got {type(data).__name__}; load it with "
                "core.data.load_market_data(...)"
            )
        cfg = self.config
        close = data.close.to_numpy(dtype=np.float64)
        # Close-only data: the range models get None and switch to their close rules.
        high = None if data.close_only else data.high.to_numpy(dtype=np.float64)
        low = None if data.close_only else data.low.to_numpy(dtype=np.float64)
        n_dates, n_symbols = close.shape

        vol_daily = daily_volatility(close, cfg.vol_window)
        shared: dict[tuple[str, int], np.ndarray] = {}
        outputs = [
            self._run_model(name, close, high, low, vol_daily, shared) for name in cfg.models
        ]
        votes = np.stack([o.votes for o in outputs])
        strengths = np.stack([o.strength for o in outputs])

        pos = (votes > 0).sum(axis=0)
        neg = (votes < 0).sum(axis=0)
        side = np.sign(pos - neg).astype(np.int8)
        num_agreeing = np.where(side > 0, pos, np.where(side < 0, neg, 0)).astype(np.int64)
        # Sum of the agreeing models' strengths, model by model (the order
        # ``sum(axis=0)`` adds them in) without a (models, dates, symbols) temporary.
        voting = side != 0
        strength_sum = np.where((votes[0] == side) & voting, strengths[0], 0.0)
        for k in range(1, len(outputs)):
            strength_sum += np.where((votes[k] == side) & voting, strengths[k], 0.0)
        signal_strength = np.where(
            num_agreeing > 0, strength_sum / np.maximum(num_agreeing, 1), 0.0
        )

        market_vol = vol_daily * np.sqrt(TRADING_DAYS)
        vol_rank = trailing_percentile(
            market_vol, VOL_RANK_WINDOW, min_periods=VOL_RANK_MIN_PERIODS, step=VOL_RANK_STEP
        )
        vol_rank = np.where(np.isfinite(vol_rank), vol_rank, 0.5)
        w_agree, w_strength, w_calm = CONFIDENCE_WEIGHTS
        share = num_agreeing / len(cfg.models)
        confidence = np.clip(
            w_agree * share + w_strength * signal_strength + w_calm * (1.0 - vol_rank), 0.0, 1.0
        )
        confidence = np.where(side != 0, confidence, 0.0)

        candidate = (side != 0) & (num_agreeing >= cfg.min_agree) & np.isfinite(market_vol)
        entries = np.zeros((n_dates, n_symbols), dtype=bool)
        next_allowed = np.zeros(n_symbols, dtype=np.int64)
        for t in np.flatnonzero(candidate.any(axis=1)):
            take = candidate[t] & (next_allowed <= t)
            entries[t] = take
            next_allowed[take] = t + cfg.holding_days

        return EnsembleResult(
            dates=data.dates,
            symbols=data.symbols,
            models=cfg.models,
            votes=votes,
            strengths=strengths,
            side=side,
            num_agreeing=num_agreeing,
            signal_strength=signal_strength,
            market_volatility=market_vol,
            vol_rank=vol_rank,
            confidence=confidence,
            entries=entries,
            holding_days=cfg.holding_days,
            close_only=data.close_only,
        )

    def generate(self, data: MarketData) -> pd.DataFrame:
        """Entry signals, one row each.

        Parameters
        ----------
        data : MarketData
            Daily bars of any source.

        Returns
        -------
        pandas.DataFrame
            Sorted by ``ts`` then ``symbol``, default RangeIndex; columns:

            ======================  =============================================
            ``symbol``              str
            ``ts``                  datetime64[ns, UTC]; the signal bar (its
                                    close); the trade enters at the next open
            ``bar``                 int64; position of ``ts`` in ``data.dates``
            ``side``                int8; +1 long, -1 short
            ``confidence``          float64 in [0, 1]; raw (see class notes)
            ``num_agreeing_models`` int64; models voting ``side``
            ``signal_strength``     float64 in [0, 1]; mean strength of those models
            ``market_volatility``   float64; annualised volatility, a fraction
            ``holding_days``        int64; bars to hold
            ``vote_<model>``        int8 in {-1, 0, 1}; one per enabled model
            ======================  =============================================
        """
        return self.compute(data).to_frame()
