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
...     with engine.run(kind="backtest", name="demo") as run_id:
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
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pandas as pd

from core.errors import ConfigError, EngineClosedError, PayloadError, SignalLabError
from core.events import EventType, LearningEvent, outcome_rows, signal_rows
from core.store import Store, default_data_dir

if TYPE_CHECKING:
    from core.lifecycle.facade import ModelLifecycle

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
    enable_drift_detection : bool, default True
        Whether lifecycle code may run drift checks on the events recorded.
    executor : str, optional
        Where training jobs run (see :func:`core.lifecycle.executors.make_executor`):
        None or ``"local"`` a local process pool, ``"thread"`` a thread pool,
        ``"dask://HOST:PORT"`` or ``"tcp://HOST:PORT"`` a Dask cluster.
    """

    data_dir: str | Path | None = None
    max_events_memory: int = 20000
    collect_signals: bool = True
    enable_drift_detection: bool = True
    executor: str | None = None

    def __post_init__(self) -> None:
        bound = self.max_events_memory
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            raise ConfigError(
                f"max_events_memory must be a whole number >= 1, got {bound!r}; "
                "the default is 20000"
            )
        for name in ("collect_signals", "enable_drift_detection"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
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
    """

    run_id: str
    signals: pd.DataFrame
    outcomes: pd.DataFrame
    summary: Mapping[str, Any] | None = None
    ts: Any = None


@runtime_checkable
class LearningEngineProtocol(Protocol):
    """What an orchestrator needs of a learning engine."""

    async def update(self, results: RunRecord | Iterable[LearningEvent]) -> None:
        """Record the results of a run (or a batch of events)."""
        ...


class LearningEngine:
    """Records events in SQLite and reports on the store.

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
        self._lifecycle: ModelLifecycle | None = None
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
        buffer is flushed (so events keep their order). Returns the number of
        events written (0 when ``collect_signals`` is False).

        ``options`` go to :func:`core.events.signal_rows` (``extra_columns``).
        """
        self._check_open()
        if not self.config.collect_signals:
            with self._lock:
                self._dropped += len(signals) + len(outcomes)
            return 0
        rows = [*signal_rows(run_id, signals, **options), *outcome_rows(run_id, outcomes)]
        with self._lock:
            self.flush()
            written = self.store.insert_event_rows(rows)
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
        """Let the model lifecycle (if in use) submit training jobs that are now due."""
        if self._lifecycle is not None:
            self._lifecycle.check_triggers()

    async def update(self, results: RunRecord | Iterable[LearningEvent]) -> None:
        """Record a run's results (signals, outcomes, summary) or a batch of events."""
        if isinstance(results, RunRecord):
            self.record_trades(results.run_id, results.signals, results.outcomes)
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
        ``failed`` with the error text, and the exception propagates.
        """
        run_id = self.start_run(kind=kind, **fields)
        try:
            yield run_id
        except BaseException as exc:
            self.finish_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        self.finish_run(run_id, status="completed")

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
        """Is the store reachable and writable, the schema current, the buffer bounded?"""
        reasons: list[str] = []
        checks: dict[str, Any] = {"db_path": str(self.store.path)}
        status = "healthy"
        started = time.perf_counter()
        try:
            self.store.conn.execute("SELECT 1").fetchone()
            checks["reachable"] = True
            self.store.check_writable()
            checks["writable"] = True
            version = self.store.schema_version()
            checks["schema_version"] = version
            checks["latest_schema_version"] = self.store.latest_schema_version
            if version != self.store.latest_schema_version:
                status = "degraded"
                reasons.append(
                    f"schema version {version} differs from this code's "
                    f"{self.store.latest_schema_version}; reopen the store to migrate"
                )
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

    def event_type_counts(self, events: Iterable[LearningEvent]) -> dict[str, int]:
        """Count events by type (a helper for summaries)."""
        return dict(Counter(e.type.value for e in events))

    # ----------------------------------------------------------------- model lifecycle

    @property
    def lifecycle(self) -> ModelLifecycle:
        """The :class:`core.lifecycle.facade.ModelLifecycle` of this store (created on first use)."""
        with self._lock:
            if self._lifecycle is None:
                from core.lifecycle.facade import ModelLifecycle  # lazy: heavy imports

                self._lifecycle = ModelLifecycle(self.store, executor=self.config.executor)
            return self._lifecycle

    def register_model(self, name: str, **fields: Any) -> Any:
        """Register a model version (see ``ModelLifecycle.register_model``)."""
        return self.lifecycle.register_model(name, **fields)

    def evaluate_model(self, name: str, version: int, *args: Any, **options: Any) -> Any:
        """Evaluate a version out of sample (see ``ModelLifecycle.evaluate_model``)."""
        self.flush()
        return self.lifecycle.evaluate_model(name, version, *args, **options)

    def promote_model(self, name: str, version: int, **options: Any) -> Any:
        """Promote a version (see ``ModelLifecycle.promote_model``)."""
        return self.lifecycle.promote_model(name, version, **options)

    def load_model(self, name: str, *args: Any, **options: Any) -> Any:
        """The production calibrator of ``name`` (see ``ModelLifecycle.load_model``)."""
        return self.lifecycle.load_model(name, *args, **options)

    def submit_training_job(self, model_name: str, *args: Any, **options: Any) -> Any:
        """Queue a training job (see ``ModelLifecycle.submit_training_job``)."""
        self.flush()
        return self.lifecycle.submit_training_job(model_name, *args, **options)

    def set_drift_baseline(self, model_name: str, *args: Any, **options: Any) -> Any:
        """Store a drift baseline (see ``ModelLifecycle.set_drift_baseline``)."""
        self.flush()
        return self.lifecycle.set_drift_baseline(model_name, *args, **options)

    def check_drift(self, model_name: str, *args: Any, **options: Any) -> Any:
        """Check drift and store alerts (see ``ModelLifecycle.check_drift``)."""
        self.flush()
        return self.lifecycle.check_drift(model_name, *args, **options)

    def monitor(self, run_id: str | None = None, **options: Any) -> Any:
        """Rolling drift of a run (see ``ModelLifecycle.monitor``)."""
        self.flush()
        return self.lifecycle.monitor(run_id, **options)

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
            if self._lifecycle is not None:
                self._lifecycle.close()
            if self._owns_store:
                self.store.close()

    def __enter__(self) -> LearningEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
