"""Training jobs: fit a calibrator in the background, score it out of sample, register it.

A job is a row of ``training_jobs`` that moves ``queued → running →
succeeded`` (or ``failed``, with the error text); each move writes a
``TRAINING_JOB_UPDATED`` event. :class:`TrainingJobs` submits the work to a
``concurrent.futures.Executor`` (:func:`core.lifecycle.executors.make_executor`:
a local process pool by default, a thread pool, or a Dask cluster). The work is
:func:`run_training_job`, a top-level function of plain data (the data
directory and the job id) that opens its own store, so it runs anywhere the
SQLite file is reachable.

Training (:func:`train_calibrator`) is honest about its figures: in
``"walk_forward"`` mode the metrics are the walk-forward out-of-sample scores
(:func:`core.analytics.walkforward.walk_forward_calibrate`) and the registered
calibrator is fitted on every trade of the window; in ``"holdout"`` mode the
calibrator is fitted on the first ``train_fraction`` of the window and scored
on the trades that entered after every training outcome was known. The new
version is registered in ``development`` with those metrics.

Automatic training: :meth:`TrainingJobs.enable_auto_training` stores a
trigger; :meth:`TrainingJobs.check_triggers` submits a job when the events
recorded since the model's last training reach the trigger's count (default
1,000). Counting, creating the job and moving the watermark happen in one
write transaction, so a burst of checks submits one job, not one per event.

Restart: a job left ``queued`` or ``running`` by a process that no longer
exists (on this host) is marked ``failed`` when :class:`TrainingJobs` starts.
"""

from __future__ import annotations

import concurrent.futures as cf
import difflib
import os
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.analytics.calibration import calibration_report
from core.analytics.calibrators import CALIBRATION_METHODS, BaseCalibrator, make_calibrator
from core.analytics.walkforward import outcome_times, walk_forward_calibrate
from core.errors import ConfigError, InsufficientDataError, JobError, SignalLabError
from core.events import EventType, new_id, to_utc
from core.lifecycle.executors import ExecutorSpec, make_executor
from core.lifecycle.registry import ModelRegistry
from core.store import Store
from core.store.jobs import JOB_STATES, JobRecord, JobTables, TriggerRecord
from core.trade_windows import load_trades
from core.trades import validate_trades

__all__ = [
    "DEFAULT_AUTO_TRAIN_EVERY",
    "JOB_STATES",
    "JobRecord",
    "TrainingConfig",
    "TrainingJobs",
    "TrainingResult",
    "TriggerRecord",
    "run_training_job",
    "train_calibrator",
]

