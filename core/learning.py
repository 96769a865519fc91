"""The learning engine: records every signal and outcome, and answers for the store.

The engine buffers events in memory and writes them to SQLite in one
transaction when the buffer reaches ``max_events_memory``, on :meth:`flush`
and on :meth:`shutdown`. Runs are opened with :meth:`LearningEngine.run`, a
context manager that marks the run ``completed`` or, when the body raises,
``failed`` — in both cases after persisting what was recorded.

Example
-------
>>> import tempfile
>>> with LearningEngine(LearningEngineConfig(data_dir=tempfile.mkdtemp())) as engine:
...     with engine.run(kind="backtest", name="demo", signal="demo") as run_id:
...         engine.record_event(LearningEvent.signal(
...             run_id=run_id, ts="2020-01-02", signal_id="1", symbol="AAPL",
...             side=1, confidence=0.7))
...     engine.get_stats().persisted
1
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from core.analytics.calibrators import BaseCalibrator
from core.analytics.drift import DEFAULT_MIN_TRADES, DriftThresholds
from core.analytics.drift.detectors import DriftDetector
from core.errors import (
    ConfigError,
    EngineClosedError,
    Interrupted,
    PayloadError,
    SignalLabError,
)
from core.events import EventType, LearningEvent
from core.lifecycle.drift import DriftCheck, DriftMonitor
from core.lifecycle.gates import Evaluation, Gate
from core.lifecycle.jobs import TrainingConfig, TrainingJobs
from core.lifecycle.registry import ModelRegistry
from core.store import Store, default_data_dir
from core.store.db import DAMAGED_FIX, READ_ONLY_FIX
from core.store.drift import BaselineRecord
from core.store.jobs import JobRecord
from core.store.registry import ModelVersion, StageChange
from core.trade_windows import Window

__all__ = [
    "EngineStats",
    "HealthReport",
    "LearningEngine",
    "LearningEngineConfig",
    "LearningEngineProtocol",
    "RunRecord",
]

_SIGNAL_TYPES = (EventType.SIGNAL_GENERATED, EventType.SIGNAL_ACCURACY)


@dataclass(frozen=True)
class LearningEngineConfig:
    """Settings of a :class:`LearningEngine`.

    Parameters
    ----------
    data_dir : str or Path, optional
        Folder of the SQLite file; ``$SIGNAL_LAB_DATA_DIR`` or
        ``artifacts/learning_engine`` when None.
    max_events_memory : int, default 20000
        Events held in memory before they are written in one transaction.
    collect_signals : bool, default True
        False drops ``SIGNAL_GENERATED`` / ``SIGNAL_ACCURACY`` events (counted
        in :attr:`EngineStats.dropped_signal_events`).
    executor : str, optional
        Where training jobs run (see :func:`core.lifecycle.executors.make_executor`):
        None or ``"local"`` a local process pool, ``"thread"`` a thread pool,
        ``"dask://HOST:PORT"`` or ``"tcp://HOST:PORT"`` a Dask cluster.
    """

    data_dir: str | Path | None = None
    max_events_memory: int = 20000
    collect_signals: bool = True
    executor: str | None = None

    def __post_init__(self) -> None:
        bound = self.max_events_memory
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            raise ConfigError(
                f"max_events_memory must be a whole number >= 1, got {bound!r}; "
                "the default is 20000"
            )
        if not isinstance(self.collect_signals, bool):
            raise ConfigError(
                f"collect_signals must be true or false, got {self.collect_signals!r}"
            )
        if self.executor is not None and not isinstance(self.executor, str):
            raise ConfigError(
                f"executor must be None, 'local', 'thread' or a dask://HOST:PORT address, "
                f"got {self.executor!r}"
            )

    @property
    def resolved_data_dir(self) -> Path:
        """The data directory actually used."""
        return Path(self.data_dir) if self.data_dir is not None else default_data_dir()


@dataclass(frozen=True)
class EngineStats:
    """What the engine holds and has written (see :meth:`LearningEngine.get_stats`)."""

    buffered: int
    persisted: int
    persisted_by_type: dict[str, int]
    recorded_this_session: int
    dropped_signal_events: int
    collect_signals: bool
    flushes: int
    last_flush: str | None
    runs: int
    db_path: str
    db_size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class HealthReport:
    """Result of :meth:`LearningEngine.health_check`.

    ``status`` is ``"healthy"`` when every check passes, ``"degraded"`` when the
    store works but something needs attention, ``"unhealthy"`` when it cannot
    be read or written. ``reasons`` says what failed, in words.
    """

    status: str
    reasons: tuple[str, ...]
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "healthy"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons), "checks": self.checks}


@dataclass(frozen=True)
class RunRecord:
    """What an orchestrator pushes to :meth:`LearningEngine.update` for one run.

    Attributes
    ----------
    run_id : str
        The run, already opened with :meth:`LearningEngine.start_run`.
    signals : DataFrame
        One row per entry signal (columns as :func:`core.events.signal_rows`).
    outcomes : DataFrame
        One row per closed trade (columns as :func:`core.events.outcome_rows`).
    summary : mapping, optional
        Payload of the run's ``METRIC_RECORDED`` event (baseline, filtered,
        improvement, applied_threshold, confidence_key, use_calibration).
    ts : datetime-like, optional
        Market time of the summary event (the last bar of the run).
    signal_index : ndarray of int, shape (n_outcomes,), optional
        The row of ``signals`` each outcome belongs to, when known (an orchestrator knows
        it): the store then pairs them without a join by id.
    """

    run_id: str
    signals: pd.DataFrame
    outcomes: pd.DataFrame
    summary: Mapping[str, Any] | None = None
    ts: Any = None
    signal_index: np.ndarray | None = None


@runtime_checkable
class LearningEngineProtocol(Protocol):
    """What an orchestrator needs of a learning engine."""

    def update(self, results: RunRecord | Iterable[LearningEvent]) -> None:
        """Record the results of a run (or a batch of events)."""
        ...


class LearningEngine:
    """Records events in SQLite and reports on the store.

    The model lifecycle of the same store is reached through three typed
    services: :attr:`registry` (:class:`~core.lifecycle.registry.ModelRegistry`),
    :attr:`jobs` (:class:`~core.lifecycle.jobs.TrainingJobs`, created on first
    use) and :attr:`drift` (:class:`~core.lifecycle.drift.DriftMonitor`). The
    seed's lifecycle methods (:meth:`register_model`, :meth:`evaluate_model`,
    :meth:`promote_model`, :meth:`load_model`, :meth:`submit_training_job`,
    :meth:`set_drift_baseline`, :meth:`check_drift`) call them directly.

    Parameters
    ----------
    config : LearningEngineConfig, optional
        Defaults to ``LearningEngineConfig()``.
    store : Store, optional
        An open store to use instead of opening ``config.data_dir`` (the
        engine then does not close it on shutdown).
    """

    def __init__(
        self, config: LearningEngineConfig | None = None, *, store: Store | None = None
    ) -> None:
        self.config = config or LearningEngineConfig()
        self._owns_store = store is None
        self.store = store if store is not None else Store(self.config.resolved_data_dir)
        self._buffer: list[LearningEvent] = []
        self._lock = threading.RLock()
        self._recorded = 0
        self._dropped = 0
        self._flushes = 0
        self._last_flush: str | None = None
        self._open_runs: set[str] = set()
        self.registry = ModelRegistry(self.store)
        self.drift = DriftMonitor(self.store)
        self._jobs: TrainingJobs | None = None
        self._closed = False

    # ----------------------------------------------------------------- recording

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError(
                "this learning engine was shut down; create a new LearningEngine to record more"
            )

    def record_event(self, event: LearningEvent) -> None:
        """Buffer one event; flush when the buffer reaches ``max_events_memory``."""
        self.record_events((event,))

    def record_events(self, events: Iterable[LearningEvent]) -> int:
        """Buffer events (flushing at the bound); returns how many were kept."""
        self._check_open()
        kept = 0
        with self._lock:
            for event in events:
                if not isinstance(event, LearningEvent):
                    raise PayloadError(
                        f"expected a LearningEvent, got {type(event).__name__}; "
                        "build one with LearningEvent(...) or LearningEvent.signal(...)"
                    )
                if not self.config.collect_signals and event.type in _SIGNAL_TYPES:
                    self._dropped += 1
                    continue
                self._buffer.append(event)
                kept += 1
                if len(self._buffer) >= self.config.max_events_memory:
                    self.flush()
            self._recorded += kept
        return kept

    def record_trades(
        self, run_id: str, signals: pd.DataFrame, outcomes: pd.DataFrame, **options: Any
    ) -> int:
        """Write a run's signals and outcomes straight to the store, column-wise.

        The fast path for a backtest or an import: both frames are validated
        whole (see :func:`core.events.signal_rows` / :func:`~core.events.outcome_rows`)
        before anything is written, then written in one transaction after the
        buffer is flushed (so events keep their order), one narrow ``trades`` row per
        signal (:meth:`Store.insert_trade_frames`). Returns the number of events
        written (0 when ``collect_signals`` is False).

        ``options`` go to :meth:`Store.insert_trade_frames` (``extra_columns``,
        ``recorded_at``, ``signal_index``).
        """
        self._check_open()
        if not self.config.collect_signals:
            with self._lock:
                self._dropped += len(signals) + len(outcomes)
            return 0
        with self._lock:
            self.flush()
            written = self.store.insert_trade_frames(run_id, signals, outcomes, **options)
            self._recorded += written
        self._after_write()
        return written

    def flush(self) -> int:
        """Write buffered events in one transaction; returns how many were written.

        On failure the events stay in the buffer (nothing is lost) and the
        error propagates.
        """
        with self._lock:
            if not self._buffer:
                return 0
            written = self.store.insert_event_rows(e.row for e in self._buffer)
            self._buffer.clear()
            self._flushes += 1
            self._last_flush = pd.Timestamp.now(tz="UTC").isoformat()
        self._after_write()
        return written

    def _after_write(self) -> None:
        """Let the training jobs (if in use) submit the jobs that are now due."""
        if self._jobs is not None:
            self._jobs.check_triggers()

    def update(self, results: RunRecord | Iterable[LearningEvent]) -> None:
        """Record a run's results (signals, outcomes, summary) or a batch of events."""
        if isinstance(results, RunRecord):
            options = {}
            if results.signal_index is not None:
                options["signal_index"] = results.signal_index
            self.record_trades(results.run_id, results.signals, results.outcomes, **options)
            if results.summary is not None:
                ts = results.ts if results.ts is not None else pd.Timestamp.now(tz="UTC")
                self.record_event(
                    LearningEvent(EventType.METRIC_RECORDED, results.run_id, ts, results.summary)
                )
            self.flush()
        else:
            self.record_events(results)

    # ----------------------------------------------------------------- runs

    def start_run(self, *, kind: str, **fields: Any) -> str:
        """Open a run (status ``running``) and return its id; see :meth:`Store.create_run`."""
        self._check_open()
        run_id = self.store.create_run(kind=kind, **fields)
        self._open_runs.add(run_id)
        return run_id

    def finish_run(self, run_id: str, *, status: str = "completed", error: str | None = None):
        """Flush, then mark the run ``completed`` or ``failed``."""
        self.flush()
        self.store.finish_run(run_id, status=status, error=error)
        self._open_runs.discard(run_id)

    @contextlib.contextmanager
    def run(self, *, kind: str = "backtest", **fields: Any) -> Iterator[str]:
        """Open a run for the body of a ``with`` block.

        On normal exit the run is flushed and marked ``completed``. If the body
        raises, everything recorded so far is still flushed, the run is marked
        ``failed`` with the error text, and the exception propagates. An interruption
        (Ctrl-C, or SIGTERM through :class:`~core.errors.Interrupted`) is recorded as
        what it is and what was kept: "interrupted by SIGTERM during the learning
        stage; 48,353 events kept, the run is incomplete"; that text is also set as
        the exception's ``outcome``.
        """
        run_id = self.start_run(kind=kind, **fields)
        try:
            yield run_id
        except KeyboardInterrupt as exc:
            error = self._interrupted(run_id, exc)
            self.finish_run(run_id, status="failed", error=error)
            if isinstance(exc, Interrupted):
                exc.outcome, exc.run_id = error, run_id
            raise
        except BaseException as exc:
            self.finish_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        self.finish_run(run_id, status="completed")

    def _interrupted(self, run_id: str, exc: KeyboardInterrupt) -> str:
        """Flush what was recorded, count what the store keeps of the run, and say so."""
        with contextlib.suppress(SignalLabError):  # unwritable: those events are not kept
            self.flush()
        kept = self.store.count_events(run_id=run_id)
        signal_name = getattr(exc, "signal_name", "SIGINT")
        stage = getattr(exc, "stage", None)
        where = f" during the {stage} stage" if stage else ""
        what = f"{kept:,} events kept" if kept else "no events were written"
        return f"interrupted by {signal_name}{where}; {what}, the run is incomplete"

    # ----------------------------------------------------------------- reading

    def query_events(
        self,
        event_type: EventType | str | None = None,
        run_id: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int | None = None,
        *,
        symbol: str | None = None,
    ) -> list[LearningEvent]:
        """Events matching the filters, in time order (buffered events are flushed first)."""
        self.flush()
        return self.store.query_events(
            event_type=event_type, run_id=run_id, symbol=symbol, since=since, until=until,
            limit=limit,
        )  # fmt: skip

    def trades_frame(self, run_id: str) -> pd.DataFrame:
        """The trades frame of a run (see :mod:`core.trades`)."""
        self.flush()
        return self.store.trades_frame(run_id)

    def get_stats(self) -> EngineStats:
        """Counts of buffered and persisted events, runs, and the database file."""
        with self._lock:
            by_type = self.store.event_counts_by_type()
            return EngineStats(
                buffered=len(self._buffer),
                persisted=sum(by_type.values()),
                persisted_by_type=by_type,
                recorded_this_session=self._recorded,
                dropped_signal_events=self._dropped,
                collect_signals=self.config.collect_signals,
                flushes=self._flushes,
                last_flush=self._last_flush,
                runs=len(self.store.list_runs()),
                db_path=str(self.store.path),
                db_size_bytes=self.store.size_bytes(),
            )

    def health_check(self) -> HealthReport:
        """Is the store sound (SQLite's quick check), reachable, writable and current, the
        buffer bounded? Also lists the runs marked failed at this open because their
        process had stopped (``checks["interrupted_runs"]``)."""
        reasons: list[str] = []
        checks: dict[str, Any] = {"db_path": str(self.store.path)}
        status = "healthy"
        started = time.perf_counter()
        try:
            self.store.conn.execute("SELECT 1").fetchone()
            checks["reachable"] = True
            problems = self.store.quick_check()
            checks["integrity"] = problems or "ok"
            if problems:
                status = "unhealthy"
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                reasons.append(f"the store is damaged: {problems[0]}{more}; {DAMAGED_FIX}")
            if self.store.read_only:
                checks["writable"] = False
                status = "degraded" if status == "healthy" else status
                reasons.append(
                    f"the store is read-only (reads work, imports and backtests fail): "
                    f"{READ_ONLY_FIX}"
                )
            else:
                self.store.check_writable()
                checks["writable"] = True
            version = self.store.schema_version()
            checks["schema_version"] = version
            checks["latest_schema_version"] = self.store.latest_schema_version
            if version != self.store.latest_schema_version:
                status = "degraded" if status == "healthy" else status
                reasons.append(
                    f"schema version {version} differs from this code's "
                    f"{self.store.latest_schema_version}"
                )
            running = [r.id for r in self.store.list_runs() if r.status == "running"]
            checks["running_runs"] = running
            checks["interrupted_runs"] = list(self.store.interrupted_runs)
        except (SignalLabError, OSError) as exc:
            status = "unhealthy"
            checks.setdefault("reachable", False)
            checks.setdefault("writable", False)
            reasons.append(f"store not usable: {exc}")
        buffered = len(self._buffer)
        checks["buffered"] = buffered
        checks["max_events_memory"] = self.config.max_events_memory
        if buffered > self.config.max_events_memory:
            status = "degraded" if status == "healthy" else status
            reasons.append(f"{buffered} events buffered, over the bound of "
                           f"{self.config.max_events_memory}; call flush()")  # fmt: skip
        checks["last_flush"] = self._last_flush
        checks["closed"] = self._closed
        if self._closed:
            status = "unhealthy"
            reasons.append("engine is shut down")
        checks["check_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return HealthReport(status=status, reasons=tuple(reasons), checks=checks)

    # ----------------------------------------------------------------- model lifecycle

    @property
    def jobs(self) -> TrainingJobs:
        """Training jobs of this store (created on first use; fails jobs a stopped process left)."""
        with self._lock:
            if self._jobs is None:
                self._jobs = TrainingJobs(self.store, executor=self.config.executor)
            return self._jobs

    def register_model(
        self,
        name: str,
        *,
        model_type: str,
        calibrator: BaseCalibrator | None = None,
        params: Mapping[str, Any] | None = None,
        key: str = "confidence",
        training_run_id: str | None = None,
        window: Window = None,
        metrics: Mapping[str, Any] | None = None,
        note: str | None = None,
    ) -> ModelVersion:
        """Register the next version of ``name`` (:meth:`ModelRegistry.register`)."""
        return self.registry.register(
            name, model_type=model_type, calibrator=calibrator, params=params, key=key,
            training_run_id=training_run_id, window=window, metrics=metrics, note=note,
        )  # fmt: skip

    def evaluate_model(
        self,
        name: str,
        version: int,
        run_id: str | None = None,
        gates: Iterable[Gate | str] | None = None,
        *,
        trades: pd.DataFrame | None = None,
        window: Window = None,
    ) -> Evaluation:
        """Score a version out of sample and apply the gates (:meth:`ModelRegistry.evaluate`)."""
        self.flush()
        return self.registry.evaluate(name, version, run_id, gates, trades=trades, window=window)

    def promote_model(
        self,
        name: str,
        version: int,
        *,
        to_stage: str = "production",
        reason: str | None = None,
        force: bool = False,
    ) -> list[StageChange]:
        """Move a version to ``to_stage`` (:meth:`ModelRegistry.promote`)."""
        return self.registry.promote(name, version, to_stage=to_stage, reason=reason, force=force)

    def load_model(
        self, name: str, stage: str | None = "production", *, version: int | None = None
    ) -> BaseCalibrator:
        """The calibrator of ``name`` in ``stage`` or of ``version`` (:meth:`ModelRegistry.load`)."""
        return self.registry.load(name, stage, version=version)

    def submit_training_job(
        self,
        model_name: str,
        model_type: str = "calibrator",
        config: Mapping[str, Any] | TrainingConfig | None = None,
    ) -> JobRecord:
        """Queue a training job and start it in the background (:meth:`TrainingJobs.submit`)."""
        self.flush()
        return self.jobs.submit(model_name, model_type, config)

    def set_drift_baseline(
        self,
        model_name: str,
        run_id: str | None = None,
        window: Window = None,
        key: str = "confidence",
        *,
        trades: pd.DataFrame | None = None,
        thresholds: DriftThresholds | Mapping[str, Any] | None = None,
    ) -> BaselineRecord:
        """Store the drift baseline of ``model_name`` (:meth:`DriftMonitor.set_baseline`)."""
        self.flush()
        return self.drift.set_baseline(
            model_name, run_id, window, key, trades=trades, thresholds=thresholds
        )

    def check_drift(
        self,
        model_name: str,
        current_trades: pd.DataFrame | None = None,
        *,
        run_id: str | None = None,
        window: Window = None,
        thresholds: DriftThresholds | Mapping[str, Any] | None = None,
        detectors: Mapping[str, DriftDetector] | None = None,
        outcome: Literal["win", "return_pct"] = "win",
        min_trades: int = DEFAULT_MIN_TRADES,
    ) -> DriftCheck:
        """Check trades against the baseline and store alerts (:meth:`DriftMonitor.check`)."""
        self.flush()
        return self.drift.check(
            model_name, current_trades, run_id=run_id, window=window, thresholds=thresholds,
            detectors=detectors, outcome=outcome, min_trades=min_trades,
        )  # fmt: skip

    # ----------------------------------------------------------------- lifetime

    def shutdown(self) -> None:
        """Flush, mark runs this engine left open as failed, close (idempotent)."""
        if self._closed:
            return
        try:
            self.flush()
            for run_id in sorted(self._open_runs):
                self.store.finish_run(
                    run_id, status="failed",
                    error="the engine was shut down before the run finished",
                )  # fmt: skip
            self._open_runs.clear()
        finally:
            self._closed = True
            if self._jobs is not None:
                self._jobs.close()
            if self._owns_store:
                self.store.close()

    def __enter__(self) -> LearningEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
