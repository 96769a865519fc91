"""The orchestrator: one backtest run through every engine, in order.

::

    Signal -> Risk -> Execution -> Portfolio -> Analytics -> Learning

:class:`OrchestrationEngine` holds one engine per stage (defaults for any not
given) and :meth:`OrchestrationEngine.run` passes the results along, builds
the trades frame of :mod:`core.trades`, and hands the run's signals, outcomes
and summary to the learning engine (``learning.update(RunRecord(...))``).
Each call builds fresh results; the engines keep no state between runs.

Signal ids are the signal's position in time order within the run,
zero-padded (``"00000000"``, ``"00000001"``, ...): unique, sortable and
identical between two runs of the same config on the same data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.data.market import MarketData
from core.engines.analytics import AnalyticsEngine, AnalyticsResult
from core.engines.execution import ExecutionEngine, take_strings
from core.engines.portfolio import PortfolioEngine, PortfolioResult
from core.engines.protocols import (
    AnalyticsEngineProtocol,
    ExecutionEngineProtocol,
    LearningEngineProtocol,
    PortfolioEngineProtocol,
    RiskEngineProtocol,
    SignalEngineProtocol,
)
from core.engines.risk import RiskEngine
from core.errors import ConfigError, ValidationError
from core.learning import RunRecord
from core.signals import EnsembleConfig, EnsembleSignalEngine
from core.trades import CORE_COLUMNS

__all__ = [
    "STAGES",
    "OrchestrationEngine",
    "OrchestrationResult",
    "ProgressCallback",
    "normalise_signals",
]

#: Stages a backtest reports progress for, in order. The orchestrator runs
#: ``signals`` .. ``learning``; :func:`core.backtest.run_backtest` adds
#: ``data`` (loading the market) and ``report`` (writing the JSON report).
STAGES: tuple[str, ...] = (
    "data",
    "signals",
    "risk",
    "execution",
    "portfolio",
    "analytics",
    "learning",
    "report",
)

#: ``progress(stage, fraction)``: called with 0.0 when a stage starts and 1.0
#: when it ends; ``stage`` is one of :data:`STAGES`.
ProgressCallback = Callable[[str, float], None]

_REQUIRED_SIGNAL_COLUMNS = ("symbol", "ts", "side", "confidence")
_OPTIONAL_FLOATS = (
    "calibrated_probability",
    "num_agreeing_models",
    "market_volatility",
    "signal_strength",
)


def normalise_signals(
    signals: pd.DataFrame, data: MarketData, *, holding_days: int
) -> pd.DataFrame:
    """Check a signal engine's output and bring it to one shape.

    Parameters
    ----------
    signals : DataFrame, shape (n_signals, ...)
        At least ``symbol``, ``ts`` (the signal bar, UTC or naive-as-UTC),
        ``side`` (+1/-1) and ``confidence`` (in [0, 1]). ``bar`` is computed
        from ``ts`` when absent; ``holding_days`` defaults to the argument.
    data : MarketData
        The bars the signals were generated on.
    holding_days : int
        Holding period of signals without their own.

    Returns
    -------
    DataFrame, shape (n_signals, ...)
        A copy sorted by ``bar`` then ``symbol`` (stable), default index, with
        ``signal_id`` (``f"{i:08d}"`` in that order) first, ``ts`` as
        datetime64[ns, UTC], ``bar`` and ``holding_days`` int64, ``side`` int8.

    Raises
    ------
    ValidationError
        Not a DataFrame, a column missing, a ``ts`` that is not a bar of the
        data, ``bar`` and ``ts`` disagreeing, a side other than +1/-1, or a
        confidence outside [0, 1]. The message names the column and row.
    """
    if not isinstance(signals, pd.DataFrame):
        raise ValidationError(
            f"the signal engine returned a {type(signals).__name__}, not a DataFrame; "
            "generate() must return one row per entry signal"
        )
    missing = [c for c in _REQUIRED_SIGNAL_COLUMNS if c not in signals.columns]
    if missing:
        raise ValidationError(
            f"the signal engine's frame lacks column(s) {missing}; it needs "
            f"{list(_REQUIRED_SIGNAL_COLUMNS)} (columns present: "
            f"{', '.join(map(str, signals.columns))})"
        )
    out = signals.reset_index(drop=True).copy()
    ts = pd.to_datetime(out["ts"], utc=True, errors="coerce")
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise ValidationError(f"signal row {i}: ts {out['ts'].iloc[i]!r} is not a time")
    out["ts"] = ts.astype("datetime64[ns, UTC]")
    where = data.dates.get_indexer(pd.DatetimeIndex(out["ts"]))
    if (where < 0).any():
        i = int(np.flatnonzero(where < 0)[0])
        raise ValidationError(
            f"signal row {i}: ts {out['ts'].iloc[i]} is not a bar of the market data; "
            "date signals at the close of a bar the data holds"
        )
    if "bar" in out.columns:
        bar = out["bar"].to_numpy(dtype=np.int64)
        if (bar != where).any():
            i = int(np.flatnonzero(bar != where)[0])
            raise ValidationError(
                f"signal row {i}: bar {bar[i]} disagrees with ts {out['ts'].iloc[i]} "
                f"(position {where[i]} in data.dates); bar must be ts's position"
            )
    out["bar"] = where.astype(np.int64)
    side = out["side"].to_numpy(dtype=np.float64)
    if not np.isin(side, (1.0, -1.0)).all():
        i = int(np.flatnonzero(~np.isin(side, (1.0, -1.0)))[0])
        raise ValidationError(f"signal row {i}: side {side[i]!r}; expected 1 (long) or -1 (short)")
    out["side"] = side.astype(np.int8)
    conf = out["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~((conf >= 0) & (conf <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"signal row {i}: confidence {conf[i]!r} is not in [0, 1]; rescale the score"
        )
    if "holding_days" not in out.columns:
        out["holding_days"] = int(holding_days)
    out["holding_days"] = out["holding_days"].to_numpy(dtype=np.int64)
    out["symbol"] = out["symbol"].astype(str)
    bar, symbol = out["bar"].to_numpy(), out["symbol"].to_numpy(dtype=object)
    if not _in_bar_symbol_order(bar, symbol):  # the ensemble's frame already is
        out = out.iloc[np.lexsort((symbol, bar))].reset_index(drop=True)
    out.insert(0, "signal_id", _signal_ids(len(out)))
    return out


def _signal_ids(n: int) -> pd.api.extensions.ExtensionArray:
    """``f"{i:08d}"`` for ``i`` in ``range(n)``, built in Arrow (a list of 100k strings
    then converted to Arrow took 0.1 s)."""
    digits = pa.array(np.arange(n, dtype=np.int64)).cast(pa.string())
    return pd.array(pc.utf8_lpad(digits, 8, "0"), dtype="str")


def _in_bar_symbol_order(bar: np.ndarray, symbol: np.ndarray) -> bool:
    """Whether rows are sorted by bar, then symbol (ties allowed: a stable sort keeps them)."""
    if bar.size < 2:
        return True
    step = np.diff(bar)
    if (step < 0).any():
        return False
    tie = np.flatnonzero(step == 0)
    return bool((symbol[tie + 1] >= symbol[tie]).all())


@dataclass(frozen=True, eq=False)
class OrchestrationResult:
    """Everything one run produced.

    Attributes
    ----------
    run_id : str
    signals : DataFrame, shape (n_signals, ...)
        Normalised signals with ``signal_id``, ``score``, ``passes_threshold``,
        ``position_size``.
    trades : DataFrame, shape (n_trades, ...)
        The execution engine's trades plus ``score``, ``position_size``,
        ``confidence``, ``in_baseline`` and ``in_filtered``.
    trades_frame : DataFrame, shape (n_trades, 15)
        The trades in the :mod:`core.trades` contract (every executed signal).
    portfolio : PortfolioResult
    analytics : AnalyticsResult
    dropped_by_reason : mapping of str to int
    events_sent : int
        Events handed to the learning engine (0 without one).
    timings : mapping of str to float
        Seconds per stage.
    """

    run_id: str
    signals: pd.DataFrame
    trades: pd.DataFrame
    trades_frame: pd.DataFrame
    portfolio: PortfolioResult
    analytics: AnalyticsResult
    dropped_by_reason: Mapping[str, int]
    events_sent: int
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def n_signals(self) -> int:
        return len(self.signals)

    @property
    def n_dropped(self) -> int:
        return int(sum(self.dropped_by_reason.values()))


class OrchestrationEngine:
    """Run Signal → Risk → Execution → Portfolio → Analytics → Learning for one run.

    Parameters
    ----------
    signal_engine : SignalEngineProtocol, optional
        Anything with ``generate(data) -> DataFrame`` (see
        :func:`normalise_signals` for the columns). Default: the five-model
        ensemble with ``EnsembleConfig()``.
    risk : RiskEngineProtocol, optional
        Default ``RiskEngine()``.
    execution : ExecutionEngineProtocol, optional
        Default ``ExecutionEngine()``.
    portfolio : PortfolioEngineProtocol, optional
        Default ``PortfolioEngine()``.
    analytics : AnalyticsEngineProtocol, optional
        Default ``AnalyticsEngine()``.
    learning : LearningEngineProtocol, optional
        Receives the run's results through ``learning.update(RunRecord)``;
        None records nothing.

    Examples
    --------
    >>> from core.data import load_market_data
    >>> result = OrchestrationEngine().run(load_market_data("synthetic", n_symbols=5,
    ...                                    n_days=300), run_id="demo")  # doctest: +SKIP
    """

    def __init__(
        self,
        signal_engine: SignalEngineProtocol | None = None,
        risk: RiskEngineProtocol | None = None,
        execution: ExecutionEngineProtocol | None = None,
        portfolio: PortfolioEngineProtocol | None = None,
        analytics: AnalyticsEngineProtocol | None = None,
        learning: LearningEngineProtocol | None = None,
    ) -> None:
        checks = (
            ("signal_engine", signal_engine, "generate"),
            ("risk", risk, "assess"),
            ("execution", execution, "execute"),
            ("portfolio", portfolio, "build"),
            ("analytics", analytics, "evaluate"),
            ("learning", learning, "update"),
        )
        for name, engine, method in checks:
            if engine is not None and not callable(getattr(engine, method, None)):
                raise ConfigError(
                    f"{name}={engine!r} has no {method}() method; pass an object that "
                    f"satisfies the {name} protocol (see core.engines.protocols)"
                )
        self.signal_engine = signal_engine if signal_engine is not None else EnsembleSignalEngine()
        self.risk = risk if risk is not None else RiskEngine()
        self.execution = execution if execution is not None else ExecutionEngine()
        self.portfolio = portfolio if portfolio is not None else PortfolioEngine()
        self.analytics = analytics if analytics is not None else AnalyticsEngine()
        self.learning = learning

    @property
    def holding_days(self) -> int:
        """Holding period of the default ensemble (5 for other signal engines)."""
        config = getattr(self.signal_engine, "config", None)
        return int(config.holding_days) if isinstance(config, EnsembleConfig) else 5

    def run(
        self,
        data: MarketData,
        *,
        run_id: str,
        holding_days: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> OrchestrationResult:
        """One backtest on ``data``.

        Parameters
        ----------
        data : MarketData
            Daily bars.
        run_id : str
            Id of the run (opened in the store by the caller when recording).
        holding_days : int, optional
            Holding period for signals without a ``holding_days`` column;
            default :attr:`holding_days`.
        progress : callable, optional
            ``progress(stage, fraction)``, see :data:`ProgressCallback`.

        Returns
        -------
        OrchestrationResult

        Raises
        ------
        ValidationError, ConfigError
            From a stage, naming what was wrong; exceptions of a custom engine
            propagate unchanged.
        """
        timings: dict[str, float] = {}
        report = progress or (lambda stage, fraction: None)
        hold = int(holding_days) if holding_days is not None else self.holding_days

        def stage(name: str) -> _Stage:
            return _Stage(name, report, timings)

        with stage("signals"):
            raw = self.signal_engine.generate(data)
            signals = normalise_signals(raw, data, holding_days=hold)
        with stage("risk"):
            signals = self.risk.assess(signals)
            for column in ("score", "passes_threshold", "position_size"):
                if column not in signals:
                    raise ValidationError(
                        f"risk.assess() returned no {column!r} column; it must add score, "
                        "passes_threshold and position_size"
                    )
        with stage("execution"):
            execution = self.execution.execute(signals, data)
            trades = execution.trades.copy()
            at = trades["signal_index"].to_numpy(dtype=np.int64)
            if "signal_id" not in trades:
                trades.insert(1, "signal_id", signals["signal_id"].to_numpy()[at])
            for column in ("score", "position_size", "passes_threshold", "confidence"):
                trades[column] = signals[column].to_numpy()[at]
        with stage("portfolio"):
            entry = trades["entry_bar"].to_numpy(dtype=np.int64)
            release = trades["release_bar"].to_numpy(dtype=np.int64)
            every = np.ones(len(trades), dtype=bool)
            passing = trades["passes_threshold"].to_numpy(dtype=bool)
            books = {
                "baseline": self.risk.admit(entry, release, every),
                "filtered": self.risk.admit(entry, release, passing),
            }
            trades["in_baseline"] = books["baseline"]
            trades["in_filtered"] = books["filtered"]
            portfolio = self.portfolio.build(trades, data, books=books)
        with stage("analytics"):
            key = self.risk.confidence_key
            analytics = self.analytics.evaluate(trades, portfolio, confidence_key=key)
            frame = _contract_frame(run_id, signals, trades, threshold=self.risk.threshold)
        sent = 0
        with stage("learning"):
            if self.learning is not None:
                record = _run_record(run_id, signals, trades, analytics, data, risk=self.risk)
                self.learning.update(record)
                sent = len(record.signals) + len(record.outcomes) + 1
        return OrchestrationResult(
            run_id=run_id,
            signals=signals,
            trades=trades,
            trades_frame=frame,
            portfolio=portfolio,
            analytics=analytics,
            dropped_by_reason=MappingProxyType(dict(execution.dropped_by_reason)),
            events_sent=sent,
            timings=MappingProxyType(timings),
        )


class _Stage:
    """Context manager: report a stage's start and end, and time it."""

    def __init__(self, name: str, report: ProgressCallback, timings: dict[str, float]) -> None:
        self.name, self.report, self.timings = name, report, timings

    def __enter__(self) -> _Stage:
        self.report(self.name, 0.0)
        self.started = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.timings[self.name] = time.perf_counter() - self.started
        if exc_type is None:
            self.report(self.name, 1.0)