#: Events since a model's last training that trigger an automatic job.
DEFAULT_AUTO_TRAIN_EVERY = 1000
#: Model types a training job can produce.
TRAINABLE_TYPES: tuple[str, ...] = ("calibrator",)


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainingConfig:
    """What a training job fits (plain data: it travels to the worker as a dict).

    Parameters
    ----------
    method : {"platt", "isotonic", "beta", "histogram"}, default "platt"
    run_id : str, optional
        Run whose trades are used; the newest completed run when None.
    window : (start, end), optional
        Only trades entering in ``[start, end)`` (ISO 8601 strings or None).
    key : str, default "confidence"
        Score column to calibrate.
    mode : {"walk_forward", "holdout"}, default "walk_forward"
        How the out-of-sample metrics are obtained (module docstring).
    n_windows : int, default 5
        Walk-forward test windows.
    min_train : int, default 200
        Fewest training trades of a walk-forward fit.
    train_fraction : float, default 0.7
        Share of the window fitted on in holdout mode.
    options : dict
        Calibrator options (``make_calibrator(method, **options)``).
    note : str, optional
        Stored with the registered version.
    """

    method: str = "platt"
    run_id: str | None = None
    window: tuple[str | None, str | None] | None = None
    key: str = "confidence"
    mode: Literal["walk_forward", "holdout"] = "walk_forward"
    n_windows: int = 5
    min_train: int = 200
    train_fraction: float = 0.7
    options: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            hint = difflib.get_close_matches(str(self.method), CALIBRATION_METHODS, n=1)
            raise ConfigError(
                f"training method {self.method!r} is unknown"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; one of {', '.join(CALIBRATION_METHODS)}"
            )
        if self.mode not in ("walk_forward", "holdout"):
            raise ConfigError(f"mode must be 'walk_forward' or 'holdout', got {self.mode!r}")
        for name in ("n_windows", "min_train"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ConfigError(f"{name} must be a whole number >= 2, got {v!r}")
        if not 0.0 < float(self.train_fraction) < 1.0:
            raise ConfigError(f"train_fraction must lie in (0, 1), got {self.train_fraction!r}")
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"options must be a mapping, got {self.options!r}")
        make_calibrator(self.method, **dict(self.options))  # unknown option: fail at submit
        if self.window is not None:
            if not isinstance(self.window, (tuple, list)) or len(self.window) != 2:
                raise ConfigError(
                    f"window must be a pair (start, end), either may be None; got {self.window!r}"
                )
            window = tuple(
                None if w is None else to_utc(w, field_name="window").isoformat()
                for w in self.window
            )
            object.__setattr__(self, "window", window)
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingConfig:
        """Build from a mapping; unknown keys are refused with a "did you mean"."""
        if isinstance(data, TrainingConfig):
            return data
        if not isinstance(data, Mapping):
            raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in names]
        if unknown:
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(str(k), names, n=1)
                hints.append(repr(k) + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigError(
                f"training config has no field {', '.join(hints)}; fields: {', '.join(names)}"
            )
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = None if self.window is None else list(self.window)
        return out


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingResult:
    """A fitted calibrator and its out-of-sample figures.

    Attributes
    ----------
    calibrator : BaseCalibrator
        What gets registered.
    metrics : dict
        ``mode``, ``n_train`` (trades the registered calibrator was fitted on),
        ``n_oos`` (trades scored out of sample), ``oos_brier``, ``oos_ece``,
        ``raw_brier``, ``raw_ece`` (the uncalibrated score on the same trades) and
        ``oos_brier_gain`` (``raw_brier - oos_brier``).
    train_start, train_end : Timestamp
        First and last ``entry_time`` the registered calibrator was fitted on.
    """

    calibrator: BaseCalibrator = field(repr=False)
    metrics: dict[str, Any]
    train_start: pd.Timestamp
    train_end: pd.Timestamp


def train_calibrator(trades: pd.DataFrame, config: TrainingConfig) -> TrainingResult:
    """Fit a calibrator on ``trades`` as ``config`` says; metrics out of sample.

    Parameters
    ----------
    trades : DataFrame
        Trades frame (already cut to the window) with ``entry_time`` and
        ``exit_time`` and/or ``holding_days``.
    config : TrainingConfig

    Returns
    -------
    TrainingResult

    Raises
    ------
    InsufficientDataError
        Too few trades for the out-of-sample split or the walk-forward windows.
    """
    usable = validate_trades(trades, key=config.key, min_rows=2)
    usable = usable.sort_values("entry_time", kind="stable")
    if config.mode == "walk_forward":
        wf = walk_forward_calibrate(
            usable, method=config.method, key=config.key, n_windows=config.n_windows,
            min_train=config.min_train, options=config.options,
        )  # fmt: skip
        if wf.out_of_sample is None or wf.full_calibrator is None:
            raise InsufficientDataError(
                f"no walk-forward window had {config.min_train} training trades "
                f"({len(usable)} trades in {config.n_windows} windows); lower min_train, "
                "use fewer windows or a longer window"
            )
        metrics = {
            "mode": "walk_forward",
            "n_train": len(usable),
            "n_oos": wf.n_evaluated,
            "oos_brier": wf.out_of_sample.brier,
            "oos_ece": wf.out_of_sample.ece,
            "raw_brier": wf.raw.brier,
            "raw_ece": wf.raw.ece,
            "oos_brier_gain": wf.raw.brier - wf.out_of_sample.brier,
        }
        times = usable["entry_time"]
        return TrainingResult(wf.full_calibrator, metrics, times.iloc[0], times.iloc[-1])

    n_fit = int(len(usable) * config.train_fraction)
    fit = usable.iloc[:n_fit]
    # Score only trades that entered after every training outcome was known (a purge).
    known = pd.Timestamp(int(outcome_times(fit).max()), tz="UTC") if n_fit else None
    test = usable.iloc[n_fit:]
    if known is not None:
        test = test.loc[(test["entry_time"] > known).to_numpy()]
    if len(fit) < 2 or len(test) < 2:
        raise InsufficientDataError(
            f"holdout split of {len(usable)} trades leaves {len(fit)} to fit and {len(test)} "
            "to score after purging; use a longer window or another train_fraction"
        )
    cal = make_calibrator(config.method, **config.options)
    cal.fit(fit[config.key].to_numpy(dtype=np.float64), fit["win"].to_numpy())
    raw = test[config.key].to_numpy(dtype=np.float64)
    win = test["win"].to_numpy()
    oos = calibration_report(cal.predict(raw), win)
    base = calibration_report(raw, win)
    metrics = {
        "mode": "holdout",
        "n_train": len(fit),
        "n_oos": len(test),
        "oos_brier": oos.brier,
        "oos_ece": oos.ece,
        "raw_brier": base.brier,
        "raw_ece": base.ece,
        "oos_brier_gain": base.brier - oos.brier,
    }
    return TrainingResult(cal, metrics, fit["entry_time"].iloc[0], fit["entry_time"].iloc[-1])


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, SignalLabError):  # unexpected: keep where it happened
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            text += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return text


