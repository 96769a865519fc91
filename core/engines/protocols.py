"""The interfaces of the backtest engines, as :class:`typing.Protocol` classes.

Each stage of a backtest is a small object behind one of these protocols, so
a user can swap one (their own signal model, say) without touching the
others. The protocols are structural: any object with the right methods
satisfies them, no subclassing needed.

Stage order (see :class:`core.engines.orchestration.OrchestrationEngine`)::

    Signal -> Risk -> Execution -> Portfolio -> Analytics -> Learning

Every engine is configured at construction and keeps no state between
calls: each run builds its results afresh (nothing global, nothing mutable
is shared across runs or threads).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from core.learning import LearningEngineProtocol
from core.signals import SignalEngineProtocol

if TYPE_CHECKING:
    from core.data.market import MarketData
    from core.engines.analytics import AnalyticsResult
    from core.engines.execution import ExecutionResult
    from core.engines.portfolio import PortfolioResult

__all__ = [
    "AnalyticsEngineProtocol",
    "ExecutionEngineProtocol",
    "LearningEngineProtocol",
    "PortfolioEngineProtocol",
    "RiskEngineProtocol",
    "SignalEngineProtocol",
]


@runtime_checkable
class RiskEngineProtocol(Protocol):
    """Threshold, sizing and the concurrency limit.

    ``assess`` runs before execution on the whole signal frame; ``admit``
    runs after it, because a slot frees when a trade *exits*, which a stop
    loss can bring forward.
    """

    confidence_key: str
    threshold: float

    def assess(self, signals: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``signals`` with ``score``, ``passes_threshold`` and
        ``position_size`` columns added (shape (n_signals, ...))."""
        ...

    def admit(
        self, entry_bar: np.ndarray, release_bar: np.ndarray, candidates: np.ndarray
    ) -> np.ndarray:
        """Boolean mask, shape (n_trades,), of the candidate trades the book takes."""
        ...


@runtime_checkable
class ExecutionEngineProtocol(Protocol):
    """Fills, exits and costs of every signal's trade."""

    def execute(self, signals: pd.DataFrame, data: MarketData) -> ExecutionResult:
        """Simulate one trade per signal (see :class:`~core.engines.execution.ExecutionEngine`)."""
        ...


@runtime_checkable
class PortfolioEngineProtocol(Protocol):
    """Daily positions and equity of one or more books of trades."""

    def build(
        self, trades: pd.DataFrame, data: MarketData, *, books: Mapping[str, np.ndarray]
    ) -> PortfolioResult:
        """Equity curves, one column per book (``books`` maps name to a mask of ``trades``)."""
        ...


@runtime_checkable
class AnalyticsEngineProtocol(Protocol):
    """Metrics of the books, their difference, and the confidence's calibration."""

    def evaluate(
        self,
        trades: pd.DataFrame,
        portfolio: PortfolioResult,
        *,
        confidence_key: str,
    ) -> AnalyticsResult:
        """Baseline vs filtered metrics and the validation verdict."""
        ...
