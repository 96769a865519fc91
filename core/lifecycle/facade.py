"""One object for the whole model lifecycle: :class:`ModelLifecycle`.

It joins the registry (:mod:`core.lifecycle.registry`), training jobs
(:mod:`core.lifecycle.jobs`), drift monitoring (:mod:`core.lifecycle.drift`)
and parameter grids (:mod:`core.lifecycle.grid`) over one store. The learning
engine exposes it as ``engine.lifecycle``; pages and the CLI use it directly:

>>> from core.lifecycle.facade import ModelLifecycle
>>> with ModelLifecycle.open("artifacts/learning_engine") as lc:          # doctest: +SKIP
...     v = lc.register_calibrator("cal", train_trades, method="platt")
...     lc.evaluate_model("cal", v.version, run_id).passed
...     lc.promote_model("cal", v.version)
...     lc.set_drift_baseline("cal", run_id, window=("2001-01-01", "2004-01-01"))
...     lc.check_drift("cal", run_id=run_id, window=("2010-01-01", None)).new_alert_ids

Opening a lifecycle fails the training jobs a stopped process left behind
(see :meth:`TrainingJobs.recover`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from core.analytics.calibrators import BaseCalibrator
from core.analytics.drift.detectors import DriftDetector
from core.lifecycle.drift import AlertRecord, BaselineRecord, DriftCheck, DriftMonitor
from core.analytics.drift import DEFAULT_MIN_TRADES, DriftBaseline, DriftThresholds
from core.lifecycle.executors import ExecutorSpec
from core.lifecycle.grid import GridResult, run_grid
from core.lifecycle.jobs import (
    DEFAULT_AUTO_TRAIN_EVERY,
    JobRecord,
    TrainingConfig,
    TrainingJobs,
    TriggerRecord,
)
from core.lifecycle.registry import (
    Evaluation,
    Gate,
    ModelRegistry,
    ModelVersion,
    StageChange,
    Window,
)
from core.store import Store

__all__ = ["ModelLifecycle"]


class ModelLifecycle:
    """Registry, training jobs, drift and grids of one store.

    Parameters
    ----------
    store : Store
        The Signal Lab store.
    executor : str, Executor or None
        Where training jobs run (:func:`~core.lifecycle.executors.make_executor`):
        the local process pool by default, ``"thread"``, ``"dask://HOST:PORT"``.
    auto_train_every : int, default 1000
        Default event count of :meth:`enable_auto_training`.
    recover_jobs : bool, default True
        Fail jobs a stopped process left ``queued`` or ``running``.

    Attributes
    ----------
    registry : ModelRegistry
    jobs : TrainingJobs
    drift : DriftMonitor
    """

    def __init__(
        self,
        store: Store,
        *,
        executor: ExecutorSpec = None,
        auto_train_every: int = DEFAULT_AUTO_TRAIN_EVERY,
        recover_jobs: bool = True,
    ) -> None:
        self.store = store
        self.auto_train_every = auto_train_every
        self.registry = ModelRegistry(store)
        self.jobs = TrainingJobs(store, executor=executor, recover=recover_jobs)
        self.drift = DriftMonitor(store)
        self._owns_store = False

    @classmethod
    def open(cls, data_dir: str | Path | None = None, **options: Any) -> ModelLifecycle:
        """A lifecycle on its own store in ``data_dir`` (closed by :meth:`close`)."""
        lifecycle = cls(Store(data_dir), **options)
        lifecycle._owns_store = True
        return lifecycle

    def close(self, *, wait: bool = True) -> None:
        """Shut down the job executor (waiting for running jobs) and an owned store."""
        self.jobs.close(wait=wait)
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> ModelLifecycle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- registry

    def register_model(self, name: str, **fields: Any) -> ModelVersion:
        """Register the next version of ``name`` (see :meth:`ModelRegistry.register`)."""
        return self.registry.register(name, **fields)

    def register_calibrator(
        self, name: str, trades: pd.DataFrame, *, method: str = "platt", **options: Any
    ) -> ModelVersion:
        """Fit a calibrator on ``trades`` and register it (:meth:`ModelRegistry.register_calibrator`)."""
        return self.registry.register_calibrator(name, trades, method=method, **options)

    def get_model(
        self, name: str, version: int | None = None, *, stage: str | None = None
    ) -> ModelVersion:
        """A version by number, the one in ``stage``, or the newest."""
        return self.registry.get(name, version, stage=stage)

    def list_models(self) -> pd.DataFrame:
        """One row per model name (see :meth:`ModelRegistry.models_frame`)."""
        return self.registry.models_frame()

    def list_versions(self, name: str | None = None) -> pd.DataFrame:
        """One row per version (see :meth:`ModelRegistry.versions_frame`)."""
        return self.registry.versions_frame(name)

    def model_history(self, name: str, version: int | None = None) -> list[StageChange]:
        """Recorded stage changes, oldest first."""
        return self.registry.history(name, version)

    def evaluations(self, name: str, version: int | None = None) -> list[Evaluation]:
        """Stored evaluations, oldest first."""
        return self.registry.evaluations(name, version)

    def evaluate_model(
        self,
        name: str,
        version: int,
        run_id: str | None = None,
        gates: Iterable[Gate | str] | None = None,
        **options: Any,
    ) -> Evaluation:
        """Score a version out of sample and apply the gates (:meth:`ModelRegistry.evaluate`)."""
        return self.registry.evaluate(name, version, run_id, gates, **options)

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
        """The calibrator of the version in ``stage`` (or of ``version``), ready to predict."""
        return self.registry.load(name, stage, version=version)

    def apply_production_calibrator(
        self, frame: pd.DataFrame, name: str, *, key: str | None = None
    ) -> pd.DataFrame:
        """``frame`` with ``calibrated_probability`` from the production calibrator of ``name``."""
        return self.registry.apply_production_calibrator(frame, name, key=key)

    # ----------------------------------------------------------------- jobs

    def submit_training_job(
        self,
        model_name: str,
        model_type: str = "calibrator",
        config: Mapping[str, Any] | TrainingConfig | None = None,
    ) -> JobRecord:
        """Queue a training job and start it in the background (:meth:`TrainingJobs.submit`)."""
        return self.jobs.submit(model_name, model_type, config)

    def wait_job(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """Wait for a job to succeed or fail (:meth:`TrainingJobs.wait`)."""
        return self.jobs.wait(job_id, timeout)

    def get_job(self, job_id: str) -> JobRecord:
        return self.jobs.get(job_id)

    def list_jobs(self, *, model_name: str | None = None, state: str | None = None) -> pd.DataFrame:
        """Jobs as a DataFrame, newest first."""
        return self.jobs.frame(model_name=model_name, state=state)

    def enable_auto_training(
        self,
        model_name: str,
        config: Mapping[str, Any] | TrainingConfig | None = None,
        *,
        every: int | None = None,
        **options: Any,
    ) -> TriggerRecord:
        """Train ``model_name`` again every ``every`` new events (default ``auto_train_every``)."""
        every = self.auto_train_every if every is None else every
        return self.jobs.enable_auto_training(model_name, config, every=every, **options)

    def check_triggers(self) -> list[JobRecord]:
        """Submit the jobs whose automatic trigger is due (:meth:`TrainingJobs.check_triggers`)."""
        return self.jobs.check_triggers()

    # ----------------------------------------------------------------- drift

    def set_drift_baseline(
        self,
        model_name: str,
        run_id: str | None = None,
        window: Window = None,
        key: str = "confidence",
        **options: Any,
    ) -> BaselineRecord:
        """Store the model's drift baseline from a run's window (:meth:`DriftMonitor.set_baseline`)."""
        return self.drift.set_baseline(model_name, run_id, window, key, **options)

    def drift_baseline(self, model_name: str) -> DriftBaseline:
        """The model's active drift baseline."""
        return self.drift.baseline(model_name)

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
        """Check trades against the model's baseline and store alerts (:meth:`DriftMonitor.check`)."""
        return self.drift.check(
            model_name, current_trades, run_id=run_id, window=window, thresholds=thresholds,
            detectors=detectors, outcome=outcome, min_trades=min_trades,
        )  # fmt: skip

    def acknowledge_alert(self, alert_id: int) -> AlertRecord:
        """Mark a drift alert acknowledged."""
        return self.drift.acknowledge(alert_id)

    def list_alerts(self, model_name: str | None = None, **filters: Any) -> pd.DataFrame:
        """Stored drift alerts, newest first (:meth:`DriftMonitor.alerts`)."""
        return self.drift.alerts(model_name, **filters)

    def monitor(self, run_id: str | None = None, **options: Any) -> pd.DataFrame:
        """Rolling drift of a run, window by window (:meth:`DriftMonitor.monitor`)."""
        return self.drift.monitor(run_id, **options)

    # ----------------------------------------------------------------- grid

    def run_grid(
        self,
        base_config: Any,
        grid: Mapping[str, Sequence[Any]],
        *,
        executor: ExecutorSpec = None,
        **options: Any,
    ) -> GridResult:
        """One recorded backtest per grid combination, in this store (:func:`run_grid`)."""
        return run_grid(
            base_config, grid, executor=executor, data_dir=self.store.data_dir, **options
        )