def _worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_training_job(data_dir: str, job_id: str) -> dict[str, Any]:
    """Run one queued job to its end (the work an executor runs; plain data in and out).

    Opens the store in ``data_dir``, marks the job ``running``, trains, and in
    one transaction registers the version (``development``) and marks the job
    ``succeeded``; on any error marks it ``failed`` with the error text. A job
    not ``queued`` any more (failed by a restart, say) is left as it is.

    Returns
    -------
    dict
        The job's final record (:meth:`JobRecord.to_dict`).
    """
    with Store(data_dir) as store:
        sql = JobTables(store)
        if not sql.set_job_state(
            job_id, "running", from_states=("queued",), worker=_worker_label()
        ):
            return sql.get_job(job_id).to_dict()
        job = sql.get_job(job_id)
        try:
            config = TrainingConfig.from_dict(job.config)
            run_id = config.run_id or store.latest_run_id()
            trades = load_trades(store, run_id, config.window)
            result = train_calibrator(trades, config)
            with store.write() as conn:
                version = ModelRegistry(store).register(
                    job.model_name, model_type=job.model_type, calibrator=result.calibrator,
                    key=config.key, training_run_id=run_id,
                    window=(result.train_start, result.train_end), metrics=result.metrics,
                    params={"config": config.to_dict()},
                    note=config.note or f"trained by job {job_id}", job_id=job_id,
                )  # fmt: skip
                if not sql.set_job_state(
                    job_id, "succeeded", from_states=("running",), version=version.version,
                    conn=conn,
                ):  # fmt: skip
                    raise JobError(
                        f"job {job_id} was marked {sql.get_job(job_id).state} while it ran; "
                        "its version was not registered"
                    )
        except Exception as exc:  # every failure is recorded on the job
            sql.set_job_state(
                job_id, "failed", from_states=("queued", "running"), error=_describe(exc)
            )
        return sql.get_job(job_id).to_dict()


# --------------------------------------------------------------------------- the manager


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as gone)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state not in ("Z", "X")
    return True


