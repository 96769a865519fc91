"""Signal engines: the built-in five-model ensemble and the protocol to plug in your own.

>>> from core.data import load_market_data
>>> from core.signals import EnsembleSignalEngine
>>> signals = EnsembleSignalEngine().generate(load_market_data())  # doctest: +SKIP

Any object with a ``generate(data: MarketData) -> pandas.DataFrame`` method
returning the columns described in :meth:`EnsembleSignalEngine.generate`
(``symbol``, ``ts``, ``bar``, ``side``, ``confidence``, ...) satisfies
:class:`SignalEngineProtocol` and can replace the ensemble in a backtest.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

from core.data.market import MarketData
from core.signals.ensemble import (
    CONFIDENCE_WEIGHTS,
    MODEL_NAMES,
    SIGNAL_COLUMNS,
    EnsembleConfig,
    EnsembleResult,
    EnsembleSignalEngine,
    empty_signals_frame,
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
    "CONFIDENCE_WEIGHTS",
    "MODEL_NAMES",
    "SIGNAL_COLUMNS",
    "BreakoutParams",
    "ClassifierParams",
    "CrossoverParams",
    "EnsembleConfig",
    "EnsembleResult",
    "EnsembleSignalEngine",
    "ModelOutput",
    "MomentumParams",
    "RSIParams",
    "SignalEngineProtocol",
    "breakout_model",
    "classifier_model",
    "crossover_model",
    "empty_signals_frame",
    "momentum_model",
    "rsi_model",
]


@runtime_checkable
class SignalEngineProtocol(Protocol):
    """What the backtest needs from a signal engine.

    ``generate`` returns one row per entry signal, sorted by ``ts`` then
    ``symbol``, with at least the columns :data:`SIGNAL_COLUMNS` (dtypes as in
    :meth:`EnsembleSignalEngine.generate`), using data up to each signal's
    bar only.
    """

    def generate(self, data: MarketData) -> pd.DataFrame:
        """Entry signals for ``data``."""
        ...
