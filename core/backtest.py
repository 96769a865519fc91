"""Backtests on demand: :class:`BacktestConfig` in, :class:`BacktestResult` out.

>>> from core.backtest import BacktestConfig, run_backtest
>>> result = run_backtest(BacktestConfig(source="synthetic", n_symbols=5, n_days=300,
...                                      use_learning_engine=False))  # doctest: +SKIP
>>> result.filtered.win_rate  # doctest: +SKIP

:func:`run_backtest` loads the market, runs the engines of
:mod:`core.engines` (Signal → Risk → Execution → Portfolio → Analytics →
Learning), records the run and its events in the learning engine's store
(``kind="backtest"``, with the full config, a hash of config + data, the
seed, the source and whether the data is synthetic). It writes nothing but the
store: the JSON report is written by its callers (the CLI and the dashboard,
:func:`core.reports.json_report.write_backtest_report`, into
``<data_dir>/reports/``). When anything fails after the run is opened, the run
is marked ``failed`` with the error, and whatever events were written are kept.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from core.data import load_market_data
from core.data.market import SOURCES, MarketData
from core.engines.analytics import AnalyticsEngine, CalibrationSummary
from core.engines.execution import ExecutionEngine
from core.engines.orchestration import OrchestrationEngine, OrchestrationResult, ProgressCallback
from core.engines.portfolio import PortfolioEngine
from core.engines.protocols import SignalEngineProtocol
from core.engines.risk import SIZING_METHODS, RiskEngine
from core.errors import ConfigError, StoreError
from core.events import new_id
from core.learning import LearningEngine, LearningEngineConfig
from core.lifecycle.registry import ModelRegistry
from core.metrics import PerformanceMetrics
from core.signals import EnsembleConfig, EnsembleSignalEngine
from core.store import Store, check_signal_name, default_data_dir
from core.store.schema import backtest_signal_name
from core.trades import CONFIDENCE_KEYS

__all__ = ["DEFAULT_THRESHOLD", "BacktestConfig", "BacktestResult", "run_backtest"]

#: Default confidence threshold of the filtered book. The ensemble's raw
#: confidence is ``0.5 * agreement + 0.35 * strength + 0.15 * calm``; with the
#: default 3-of-5 agreement it lies mostly between 0.35 and 0.75 (median about
#: 0.55 on the sample and synthetic markets), so 0.6 keeps roughly the top
#: quarter of signals: enough trades (hundreds on the sample) to judge, few
#: enough to differ from the baseline. A threshold of 0.8 would keep none.
DEFAULT_THRESHOLD = 0.6

#: Fields that label where and how results are kept, not what is computed:
#: left out of :meth:`BacktestConfig.config_hash`.
_UNHASHED = ("data_dir", "name", "signal", "use_learning_engine")


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


def _date_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ConfigError(f"{name}={value!r} is not a date; use ISO 8601 such as '2005-01-31'")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()


@dataclass(frozen=True)
class BacktestConfig:
    """Everything that defines a backtest, validated once, here.

    Parameters
    ----------
    source : {"sample", "csv", "parquet", "synthetic", "yfinance", "extended", "extended-close-only"}, default "sample"
        Market data source (see :func:`core.data.load_market_data`).
    symbols : tuple of str, optional
        Symbols to trade (a list or a comma-separated string is accepted);
        all the source has by default.
    start, end : str, optional
        Inclusive date bounds (ISO 8601; stored as ``YYYY-MM-DD``).
    path : str, optional
        File or folder for ``csv`` / ``parquet`` (required for them).
    n_symbols : int, default 50
        Symbols of the synthetic market, 1 to 5,000.
    n_days : int, default 2520
        Trading days of the synthetic market, 60 to 50,000.
    threshold : float, default :data:`DEFAULT_THRESHOLD` (0.6)
        Minimum score of the filtered book, in [0, 1].
    confidence_key : {"confidence", "calibrated_probability"}, default "confidence"
        Which score the threshold applies to.
    holding_days : int, default 5
        Bars a trade is held, 1 to 252.
    min_agree : int, default 3
        Ensemble models that must agree for a signal, 1 to 5.
    max_positions : int or None, default 10
        Most positions a book holds at once (None: no limit), 1 to 100,000.
    sizing : {"fixed", "volatility"}, default "fixed"
        Position sizing (see :class:`core.engines.risk.RiskEngine`).
    position_fraction : float, default 0.1
        Fraction of equity per trade, in (0, 1].
    target_volatility : float, default 0.15
        Annualised volatility a volatility-sized position aims at, in (0, 5].
    commission_bps, slippage_bps : float, default 1.0 and 2.0
        Costs per side, basis points, in [0, 1000]; a round trip costs twice
        their sum.
    stop_loss_pct, take_profit_pct : float, optional
        Exit levels in percent from the entry, in (0, 100] and (0, 1000].
    seed : int, default 0
        Seed of every random draw (synthetic market, the ensemble's classifier), >= 0.
    use_learning_engine : bool, default True
        Record the run and its events; False records nothing.
    data_dir : str, optional
        The learning engine's data directory (default
        ``$SIGNAL_LAB_DATA_DIR`` or ``artifacts/learning_engine``). A backtest
        writes nothing outside it.
    name : str, optional
        A label for the run.
    signal : str, optional
        The signal (strategy or model) the run belongs to; baselines, calibrators and
        drift checks are kept per signal. Default :meth:`signal_name`: the ensemble's
        agreement rule and holding period (``ensemble-agree3-hold5``).
    calibrator : str, optional
        Name of a registered calibrator model; its *production* version fills
        ``calibrated_probability`` on every signal (use with
        ``confidence_key="calibrated_probability"`` to trade on it).

    Raises
    ------
    ConfigError
        Naming the field, the value and the allowed range.
    """

    source: str = "sample"
    symbols: tuple[str, ...] | None = None
    start: str | None = None
    end: str | None = None
    path: str | None = None
    n_symbols: int = 50
    n_days: int = 2520
    threshold: float = DEFAULT_THRESHOLD
    confidence_key: str = "confidence"
    holding_days: int = 5
    min_agree: int = 3
    max_positions: int | None = 10
    sizing: str = "fixed"
    position_fraction: float = 0.1
    target_volatility: float = 0.15
    commission_bps: float = 1.0
    slippage_bps: float = 2.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    seed: int = 0
    use_learning_engine: bool = True
    data_dir: str | None = None
    name: str | None = None
    signal: str | None = None
    calibrator: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.source not in SOURCES:
            close = difflib.get_close_matches(str(self.source), SOURCES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"source={self.source!r} is not known{hint} Use one of {SOURCES}")
        symbols = self.symbols
        if symbols is not None:
            if isinstance(symbols, str):
                symbols = [s for s in symbols.split(",")]
            if not isinstance(symbols, list | tuple):
                raise ConfigError(
                    f"symbols={symbols!r} must be a list of tickers (or None for all)"
                )
            cleaned = tuple(str(s).strip() for s in symbols if str(s).strip())
            if not cleaned:
                raise ConfigError("symbols is empty; list at least one ticker or pass None for all")
            set_(self, "symbols", cleaned)
        start, end = _date_text("start", self.start), _date_text("end", self.end)
        if start is not None and end is not None and pd.Timestamp(start) > pd.Timestamp(end):
            raise ConfigError(f"start={start} is after end={end}; swap them")
        set_(self, "start", start)
        set_(self, "end", end)
        for name in ("path", "data_dir"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, str | Path) or not str(value):
                    raise ConfigError(f"{name}={value!r} must be a path (a string)")
                set_(self, name, str(value))
        if self.source in ("csv", "parquet") and self.path is None:
            raise ConfigError(
                f"source={self.source!r} needs path: a {self.source} file or a folder of them"
            )
        self._int("n_symbols", 1, 5000)
        self._int("n_days", 60, 50_000)
        self._int("holding_days", 1, 252)
        self._int("min_agree", 1, 5)
        self._int("seed", 0, 2**63 - 1)
        if self.max_positions is not None:
            self._int("max_positions", 1, 100_000, none_ok=True)
        self._float("threshold", 0.0, 1.0)
        self._float("position_fraction", 0.0, 1.0, open_low=True)
        self._float("target_volatility", 0.0, 5.0, open_low=True)
        self._float("commission_bps", 0.0, 1000.0)
        self._float("slippage_bps", 0.0, 1000.0)
        if self.stop_loss_pct is not None:
            self._float("stop_loss_pct", 0.0, 100.0, open_low=True, none_ok=True)
        if self.take_profit_pct is not None:
            self._float("take_profit_pct", 0.0, 1000.0, open_low=True, none_ok=True)
        self._choice("confidence_key", CONFIDENCE_KEYS)
        self._choice("sizing", SIZING_METHODS)
        if not isinstance(self.use_learning_engine, bool | np.bool_):
            raise ConfigError(
                f"use_learning_engine={self.use_learning_engine!r} must be true or false"
            )
        set_(self, "use_learning_engine", bool(self.use_learning_engine))
        if self.name is not None and not isinstance(self.name, str):
            raise ConfigError(f"name={self.name!r} must be a string")
        if self.signal is not None:
            try:
                set_(self, "signal", check_signal_name(self.signal))
            except StoreError as exc:
                raise ConfigError(str(exc)) from None
        if self.calibrator is not None and (
            not isinstance(self.calibrator, str) or not self.calibrator.strip()
        ):
            raise ConfigError(
                f"calibrator={self.calibrator!r} must be the name of a registered model "
                "(see `signal-lab models list`) or None"
            )

    # ------------------------------------------------------------ validation helpers

    def _int(self, name: str, low: int, high: int, *, none_ok: bool = False) -> None:
        value = getattr(self, name)
        tail = " or None" if none_ok else ""
        if not _is_int(value):
            if _is_number(value) and float(value).is_integer():
                value = int(value)
                object.__setattr__(self, name, value)
            else:
                raise ConfigError(
                    f"{name}={value!r} must be a whole number in [{low}, {high}]{tail}"
                )
        if not low <= value <= high:
            raise ConfigError(f"{name}={value!r} is out of range; use [{low}, {high}]{tail}")
        object.__setattr__(self, name, int(value))

    def _float(
        self,
        name: str,
        low: float,
        high: float,
        *,
        open_low: bool = False,
        none_ok: bool = False,
    ) -> None:
        value = getattr(self, name)
        bracket = "(" if open_low else "["
        allowed = f"{bracket}{low:g}, {high:g}]" + (" or None" if none_ok else "")
        if not _is_number(value):
            raise ConfigError(f"{name}={value!r} must be a number in {allowed}")
        x = float(value)
        if not (math.isfinite(x) and (x > low if open_low else x >= low) and x <= high):
            raise ConfigError(f"{name}={value!r} is out of range; use {allowed}")
        object.__setattr__(self, name, x)

    def _choice(self, name: str, allowed: tuple[str, ...]) -> None:
        value = getattr(self, name)
        if value not in allowed:
            close = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{name}={value!r} is not allowed{hint} Use one of {allowed}")

    # -------------------------------------------------------------------- conversion

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (symbols as a list)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if out["symbols"] is not None:
            out["symbols"] = list(out["symbols"])
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BacktestConfig:
        """Build from a mapping; a misspelt key raises with a "did you mean".

        Raises
        ------
        ConfigError
            An unknown key (with the closest known one), or a bad value.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"a backtest config must be a mapping, got {type(values).__name__}")
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"BacktestConfig has no setting {key!r}{hint} Known: {', '.join(known)}"
                )
        return cls(**dict(values))

    def replace(self, **changes: Any) -> BacktestConfig:
        """A copy with some fields changed (validated again)."""
        return BacktestConfig.from_dict({**self.to_dict(), **changes})

    def config_hash(self, data_fingerprint: str, *, signal_engine: str | None = None) -> str:
        """SHA-256 of the canonical JSON of the config, the data fingerprint and the signal engine.

        Canonical JSON: sorted keys, no whitespace. ``data_dir``, ``name`` and
        ``use_learning_engine`` are left out: they say where results go, not
        what they are. ``signal_engine`` (the engine's qualified class name)
        is included because a custom engine changes every result.
        """
        body = {k: v for k, v in self.to_dict().items() if k not in _UNHASHED}
        payload = {
            "config": body,
            "data_fingerprint": data_fingerprint,
            "signal_engine": signal_engine or "core.signals.EnsembleSignalEngine",
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # ---------------------------------------------------------------------- engines

    def signal_name(self, recorded_config: Mapping[str, Any] | None = None) -> str:
        """The signal this backtest's runs belong to: ``signal``, else the default name.

        The default comes from what defines the signals (:func:`core.store.schema.backtest_signal_name`:
        signal engine, ``min_agree``, ``holding_days``), so reruns at another threshold stay one signal.
        """
        if self.signal is not None:
            return self.signal
        return backtest_signal_name(recorded_config or self.to_dict())

    def resolved_data_dir(self) -> Path:
        """The learning engine's data directory this config uses."""
        return Path(self.data_dir) if self.data_dir is not None else default_data_dir()

    def load_data(self) -> MarketData:
        """The market this config names (see :func:`core.data.load_market_data`)."""
        common = {"symbols": self.symbols, "start": self.start, "end": self.end}
        if self.source == "synthetic":
            return load_market_data(
                "synthetic", n_symbols=self.n_symbols, n_days=self.n_days, seed=self.seed, **common
            )
        if self.source in ("csv", "parquet"):
            return load_market_data(self.source, path=self.path, **common)
        return load_market_data(self.source, **common)

    def signal_engine(self) -> EnsembleSignalEngine:
        """The default ensemble with this config's ``min_agree``, ``holding_days`` and ``seed``."""
        return EnsembleSignalEngine(
            EnsembleConfig(min_agree=self.min_agree, holding_days=self.holding_days, seed=self.seed)
        )

    def orchestrator(
        self, signal_engine: SignalEngineProtocol | None = None
    ) -> OrchestrationEngine:
        """An orchestrator whose engines carry this config's settings."""
        return OrchestrationEngine(
            signal_engine=signal_engine if signal_engine is not None else self.signal_engine(),
            risk=RiskEngine(
                threshold=self.threshold,
                confidence_key=self.confidence_key,
                max_positions=self.max_positions,
                sizing=self.sizing,
                position_fraction=self.position_fraction,
                target_volatility=self.target_volatility,
            ),
            execution=ExecutionEngine(
                commission_bps=self.commission_bps,
                slippage_bps=self.slippage_bps,
                stop_loss_pct=self.stop_loss_pct,
                take_profit_pct=self.take_profit_pct,
            ),
            portfolio=PortfolioEngine(),
            analytics=AnalyticsEngine(),
        )


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """What :func:`run_backtest` returns.

    Attributes
    ----------
    run_id : str
        The run's id in the store (a fresh id that is not stored when
        ``use_learning_engine`` is False).
    config : BacktestConfig
    baseline, filtered : PerformanceMetrics
        Metrics of the book of every signal and of the signals whose score
        passes the threshold.
    improvement : mapping of str to float
        ``filtered - baseline`` per metric (differences; for ``max_drawdown``
        and ``volatility_daily`` lower is better).
    calibration : CalibrationSummary
        Correlations and Brier score of the score vs outcomes (all trades).
    trades : DataFrame, shape (n_trades, 15)
        Every executed signal in the :mod:`core.trades` contract (what
        ``Store.trades_frame(run_id)`` returns for the run).
    executions : DataFrame, shape (n_trades, ...)
        Fill details per trade: entry/exit bars, times and prices, exit
        reason, gross return and cost, position size, ``in_baseline`` /
        ``in_filtered``.
    equity : DataFrame, shape (n_dates, 2)
        Daily equity of the ``baseline`` and ``filtered`` books (index
        ``date``, UTC), starting at 1.0.
    open_positions : DataFrame, shape (n_dates, 2)
        Positions held at each close, per book.
    n_signals, n_trades, n_dropped : int
        Entry signals; those with an outcome; those dropped (no outcome).
    dropped_by_reason : mapping of str to int
    data_fingerprint, config_hash : str
    source : str
    synthetic : bool
    data_dir : Path
        The learning engine's data directory (the JSON report, when a caller
        writes one, goes to its ``reports`` folder).
    validation_passed : bool
    validation_rule : str
    events_recorded : int
        Events of the run in the store (0 without the learning engine).
    timings : mapping of str to float
        Seconds per stage.
    """

    run_id: str
    config: BacktestConfig
    baseline: PerformanceMetrics
    filtered: PerformanceMetrics
    improvement: Mapping[str, float]
    calibration: CalibrationSummary
    trades: pd.DataFrame
    executions: pd.DataFrame
    equity: pd.DataFrame
    open_positions: pd.DataFrame
    n_signals: int
    n_trades: int
    n_dropped: int
    dropped_by_reason: Mapping[str, int]
    data_fingerprint: str
    config_hash: str
    source: str
    synthetic: bool
    data_dir: Path
    validation_passed: bool
    validation_rule: str
    events_recorded: int
    timings: Mapping[str, float] = field(default_factory=dict)

    def metrics_table(self) -> pd.DataFrame:
        """One row per metric: ``metric``, ``baseline``, ``filtered``, ``improvement``."""
        base, filt = self.baseline.numeric(), self.filtered.numeric()
        return pd.DataFrame(
            {
                "metric": list(base),
                "baseline": list(base.values()),
                "filtered": [filt[k] for k in base],
                "improvement": [self.improvement[k] for k in base],
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Summary without the frames (JSON-ready apart from inf/NaN floats)."""
        return {
            "run_id": self.run_id,
            "config": self.config.to_dict(),
            "baseline": self.baseline.to_dict(),
            "filtered": self.filtered.to_dict(),
            "improvement": dict(self.improvement),
            "calibration": self.calibration.to_dict(),
            "n_signals": self.n_signals,
            "n_trades": self.n_trades,
            "n_dropped": self.n_dropped,
            "dropped_by_reason": dict(self.dropped_by_reason),
            "data_fingerprint": self.data_fingerprint,
            "config_hash": self.config_hash,
            "source": self.source,
            "synthetic": self.synthetic,
            "data_dir": str(self.data_dir),
            "validation_passed": self.validation_passed,
            "validation_rule": self.validation_rule,
            "events_recorded": self.events_recorded,
            "timings": dict(self.timings),
        }


def _engine_name(engine: object) -> str:
    kind = type(engine)
    return f"{kind.__module__}.{kind.__qualname__}"


def _production_calibrated(
    config: BacktestConfig,
    engine: LearningEngine | None,
    signal_engine: SignalEngineProtocol | None,
) -> tuple[SignalEngineProtocol, dict[str, Any]]:
    """Wrap the signal engine so its signals carry the production calibrator's probability."""
    inner = signal_engine if signal_engine is not None else config.signal_engine()
    if engine is not None:
        wrapped = engine.registry.calibrated_signal_engine(config.calibrator, inner)
    else:
        with Store(config.resolved_data_dir()) as store:
            wrapped = ModelRegistry(store).calibrated_signal_engine(config.calibrator, inner)
    name, version = wrapped.model
    return wrapped, {"name": name, "version": int(version), "stage": "production"}


def run_backtest(
    config: BacktestConfig | Mapping[str, Any] | None = None,
    *,
    engine: LearningEngine | None = None,
    progress: ProgressCallback | None = None,
    signal_engine: SignalEngineProtocol | None = None,
) -> BacktestResult:
    """Run one backtest and record it in the store.

    Parameters
    ----------
    config : BacktestConfig or mapping, optional
        A mapping goes through :meth:`BacktestConfig.from_dict`; default
        ``BacktestConfig()`` (the real sample market).
    engine : LearningEngine, optional
        Where to record the run (its store's folder is then the data
        directory, whatever ``config.data_dir`` says). Default: a
        :class:`~core.learning.LearningEngine` on ``config.data_dir``, opened
        and shut down here. Ignored when ``config.use_learning_engine`` is False.
    progress : callable, optional
        ``progress(stage, fraction)`` with ``stage`` in
        :data:`core.engines.STAGES` (``data``, ``signals``, ``risk``,
        ``execution``, ``portfolio``, ``analytics``, ``learning``, ``report``)
        and ``fraction`` 0.0 at the start and 1.0 at the end of the stage.
    signal_engine : SignalEngineProtocol, optional
        Replaces the ensemble (anything with ``generate(data) -> DataFrame``).
        With ``config.calibrator`` set, it is wrapped so its signals carry the
        production calibrator's ``calibrated_probability`` (recorded with
        ``calibrated=True``); set ``confidence_key="calibrated_probability"``
        to filter on it. The model's name and version are recorded in the
        run's config and hash.

    Returns
    -------
    BacktestResult

    Raises
    ------
    ConfigError
        A bad config value (before anything is recorded).
    DataSourceError
        The market cannot be loaded (before anything is recorded).
    SignalLabError or any exception of a custom engine
        From a stage; the run is then marked ``failed`` in the store with the
        error text, and the events written so far are kept.
    """
    if config is None:
        config = BacktestConfig()
    elif isinstance(config, Mapping):
        config = BacktestConfig.from_dict(config)
    elif not isinstance(config, BacktestConfig):
        raise ConfigError(
            f"config must be a BacktestConfig or a mapping, got {type(config).__name__}"
        )
    report = progress or (lambda stage, fraction: None)

    report("data", 0.0)
    started = time.perf_counter()
    data = config.load_data()
    data_seconds = time.perf_counter() - started
    report("data", 1.0)

    calibration_model = None
    if config.calibrator is not None:
        signal_engine, calibration_model = _production_calibrated(config, engine, signal_engine)
    orchestrator = config.orchestrator(signal_engine)
    engine_name = _engine_name(orchestrator.signal_engine)
    if calibration_model is not None:  # the hash must change with the model version
        engine_name += f"[{calibration_model['name']} v{calibration_model['version']}]"
    chash = config.config_hash(data.fingerprint, signal_engine=engine_name)
    recorded_config = {**config.to_dict(), "signal_engine": engine_name}
    if calibration_model is not None:
        recorded_config["calibration_model"] = calibration_model
    name = config.name or (
        f"{data.source} backtest, threshold {config.threshold:g} on {config.confidence_key}"
    )

    if not config.use_learning_engine:
        data_dir = config.resolved_data_dir()
        run_id = f"run-{new_id()}"
        outcome = orchestrator.run(
            data, run_id=run_id, holding_days=config.holding_days, progress=progress
        )
        return _finish(
            config,
            data,
            outcome,
            chash,
            data_dir,
            events=0,
            report=report,
            data_seconds=data_seconds,
        )

    own_engine = engine is None
    if engine is None:
        engine = LearningEngine(LearningEngineConfig(data_dir=config.data_dir))
    orchestrator.learning = engine
    try:
        with engine.run(
            kind="backtest",
            signal=config.signal_name(recorded_config),
            name=name,
            config=recorded_config,
            config_hash=chash,
            data_fingerprint=data.fingerprint,
            seed=config.seed,
            synthetic=data.synthetic,
            source=data.source,
        ) as run_id:
            outcome = orchestrator.run(
                data, run_id=run_id, holding_days=config.holding_days, progress=progress
            )
            engine.flush()
            events = engine.store.count_events(run_id=run_id)
            result = _finish(
                config,
                data,
                outcome,
                chash,
                engine.store.data_dir,
                events=events,
                report=report,
                data_seconds=data_seconds,
            )
    finally:
        if own_engine:
            engine.shutdown()
    return result


def _finish(
    config: BacktestConfig,
    data: MarketData,
    outcome: OrchestrationResult,
    chash: str,
    data_dir: Path,
    *,
    events: int,
    report: ProgressCallback,
    data_seconds: float,
) -> BacktestResult:
    """Assemble the result."""
    report("report", 0.0)
    analytics = outcome.analytics
    executions = outcome.trades.drop(columns=["confidence"], errors="ignore")
    result = BacktestResult(
        run_id=outcome.run_id,
        config=config,
        baseline=analytics.baseline,
        filtered=analytics.filtered,
        improvement=MappingProxyType(dict(analytics.improvement)),
        calibration=analytics.calibration,
        trades=outcome.trades_frame,
        executions=executions,
        equity=outcome.portfolio.equity,
        open_positions=outcome.portfolio.open_positions,
        n_signals=outcome.n_signals,
        n_trades=len(outcome.trades_frame),
        n_dropped=outcome.n_dropped,
        dropped_by_reason=outcome.dropped_by_reason,
        data_fingerprint=data.fingerprint,
        config_hash=chash,
        source=data.source,
        synthetic=data.synthetic,
        data_dir=Path(data_dir).resolve(),
        validation_passed=analytics.validation_passed,
        validation_rule=analytics.validation_rule,
        events_recorded=int(events),
        timings=MappingProxyType({"data": data_seconds, **outcome.timings}),
    )
    report("report", 1.0)
    return result