class TrainingJobs:
    """Submit, run, watch and recover training jobs of one store.

    Parameters
    ----------
    store : Store
    executor : str, Executor or None
        Where jobs run (:func:`~core.lifecycle.executors.make_executor`); created on
        the first submission. An executor passed in is not shut down by :meth:`close`.
    recover : bool, default True
        Fail jobs left ``queued``/``running`` by a process that stopped.
    """

    def __init__(
        self, store: Store, *, executor: ExecutorSpec = None, recover: bool = True
    ) -> None:
        self.store = store
        self.sql = JobTables(store)
        self._spec = executor
        self._owns_executor = not isinstance(executor, cf.Executor)
        self._executor: cf.Executor | None = None
        self._futures: dict[str, cf.Future] = {}
        self.recovered: list[str] = self.recover() if recover else []

    # ----------------------------------------------------------------- executor

    @property
    def executor(self) -> cf.Executor:
        """The executor jobs run on (created on first use)."""
        if self._executor is None:
            self._executor = make_executor(self._spec)
        return self._executor

    def close(self, *, wait: bool = True) -> None:
        """Shut the executor down if this object created it (waits for running jobs)."""
        if self._executor is not None and self._owns_executor:
            self._executor.shutdown(wait=wait)
        self._executor = None

    # ----------------------------------------------------------------- submit

    def submit(
        self,
        model_name: str,
        model_type: str = "calibrator",
        config: Mapping[str, Any] | TrainingConfig | None = None,
    ) -> JobRecord:
        """Record a ``queued`` job and start it in the background; returns its record.

        Parameters
        ----------
        model_name : str
            The model the new version will belong to.
        model_type : {"calibrator"}
        config : mapping or TrainingConfig
            :class:`TrainingConfig` fields, e.g. ``{"method": "isotonic",
            "run_id": ..., "window": ("2005-01-01", "2010-01-01"), "key": "confidence"}``.

        Raises
        ------
        ConfigError
            Bad config (unknown field, method or option) or model type.
        """
        if not isinstance(model_name, str) or not model_name.strip():
            raise ConfigError(f"model_name must be a non-empty string, got {model_name!r}")
        if model_type not in TRAINABLE_TYPES:
            raise ConfigError(
                f"training jobs produce {', '.join(TRAINABLE_TYPES)} models, not {model_type!r}; "
                "register other models with register_model"
            )
        cfg = TrainingConfig.from_dict(config or {})
        job_id = f"job-{new_id()}"
        self.sql.create_job(
            job_id=job_id, model_name=model_name, model_type=model_type, config=cfg.to_dict(),
            trigger="manual", owner_pid=os.getpid(), owner_host=socket.gethostname(),
        )  # fmt: skip
        self._dispatch(job_id)
        return self.sql.get_job(job_id)

    def _dispatch(self, job_id: str) -> None:
        try:
            future = self.executor.submit(run_training_job, str(self.store.data_dir), job_id)
        except RuntimeError as exc:  # executor shut down or broken
            self.sql.set_job_state(
                job_id, "failed", from_states=("queued",),
                error=f"could not start the job: {exc}",
            )  # fmt: skip
            raise JobError(f"could not start training job {job_id}: {exc}") from None
        self._futures[job_id] = future
        future.add_done_callback(lambda f, j=job_id: self._settle(j, f))

    def _settle(self, job_id: str, future: cf.Future) -> None:
        """Fail a job whose work never reported (worker crashed, cancelled)."""
        if future.cancelled():
            error = "cancelled before it ran (the executor was shut down)"
        else:
            exc = future.exception()
            if exc is None:
                return
            error = f"the worker stopped: {_describe(exc)}"
        self.sql.set_job_state(job_id, "failed", from_states=("queued", "running"), error=error)

    # ----------------------------------------------------------------- watch

    def get(self, job_id: str) -> JobRecord:
        """The job's current record."""
        return self.sql.get_job(job_id)

    def list(
        self, *, model_name: str | None = None, state: str | None = None, limit: int | None = None
    ) -> list[JobRecord]:
        """Jobs, newest first."""
        if state is not None and state not in JOB_STATES:
            raise ConfigError(f"state must be one of {', '.join(JOB_STATES)}, got {state!r}")
        return self.sql.list_jobs(model_name=model_name, state=state, limit=limit)

    def frame(self, *, model_name: str | None = None, state: str | None = None) -> pd.DataFrame:
        """Jobs as a DataFrame, newest first."""
        cols = ["id", "model_name", "model_type", "state", "trigger", "version", "error",
                "created", "started", "finished", "worker"]  # fmt: skip
        jobs = self.list(model_name=model_name, state=state)
        return pd.DataFrame([{c: getattr(j, c) for c in cols} for j in jobs], columns=cols)

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """Wait until the job succeeds or fails; returns its final record.

        Jobs submitted by this object are awaited on their future; others
        (submitted by another process) by polling the store.

        Raises
        ------
        JobError
            Still not finished after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        future = self._futures.get(job_id)
        if future is not None:
            done, _ = cf.wait([future], timeout=timeout)
            if done:
                self._settle(job_id, future)  # the callback may not have run yet
        delay = 0.02
        while True:
            job = self.sql.get_job(job_id)
            if job.done:
                self._futures.pop(job_id, None)
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise JobError(
                    f"training job {job_id} is still {job.state} after {timeout:g} s; wait "
                    "longer or check it with `signal-lab jobs show`"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    # ----------------------------------------------------------------- recovery

    def recover(self) -> list[str]:
        """Fail the jobs whose owner process (on this host) stopped; returns their ids."""
        return self.sql.fail_orphaned_jobs(host=socket.gethostname(), is_alive=_pid_alive)

    # ----------------------------------------------------------------- triggers

    def enable_auto_training(
        self,
        model_name: str,
        config: Mapping[str, Any] | TrainingConfig | None = None,
        *,
        model_type: str = "calibrator",
        every: int = DEFAULT_AUTO_TRAIN_EVERY,
        event_type: EventType | str | None = EventType.SIGNAL_ACCURACY,
    ) -> TriggerRecord:
        """Train ``model_name`` again whenever ``every`` new events have been recorded.

        Parameters
        ----------
        model_name : str
        config : mapping or TrainingConfig
            The job's config (see :meth:`submit`).
        model_type : {"calibrator"}
        every : int, default 1000
            Events since the model's last training (any job of it) that trigger a job.
        event_type : EventType or str or None, default SIGNAL_ACCURACY
            Events counted: outcomes by default (the labelled trades a
            calibrator learns from); None counts every event.
        """
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"every must be a whole number >= 1, got {every!r}; default 1000")
        if model_type not in TRAINABLE_TYPES:
            raise ConfigError(f"automatic training produces calibrators, not {model_type!r}")
        cfg = TrainingConfig.from_dict(config or {})
        kind = None if event_type is None else EventType(event_type).value
        return self.sql.set_trigger(
            model_name=model_name, model_type=model_type, config=cfg.to_dict(), every=every,
            event_type=kind,
        )  # fmt: skip

    def disable_auto_training(self, model_name: str) -> TriggerRecord:
        """Stop the automatic trigger of ``model_name`` (kept, disabled)."""
        trig = self.sql.get_trigger(model_name)
        return self.sql.set_trigger(
            model_name=model_name, model_type=trig.model_type, config=trig.config,
            every=trig.every, event_type=trig.event_type, enabled=False,
        )  # fmt: skip

    def pending_events(self, model_name: str) -> int:
        """Events counted by the model's trigger since its last training."""
        trig = self.sql.get_trigger(model_name)
        return self.sql.events_since(trig.last_event_id, trig.event_type)

    def check_triggers(self) -> list[JobRecord]:
        """Submit a job for every trigger whose count is reached; returns the jobs submitted.

        Cheap when nothing is due (one count per trigger); safe to call after
        every flush, from several threads or processes: each batch of events
        fires a trigger once.
        """
        jobs = self.sql.claim_due_triggers(
            new_job_id=lambda: f"job-{new_id()}", owner_pid=os.getpid(),
            owner_host=socket.gethostname(),
        )  # fmt: skip
        for job in jobs:
            self._dispatch(job.id)
        return [self.sql.get_job(j.id) for j in jobs]