def _floats(frame: pd.DataFrame, column: str, at: np.ndarray | None = None) -> np.ndarray:
    if column not in frame:
        n = len(frame) if at is None else at.size
        return np.full(n, np.nan)
    values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return values if at is None else values[at]


def _contract_frame(
    run_id: str, signals: pd.DataFrame, trades: pd.DataFrame, *, threshold: float
) -> pd.DataFrame:
    """The trades in the :mod:`core.trades` contract, one row per executed signal."""
    at = trades["signal_index"].to_numpy(dtype=np.int64)
    ret = trades["return_pct"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame(
        {
            "signal_id": take_strings(trades["signal_id"]),
            "run_id": run_id,
            "entry_time": signals["ts"].array[at],
            "exit_time": trades["exit_time"].array,
            "symbol": take_strings(trades["symbol"]),
            "side": trades["side"].to_numpy(dtype=np.int8),
            "confidence": _floats(signals, "confidence", at),
            "calibrated_probability": _floats(signals, "calibrated_probability", at),
            "num_agreeing_models": _floats(signals, "num_agreeing_models", at),
            "market_volatility": _floats(signals, "market_volatility", at),
            "signal_strength": _floats(signals, "signal_strength", at),
            "holding_days": _floats(signals, "holding_days", at),
            "applied_threshold": np.full(at.size, float(threshold)),
            "return_pct": ret,
            "win": ret > 0,
        }
    )
    for column in ("entry_time", "exit_time"):
        frame[column] = frame[column].astype("datetime64[ns, UTC]")
    return frame[list(CORE_COLUMNS)]


def _run_record(
    run_id: str,
    signals: pd.DataFrame,
    trades: pd.DataFrame,
    analytics: AnalyticsResult,
    data: MarketData,
    *,
    risk: RiskEngineProtocol,
) -> RunRecord:
    """Signals, outcomes and the summary in the columns of ``signal_rows`` / ``outcome_rows``."""
    threshold = float(risk.threshold)
    key = risk.confidence_key
    calibrated = ~np.isnan(_floats(signals, "calibrated_probability"))
    events = pd.DataFrame(
        {
            "signal_id": signals["signal_id"],
            "ts": signals["ts"],
            "symbol": signals["symbol"],
            "side": signals["side"],
            "confidence": signals["confidence"],
        }
    )
    for column in (*_OPTIONAL_FLOATS, "holding_days"):
        if column in signals:
            events[column] = signals[column].to_numpy()
    events["applied_threshold"] = threshold
    events["calibrated"] = calibrated
    at = trades["signal_index"].to_numpy(dtype=np.int64)
    score = trades["score"].to_numpy(dtype=np.float64)
    outcomes = pd.DataFrame(
        {
            "signal_id": trades["signal_id"],
            "ts": trades["exit_time"],
            "symbol": trades["symbol"],
            "return_pct": trades["return_pct"],
            "win": trades["return_pct"].to_numpy() > 0,
            "confidence_used": score,
            "applied_threshold": threshold,
            "calibrated": calibrated[at] & (key == "calibrated_probability"),
        }
    )
    summary = {
        "baseline": _finite_or_none(analytics.baseline.numeric()),
        "filtered": _finite_or_none(analytics.filtered.numeric()),
        "improvement": _finite_or_none(dict(analytics.improvement)),
        "applied_threshold": threshold,
        "confidence_key": key,
        "use_calibration": key == "calibrated_probability",
        "validation_passed": analytics.validation_passed,
        "calibration": _finite_or_none(analytics.calibration.to_dict()),
    }
    return RunRecord(
        run_id=run_id,
        signals=events,
        outcomes=outcomes,
        summary=summary,
        ts=data.dates[-1],
        signal_index=at,
    )


def _finite_or_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """NaN -> None; +-inf kept (the event layer stores them as "inf"/"-inf")."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, float) and math.isnan(value):
            out[key] = None
        else:
            out[key] = value
    return out
