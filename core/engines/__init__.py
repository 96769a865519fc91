"""Backtest engines: risk, execution, portfolio, analytics and the orchestrator.

Each engine is a small frozen class behind a protocol of
:mod:`core.engines.protocols`; :class:`OrchestrationEngine` runs them in
order for one run. Most callers want :func:`core.backtest.run_backtest`.
"""

from __future__ import annotations

from core.engines.analytics import (
    AnalyticsEngine,
    AnalyticsResult,
    CalibrationSummary,
    calibration_summary,
    validation_rule_text,
)
from core.engines.execution import DROP_REASONS, EXIT_REASONS, ExecutionEngine, ExecutionResult
from core.engines.orchestration import (
    STAGES,
    OrchestrationEngine,
    OrchestrationResult,
    ProgressCallback,
    normalise_signals,
)
from core.engines.portfolio import PortfolioEngine, PortfolioResult
from core.engines.protocols import (
    AnalyticsEngineProtocol,
    ExecutionEngineProtocol,
    LearningEngineProtocol,
    PortfolioEngineProtocol,
    RiskEngineProtocol,
    SignalEngineProtocol,
)
from core.engines.risk import SIZING_METHODS, RiskEngine

__all__ = [
    "DROP_REASONS",
    "EXIT_REASONS",
    "SIZING_METHODS",
    "STAGES",
    "AnalyticsEngine",
    "AnalyticsEngineProtocol",
    "AnalyticsResult",
    "CalibrationSummary",
    "ExecutionEngine",
    "ExecutionEngineProtocol",
    "ExecutionResult",
    "LearningEngineProtocol",
    "OrchestrationEngine",
    "OrchestrationResult",
    "PortfolioEngine",
    "PortfolioEngineProtocol",
    "PortfolioResult",
    "ProgressCallback",
    "RiskEngine",
    "RiskEngineProtocol",
    "SignalEngineProtocol",
    "calibration_summary",
    "normalise_signals",
    "validation_rule_text",
]
